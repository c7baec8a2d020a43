"""The activation layers and ``nn.functional`` activations added beside ReLU (CELU, SELU, GLU,
the shrink functions, Softsign, Tanhshrink, LogSigmoid, Softmin, Softmax2d, Threshold, RReLU,
AlphaDropout, FeatureAlphaDropout) through the facade against torch: outputs, input gradients,
reprs, ``inplace=`` and the in-place ``*_`` functions."""
import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn.functional as RF
from tests.facade.facade_utils import forward_backward
from tests.torch_compare import assert_close, to_torch


def _pair(name, *args, **kwargs):
    return getattr(rustorch.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


def _random_layer_cases(seed):
    r = np.random.default_rng(seed)
    lambd = float(r.choice([0.2, 0.5, 1.0]))
    lower = float(r.uniform(0, 0.2))
    return [
        ("CELU", (float(r.choice([0.5, 1.0, 2.0])),), {}),
        ("SELU", (), {}),
        ("GLU", (int(r.choice([-1, 1, 2])),), {}),
        ("Hardshrink", (lambd,), {}),
        ("Softshrink", (), dict(lambd=lambd)),
        ("Softsign", (), {}),
        ("Tanhshrink", (), {}),
        ("LogSigmoid", (), {}),
        ("Softmin", (int(r.integers(-3, 3)),), {}),
        ("Softmax2d", (), {}),
        ("Threshold", (float(r.uniform(-0.5, 0.5)), float(r.uniform(-3, 3))), {}),
        ("RReLU", (lower, lower + float(r.uniform(0, 0.3))), {}),
    ]


@pytest.mark.parametrize("seed", [0])
def test_layers_match_torch_on_random_configurations(seed):
    rng = np.random.default_rng(seed)
    for name, args, kwargs in _random_layer_cases(seed):
        ours, theirs = _pair(name, *args, **kwargs)
        assert repr(ours) == repr(theirs)
        ours.eval(), theirs.eval()  # RReLU: the fixed mean slope
        x = (rng.standard_normal((2, 4, 3, 6)) * 2).astype(np.float32)
        x.reshape(-1)[:3] = [0.0, args[0] if args and isinstance(args[0], float) else 0.5, -0.5]
        forward_backward(ours, theirs, x, rng)


def test_inplace_layers_write_into_their_input_as_torch(rng):
    for name, args in (("CELU", (0.7,)), ("Threshold", (0.1, -2.0)), ("ReLU", ()), ("Hardswish", ()),
                       ("RReLU", (0.1, 0.3))):
        ours, theirs = _pair(name, *args, inplace=True)
        assert repr(ours) == repr(theirs)
        ours.eval(), theirs.eval()
        x = rng.standard_normal((3, 5)).astype(np.float32)
        leaf = rustorch.tensor(x, requires_grad=True)
        tleaf = to_torch(x, requires_grad=True)
        hidden, thidden = leaf * 2, tleaf * 2
        out, tout = ours(hidden), theirs(thidden)
        assert out is hidden
        assert_close(np.asarray(hidden), thidden, err_msg=name)
        (out * out).sum().backward()
        (tout * tout).sum().backward()
        assert_close(np.asarray(leaf.grad), tleaf.grad, err_msg=f"{name} gradient")


def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_torch():
    x = rustorch.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        RF.relu_(x)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        rustorch.nn.SELU(inplace=True)(x)


FUNCTIONAL_INPLACE = [
    ("relu_", (), {}), ("elu_", (0.5,), {}), ("leaky_relu_", (0.1,), {}), ("hardtanh_", (-0.3, 0.6), {}),
    ("selu_", (), {}), ("threshold_", (0.2, 7.0), {}),
]


@pytest.mark.parametrize("name,args,kwargs", FUNCTIONAL_INPLACE)
def test_functional_inplace_variants_match_torch(name, args, kwargs, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    ours, theirs = rustorch.tensor(x), to_torch(x)
    returned = getattr(RF, name)(ours, *args, **kwargs)
    getattr(torch.nn.functional, name)(theirs, *args, **kwargs)
    assert returned is ours
    assert_close(np.asarray(ours), theirs)
    if name in ("selu_", "threshold_"):
        top, ttop = rustorch.tensor(x), to_torch(x)
        getattr(rustorch, name)(top, *args)
        getattr(torch, name)(ttop, *args)
        assert_close(np.asarray(top), ttop)


@pytest.mark.parametrize("name,args", [
    ("relu", ()), ("hardtanh", (-2.0, 0.5)), ("mish", ()), ("celu", (0.4,)), ("threshold", (0.0, 1.0)),
    ("rrelu", (0.2, 0.25)),
])
def test_functional_inplace_argument(name, args, rng):
    x = rng.standard_normal((5,)).astype(np.float32)
    kept = rustorch.tensor(x)
    out = getattr(RF, name)(kept, *args)  # inplace=False leaves the input alone
    np.testing.assert_array_equal(np.asarray(kept), x)
    written = rustorch.tensor(x)
    same = getattr(RF, name)(written, *args, inplace=True)
    assert same is written
    expected = getattr(torch.nn.functional, name)(to_torch(x), *args)
    assert_close(np.asarray(out), expected)
    assert_close(np.asarray(written), expected)


@pytest.mark.parametrize("name,args", [("glu", (1,)), ("softshrink", (0.3,)), ("softmin", (0,))])
def test_functional_forms_match_torch(name, args, rng):
    x = (rng.standard_normal((3, 4, 2)) * 2).astype(np.float32)
    ours, theirs = rustorch.tensor(x, requires_grad=True), to_torch(x, requires_grad=True)
    out, tout = getattr(RF, name)(ours, *args), getattr(torch.nn.functional, name)(theirs, *args)
    cotangent = rng.standard_normal(tout.shape).astype(np.float32)
    (out * rustorch.tensor(cotangent)).sum().backward()
    (tout * to_torch(cotangent)).sum().backward()
    assert_close(np.asarray(out), tout)
    assert_close(np.asarray(ours.grad), theirs.grad)


def test_softmin_without_dim_warns_at_the_callers_line(rng):
    x = rustorch.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin") as record:
        out = rustorch.nn.Softmin()(x)
    assert record[0].filename == __file__
    with pytest.warns(UserWarning):
        expected = torch.nn.Softmin()(to_torch(np.asarray(x)))
    assert_close(np.asarray(out), expected)


def test_rrelu_training_slopes_come_from_the_default_generator():
    x = -np.abs(np.random.default_rng(0).standard_normal((8, 100))).astype(np.float32) - 0.1
    layer = rustorch.nn.RReLU(0.1, 0.3)
    rustorch.manual_seed(1)
    leaf = rustorch.tensor(x, requires_grad=True)
    first = layer(leaf)
    first.sum().backward()
    slopes = np.asarray(first) / x
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.3 + 1e-6 and slopes.std() > 0.03
    np.testing.assert_allclose(np.asarray(leaf.grad), slopes, rtol=1e-5)
    second = np.asarray(layer(rustorch.tensor(x)))
    assert not np.allclose(second, np.asarray(first))  # a new draw per call
    rustorch.manual_seed(1)
    np.testing.assert_array_equal(np.asarray(layer(rustorch.tensor(x))), np.asarray(first))
    layer.eval()
    np.testing.assert_allclose(np.asarray(layer(rustorch.tensor(x))), x * 0.2, rtol=1e-6)


@pytest.mark.parametrize("name", ["AlphaDropout", "FeatureAlphaDropout"])
def test_alpha_dropouts(name, rng):
    ours, theirs = _pair(name, 0.3)
    assert repr(ours) == repr(theirs) == f"{name}(p=0.3, inplace=False)"
    x = rng.standard_normal((32, 16, 5)).astype(np.float32)
    leaf = rustorch.tensor(x, requires_grad=True)
    out = ours(leaf)
    out.sum().backward()
    grad = np.asarray(leaf.grad)
    alpha, p = 1.7580993408473766, 0.3
    a = 1.0 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    kept = grad != 0
    np.testing.assert_allclose(grad[kept], a, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out)[kept], x[kept] * a + alpha * a * p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out)[~kept], -alpha * a + alpha * a * p, rtol=1e-5)
    assert abs((~kept).mean() - p) < 0.06
    if name == "FeatureAlphaDropout":
        assert (kept == kept[:, :, :1]).all()
    ours.eval()
    assert ours(leaf) is leaf
    assert RF.alpha_dropout(leaf, 0.5) is leaf  # training=False by default, as torch's functional form
    with pytest.raises(ValueError, match="probability"):
        getattr(rustorch.nn, name)(1.5)


def test_constructor_errors_match_torch():
    with pytest.raises(TypeError):
        rustorch.nn.Threshold(0.5)
    with pytest.raises(TypeError):
        torch.nn.Threshold(0.5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'inplace'"):
        rustorch.nn.GLU(inplace=True)
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        rustorch.nn.GLU()(rustorch.tensor(np.zeros((2, 3), np.float32)))
    with pytest.raises(ValueError, match="expected input to be 3D or 4D"):
        rustorch.nn.Softmax2d()(rustorch.tensor(np.zeros((2, 3), np.float32)))


def test_relu_positional_inplace_and_attribute_changes():
    layer = rustorch.nn.ReLU(True)
    assert layer.inplace is True and repr(layer) == repr(torch.nn.ReLU(True))
    leaky = rustorch.nn.LeakyReLU(0.1)
    leaky.negative_slope = 0.5  # the forward reads the attribute, as torch's
    out = leaky(rustorch.tensor(np.array([-2.0], np.float32)))
    np.testing.assert_allclose(np.asarray(out), [-1.0])
