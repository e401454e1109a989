"""Tutorial seed 000 ("Autograd": requires_grad, grad_fn, backward, no_grad,
detach, a custom autograd.Function MyRelu), every code cell run with
`import torch` giving tapegrad. Each cell must print what the tutorial
shows, and what real torch prints for the same code (same NumPy data for
rand/randn). This tutorial draws no random numbers."""
import numpy as np
import torch

import tapegrad
from functions import MY_RELU
from tutorial_cells import Cell, tutorial_tests

CELLS = {
    "In[1]": Cell("import torch"),
    "In[2]": Cell("""\
x = torch.ones(2, 2, requires_grad=True)
print(x)
""", """\
tensor([[1., 1.],
        [1., 1.]], requires_grad=True)
"""),
    "In[3]": Cell("""\
y = x + 2
print(y)
""", """\
tensor([[3., 3.],
        [3., 3.]], grad_fn=<AddBackward0>)
"""),
    "In[4]": Cell("print(y.grad_fn)", "<AddBackward0 object at 0x7ff53954e390>\n"),
    "In[5]": Cell("""\
z = y * y * 3
out = z.mean()

print(z, out)
""", """\
tensor([[27., 27.],
        [27., 27.]], grad_fn=<MulBackward0>) tensor(27., grad_fn=<MeanBackward0>)
"""),
    "In[6]": Cell("""\
a = torch.ones(2, 2)
print(a.requires_grad)
a.requires_grad_(True)
print(a.requires_grad)
b = (a * a).sum()
print(b.grad_fn)
""", """\
False
True
<SumBackward0 object at 0x7ff539550f10>
"""),
    "In[7]": Cell("out.backward()"),
    "In[8]": Cell("print(x.grad)", """\
tensor([[4.5000, 4.5000],
        [4.5000, 4.5000]])
"""),
    "In[9]": Cell("""\
print(x.requires_grad)
print((x**2).requires_grad)

with torch.no_grad():
    print((x**2).requires_grad)
""", """\
True
True
False
"""),
    "In[10]": Cell("""\
print(x.requires_grad)
y = x.detach()
print(y.requires_grad)
print(x.eq(x).all())
""", """\
True
False
tensor(True)
"""),
    "In[11]": Cell(MY_RELU),
    "In[12]": Cell("""\
# To apply our custom function, we use function.apply method.
relu = MyRelu.apply
"""),
}


(ours, same_data, test_cell_prints_what_the_tutorial_shows,
 test_cell_prints_what_torch_prints) = tutorial_tests(CELLS)


def test_state_after_the_tutorial(ours):
    ns = ours[1]
    assert ns["x"].grad.tolist() == [[4.5, 4.5], [4.5, 4.5]]
    assert ns["out"].item() == 27.0
    assert ns["b"].grad_fn.name() == "SumBackward0"
    assert ns["a"].requires_grad and ns["a"].is_leaf


# The tutorial defines MyRelu and stops at `relu = MyRelu.apply`; the next
# thing its reader does is apply it.

DATA = np.array([[-1.5, 0.0, 2.0], [0.25, -0.5, 3.0]], np.float32)
UPSTREAM = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)


def _apply(lib, relu):
    x = lib.tensor(DATA.copy(), requires_grad=True)
    y = relu(x)
    (y * lib.tensor(UPSTREAM)).sum().backward()
    return x, y


def test_my_relu_applied_forward_and_backward(ours, same_data):
    x, y = _apply(tapegrad, ours[1]["relu"])
    tx, ty = _apply(torch, same_data[torch][1]["relu"])
    # hand-derived: relu forward; backward passes grad where input >= 0
    np.testing.assert_array_equal(y.detach().numpy(), np.maximum(DATA, 0))
    np.testing.assert_array_equal(x.grad.numpy(), np.where(DATA < 0, 0, UPSTREAM))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    assert y.grad_fn.name() == ty.grad_fn.name() == "MyReluBackward"
    assert repr(y) == repr(ty)
    assert [type(f).__name__ for f, _ in y.grad_fn.next_functions] == \
        [type(f).__name__ for f, _ in ty.grad_fn.next_functions] == ["AccumulateGrad"]


def test_my_relu_passes_gradcheck(ours, same_data):
    data = np.array([-1.5, -0.25, 0.5, 2.0])        # away from the kink at 0
    x = tapegrad.tensor(data, requires_grad=True)
    assert tapegrad.autograd.gradcheck(ours[1]["relu"], (x,))
    assert torch.autograd.gradcheck(same_data[torch][1]["relu"],
                                    (torch.tensor(data, requires_grad=True),))
