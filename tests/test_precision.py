"""PyTorch's float32 precision switches: set/get_float32_matmul_precision and
backends.cuda.matmul.allow_tf32 drive JAX's default matmul precision, and a switch takes effect
in programs already compiled (one program per precision, each compiled once)."""
import jax
import numpy as np
import pytest
import torch

import rustorch


@pytest.fixture(autouse=True)
def _restore():
    yield
    rustorch.set_float32_matmul_precision("highest")


def test_defaults_match_torch():
    assert rustorch.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"
    assert rustorch.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32
    assert rustorch.backends.cudnn.allow_tf32 == torch.backends.cudnn.allow_tf32
    assert jax.config.jax_default_matmul_precision == "float32"


@pytest.mark.parametrize("precision, jax_name, tf32", [("highest", "float32", False), ("high", "tensorfloat32", True),
                                                        ("medium", "bfloat16", True)])
def test_switch_maps_to_jax_and_allow_tf32(precision, jax_name, tf32):
    rustorch.set_float32_matmul_precision(precision)
    assert rustorch.get_float32_matmul_precision() == precision
    assert jax.config.jax_default_matmul_precision == jax_name
    assert rustorch.backends.cuda.matmul.allow_tf32 is tf32


def test_allow_tf32_sets_the_precision_as_torch():
    rustorch.backends.cuda.matmul.allow_tf32 = True
    assert rustorch.get_float32_matmul_precision() == "high"
    rustorch.backends.cuda.matmul.allow_tf32 = False
    assert rustorch.get_float32_matmul_precision() == "highest"


def test_invalid_precision_warns_and_changes_nothing():
    with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
        rustorch.set_float32_matmul_precision("low")
    assert rustorch.get_float32_matmul_precision() == "highest"


def test_switch_recompiles_once_per_precision(rng):
    a = rustorch.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    b = rustorch.tensor(rng.standard_normal((4, 2)).astype(np.float32))
    expected = np.asarray(a.numpy(), np.float64) @ np.asarray(b.numpy(), np.float64)
    results = {}
    counts = []
    for precision in ("highest", "medium", "highest", "medium"):
        rustorch.set_float32_matmul_precision(precision)
        results.setdefault(precision, (a @ b).numpy())
        counts.append(rustorch.compile_count())
    assert counts[1] == counts[0] + 1  # the switch reached the cached program
    assert counts[3] == counts[1]      # and each precision compiled once
    # XLA's CPU backend computes float32 dots in float32 at every precision (documented)
    np.testing.assert_allclose(results["highest"], expected, rtol=1e-5)
