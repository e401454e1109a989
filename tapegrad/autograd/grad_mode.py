"""no_grad / enable_grad / set_grad_enabled: a per-thread switch for recording."""
import functools
import threading

class _Local(threading.local):
    enabled = True            # every thread starts with grad on (a class default: no
                              # failed lookup per op, which costs 0.5 us)


_local = _Local()
mirrors = []                  # also told each change (tapegrad/scalars.py: the C record path's copy)


def is_grad_enabled():
    return _local.enabled


def _set(mode):
    """The one writer of the switch."""
    _local.enabled = bool(mode)
    for mirror in mirrors:
        mirror(_local.enabled)


class _Mode:
    """Context manager and decorator (with or without parentheses)."""
    mode = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if callable(func):          # used as @no_grad without parentheses
            return self(func)
        return self

    def __enter__(self):
        self.prev = is_grad_enabled()
        _set(self.mode)

    def __exit__(self, *exc):
        _set(self.prev)

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_Mode):
    mode = False


class enable_grad(_Mode):
    mode = True


class set_grad_enabled(_Mode):
    """Switches at once, so it also works as a plain call; as a context
    manager it restores the previous mode on exit."""

    def __new__(cls, mode):
        self = object.__new__(cls)
        self.prev = is_grad_enabled()
        self.mode = bool(mode)
        _set(mode)
        return self

    def __init__(self, mode):
        pass

    def __enter__(self):
        pass

    def __call__(self, func):
        _set(self.prev)        # as a decorator it must not switch at definition time
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)
        return wrapper
