"""Test-wide settings: warnings are errors and JAX promotes dtypes strictly.

Strict promotion turns every silent int/float or float32/float64 mix inside the library
into an error, so a test that passes here cannot hide an accidental upcast.
"""

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")

def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.filterwarnings("error"))

@pytest.fixture
def rng():
    """A seeded numpy generator; each test gets the same stream on every run."""
    return np.random.default_rng(0)
