"""nn.init against torch.nn.init: exact results for the deterministic initialisers, PyTorch's
bounds and moments for the random ones; nn.utils clipping and vector conversion against torch."""
import math

import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn as nn
from rustorch.nn import init
from rustorch.nn.utils import (clip_grad_norm_, clip_grad_value_, get_total_norm, parameters_to_vector,
                               vector_to_parameters)
from tests.torch_compare import assert_close


@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                                        ("conv_transpose2d", None)])
def test_calculate_gain(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 3, 3), (5, 2, 7), (2, 3, 1, 4, 2)])
def test_fans(shape):
    ours = init._calculate_fan_in_and_fan_out(rustorch.zeros(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(*shape))
    with pytest.raises(ValueError, match="fewer than 2"):
        init._calculate_fan_in_and_fan_out(rustorch.zeros(3))


@pytest.mark.parametrize("fn,args", [(init.constant_, (0.7,)), (init.ones_, ()), (init.zeros_, ())])
def test_constant_family_exact(fn, args):
    p = nn.Parameter(rustorch.randn(3, 5))
    t = torch.randn(3, 5)
    out = fn(p, *args)
    getattr(torch.nn.init, fn.__name__)(t, *args)
    assert out is p and p.requires_grad
    np.testing.assert_array_equal(np.asarray(p.detach()), t.numpy())


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 2), ((4, 2, 3, 3, 3), 1), ((8, 2, 5), 4)])
def test_dirac_and_eye_exact(shape, groups):
    p, t = rustorch.zeros(*shape), torch.zeros(*shape)
    init.dirac_(p, groups)
    torch.nn.init.dirac_(t, groups)
    np.testing.assert_array_equal(np.asarray(p), t.numpy())
    e, te = rustorch.zeros(3, 5), torch.zeros(3, 5)
    init.eye_(e)
    torch.nn.init.eye_(te)
    np.testing.assert_array_equal(np.asarray(e), te.numpy())
    with pytest.raises(ValueError):
        init.eye_(rustorch.zeros(2, 2, 2))
    with pytest.raises(ValueError):
        init.dirac_(rustorch.zeros(3, 3))


def _moments(values):
    values = np.asarray(values, np.float64).ravel()
    return values.mean(), values.std(), np.abs(values).max()


@pytest.mark.parametrize("name,kwargs,shape", [
    ("uniform_", {"a": -0.3, "b": 0.5}, (200, 300)),
    ("normal_", {"mean": 0.2, "std": 0.5}, (200, 300)),
    ("xavier_uniform_", {"gain": 2.0}, (300, 200)),
    ("xavier_normal_", {}, (64, 32, 3, 3)),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, (128, 64, 3, 3)),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}, (300, 200)),
    ("kaiming_normal_", {"nonlinearity": "relu"}, (128, 64, 3, 3)),
    ("kaiming_normal_", {"a": 0.1, "mode": "fan_out"}, (300, 200)),
    ("trunc_normal_", {"std": 0.02}, (300, 200)),
    ("trunc_normal_", {"mean": 1.0, "std": 2.0, "a": -1.0, "b": 2.0}, (300, 200)),
])
def test_random_initialisers_match_torchs_distribution(name, kwargs, shape):
    p = nn.Parameter(rustorch.zeros(*shape))
    t = torch.zeros(*shape)
    getattr(init, name)(p, **kwargs)
    getattr(torch.nn.init, name)(t, **kwargs)
    mean, std, peak = _moments(p.detach())
    t_mean, t_std, t_peak = _moments(t)
    n = int(np.prod(shape))
    assert abs(mean - t_mean) < 6 * t_std / math.sqrt(n) + 1e-7
    assert std == pytest.approx(t_std, rel=0.02)
    if "uniform" in name:
        assert peak == pytest.approx(t_peak, rel=0.01)
    if name == "trunc_normal_":
        a, b = kwargs.get("a", -2.0), kwargs.get("b", 2.0)
        assert a <= float(np.min(np.asarray(p.detach()))) and float(np.max(np.asarray(p.detach()))) <= b


def test_trunc_normal_in_a_tiny_interval_uses_the_inverse_cdf():
    p = rustorch.zeros(1000)
    with pytest.warns(UserWarning, match="more than 2 std"):  # as torch
        init.trunc_normal_(p, mean=0.0, std=1.0, a=4.0, b=4.5)
    values = np.asarray(p)
    assert values.min() >= 4.0 and values.max() <= 4.5 and values.mean() < 4.25


@pytest.mark.parametrize("shape,gain", [((4, 6), 1.0), ((6, 4), 2.0), ((5, 2, 3), 0.5)])
def test_orthogonal(shape, gain):
    p = rustorch.zeros(*shape)
    init.orthogonal_(p, gain)
    flat = np.asarray(p, np.float64).reshape(shape[0], -1)
    small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(small, gain ** 2 * np.eye(small.shape[0]), atol=1e-5)


def test_sparse_zero_count_per_column():
    p, t = rustorch.zeros(10, 7), torch.zeros(10, 7)
    init.sparse_(p, 0.25, std=0.5)
    torch.nn.init.sparse_(t, 0.25, std=0.5)
    assert ((np.asarray(p) == 0).sum(0) == (t.numpy() == 0).sum(0)).all()


def test_init_is_in_place_seeded_and_seen_by_optimizer():
    model = nn.Linear(4, 3)
    weight = model.weight
    optimizer = rustorch.optim.SGD(model.parameters(), lr=0.1)
    rustorch.manual_seed(11)
    init.xavier_uniform_(model.weight)
    first = np.asarray(model.weight.detach()).copy()
    rustorch.manual_seed(11)
    init.xavier_uniform_(model.weight)
    np.testing.assert_array_equal(first, np.asarray(model.weight.detach()))
    assert model.weight is weight and optimizer.param_groups[0]["params"][0] is weight
    model(rustorch.ones(2, 4)).sum().backward()
    optimizer.step()
    assert not np.array_equal(first, np.asarray(model.weight.detach()))


def test_module_apply_with_init_like_the_examples():
    def weights_init(m):
        if isinstance(m, nn.Linear):
            init.normal_(m.weight, 0.0, 0.02)
            init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model.apply(weights_init)
    assert np.all(np.asarray(model[0].bias.detach()) == 0)
    assert abs(float(model[1].weight.detach().mean().item()) - 1.0) < 0.1


def test_zero_element_and_dtype():
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_uniform_(rustorch.zeros(0, 3))
    p = rustorch.zeros(3, 4, dtype=rustorch.float16)
    init.uniform_(p)
    assert p.dtype == np.float16
    p = rustorch.zeros(3, 4, dtype=rustorch.bfloat16)
    init.normal_(p)
    assert p.dtype == rustorch.bfloat16


# ----------------------------------------------------------------------------- nn.utils

def _twin_grads(rng, shapes):
    rt, th = [], []
    for shape in shapes:
        value = rng.standard_normal(shape).astype(np.float32)
        grad = (rng.standard_normal(shape) * 3).astype(np.float32)
        p = nn.Parameter(rustorch.tensor(value))
        p.grad = rustorch.tensor(grad)
        t = torch.nn.Parameter(torch.from_numpy(value.copy()))
        t.grad = torch.from_numpy(grad.copy())
        rt.append(p)
        th.append(t)
    return rt, th


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(int(max_norm) + int(norm_type if norm_type != math.inf else 9))
    rt, th = _twin_grads(rng, [(3, 4), (4,), (2, 2, 2)])
    rt.append(nn.Parameter(rustorch.zeros(2)))  # no grad: skipped
    th.append(torch.nn.Parameter(torch.zeros(2)))
    total = clip_grad_norm_(rt, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(th, max_norm, norm_type)
    assert total.shape == () and isinstance(total, rustorch.Tensor)
    assert_close(np.asarray(total), t_total)
    for p, t in zip(rt[:-1], th[:-1]):
        assert_close(np.asarray(p.grad), t.grad)
    assert rt[-1].grad is None


def test_clip_grad_norm_compiles_once_for_changing_limits():
    rng = np.random.default_rng(3)
    rt, _ = _twin_grads(rng, [(3, 4), (5,)])
    clip_grad_norm_(rt, 1.0)
    clip_grad_value_(rt, 0.3)
    with rustorch.forbid_recompiles():
        for limit in (0.1, 0.2, 5.0):
            clip_grad_norm_(rt, limit)
            clip_grad_value_(rt, limit)


def test_clip_grad_norm_nonfinite_and_edge_cases():
    p = nn.Parameter(rustorch.ones(2))
    p.grad = rustorch.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(p, 1.0)  # a single tensor, no check
    assert math.isinf(total.item())
    assert clip_grad_norm_([nn.Parameter(rustorch.ones(2))], 1.0).item() == 0.0
    assert_close(np.asarray(get_total_norm([rustorch.tensor([3.0, 4.0])])), np.float32(5.0))


def test_clip_grad_value_matches_torch():
    rng = np.random.default_rng(4)
    rt, th = _twin_grads(rng, [(3, 4), (6,)])
    clip_grad_value_(rt, 0.7)
    torch.nn.utils.clip_grad_value_(th, 0.7)
    for p, t in zip(rt, th):
        np.testing.assert_array_equal(np.asarray(p.grad), t.grad.numpy())


def test_parameters_vector_round_trip():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    weight = model[0].weight
    vector_to_parameters(vec * 2, model.parameters())
    assert model[0].weight is weight
    np.testing.assert_allclose(np.asarray(parameters_to_vector(model.parameters()).detach()),
                               2 * np.asarray(vec.detach()))
    parameters_to_vector(model.parameters()).sum().backward()
    assert np.all(np.asarray(model[1].bias.grad) == 1)
    with pytest.raises(RuntimeError):
        vector_to_parameters(rustorch.zeros(3), model.parameters())
