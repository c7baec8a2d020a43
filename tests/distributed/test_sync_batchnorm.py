"""SyncBatchNorm in one process is BatchNorm: against torch.nn.BatchNorm{1,2}d (outputs, input
and parameter gradients, running statistics), and convert_sync_batchnorm against torch's."""
import numpy as np
import pytest
import torch

import rustorch


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


@pytest.mark.parametrize("seed", range(6))
def test_matches_torch_batch_norm(seed):
    rng = np.random.default_rng(seed)
    ndim = [2, 3, 4][seed % 3]
    channels = int(rng.integers(1, 5))
    # at least 4 values per channel: with 2 the input gradient is pure cancellation (~1e-5 of dy)
    shape = (int(rng.integers(4, 7)), channels) + tuple(int(rng.integers(1, 5)) for _ in range(ndim - 2))
    affine, track = bool(rng.integers(2)) or seed == 0, seed != 5
    momentum = None if seed == 4 else float(rng.uniform(0.05, 0.5))
    Theirs = torch.nn.BatchNorm1d if ndim < 4 else torch.nn.BatchNorm2d
    theirs = Theirs(channels, momentum=momentum, affine=affine, track_running_stats=track)
    if affine:
        theirs.weight.data.uniform_(0.5, 1.5)
        theirs.bias.data.uniform_(-0.5, 0.5)
    ours = rustorch.nn.SyncBatchNorm(channels, momentum=momentum, affine=affine, track_running_stats=track)
    ours.load_state_dict({k: rustorch.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    for step in range(2):
        x = rng.normal(size=shape).astype(np.float32) * 2 + 1
        g = rng.normal(size=shape).astype(np.float32)
        tx, rx = torch.tensor(x, requires_grad=True), rustorch.tensor(x, requires_grad=True)
        ty, ry = theirs(tx), ours(rx)
        (ty * torch.tensor(g)).sum().backward()
        (ry * rustorch.tensor(g)).sum().backward()
        assert _rel(ry.detach().numpy(), ty.detach().numpy()) < 2e-5
        assert _rel(rx.grad.numpy(), tx.grad.numpy()) < 2e-5
        if affine:
            assert _rel(ours.weight.grad.numpy(), theirs.weight.grad.numpy()) < 2e-5
            assert _rel(ours.bias.grad.numpy(), theirs.bias.grad.numpy()) < 2e-5
            ours.weight.grad = ours.bias.grad = None
            theirs.weight.grad = theirs.bias.grad = None
    for key, value in theirs.state_dict().items():
        assert _rel(ours.state_dict()[key].numpy(), value.numpy()) < 2e-5, key
    theirs.eval()
    ours.eval()
    x = rng.normal(size=shape).astype(np.float32)
    assert _rel(ours(rustorch.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy()) < 2e-5


def test_convert_sync_batchnorm_like_torch():
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3),
                                 torch.nn.Sequential(torch.nn.Flatten(), torch.nn.BatchNorm1d(12)))
    ours = rustorch.nn.Sequential(rustorch.nn.Conv2d(1, 3, 3), rustorch.nn.BatchNorm2d(3),
                                  rustorch.nn.Sequential(rustorch.nn.Flatten(), rustorch.nn.BatchNorm1d(12)))
    ours.load_state_dict({k: rustorch.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    weight = ours[1].weight
    theirs = torch.nn.SyncBatchNorm.convert_sync_batchnorm(theirs)
    ours = rustorch.nn.SyncBatchNorm.convert_sync_batchnorm(ours)
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours[1].weight is weight  # the same Parameter objects, as torch keeps them


def test_bad_input():
    layer = rustorch.nn.SyncBatchNorm(3)
    with pytest.raises(ValueError, match="channels"):
        layer(rustorch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer(rustorch.zeros(1, 3))
