"""Tutorial seed 002 ("AUTOGRAD: AUTOMATIC DIFFERENTIATION": requires_grad_,
detach, no_grad, a graph from torch.tensor data and its x.grad), every code
cell run with `import torch` giving tapegrad. Each cell must print what the
tutorial shows (only the format and count of values where they come from
randn), and exactly what real torch prints for the same code on the same
NumPy data."""
import numpy as np

from tutorial_cells import Cell, tutorial_tests

CELLS = {
    "In[1]": Cell("import torch"),
    "In[2]": Cell("""\
# User created tensor requires_grad = False
a = torch.randn(2, 2)
a = ((a * 3) / (a - 1))
print(a.requires_grad)

# Change
a.requires_grad_(True)
print(a.requires_grad)
b = (a * a).sum()
print(a)
print(b)
""", """\
False
True
tensor([[ 1.7315, -1.0468],
        [-8.2165,  1.4425]], requires_grad=True)
tensor(73.6851, grad_fn=<SumBackward0>)
""", random=True),
    "In[3]": Cell("""\
x = torch.randn(3, requires_grad=True)
y = x.detach()

print(y.requires_grad)
print(x.eq(y).all())
""", """\
False
tensor(True)
"""),
    "In[4]": Cell("""\
x = torch.randn(3, requires_grad=True)

with torch.no_grad():
    print((x ** 2).requires_grad)
""", """\
False
"""),
    "In[5]": Cell("""\
x = torch.tensor(
   [[1.0, 2.0],
    [3.0, 4.0]], requires_grad=True)
y = x + 2
z = y**2 * 3
out = z.mean()
"""),
    "In[6]": Cell("""\
print(x)
print(y, y.grad_fn)
print(z)
print(out)
""", """\
tensor([[1., 2.],
        [3., 4.]], requires_grad=True)
tensor([[3., 4.],
        [5., 6.]], grad_fn=<AddBackward0>) <AddBackward0 object at 0x7fad3839af50>
tensor([[ 27.,  48.],
        [ 75., 108.]], grad_fn=<MulBackward0>)
tensor(64.5000, grad_fn=<MeanBackward0>)
"""),
    "In[7]": Cell("out.backward()"),
    "In[8]": Cell("""\
# d(out)/dx
J = x.grad
print(J)
""", """\
tensor([[4.5000, 6.0000],
        [7.5000, 9.0000]])
"""),
}
SEEDS = [0, 1, 2]


(ours, same_data, test_cell_prints_what_the_tutorial_shows,
 test_cell_prints_what_torch_prints) = tutorial_tests(CELLS, SEEDS)


def test_gradient_is_three_halves_of_x_plus_two(ours):
    """out = mean(3 (x + 2)^2), so d out / dx = 3/2 (x + 2) (the tutorial's derivation)."""
    ns = ours[1]
    x = ns["x"].detach().numpy()
    np.testing.assert_array_equal(ns["J"].numpy(), 1.5 * (x + 2))
    assert ns["out"].item() == 64.5


def test_random_cell_values_are_consistent(ours):
    """b = sum(a * a) for the a the cell printed (values tapegrad's own)."""
    ns = ours[1]
    a = ns["a"].detach().numpy()
    np.testing.assert_allclose(ns["b"].item(), float((a.astype(np.float64) ** 2).sum()),
                               rtol=1e-6)
