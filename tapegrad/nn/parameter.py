"""Parameter: a Tensor that a Module registers when it is assigned as an attribute."""
from .. import creation
from ..tensor import Tensor, _rebuild


class Parameter(Tensor):
    """A leaf that requires grad by default. Parameter(t) shares t's memory,
    as torch's does; ops on a Parameter give plain Tensors."""
    __slots__ = ()          # the same layout as Tensor, so a Tensor can become one

    def __new__(cls, data=None, requires_grad=True):
        data = creation.empty(0) if data is None else data
        return _rebuild(cls, data._data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        # torch copies a Parameter's data and flag, not its .grad
        if id(self) not in memo:
            memo[id(self)] = _rebuild(type(self), self._data.copy(), self._rg)
        return memo[id(self)]
