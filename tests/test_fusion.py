"""Where tapegrad/fusion.py keeps its generated kernels, and that a file
once written is reused (each op's generated rules are checked bit for bit
in tests/test_defer.py)."""
import os
import pathlib
import sys

import numba.core.config
import numpy as np

from tapegrad import fusion


def test_generated_kernels_go_to_numbas_cache_folder_when_one_is_set(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path))
    assert fusion._folder() == tmp_path / "tapegrad-fused"


def test_a_package_folder_that_cannot_be_written_sends_them_to_the_users_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    writable = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: writable(path, mode)
                        and tmp_path in pathlib.Path(path).parents)
    assert fusion._folder() == tmp_path / "tapegrad" / "fused"


def test_a_generated_file_is_written_once_and_imported_again(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path))
    source = fusion._HEADER + "\n\n@jit\ndef twice(n, K):\n    return 2 * n + K[0, 0]\n"
    module = fusion._load(source)
    assert module.twice(3, np.ones((1, 2))) == 7.0
    (path,) = (tmp_path / "tapegrad-fused").glob("*.py")
    assert path.read_text() == source
    written = path.stat().st_mtime_ns
    del sys.modules[module.__name__]                  # as in a new process
    again = fusion._load(source)
    assert again is not module and again.twice(1, np.zeros((1, 2))) == 2.0
    assert path.stat().st_mtime_ns == written         # (a new file would void Numba's cache of it)
