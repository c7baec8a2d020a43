"""``Dropout2d`` on inputs of other ranks than 4: PyTorch's warnings and mask layouts."""
import numpy as np
import pytest
import torch

import rustorch


@pytest.mark.parametrize("shape, mask_dims", [((6, 5), 2), ((3, 4, 5), 2), ((2, 3, 4, 2, 2), 2), ((2, 3, 4, 4), 2)])
def test_dropout2d_masks_and_warnings_follow_torch(shape, mask_dims):
    rustorch.manual_seed(0)
    ours, theirs = rustorch.nn.Dropout2d(0.5), torch.nn.Dropout2d(0.5)
    with _maybe_warns(len(shape) != 4):
        out = ours(rustorch.ones(*shape)).numpy()
    with _maybe_warns(len(shape) != 4):
        reference = theirs(torch.ones(*shape)).numpy()
    for values in (out, reference):
        # One draw per (n, c): constant over the remaining dims, each 0 or 2.
        assert set(np.unique(values)) <= {0.0, 2.0}
        per_channel = values.reshape(shape[:mask_dims] + (-1,))
        assert (per_channel == per_channel[..., :1]).all()


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _maybe_warns(expected):
    return pytest.warns(UserWarning) if expected else _no_warning()
