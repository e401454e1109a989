"""Hypothesis profiles. HYPOTHESIS_PROFILE=slow runs the property tests with
ten times the examples; the default, "ci", keeps the suite fast. Tests that
pin max_examples in their own @settings keep it under either profile.

torch_single_threaded: a module's torch runs on one thread while its tests
run (pytestmark = pytest.mark.usefixtures("torch_single_threaded"))."""
import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True, database=None)
settings.register_profile("slow", max_examples=500, deadline=None, derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def torch_single_threaded():
    """torch's thread pool costs more than it gains on tiny tensors (tenfold
    on a busy 2-core machine): one thread for the module that asks."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
