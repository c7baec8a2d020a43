"""rustorch.autocast and rustorch.amp.GradScaler against torch.autocast('cpu', bfloat16) and
torch.amp.GradScaler('cpu'): output dtypes, values within bfloat16 rounding, float32 gradients,
the decorator form, nesting, and the GradScaler's scale trajectory through a skipped inf step."""
import jax
import numpy as np
import pytest
import torch

import rustorch

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu",
                                reason="compares with torch's CPU autocast policy (a GPU backend applies CUDA's)")

BF16_RTOL = 2e-2  # bfloat16 keeps 8 bits of mantissa: products of 3x3x3 convs and 64-wide dots


def _models(rng):
    """The same small conv net (Conv/BN/ReLU/pool/Linear) in torch and rustorch."""
    def build(lib):
        nn = lib.nn
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5))
    tm, rm = build(torch), build(rustorch)
    rm.load_state_dict({k: rustorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, rm


def _close(actual, expected, rtol=BF16_RTOL):
    actual = np.asarray(actual, dtype=np.float32)
    expected = np.asarray(expected, dtype=np.float32)
    scale = np.abs(expected).max() + 1e-6
    assert np.abs(actual - expected).max() <= rtol * scale, (np.abs(actual - expected).max(), scale)


def test_cnn_outputs_loss_and_gradients_match_torch_autocast(rng):
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 4)
    tm, rm = _models(rng)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        t_out = tm(torch.tensor(x))
        t_loss = torch.nn.functional.cross_entropy(t_out, torch.tensor(y))
    t_loss.backward()
    with rustorch.autocast("cpu", dtype=rustorch.bfloat16):
        r_out = rm(rustorch.tensor(x))
        r_loss = rustorch.nn.functional.cross_entropy(r_out, rustorch.tensor(y))
    r_loss.backward()
    assert r_out.dtype == rustorch.bfloat16 and t_out.dtype == torch.bfloat16
    assert r_loss.dtype == rustorch.float32 and t_loss.dtype == torch.float32
    _close(r_out.detach().float().numpy(), t_out.float().detach().numpy())
    _close(r_loss.item(), t_loss.item())
    for (name, tp), (_, rp) in zip(tm.named_parameters(), rm.named_parameters()):
        assert rp.dtype == rustorch.float32 and rp.grad.dtype == rustorch.float32, name
        _close(rp.grad.numpy(), tp.grad.numpy(), rtol=4e-2)
    _close(rm[1].running_mean.numpy(), tm[1].running_mean.numpy())
    assert rm[1].running_mean.dtype == rustorch.float32


OPS = {
    # name: (torch op, rustorch op); inputs are float32 x [4, 8] and w [8, 8]
    "matmul": (lambda t, x, w: x @ w, None),
    "mm": (lambda t, x, w: t.mm(x, w), None),
    "bmm": (lambda t, x, w: t.bmm(x[None], w[None]), None),
    "linear": (lambda t, x, w: t.nn.functional.linear(x, w), None),
    "softmax_of_linear": (lambda t, x, w: t.softmax(t.nn.functional.linear(x, w), 1), None),
    "log_softmax_of_linear": (lambda t, x, w: t.log_softmax(t.nn.functional.linear(x, w), 1), None),
    "residual_add": (lambda t, x, w: t.nn.functional.linear(x, w) + x, None),
    "mse_loss": (lambda t, x, w: t.nn.functional.mse_loss(x @ w, x), None),
    "l1_loss": (lambda t, x, w: t.nn.functional.l1_loss(x @ w, x), None),
    "relu": (lambda t, x, w: t.relu(x @ w), None),
    "exp": (lambda t, x, w: t.exp(x @ w), None),
    "sum": (lambda t, x, w: (x @ w).sum(), None),
    "layer_norm": (lambda t, x, w: t.nn.functional.layer_norm(x @ w, (8,), w[0], w[1]), None),
    "cat": (lambda t, x, w: t.cat([x @ w, x]), None),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_dtypes_and_values_match_torch(name, rng):
    fn = OPS[name][0]
    x = rng.standard_normal((4, 8)).astype(np.float32)
    w = (rng.standard_normal((8, 8)) / 3).astype(np.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = fn(torch, torch.tensor(x), torch.tensor(w))
    with rustorch.autocast("cpu"):
        actual = fn(rustorch, rustorch.tensor(x), rustorch.tensor(w))
    assert str(actual.dtype) == str(expected.dtype).replace("torch.", "")
    _close(actual.float().numpy(), expected.float().numpy())


def test_float64_is_not_cast_to_lower_precision(rng):
    x = rustorch.tensor(rng.standard_normal((2, 3)), dtype=rustorch.float32)
    with rustorch.autocast("cpu"):
        assert (x @ x.t()).dtype == rustorch.bfloat16
        assert rustorch.nn.functional.mse_loss(x.bfloat16(), x.bfloat16()).dtype == rustorch.float32


def test_decorator_nesting_and_disabled(rng):
    x = rustorch.tensor(rng.standard_normal((2, 3)).astype(np.float32))

    @rustorch.autocast("cpu")
    def product(a):
        return a @ a.t()

    assert product(x).dtype == rustorch.bfloat16
    assert (x @ x.t()).dtype == rustorch.float32  # the decorator's region ended
    with rustorch.autocast("cpu"):
        assert rustorch.is_autocast_enabled("cpu")
        with rustorch.autocast("cpu", enabled=False):
            assert (x @ x.t()).dtype == rustorch.float32
            assert not rustorch.is_autocast_enabled("cpu")
            with rustorch.autocast("cpu", dtype=rustorch.float16):
                assert (x @ x.t()).dtype == rustorch.float16
            assert (x @ x.t()).dtype == rustorch.float32
        assert (x @ x.t()).dtype == rustorch.bfloat16
    assert not rustorch.is_autocast_enabled("cpu")
    with rustorch.autocast("cpu", enabled=False):
        assert (x @ x.t()).dtype == rustorch.float32


def test_autocast_errors_and_warnings():
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        rustorch.autocast("tpu")
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        region = rustorch.autocast("cpu", dtype=rustorch.float64)
    with region:
        assert not rustorch.is_autocast_enabled("cpu")
    if not rustorch.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            rustorch.autocast("cuda")
    with pytest.warns(FutureWarning, match="torch.amp.autocast"):
        with rustorch.cpu.amp.autocast():
            assert rustorch.get_autocast_dtype("cpu") == rustorch.bfloat16


def test_toggling_autocast_compiles_one_program_per_mode(rng):
    model = rustorch.nn.Sequential(rustorch.nn.Linear(6, 4), rustorch.nn.ReLU(), rustorch.nn.Linear(4, 3))
    optimizer = rustorch.optim.SGD(model.parameters(), lr=0.1)
    x = rustorch.tensor(rng.standard_normal((5, 6)).astype(np.float32))
    y = rustorch.tensor(rng.integers(0, 3, 5))

    def step(mixed):
        optimizer.zero_grad()
        with rustorch.autocast("cpu", enabled=mixed):
            loss = rustorch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    for mixed in (True, False, True, False):
        step(mixed)
    before = rustorch.compile_count()
    for mixed in (True, False, True, False, True):
        assert np.isfinite(step(mixed))
    assert rustorch.compile_count() == before


# ----------------------------------------------------------------------------- GradScaler

def _scaler_run(lib, scaler, weights, xs, ys, inf_steps):
    model = lib.nn.Linear(4, 2)
    with lib.no_grad():
        model.weight.copy_(lib.tensor(weights[0]))
        model.bias.copy_(lib.tensor(weights[1]))
    optimizer = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    trajectory = []
    for step, (x, y) in enumerate(zip(xs, ys)):
        optimizer.zero_grad()
        loss = lib.nn.functional.mse_loss(model(lib.tensor(x)), lib.tensor(y))
        if step in inf_steps:
            loss = loss * float("inf")
        scaler.scale(loss).backward()
        if step % 2:
            scaler.unscale_(optimizer)
        scaler.step(optimizer)
        scaler.update()
        trajectory.append((scaler.get_scale(), model.weight.detach().numpy().copy(),
                           model.bias.detach().numpy().copy()))
    return trajectory


def test_grad_scaler_trajectory_matches_torch(rng):
    weights = (rng.standard_normal((2, 4)).astype(np.float32), rng.standard_normal(2).astype(np.float32))
    xs = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(9)]
    ys = [rng.standard_normal((3, 2)).astype(np.float32) for _ in range(9)]
    settings = dict(init_scale=2.0 ** 10, growth_factor=2.0, backoff_factor=0.25, growth_interval=2)
    expected = _scaler_run(torch, torch.amp.GradScaler("cpu", **settings), weights, xs, ys, {2, 5})
    actual = _scaler_run(rustorch, rustorch.amp.GradScaler("cpu", **settings), weights, xs, ys, {2, 5})
    scales = [s for s, _, _ in expected]
    assert len(set(scales)) > 2  # it both grew and backed off
    for (t_scale, t_w, t_b), (r_scale, r_w, r_b) in zip(expected, actual):
        assert r_scale == t_scale
        np.testing.assert_allclose(r_w, t_w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(r_b, t_b, rtol=1e-5, atol=1e-6)
    # the skipped step left the parameters as they were
    np.testing.assert_array_equal(actual[2][1], actual[1][1])


def test_grad_scaler_state_dict_errors_and_disabled():
    scaler = rustorch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=3)
    reference = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=3)
    assert scaler.state_dict() == reference.state_dict()
    assert scaler.is_enabled() and scaler.get_scale() == 8.0
    other = rustorch.amp.GradScaler("cpu")
    other.load_state_dict(scaler.state_dict())
    assert other.get_scale() == 8.0 and other.get_growth_interval() == 3
    with pytest.raises(RuntimeError, match="state dict is empty"):
        other.load_state_dict({})
    disabled = rustorch.amp.GradScaler("cpu", enabled=False)
    loss = rustorch.tensor(2.0)
    assert disabled.scale(loss) is loss and disabled.get_scale() == 1.0 and disabled.state_dict() == {}
    with pytest.raises(ValueError, match="growth factor"):
        rustorch.amp.GradScaler("cpu", growth_factor=1.0)
    model = rustorch.nn.Linear(2, 1)
    optimizer = rustorch.optim.SGD(model.parameters(), lr=0.1)
    scaler.scale(model(rustorch.ones(1, 2)).sum()).backward()
    scaler.unscale_(optimizer)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(optimizer)
    scaler.step(optimizer)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(optimizer)
    if not rustorch.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not rustorch.amp.GradScaler().is_enabled()
        with pytest.warns(FutureWarning), pytest.warns(UserWarning, match="CUDA is not available"):
            rustorch.cuda.amp.GradScaler()


def test_cuda_policy_table(monkeypatch, rng):
    """CUDA's policy (aten/src/ATen/autocast_mode.h lists), recorded on this backend by making
    the autocast state believe its programs run on a GPU."""
    from rustorch.stateful import _autocast

    monkeypatch.setattr(_autocast, "_backend_kind", "cuda")
    monkeypatch.setattr(rustorch.amp.autocast_mode, "_cuda_available", lambda: True)
    x = rustorch.tensor(rng.standard_normal((4, 8)).astype(np.float32))
    w = rustorch.tensor(rng.standard_normal((8, 8)).astype(np.float32))
    target = rustorch.tensor(rng.integers(0, 8, 4))
    F = rustorch.nn.functional
    with rustorch.autocast("cuda"):
        h = F.linear(x, w)
        assert h.dtype == rustorch.float16
        assert (x @ w).dtype == rustorch.float16
        assert F.softmax(h, dim=1).dtype == rustorch.float32       # fp32 on CUDA, not on CPU
        assert h.exp().dtype == rustorch.float32
        assert h.sum().dtype == rustorch.float32
        assert F.cross_entropy(h, target).dtype == rustorch.float32
        assert F.layer_norm(h, (8,)).dtype == rustorch.float32
        assert F.relu(h).dtype == rustorch.float16
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(F.sigmoid(h), F.sigmoid(h))
        with rustorch.autocast("cpu"):  # the CPU setting does not apply to GPU programs
            assert F.softmax(h, dim=1).dtype == rustorch.float32
    assert F.softmax(F.linear(x, w), dim=1).dtype == rustorch.float32
