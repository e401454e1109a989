"""The examples run as a user runs them (python examples/NAME.py, from
another directory), briefly, and learn: the loss falls, accuracy rises."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, *args, cwd):
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def logged_losses(output):
    return [float(x) for x in re.findall(r"loss (\d+\.\d+)", output)]


def test_linear_regression(tmp_path):
    out = run_example("linear_regression.py", "--steps", "60", cwd=tmp_path)
    losses = logged_losses(out)
    assert len(losses) == 3 and losses[-1] < 0.1 * losses[0]


def test_logistic_regression(tmp_path):
    out = run_example("logistic_regression.py", "--steps", "60", cwd=tmp_path)
    losses = logged_losses(out)
    assert losses[0] == pytest.approx(0.6931, abs=1e-4)     # log 2: w = b = 0
    assert losses[-1] < 0.5 * losses[0]
    accuracy = float(re.search(r"training accuracy: (\d+\.\d)%", out).group(1))
    assert accuracy > 85


def test_digits_mlp(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    out = run_example("digits_mlp.py", "--epochs", "3", cwd=tmp_path)
    epoch_losses = [float(x) for x in re.findall(r"mean loss (\d+\.\d+)", out)]
    assert len(epoch_losses) == 3 and epoch_losses[0] > epoch_losses[1] > epoch_losses[2]
    accuracy = re.search(r"^test accuracy: (\d+\.\d)%$", out, re.M)
    assert accuracy and float(accuracy.group(1)) > 80
    png = tmp_path / "digits_loss.png"          # the default: in the current directory
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert f"loss curve saved to {png}" in out
