"""detect_anomaly / set_detect_anomaly: find the op whose backward made a NaN.

While enabled, records keep the Python stack of their forward call, and
backward sweeps one record at a time, checking each record's input
gradients; the first that turns NaN raises RuntimeError naming the op, after
a warning with its forward traceback, as PyTorch does. It is slow: a
debugging tool.
"""
enabled = False


def is_anomaly_enabled():
    return enabled


class set_detect_anomaly:
    """Switches at once (a plain call); as a context manager it restores."""

    def __init__(self, mode, check_nan=True):
        global enabled
        self.prev, enabled = enabled, bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global enabled
        enabled = self.prev


class detect_anomaly(set_detect_anomaly):
    """Context manager (and decorator) enabling anomaly detection."""

    def __init__(self, check_nan=True):
        import warnings
        self.check_nan = check_nan
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and "
                      "should only be enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self):
        global enabled
        self.prev, enabled = enabled, True
        return self

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return func(*args, **kwargs)
        return wrapper
