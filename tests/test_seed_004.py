"""Tutorial seed 004 ("Autograd Differentiation": scalar examples, a
one-neuron binary cross-entropy, a vector mean, accumulating and clearing
gradients, three ways to stop tracking), every code cell run with `import
torch` giving tapegrad; a cell whose last line is an expression shows its
repr, as Jupyter does, and cells run in the order of their In[] numbers.
Each cell must print what the tutorial shows and what
real torch prints for the same code. This tutorial draws no random numbers;
`y2.grad` on a non-leaf shows a UserWarning and no value."""
import math

import pytest

from tutorial_cells import Cell, tutorial_tests

CELLS = {
    "In[7]": Cell("import torch"),
    "In[8]": Cell("""\
x = torch.tensor(5.0, requires_grad = True)
y = x ** 2

print(x)
print(y)
""", """\
tensor(5., requires_grad=True)
tensor(25., grad_fn=<PowBackward0>)
"""),
    "In[9]": Cell("""\
# all the derivatives in the backward direction is calculated
y.backward()
"""),
    "In[10]": Cell("""\
# to see grad value
x.grad
""", "tensor(10.)\n"),
    "In[23]": Cell("""\
x2 = torch.tensor(4.0, requires_grad= True)
y2 = x2 ** 2
z2 = torch.sin(y2)

print(x2)
print(y2)
print(z2)
""", """\
tensor(4., requires_grad=True)
tensor(16., grad_fn=<PowBackward0>)
tensor(-0.2879, grad_fn=<SinBackward0>)
"""),
    "In[24]": Cell("z2.backward()"),
    "In[25]": Cell("x2.grad", "tensor(-7.6613)\n"),
    "In[26]": Cell("y2.grad", None, warns="is not a leaf Tensor is being accessed"),
    "In[60]": Cell("""\
x3 = torch.tensor(6.7)
y3 = torch.tensor(0.0)
"""),
    "In[61]": Cell("""\
w = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.0, requires_grad=True)
print(w)
print(b)
""", """\
tensor(1., requires_grad=True)
tensor(0., requires_grad=True)
"""),
    "In[62]": Cell("""\
z = w*x3 + b
y_pred = torch.sigmoid(z)
print(z)
print(y_pred)
""", """\
tensor(6.7000, grad_fn=<AddBackward0>)
tensor(0.9988, grad_fn=<SigmoidBackward0>)
"""),
    "In[63]": Cell("""\
def binary_cross_entropy(y_pred, y_true):
  # to prevent log(0)
  e = 1e-8

  # clamp func. restricts values of a tensor to a given range
  y_pred = torch.clamp(y_pred, e, 1-e)

  return -(y_true*torch.log(y_pred) + (1-y_true)*torch.log(1-y_pred))
"""),
    "In[64]": Cell("""\
loss = binary_cross_entropy(y_pred, y3)
loss
""", "tensor(6.7012, grad_fn=<NegBackward0>)\n"),
    "In[65]": Cell("loss.backward()"),
    "In[66]": Cell("""\
print(w.grad)
print(b.grad)
""", """\
tensor(6.6918)
tensor(0.9988)
"""),
    "In[70]": Cell("""\
x = torch.tensor([1.0, 3.0, 4.0], requires_grad=True)
print(x.shape)
print(x)
""", """\
torch.Size([3])
tensor([1., 3., 4.], requires_grad=True)
"""),
    "In[71]": Cell("""\
y = (x**2).mean()
y
""", "tensor(8.6667, grad_fn=<MeanBackward0>)\n"),
    "In[72]": Cell("y.backward()"),
    "In[73]": Cell("x.grad", "tensor([0.6667, 2.0000, 2.6667])\n"),
    "In[74]": Cell("""\
x = torch.tensor(2.0, requires_grad=True)
x
""", "tensor(2., requires_grad=True)\n"),
    "In[75]": Cell("""\
y = x**2
y
""", "tensor(4., grad_fn=<PowBackward0>)\n"),
    "In[76]": Cell("""\
y.backward()
x.grad
""", "tensor(4.)\n"),
    "In[77]": Cell("""\
y = x**2
y
""", "tensor(4., grad_fn=<PowBackward0>)\n"),
    "In[78]": Cell("""\
y.backward()
x.grad
""", "tensor(8.)\n"),
    "In[79]": Cell("x.grad.zero_()", "tensor(0.)\n"),
    "In[80]": Cell("""\
y = x**2
y.backward()
x.grad
""", "tensor(4.)\n"),
    # The notebook shows this cell as In[86]: it ran first as In[81] (before
    # In[82]-In[84], which turned x's requires_grad off) and again as In[86],
    # before In[87], whose y has a grad_fn again. Cells run in that order.
    "In[81]": Cell("""\
x = torch.tensor(2.0, requires_grad=True)
x
""", "tensor(2., requires_grad=True)\n"),
    "In[82]": Cell("""\
y = x**2
y
""", "tensor(4., grad_fn=<PowBackward0>)\n"),
    "In[83]": Cell("x.requires_grad_(False)", "tensor(2.)\n"),
    "In[84]": Cell("""\
z = x.detach()
z
""", "tensor(2.)\n"),
    "In[86]": Cell("""\
x = torch.tensor(2.0, requires_grad=True)
x
""", "tensor(2., requires_grad=True)\n"),
    "In[87]": Cell("""\
y = x**2
y
""", "tensor(4., grad_fn=<PowBackward0>)\n"),
    "In[88]": Cell("""\
y = z**2
y
""", "tensor(4.)\n"),
    "In[89]": Cell("""\
with torch.no_grad():
  y = x**2
"""),
    "In[90]": Cell("y", "tensor(4.)\n"),
}


(ours, same_data, test_cell_prints_what_the_tutorial_shows,
 test_cell_prints_what_torch_prints) = tutorial_tests(CELLS)


def test_hand_derived_gradients(ours):
    """d/dx sin(x^2) = 2x cos(x^2) at 4; the neuron's BCE gradient is
    (sigmoid(z) - y) * x3 for w and sigmoid(z) - y for b."""
    ns = ours[1]
    assert ns["x2"].grad.item() == pytest.approx(8 * math.cos(16), rel=1e-6)
    p = 1 / (1 + math.exp(-6.7))
    assert ns["w"].grad.item() == pytest.approx(p * 6.7, rel=1e-5)
    assert ns["b"].grad.item() == pytest.approx(p, rel=1e-5)
    assert ns["loss"].item() == pytest.approx(-math.log(1 - p), rel=1e-5)


def test_stopping_tracking(ours):
    ns = ours[1]
    assert ns["x"].requires_grad and ns["x"].is_leaf        # made anew by In[86]
    assert not ns["z"].requires_grad and ns["z"].grad_fn is None
    assert ns["y"].grad_fn is None and not ns["y"].requires_grad   # under no_grad
