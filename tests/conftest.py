"""Shared test configuration.

Hypothesis profiles: ``ci`` (the default) keeps the whole suite within a few
minutes on two cores; ``dev`` draws many more examples for local runs::

    HYPOTHESIS_PROFILE=dev python -m pytest tests/test_theorems.py
"""

import os

import matplotlib
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

try:
    import torch
except ImportError:  # the kernel estimators are tested without the torch extra too
    torch = None
else:
    # The test networks are tiny and gain nothing from intra-op threads, while OpenMP
    # threads that spin while another process holds a core slow them down many times.
    # One thread also keeps the CPU results of the network tests bitwise reproducible.
    torch.set_num_threads(1)
