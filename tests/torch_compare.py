"""Shared helpers for comparing rustorch against PyTorch, the oracle."""
import numpy as np
import torch


def to_torch(x, requires_grad=False, dtype=None):
    """A torch tensor holding a copy of ``x`` (numpy or JAX array)."""
    t = torch.from_numpy(np.array(x, copy=True))
    if dtype is not None:
        t = t.to(dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t


def assert_close(actual, expected, rtol=1e-5, atol_scale=1e-6, err_msg=""):
    """Element-wise closeness with a tolerance relative to the data's own magnitude.

    float32 results that went through a different summation order differ by a few ulps
    of the *largest* values involved, so the absolute floor is ``atol_scale`` times the
    expected array's largest magnitude (at least ``atol_scale``).
    """
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{err_msg} shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=atol_scale * max(scale, 1.0), err_msg=err_msg
    )
