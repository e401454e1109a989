"""Tensor formatting that follows PyTorch 2.13's ``torch/_tensor_str.py``.

The algorithm (including its quirks) is reproduced step by step so that
``format_tensor`` returns exactly what ``repr`` of the equivalent torch tensor
returns, with ``tapegrad.`` in place of ``torch.`` in dtype names. Everything
works on plain NumPy arrays; elements are converted to Python scalars before
formatting, as torch does through ``Tensor.item()`` / ``Tensor.tolist()``.
"""

import contextlib
import dataclasses
import math

import numpy as np

__all__ = ["format_tensor", "set_printoptions", "get_printoptions", "printoptions"]

_DTYPES = ("float32", "float64", "int64", "bool")


@dataclasses.dataclass
class _PrinterOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrinterOptions()

_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}


def set_printoptions(
    precision=None,
    threshold=None,
    edgeitems=None,
    linewidth=None,
    profile=None,
    sci_mode=None,
):
    """Set printing options; same arguments and semantics as ``torch.set_printoptions``.

    ``profile`` ("default", "short" or "full") is applied first and the other
    arguments override it. As in torch, an unknown profile name is ignored and
    ``sci_mode`` is always assigned, so omitting it restores automatic choice.
    """
    for name, value in _PROFILES.get(profile, {}).items():
        setattr(PRINT_OPTS, name, value)
    overrides = dict(
        precision=precision, threshold=threshold, edgeitems=edgeitems, linewidth=linewidth
    )
    for name, value in overrides.items():
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions():
    """Return the current options as a dict that can be passed to set_printoptions()."""
    return dataclasses.asdict(PRINT_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Temporarily change the print options (arguments as for set_printoptions)."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    """Chooses one notation and column width shared by all printed elements."""

    def __init__(self, flat_values, floating):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1

        if not floating:
            for value in flat_values.tolist():
                self.max_width = max(self.max_width, len(f"{value}"))
            return

        # Zeros and non-finite values print the same in every mode, so only
        # the other values decide the notation.
        nonzero_finite = flat_values[np.isfinite(flat_values) & (flat_values != 0)]
        if nonzero_finite.size == 0:
            return

        # torch compares magnitudes in float64 (after taking abs in the tensor dtype).
        abs_values = np.abs(nonzero_finite).astype(np.float64)
        lo, hi = abs_values.min(), abs_values.max()
        self.int_mode = bool(np.all(nonzero_finite == np.ceil(nonzero_finite)))
        if PRINT_OPTS.sci_mode is None:
            with np.errstate(over="ignore"):  # hi / lo may overflow to inf, as in torch
                self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
        else:
            self.sci_mode = PRINT_OPTS.sci_mode

        precision = PRINT_OPTS.precision
        for value in nonzero_finite.tolist():
            if self.sci_mode:
                value_str = f"{value:.{precision}e}"
            elif self.int_mode:
                value_str = f"{value:.0f}."  # "." marks integral values as floats
            else:
                value_str = f"{value:.{precision}f}"
            self.max_width = max(self.max_width, len(value_str))

    def format(self, value):
        precision = PRINT_OPTS.precision
        if not self.floating:
            ret = f"{value}"
        elif self.sci_mode:
            ret = f"{value:{self.max_width}.{precision}e}"
        elif self.int_mode:
            ret = f"{value:.0f}"
            if math.isfinite(value):
                ret += "."
        else:
            ret = f"{value:.{precision}f}"
        return ret.rjust(self.max_width)


def _summarized_values(values):
    """Flat array of the elements a summarized print shows (torch's get_summarized_data)."""
    edge = PRINT_OPTS.edgeitems
    if values.ndim == 0:
        return values.reshape(-1)
    if values.ndim == 1:
        # With edge == 0, values[-0:] is the whole vector; torch has the same quirk.
        if values.shape[0] > 2 * edge:
            return np.concatenate((values[:edge], values[-edge:]))
        return values
    if not edge:
        return values.reshape(-1)[:0]
    rows = range(values.shape[0])
    if values.shape[0] > 2 * edge:
        rows = [*range(edge), *range(values.shape[0] - edge, values.shape[0])]
    return np.concatenate([_summarized_values(values[i]) for i in rows])


def _vector_str(values, indent, summarize, formatter):
    element_length = formatter.max_width + 2  # width plus the ", " separator
    elements_per_line = max(
        1, math.floor((PRINT_OPTS.linewidth - indent) / element_length)
    )
    edge = PRINT_OPTS.edgeitems
    if summarize and not edge:
        data = ["..."]
    elif summarize and values.shape[0] > 2 * edge:
        data = (
            [formatter.format(v) for v in values[:edge].tolist()]
            + [" ..."]
            + [formatter.format(v) for v in values[-edge:].tolist()]
        )
    else:
        data = [formatter.format(v) for v in values.tolist()]

    lines = [
        ", ".join(data[i : i + elements_per_line])
        for i in range(0, len(data), elements_per_line)
    ]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str_with_formatter(values, indent, summarize, formatter):
    dim = values.ndim
    if dim == 0:
        return formatter.format(values.item())
    if dim == 1:
        return _vector_str(values, indent, summarize, formatter)

    edge = PRINT_OPTS.edgeitems
    size = values.shape[0]
    if summarize and size > 2 * edge:
        rows = [*range(edge), None, *range(size - edge, size)]
    else:
        rows = range(size)
    slices = [
        "..." if i is None
        else _tensor_str_with_formatter(values[i], indent + 1, summarize, formatter)
        for i in rows
    ]
    # Blank lines between blocks grow with the number of dimensions below.
    return "[" + ("," + "\n" * (dim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(tensor_str, suffixes, indent):
    """Append ``, suffix`` items, moving an item to a new line if it would overflow.

    ``suffixes`` holds ``(text, width)`` pairs; ``width`` is the length used for
    the line-wrapping decision.
    """
    parts = [tensor_str]
    # torch's arithmetic: length of the last line plus 2 (for the ", " to come).
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix, width in suffixes:
        if last_line_len + width + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + width
        else:
            parts.append(", " + suffix)
            last_line_len += width + 2
    parts.append(")")
    return "".join(parts)


def format_tensor(values, dtype, *, suffixes=(), prefix="tensor(", default_dtype="float32"):
    """Return what ``repr`` of a torch tensor with these values and dtype would be.

    ``suffixes`` are extra, already formatted items (e.g. ``"requires_grad=True"``)
    placed after the dtype item. Only the last line of a multi-line ``prefix``
    (e.g. ``"Parameter containing:\\ntensor("``) counts for indentation, as in
    torch, where such headers are prepended to the finished repr.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; expected one of {_DTYPES}")
    values = np.asarray(values, dtype=dtype)
    head, newline, prefix = prefix.rpartition("\n")
    indent = len(prefix)
    items = []  # (text, width used for line wrapping)
    size_item = f"size={values.shape}"
    # The dtype item is measured as torch spells it ("dtype=torch.float64"), so
    # lines wrap exactly where torch's do and only the module name differs.
    dtype_item = (f"dtype=tapegrad.{dtype}", len(f"dtype=torch.{dtype}"))

    if values.size == 0:
        # Shape (0,) is implied by "[]"; any other empty shape must be printed.
        if values.ndim != 1:
            items.append((size_item, len(size_item)))
        # No elements to infer the dtype from, so even int64/bool are shown.
        if dtype != default_dtype:
            items.append(dtype_item)
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:  # no elements shown at all, so give the shape
            items.append((size_item, len(size_item)))
        if dtype not in (default_dtype, "int64", "bool"):
            items.append(dtype_item)
        summarize = values.size > PRINT_OPTS.threshold
        shown = _summarized_values(values) if summarize else values.reshape(-1)
        formatter = _Formatter(shown, floating=dtype.startswith("float"))
        body = _tensor_str_with_formatter(values, indent, summarize, formatter)

    items += [(suffix, len(suffix)) for suffix in suffixes]
    return head + newline + _add_suffixes(prefix + body, items, indent)
