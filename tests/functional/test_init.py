"""Initialisers against torch.nn.init and the layers' reset_parameters.

Random streams differ from torch's, so values are compared through their laws: fans and gains
equal torch's functions exactly, samples respect the exact bound and come close to it, and
means/standard deviations agree with the formula and with torch's own samples.
"""
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import rustorch.functional as F

KEY = jax.random.PRNGKey(0)


def _gen():
    return torch.Generator().manual_seed(0)


def _torch_fans(shape):
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fans_match_torch(rng):
    shapes = [(3, 4), (1, 1), (0, 5), (5, 0), (8, 3, 3, 3), (2, 6, 1, 5), (4, 2, 3), (3, 2, 2, 2, 2),
              (6, 2, 0, 3)]
    shapes += [tuple(int(d) for d in rng.integers(1, 6, size=rng.integers(2, 6))) for _ in range(20)]
    for shape in shapes:
        assert F.fan_in_and_fan_out(shape) == _torch_fans(shape), shape
        assert F.fan_in_and_fan_out(list(shape)) == _torch_fans(shape), shape


@pytest.mark.parametrize("shape", [(), (7,)])
def test_fans_need_two_dims_like_torch(shape):
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        _torch_fans(shape)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        F.fan_in_and_fan_out(shape)
    for init in (F.kaiming_uniform, F.kaiming_normal, F.xavier_uniform, F.xavier_normal):
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            init(KEY, shape)


def test_calculate_gain_matches_torch():
    names = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
             "conv_transpose3d", "sigmoid", "tanh", "relu", "selu", "leaky_relu"]
    for name in names:
        assert F.calculate_gain(name) == torch.nn.init.calculate_gain(name), name
    for param in [None, 0, 0.2, 3, math.sqrt(5), -0.5]:
        assert F.calculate_gain("leaky_relu", param) == torch.nn.init.calculate_gain("leaky_relu", param)
    for name, param, message in [("swish", None, "Unsupported nonlinearity"),
                                 ("leaky_relu", True, "not a valid number"),
                                 ("leaky_relu", "0.1", "not a valid number")]:
        with pytest.raises(ValueError, match=message):
            torch.nn.init.calculate_gain(name, param)
        with pytest.raises(ValueError, match=message):
            F.calculate_gain(name, param)


def _torch_uniform_bound(shape, init, kwargs):
    """The bound torch's formula gives, from torch's own fan and gain functions."""
    fan_in, fan_out = _torch_fans(shape)
    if init == "kaiming_uniform":
        fan = fan_in if kwargs.get("mode", "fan_in").lower() == "fan_in" else fan_out
        gain = torch.nn.init.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0))
        return math.sqrt(3.0) * gain / math.sqrt(fan)
    if init == "xavier_uniform":
        return math.sqrt(3.0) * kwargs.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    raise AssertionError(init)


# One shape for every law check: jax.random compiles once per (shape, dtype), and this one has
# distinct fan_in (288) and fan_out (576) and 18432 draws.
BIG = (64, 32, 3, 3)
UNIFORM_CASES = [
    ("kaiming_uniform", BIG, {}),
    ("kaiming_uniform", BIG, dict(a=math.sqrt(5))),
    ("kaiming_uniform", BIG, dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_uniform", BIG, dict(a=0.2, mode="FAN_IN", nonlinearity="leaky_relu")),
    ("kaiming_uniform", BIG, dict(nonlinearity="tanh", mode="fan_out")),
    ("xavier_uniform", BIG, {}),
    ("xavier_uniform", BIG, dict(gain=5.0 / 3)),
]


@pytest.mark.parametrize("init,shape,kwargs", UNIFORM_CASES)
def test_uniform_initialisers_follow_torch(init, shape, kwargs):
    w = np.asarray(getattr(F, init)(KEY, shape, **kwargs))
    assert w.shape == shape and w.dtype == np.float32
    bound = _torch_uniform_bound(shape, init, kwargs)
    assert np.abs(w).max() <= np.float32(bound)
    assert np.abs(w).max() >= 0.995 * bound  # 18432 draws: the max is within 0.5% of the bound
    std = bound / math.sqrt(3.0)
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)
    assert abs(w.std() / std - 1) < 0.01
    # torch's own sample of the same law (a seeded generator keeps the test order-independent).
    t = getattr(torch.nn.init, init + "_")(torch.empty(shape), **kwargs, generator=_gen()).numpy()
    assert abs(t.std() / std - 1) < 0.02
    assert abs(np.abs(w).max() / np.abs(t).max() - 1) < 0.01


NORMAL_CASES = [
    ("kaiming_normal", BIG, {}, lambda fi, fo: math.sqrt(2.0) / math.sqrt(fi)),
    ("kaiming_normal", BIG, dict(mode="fan_out", a=0.1),
     lambda fi, fo: math.sqrt(2.0 / 1.01) / math.sqrt(fo)),
    ("xavier_normal", BIG, dict(gain=2.0), lambda fi, fo: 2.0 * math.sqrt(2.0 / (fi + fo))),
]


@pytest.mark.parametrize("init,shape,kwargs,expected_std", NORMAL_CASES)
def test_normal_initialisers_follow_torch(init, shape, kwargs, expected_std):
    w = np.asarray(getattr(F, init)(KEY, shape, **kwargs))
    assert w.shape == shape and w.dtype == np.float32
    std = expected_std(*_torch_fans(shape))
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)
    assert abs(w.std() / std - 1) < 0.01
    # A normal law, not a uniform one: 68.27% of draws lie within one std.
    assert abs(np.mean(np.abs(w) < std) - 0.6827) < 0.01
    t = getattr(torch.nn.init, init + "_")(torch.empty(shape), **kwargs, generator=_gen()).numpy()
    assert abs(t.std() / std - 1) < 0.02


def test_uniform_range_and_dtypes():
    w = np.asarray(F.uniform(KEY, BIG, -0.5, 2.0))
    assert w.min() >= -0.5 and w.max() < 2.0 and w.min() < -0.49 and w.max() > 1.99
    assert abs(w.mean() - 0.75) < 0.02
    d = np.asarray(F.uniform(KEY, BIG))
    assert d.min() >= 0.0 and d.max() < 1.0
    small = (8, 4, 3, 3)
    for init in (F.kaiming_uniform, F.kaiming_normal, F.xavier_uniform, F.xavier_normal):
        assert init(KEY, small, dtype=jnp.bfloat16).dtype == jnp.bfloat16
    wb = np.asarray(F.kaiming_uniform(KEY, small, dtype=jnp.bfloat16).astype(jnp.float32))
    assert np.abs(wb).max() <= float(jnp.asarray(math.sqrt(6.0 / 36), jnp.bfloat16))


def test_zero_element_shapes():
    for init in (F.kaiming_uniform, F.kaiming_normal):
        w = init(KEY, (0, 3, 2, 2))
        assert w.shape == (0, 3, 2, 2) and w.dtype == jnp.float32
    assert F.xavier_uniform(KEY, (0, 4)).shape == (0, 4)
    with pytest.raises(ValueError, match="fan_in \\+ fan_out == 0|zero-element"):
        F.xavier_normal(KEY, (0, 0))
    weight, bias = F.linear_init(KEY, 0, 64)
    assert weight.shape == (64, 0) and bias.shape == (64,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that initialising zero elements is a no-op
        torch_bias = torch.nn.Linear(0, 64).bias.detach().numpy()
    np.testing.assert_array_equal(np.asarray(bias), torch_bias)  # both U(0, 0): zeros


# Weight/bias shapes shared with other tests where possible (each new shape compiles).
LAYER_CASES = [
    ("conv", dict(in_channels=32, out_channels=64, kernel_size=3)),  # weight of shape BIG
    ("conv", dict(in_channels=12, out_channels=64, kernel_size=(5, 2), groups=4)),
    ("linear", dict(in_features=288, out_features=64)),
]


@pytest.mark.parametrize("kind,kwargs", LAYER_CASES)
def test_layer_init_matches_torch_reset_parameters(kind, kwargs):
    if kind == "conv":
        weight, bias = F.conv2d_init(KEY, **kwargs)
        module = torch.nn.Conv2d(**kwargs)
    else:
        weight, bias = F.linear_init(KEY, **kwargs)
        module = torch.nn.Linear(**kwargs)
    tw, tb = module.weight.detach().numpy(), module.bias.detach().numpy()
    assert weight.shape == tw.shape and bias.shape == tb.shape
    assert weight.dtype == jnp.float32 and bias.dtype == jnp.float32
    fan_in = _torch_fans(tw.shape)[0]
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) == U(+-1/sqrt(fan_in))
    w, b = np.asarray(weight), np.asarray(bias)
    assert np.abs(w).max() <= np.float32(bound) and np.abs(b).max() <= np.float32(bound)
    assert np.abs(tw).max() <= np.float32(bound)
    assert np.abs(w).max() >= 0.99 * bound
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.03
    assert abs(w.std() / tw.std() - 1) < 0.05
    # The bias is drawn independently of the weight.
    assert not np.allclose(b, w.reshape(-1)[: b.size])


def test_layer_init_is_a_pure_function_of_the_key():
    """Deterministic per key, independent across keys, and the same under jit(vmap(...)); the
    64 vmapped biases also pin the bias law: U(+-1/sqrt(fan_in)) with fan_in = 32 * 3 * 3."""
    keys = jax.random.split(KEY, 64)
    vw, vb = jax.jit(jax.vmap(lambda k: F.conv2d_init(k, 32, 64, 3)))(keys)
    assert vw.shape == (64, *BIG) and vb.shape == (64, 64)
    for i in (0, 1, 63):
        ew, eb = F.conv2d_init(keys[i], 32, 64, 3)
        np.testing.assert_array_equal(vw[i], ew)
        np.testing.assert_array_equal(vb[i], eb)
    w1, b1 = F.conv2d_init(keys[0], 32, 64, 3)
    np.testing.assert_array_equal(w1, F.conv2d_init(keys[0], 32, 64, 3)[0])
    assert not np.array_equal(vw[0], vw[1]) and not np.array_equal(vb[0], vb[1])
    bound = 1 / math.sqrt(288)
    b = np.asarray(vb)
    assert np.abs(b).max() <= np.float32(bound) and np.abs(b).max() >= 0.999 * bound
    assert abs(b.std() / (bound / math.sqrt(3)) - 1) < 0.03 and abs(b.mean()) < 0.05 * bound
    w2, b2 = F.conv2d_init(keys[0], 32, 64, 3, bias=False)
    assert b2 is None and w2.shape == BIG
    assert F.linear_init(keys[0], 288, 64, bias=False)[1] is None


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        torch.nn.Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        F.conv2d_init(KEY, 4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        F.conv2d_init(KEY, 5, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        F.conv2d_init(KEY, 4, 5, 3, groups=2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        F.conv2d_init(KEY, 4, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        F.conv2d_init(KEY, 4, 4, 0)
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        F.conv2d_init(KEY, 0, 4, 3)
    with pytest.raises(TypeError, match="in_features must be an int"):
        F.linear_init(KEY, 2.0, 3)
    with pytest.raises(ValueError, match="out_features must be >= 0"):
        F.linear_init(KEY, 2, -1)
    with pytest.raises(TypeError, match="bias must be True or False"):
        F.linear_init(KEY, 2, 3, bias=None)
    with pytest.raises(TypeError, match="floating-point dtype"):
        F.linear_init(KEY, 2, 3, dtype=jnp.int32)
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        torch.nn.init.kaiming_uniform_(torch.empty(3, 4), mode="fan_avg")
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        F.kaiming_uniform(KEY, (3, 4), mode="fan_avg")
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        F.kaiming_normal(KEY, (3, 4), nonlinearity="gelu")
    with pytest.raises(ValueError, match="shape entries must be >= 0"):
        F.kaiming_uniform(KEY, (3, -4))
    with pytest.raises(TypeError, match="shape must be a tuple of ints"):
        F.xavier_uniform(KEY, (3, 4.0))
    with pytest.raises(ValueError, match="low=1.0 > high=0.0"):
        F.uniform(KEY, (3,), 1.0, 0.0)
