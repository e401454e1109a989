"""Tutorial seed 001 (the old 60-minute blitz autograd page: Variable,
grad_fn, backward, and the `while y.data.norm() < 1000` loop whose graph
depends on the data), every code cell run with `import torch` giving
tapegrad. The page's text lost its whitespace and shows no outputs; the
cells are its code re-spaced, and the outputs are the page's well-known
ones (the same as seed 000's) for the deterministic cells, torch's for the
random one (same NumPy data), and hand-derived values."""
import numpy as np
import torch

import tapegrad
from test_seed_000 import CELLS as SEED_000
from tutorial_cells import Cell, floats, structure, tutorial_tests

# The deterministic cells print what the same code prints in seed 000.
CELLS = {
    "import": Cell("""\
import torch
from torch.autograd import Variable
"""),
    "variable": Cell("""\
x = Variable(torch.ones(2, 2), requires_grad=True)
print(x)
""", SEED_000["In[2]"].printed),
    "add": Cell("""\
y = x + 2
print(y)
""", SEED_000["In[3]"].printed),
    "grad_fn": Cell("print(y.grad_fn)", SEED_000["In[4]"].printed),
    "more_ops": Cell("""\
z = y * y * 3
out = z.mean()
print(z, out)
""", SEED_000["In[5]"].printed),
    "backward": Cell("out.backward()"),
    "grad": Cell("print(x.grad)", SEED_000["In[8]"].printed),
    # The page shows no output here; these strings only give the format (three
    # values, grad_fn=<MulBackward0>; x.grad spans 1e4, so scientific mode).
    "while_loop": Cell("""\
x = torch.randn(3)
x = Variable(x, requires_grad=True)
y = x * 2
while y.data.norm() < 1000:
    y = y * 2
print(y)
""", """\
tensor([ -707.3221,  1107.7551, -1040.2690], grad_fn=<MulBackward0>)
""", random=True),
    "vector_backward": Cell("""\
gradients = torch.FloatTensor([0.1, 1.0, 0.0001])
y.backward(gradients)
print(x.grad)
""", """\
tensor([1.0240e+02, 1.0240e+03, 1.0240e-01])
""", random=True),
}
IDS = list(CELLS)
SEEDS = [0, 1, 2, 3]


(ours, same_data, test_cell_prints_what_the_tutorial_shows,
 test_cell_prints_what_torch_prints) = tutorial_tests(CELLS, SEEDS)


def test_variable_is_a_tensor(ours):
    ns = ours[1]
    assert isinstance(ns["x"], tapegrad.Tensor)
    assert isinstance(ns["x"], ns["Variable"])
    assert ns["x"].is_leaf and ns["x"].requires_grad


def test_while_loop_gradient_is_the_scale_times_the_upstream(same_data):
    """y = x * 2**k with k the number of doublings, so x.grad = 2**k * gradients;
    both libraries must stop after the same k for the same data."""
    for lib in (tapegrad, torch):
        ns = same_data[lib][1]
        x, y = ns["x"], ns["y"]
        scale = (y.detach().numpy() / x.detach().numpy())
        k = int(round(np.log2(scale[0])))
        assert k >= 1 and np.allclose(scale, 2.0 ** k)
        assert np.linalg.norm(y.detach().numpy()) >= 1000
        assert np.linalg.norm(y.detach().numpy() / 2) < 1000
        np.testing.assert_allclose(x.grad.numpy(), 2.0 ** k * np.array([0.1, 1.0, 0.0001]),
                                   rtol=1e-6)
    assert same_data[tapegrad][1]["x"].grad.tolist() == same_data[torch][1]["x"].grad.tolist()


def test_while_loop_prints_three_values(ours):
    printed = ours[0][IDS.index("while_loop")].output
    assert len(floats(printed)) == 3
    assert structure(printed) == ["tensor([#,#,#], grad_fn=<MulBackward0>)"]
