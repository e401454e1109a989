"""Hypothesis profiles. HYPOTHESIS_PROFILE=slow runs the property tests with
ten times the examples; the default, "ci", keeps the suite fast. Tests that
pin max_examples in their own @settings keep it under either profile."""
import os

from hypothesis import settings

settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True, database=None)
settings.register_profile("slow", max_examples=500, deadline=None, derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
