"""tapegrad.utils: data loading (tapegrad.utils.data)."""
from . import data

__all__ = ["data"]
