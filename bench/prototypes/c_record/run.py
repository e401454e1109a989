"""Builds c_record.c as it is and with -DMIRROR (gcc, this Python's
headers and NumPy's), then runs measure.py for each variant in a fresh
process:  python bench/prototypes/c_record/run.py"""
import pathlib
import subprocess
import sys
import sysconfig

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def build(name, *flags):
    out = HERE / "build" / name
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", *flags, "-I" + sysconfig.get_paths()["include"],
                    "-I" + np.get_include(), str(HERE / "c_record.c"),
                    "-o", str(out / ("c_record" + sysconfig.get_config_var("EXT_SUFFIX")))], check=True)
    return str(out)


if __name__ == "__main__":
    plain, mirror = build("plain"), build("mirror", "-DMIRROR")
    for variant, where in (("python", plain), ("no_del", plain), ("c_path", plain), ("mirror", mirror)):
        subprocess.run([sys.executable, str(HERE / "measure.py"), variant, where], check=True)
