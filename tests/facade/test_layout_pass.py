"""The interpreter's channels-last layout pass (CPU): the same values, gradients, buffers and
dropout masks as running every op in NCHW, for networks that mix ops with and without a
channels-last form, and the pass really keeps activations channels-last."""
import jax
import numpy as np
import pytest

import rustorch
import rustorch.functional as F
from rustorch import _config, nn
from rustorch.stateful import _channels_last
from tests.torch_compare import assert_close


class _Mixed(nn.Module):
    """Conv-BN-ReLU, a residual add, dropout, max and average pooling (the latter has no
    channels-last form), an activation, flatten and linear.

    Every parameter has a gradient that is not identically zero. A convolution bias that feeds
    a BatchNorm directly would not: the batch mean cancels it, its computed gradient is rounding
    noise whose sign depends on the summation order (so on the layout), and Adam turns that
    noise into full-size steps of either sign. Such a bias is left out (``bias=False`` before a
    BatchNorm, as ResNets do); ``conv2``'s bias reaches ``bn2`` through a GELU and is compared.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.3)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2)
        self.head = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x):
        h = self.bn1(self.conv1(x)).relu()
        h = self.bn2(nn.functional.gelu(h + self.conv2(h) * 0.5))
        h = self.pool(self.drop(h))
        return self.head(self.avg(h).flatten(1))


def _train_steps(monkeypatch, enabled, steps=3):
    monkeypatch.setenv(_config.CHANNELS_LAST_ENV, "1" if enabled else "0")
    rustorch.manual_seed(0)
    model = _Mixed()
    optimizer = rustorch.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    x = rustorch.tensor(rng.standard_normal((4, 3, 8, 8)).astype(np.float32))
    y = rustorch.tensor(rng.integers(0, 5, 4).astype(np.int32))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        hidden = model.bn1(model.conv1(x))  # an intermediate the user holds leaves the program
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    grads = {name: np.asarray(p.grad) for name, p in model.named_parameters()}
    state = {name: np.asarray(v) for name, v in model.state_dict().items()}
    return losses, grads, state, np.asarray(hidden)


def _assert_same_training(on, off):
    """The losses, gradients and state of a run with the pass and of one without."""
    assert_close(np.array(on[0]), np.array(off[0]))
    for name in off[1]:
        assert_close(on[1][name], off[1][name], err_msg=f"grad of {name}")
    for name in off[2]:
        assert_close(on[2][name], off[2][name], err_msg=f"state {name}")


def test_layout_pass_changes_no_value(monkeypatch):
    on = _train_steps(monkeypatch, True)
    off = _train_steps(monkeypatch, False)
    _assert_same_training(on, off)
    assert_close(on[3], off[3])


def _record_channels_last_arrays(monkeypatch):
    """The shapes of the channels-last arrays the pass creates from now on (until undone)."""
    created = []
    original = _channels_last.ChannelsLast.__init__

    def counting_init(self, array):
        created.append(array.shape)
        original(self, array)

    monkeypatch.setattr(_channels_last.ChannelsLast, "__init__", counting_init)
    return created


def test_layout_pass_keeps_activations_channels_last(monkeypatch):
    if not _config.use_channels_last_pass():
        pytest.skip("the layout pass runs on the CPU backend only")
    created = _record_channels_last_arrays(monkeypatch)
    rustorch.clear_cache()
    _train_steps(monkeypatch, True, steps=1)
    # conv1, bn1, relu, conv2, mul, add, gelu, bn2, dropout, max pool: all channels-last.
    assert (4, 8, 8, 8) in created and (4, 4, 4, 8) in created
    assert len(created) >= 10


def test_switching_the_pass_is_explained(monkeypatch, caplog):
    _train_steps(monkeypatch, True, steps=1)
    rustorch.explain_recompiles(True)
    try:
        with caplog.at_level("WARNING", logger="rustorch"):
            _train_steps(monkeypatch, False, steps=1)
    finally:
        rustorch.explain_recompiles(False)
    if jax.default_backend() == "cpu":
        assert any("channels-last layout pass is off" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("enabled", [True, False])
def test_a_call_recorded_with_a_layout_runs_as_recorded(monkeypatch, enabled):
    """``nn.functional`` ops take the ``layout`` keyword of their functional form. A call
    recorded with ``layout="NHWC"`` reads its input as NHWC even when the pass holds that input
    channels-last (as the transpose of the NCHW value the user sees)."""
    monkeypatch.setenv(_config.CHANNELS_LAST_ENV, "1" if enabled else "0")
    rustorch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    rng = np.random.default_rng(1)
    x = rustorch.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    w = rustorch.tensor(rng.standard_normal((5, 6, 3, 3)).astype(np.float32))
    h = conv(x)  # [2, 4, 6, 6], read below as an NHWC array of 6 channels
    pooled = nn.functional.max_pool2d(h, 2, layout="NHWC")
    convolved = nn.functional.conv2d(h, w, padding=1, layout="NHWC")
    h_value = jax.numpy.asarray(np.asarray(h))
    assert_close(np.asarray(pooled), F.max_pool2d(h_value, 2, layout="NHWC"))
    assert_close(np.asarray(convolved), F.conv2d(h_value, jax.numpy.asarray(np.asarray(w)), padding=1, layout="NHWC"))


class _Shortcuts(nn.Module):
    """What residual networks chain between convolutions besides the layers: strided slices of
    all four axes and zero-padded channels (the CIFAR ResNets' "option A" shortcut), a
    reflection pad, a residual add whose other operand is an NCHW value (the network's input),
    a product with a ``[C, 1, 1]`` scale and a crop by negative padding."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)
        self.reflect = nn.ReflectionPad2d((1, 2, 2, 1))
        self.scale = nn.Parameter(rustorch.tensor(np.linspace(0.5, 1.5, 8, dtype=np.float32).reshape(8, 1, 1)))
        self.head = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        h = self.bn1(self.conv1(x)).relu() + x                   # NCHW input meets a channels-last value
        shortcut = nn.functional.pad(h[:, 1:, ::2, 1::2], (0, 0, 0, 0, 2, 3))  # [N, 8, 4, 4]
        h = self.conv2(self.reflect(nn.functional.pad(h, (0, 0, 0, 0, 2, 2)))) # [N, 8, 6, 6]
        h = nn.functional.pad(h, (-1, -1, -1, -1)) * self.scale + shortcut
        return self.head(h.relu().flatten(1))


def _shortcut_steps(monkeypatch, enabled, created=None):
    monkeypatch.setenv(_config.CHANNELS_LAST_ENV, "1" if enabled else "0")
    rustorch.manual_seed(0)
    model = _Shortcuts()
    optimizer = rustorch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(2)
    x = rustorch.tensor(rng.standard_normal((3, 4, 8, 8)).astype(np.float32))
    y = rustorch.tensor(rng.integers(0, 3, 3).astype(np.int32))
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, {name: np.asarray(p.grad) for name, p in model.named_parameters()}, \
        {name: np.asarray(v) for name, v in model.state_dict().items()}


def test_slices_pads_and_mixed_layout_arithmetic_stay_channels_last(monkeypatch):
    monkeypatch.setenv(_config.CHANNELS_LAST_ENV, "1")
    pass_runs = _config.use_channels_last_pass()  # CPU only
    created = _record_channels_last_arrays(monkeypatch)
    rustorch.clear_cache()
    on = _shortcut_steps(monkeypatch, True)
    monkeypatch.undo()
    off = _shortcut_steps(monkeypatch, False)
    _assert_same_training(on, off)
    if pass_runs:
        # NHWC shapes of: the residual add, the strided slice, the channel pad, both pads
        # around the reflection, the crop and the scaled sum.
        for shape in [(3, 8, 8, 4), (3, 4, 4, 3), (3, 4, 4, 8), (3, 8, 8, 8), (3, 11, 11, 8), (3, 4, 4, 8)]:
            assert shape in created, shape
