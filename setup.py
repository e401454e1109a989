"""setup.cfg holds the package; this adds its one C extension,
tapegrad/_record.c (the 0-d record path of tapegrad/scalars.py). It is
optional: where it cannot be built (no C compiler), the install goes on
without it and tapegrad runs the Python path."""
import numpy
from setuptools import Extension, setup

setup(ext_modules=[Extension("tapegrad._record", ["tapegrad/_record.c"],
                             include_dirs=[numpy.get_include()], optional=True)])
