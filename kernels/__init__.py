"""Numba code: VJP kernels and the reverse interpreter (tapegrad.kernels).

interpreter.py is generated from the op table by generate.py; the other
modules are written by hand. Every function is compiled with an on-disk
cache, so only the first process on a machine pays the compile.
"""
