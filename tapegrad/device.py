"""The device API, CPU only, so code written for PyTorch runs unchanged."""


class device:
    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        kind = str(type).split(":")[0]
        if kind != "cpu":
            raise RuntimeError(f"tapegrad runs on the CPU only; device {type!r} is not available. "
                               "Use device='cpu' (or drop the device argument).")
        self.type, self.index = "cpu", index

    def __repr__(self):
        return "device(type='cpu')"

    def __str__(self):
        return "cpu"

    def __eq__(self, other):
        return isinstance(other, (device, str)) and str(other).split(":")[0] == "cpu"

    def __hash__(self):
        return hash("cpu")


def check(dev):
    """Raises for anything but the CPU; accepts None, "cpu" and device("cpu")."""
    if dev is not None:
        device(dev)


class cuda:
    @staticmethod
    def is_available():
        return False

    @staticmethod
    def device_count():
        return 0


_default = ["cpu"]


def set_default_device(dev):
    check(dev)
