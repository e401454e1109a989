"""Tutorial seed 003 ("Autograd": rand inputs, grad_fn names, backward with
and without a vector, requires_grad_(False), detach_, detach, no_grad,
accumulating and zeroing gradients), every code cell run with `import
torch` giving tapegrad. Each cell must print what the tutorial shows (only
the format and count of values where they come from rand/randn), and
exactly what real torch prints for the same code on the same NumPy data;
the tutorial's own derivations (dz1/dx = 16 (x + 1) / 3, ...) are checked
on tapegrad's values."""
import numpy as np
import pytest

from tutorial_cells import Cell, floats, tutorial_tests

CELLS = {
    "In[1]": Cell("import torch"),
    "In[2]": Cell("""\
x = torch.rand(3 ,requires_grad=True) # Need to specify requires_grad = True for calculation of gradients, by default it is False
print(x)
""", "tensor([0.2254, 0.4946, 0.0936], requires_grad=True)\n", random=True),
    "In[3]": Cell("""\
y = (2*x)+2 # Will create a computational graph
print(y) # A grad_fn attribute is created
""", "tensor([2.4507, 2.9892, 2.1873], grad_fn=<AddBackward0>)\n", random=True),
    "In[4]": Cell("""\
z = 2*(y**2)
print(z)
""", "tensor([12.0119, 17.8701,  9.5685], grad_fn=<MulBackward0>)\n", random=True),
    "In[5]": Cell("""\
z1 = z.mean()
print(z1)
""", "tensor(13.1502, grad_fn=<MeanBackward0>)\n", random=True),
    "In[6]": Cell("""\
z1.backward() # dz1/dx (backward() requires it to be a single value
# Will work only if requires_grad = True, otherwise it will create a Runtime Error
"""),
    "In[7]": Cell("""\
print(x.grad)
print(16*(x+1)/3)
""", """\
tensor([6.5352, 7.9711, 5.8328])
tensor([6.5352, 7.9711, 5.8328], grad_fn=<DivBackward0>)
""", random=True),
    "In[8]": Cell("""\
#If we want dz/dx
x1 = torch.rand(3 ,requires_grad=True)
y1 = 2*x1 + 2
z1 = 2*(y1**2)
z2 = z1.sum()
z2.backward() # This will calculate dz/dx as dz2/dz = 1
"""),
    "In[9]": Cell("""\
print(x1.grad)
print(16*(x1+1))
""", """\
tensor([20.0744, 27.6490, 27.1790])
tensor([20.0744, 27.6490, 27.1790], grad_fn=<MulBackward0>)
""", random=True),
    "In[10]": Cell("""\
#Or we pass a vector of same size in the backward() function
x2 = torch.rand(3 ,requires_grad=True)
y2 = 2*x2 + 2
z2 = 2*(y2**2)
v2 = torch.ones_like(z2)
z2.backward(v2) # Results in (dz2/dx2)/v2, so we will need to multiply v2 later
print(x2.grad)
print(16*(x2+1))
print(16*(x2+1)*v2) # Not needed as v2 is just a vector of ones
""", """\
tensor([29.2486, 17.2806, 25.7376])
tensor([29.2486, 17.2806, 25.7376], grad_fn=<MulBackward0>)
tensor([29.2486, 17.2806, 25.7376], grad_fn=<MulBackward0>)
""", random=True),
    "In[11]": Cell("""\
#Lets try v2 to be something else
x2 = torch.randn(3 ,requires_grad=True)
y2 = 2*x2 + 2
z2 = 2*(y2**2)
v2 = torch.rand(len(z2))
z2.backward(v2)
print(x2.grad)
print(16*(x2+1)) # Won't work
print(16*(x2+1)*v2) # Will work
""", """\
tensor([ 1.5111, 40.0987, 13.2673])
tensor([20.7550, 41.3589, 21.6156], grad_fn=<MulBackward0>)
tensor([ 1.5111, 40.0987, 13.2673], grad_fn=<MulBackward0>)
""", random=True),
    "In[12]": Cell("x", "tensor([0.2254, 0.4946, 0.0936], requires_grad=True)\n", random=True),
    "In[13]": Cell("""\
x.requires_grad_(False) # the underscore in the end means that requires_grad in x has been set to False inplace
print(x)
""", "tensor([0.2254, 0.4946, 0.0936])\n", random=True),
    "In[14]": Cell("""\
x = torch.randn(3, requires_grad=True)
print(x)
x.detach_()
print(x)
""", """\
tensor([-1.4489,  1.9851,  0.0558], requires_grad=True)
tensor([-1.4489,  1.9851,  0.0558])
""", random=True),
    "In[15]": Cell("""\
x = torch.randn(3, requires_grad=True)
print(x)
y = x.detach()
print('x:',x) # x is not affected here as it didn't call the detach() function with an underscore (not inplace)
print('y:',y)
""", """\
tensor([ 0.1504,  1.2185, -0.2486], requires_grad=True)
x: tensor([ 0.1504,  1.2185, -0.2486], requires_grad=True)
y: tensor([ 0.1504,  1.2185, -0.2486])
""", random=True),
    "In[16]": Cell("""\
x = torch.randn(3, requires_grad=True)
print(x)
y = x+2
print('y:',y) # Here y has the grad_fn
with torch.no_grad():
    y = x+2
    print('y:',y) # Here y does not have grad_fn
    print(x)
""", """\
tensor([-0.9801, -0.3551,  1.2238], requires_grad=True)
y: tensor([1.0199, 1.6449, 3.2238], grad_fn=<AddBackward0>)
y: tensor([1.0199, 1.6449, 3.2238])
tensor([-0.9801, -0.3551,  1.2238], requires_grad=True)
""", random=True),
    "In[17]": Cell("""\
# Lets take an example
weights = torch.ones(3, requires_grad=True)

for epoch in range(3):
    output = (weights*3).sum() # y = weights*3, output = y.sum()
    output.backward() # Should give d(output)/d(y) * d(y)/d(weights) = 1 * [3,3,3] = [3,3,3]
    print(weights.grad)
""", """\
tensor([3., 3., 3.])
tensor([6., 6., 6.])
tensor([9., 9., 9.])
"""),
    "In[18]": Cell("""\
weights = torch.ones(3, requires_grad=True)
for epoch in range(3):
    output = (weights*3).sum() # y = weights*3, output = y.sum()
    output.backward() # Should give d(output)/d(y) * d(y)/d(weights) = 1 * [3,3,3] = [3,3,3]
    print(weights.grad)
    weights.grad.zero_()
""", """\
tensor([3., 3., 3.])
tensor([3., 3., 3.])
tensor([3., 3., 3.])
"""),
    "In[19]": Cell("""\
weights = torch.ones(3, requires_grad=True)
# optimizer = torch.optim.SGD(weights, lr=0.01) #SGD: Stochastic Gradient Descent
# optimizer.step() # updates parameters
# optimizer.zero_grad() # Same as .grad.zero_() for the parameters in optimizer
"""),
}
IDS = list(CELLS)
SEEDS = [0, 1, 2]


(ours, same_data, test_cell_prints_what_the_tutorial_shows,
 test_cell_prints_what_torch_prints) = tutorial_tests(CELLS, SEEDS)


def _lines(ours, cell):
    return [floats(line) for line in ours[0][IDS.index(cell)].output.splitlines()]


@pytest.mark.parametrize("cell, equal, different", [
    ("In[7]", [(0, 1)], []),            # dz1/dx = 16 (x + 1) / 3
    ("In[9]", [(0, 1)], []),            # dz2/dx1 = 16 (x1 + 1)
    ("In[10]", [(0, 1), (0, 2)], []),   # v2 = ones: the same again
    ("In[11]", [(0, 2)], [(0, 1)]),     # v2 random: the product with v2, not without
])
def test_printed_gradients_match_the_tutorials_derivation(ours, cell, equal, different):
    lines = _lines(ours, cell)
    assert all(len(line) == 3 for line in lines)
    for i, j in equal:
        assert lines[i] == lines[j]
    for i, j in different:
        assert lines[i] != lines[j]


def test_gradients_against_the_derivation(ours):
    ns = ours[1]
    x1 = ns["x1"].detach().numpy()
    np.testing.assert_allclose(ns["x1"].grad.numpy(), 16 * (x1 + 1), rtol=1e-6)
    x2, v2 = ns["x2"].detach().numpy(), ns["v2"].numpy()
    np.testing.assert_allclose(ns["x2"].grad.numpy(), 16 * (x2 + 1) * v2, rtol=1e-5, atol=1e-6)


def test_requires_grad_off_and_detach(ours):
    """In[12] and In[13] print the same x, once with requires_grad=True; detach_
    (In[14]) and no_grad (In[16]) leave no grad_fn."""
    out = {c: ours[0][IDS.index(c)].output for c in ("In[12]", "In[13]", "In[14]", "In[16]")}
    assert out["In[12]"] == out["In[13]"].replace(")\n", ", requires_grad=True)\n")
    first, second = out["In[14]"].splitlines()
    assert first == second.replace(")", ", requires_grad=True)")
    lines = out["In[16]"].splitlines()
    assert lines[1].replace(", grad_fn=<AddBackward0>", "") == lines[2]
    assert lines[0] == lines[3]
