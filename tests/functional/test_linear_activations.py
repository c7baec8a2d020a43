"""linear, the activations, softmax/log_softmax and flatten against torch: outputs, gradients
(including at the kinks), jit, vmap and errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F

# (name, rustorch call, torch call): each pair takes the same positional input.
ACTIVATIONS = [
    ("relu", F.relu, TF.relu),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("gelu", F.gelu, TF.gelu),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("tanh", F.tanh, torch.tanh),
    ("softmax_1", lambda x: F.softmax(x, 1), lambda x: TF.softmax(x, 1)),
    ("softmax_-1", lambda x: F.softmax(x, dim=-1), lambda x: TF.softmax(x, dim=-1)),
    ("log_softmax_0", lambda x: F.log_softmax(x, 0), lambda x: TF.log_softmax(x, 0)),
    ("log_softmax_-1", lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1)),
    ("elu", F.elu, TF.elu),
    ("elu_0.5", lambda x: F.elu(x, alpha=0.5), lambda x: TF.elu(x, alpha=0.5)),
    ("silu", F.silu, TF.silu),
    ("softplus", F.softplus, TF.softplus),
    ("softplus_b2_t10", lambda x: F.softplus(x, beta=2.0, threshold=10.0), lambda x: TF.softplus(x, beta=2.0, threshold=10.0)),
    ("hardtanh", F.hardtanh, TF.hardtanh),
    ("hardtanh_-0.5_2", lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
]

# Kinks, thresholds and values whose unused branch would overflow (exp(100) in float32).
SPECIAL = [0.0, -0.0, 1.0, -1.0, -0.5, 2.0, 5.0, 10.0, 20.0, 21.0, 30.0, -30.0, 100.0, -100.0, 0.0, 0.0]


def _activation_input():
    rng = np.random.default_rng(0)
    x = (3.0 * rng.standard_normal((4, 5, 6))).astype(np.float32)
    x.reshape(-1)[: len(SPECIAL)] = SPECIAL
    return x


@pytest.fixture(scope="module")
def activation_results():
    """rustorch's outputs and input-gradients for every activation, from one jitted program."""
    x = _activation_input()
    cot = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)

    @jax.jit
    def all_activations(x, cot):
        results = []
        for _, fn, _ in ACTIVATIONS:
            out, vjp = jax.vjp(fn, x)
            results.append((out, vjp(cot)[0]))
        return results

    return x, cot, all_activations(jnp.asarray(x), jnp.asarray(cot))


@pytest.mark.parametrize("index", range(len(ACTIVATIONS)), ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch(activation_results, index):
    x, cot, results = activation_results
    name, _, torch_fn = ACTIVATIONS[index]
    xt = to_torch(x, True)
    expected = torch_fn(xt)
    expected.backward(to_torch(cot))
    out, grad = results[index]
    assert_close(out, expected, err_msg=f"{name} output")
    assert_close(grad, xt.grad, err_msg=f"{name} grad")
    assert np.all(np.isfinite(np.asarray(grad))), f"{name}: non-finite gradient"


def test_activation_gradients_at_kinks_are_torchs():
    # Exact values at the kinks, which a clip/maximum formulation would get wrong (0.5).
    x = jnp.asarray([-1.0, -0.5, 0.0, 1.0, 2.0], jnp.float32)

    @jax.jit
    def grads(x):
        g = lambda f: jax.grad(lambda x: jnp.sum(f(x)))(x)
        return g(F.relu), g(F.hardtanh), g(lambda x: F.hardtanh(x, -0.5, 2.0)), g(F.leaky_relu), g(F.elu)

    relu_g, hardtanh_g, hardtanh2_g, leaky_g, elu_g = (np.asarray(a) for a in grads(x))
    np.testing.assert_array_equal(relu_g, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(hardtanh_g, [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(hardtanh2_g, [0, 0, 1, 1, 0])
    np.testing.assert_allclose(leaky_g, [0.01, 0.01, 0.01, 1, 1], rtol=1e-7)
    np.testing.assert_allclose(elu_g, [np.exp(-1.0), np.exp(-0.5), 1, 1, 1], rtol=1e-6)


def test_nan_propagates_like_torch():
    x = np.array([np.nan, -1.0, 3.0], np.float32)
    calls = [("relu", F.relu, TF.relu), ("hardtanh", F.hardtanh, TF.hardtanh), ("elu", F.elu, TF.elu)]
    outs = jax.jit(lambda x: [fn(x) for _, fn, _ in calls])(jnp.asarray(x))
    for (name, _, torch_fn), out in zip(calls, outs):
        np.testing.assert_array_equal(np.asarray(out), torch_fn(to_torch(x)).numpy(), err_msg=name)


def test_softmax_of_scalar_and_vmap():
    x = np.random.default_rng(2).standard_normal((3, 4, 5)).astype(np.float32)

    @jax.jit
    def calls(x):
        return (
            F.softmax(x[0, 0, 0], 0),
            F.log_softmax(x[0, 0, 0], -1),
            jax.vmap(lambda xi: F.softmax(xi, -1))(x),
            jax.vmap(lambda xi: F.log_softmax(xi, 0), in_axes=1, out_axes=1)(x),
        )

    scalar_soft, scalar_log, mapped_soft, mapped_log = calls(jnp.asarray(x))
    assert scalar_soft.shape == () and float(scalar_soft) == 1.0 and float(scalar_log) == 0.0
    assert_close(mapped_soft, TF.softmax(to_torch(x), -1))
    assert_close(mapped_log, TF.log_softmax(to_torch(x), 0))


LINEAR_CASES = [((), True), ((3,), True), ((2, 3), False), ((2, 1, 3), True)]


@pytest.mark.parametrize("lead, with_bias", LINEAR_CASES)
def test_linear_matches_torch(lead, with_bias):
    rng = np.random.default_rng(len(lead))
    x = rng.standard_normal(lead + (7,)).astype(np.float32)
    w = rng.standard_normal((5, 7)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32) if with_bias else None
    xt, wt = to_torch(x, True), to_torch(w, True)
    bt = to_torch(b, True) if with_bias else None
    expected = TF.linear(xt, wt, bt)
    cot = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))

    @jax.jit
    def forward_and_vjp(args, cot):
        out, vjp = jax.vjp(F.linear, *args)
        return out, vjp(cot)

    args = tuple(jnp.asarray(a) for a in ((x, w, b) if with_bias else (x, w)))
    out, grads = forward_and_vjp(args, jnp.asarray(cot))
    assert_close(out, expected)
    for name, g, t in zip(("input", "weight", "bias"), grads, (xt, wt, bt)):
        assert_close(g, t.grad, err_msg=f"grad {name}")


def test_linear_vmap_and_eager_equal_batched_jit():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((4, 3, 7)).astype(np.float32))
    w = jnp.asarray(rng.standard_normal((5, 7)).astype(np.float32))
    b = jnp.asarray(rng.standard_normal(5).astype(np.float32))
    batched = jax.jit(F.linear)(x, w, b)
    mapped = jax.jit(jax.vmap(F.linear, in_axes=(0, None, None)))(x, w, b)
    assert_close(mapped, batched, rtol=1e-6)
    assert_close(F.linear(x, w, b), batched, rtol=1e-6)


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, error, match",
    [
        ((3, 6), (5, 7), None, ValueError, r"linear: input of shape \(3, 6\) has 6 features.*in_features=7"),
        ((), (5, 7), None, ValueError, r"got a 0-D input"),
        ((3, 7), (7,), None, ValueError, r"expected weight to be 2-D"),
        ((3, 7), (5, 7), (4,), ValueError, r"expected bias of shape \(5,\).*got bias of shape \(4,\)"),
    ],
)
def test_linear_errors(x_shape, w_shape, b_shape, error, match):
    b = None if b_shape is None else jnp.zeros(b_shape, jnp.float32)
    with pytest.raises(error, match=match):
        F.linear(jnp.zeros(x_shape, jnp.float32), jnp.zeros(w_shape, jnp.float32), b)


def test_linear_dtype_errors():
    x, w = jnp.zeros((3, 7), jnp.float32), jnp.zeros((5, 7), jnp.float32)
    with pytest.raises(TypeError, match=r"input dtype float32 and weight dtype float16"):
        F.linear(x, w.astype(jnp.float16))
    with pytest.raises(TypeError, match=r"floating-point dtype, got int32"):
        F.linear(x.astype(jnp.int32), w.astype(jnp.int32))
    with pytest.raises(TypeError, match=r"bias dtype float16"):
        F.linear(x, w, jnp.zeros(5, jnp.float16))


def test_activation_errors():
    x = jnp.zeros((2, 3), jnp.float32)
    with pytest.raises(ValueError, match=r"gelu: approximate argument must be either 'none' or 'tanh', got 'erf'"):
        F.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match=r"hardtanh: min_val cannot be greater than max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(IndexError, match=r"softmax: dimension out of range.*\[-2, 1\], but got 2"):
        F.softmax(x, 2)
    with pytest.raises(IndexError, match=r"log_softmax: dimension out of range.*\[-2, 1\], but got -3"):
        F.log_softmax(x, -3)
    with pytest.raises(TypeError, match=r"softmax: dim must be an int, got None"):
        F.softmax(x, None)
    with pytest.raises(TypeError):
        F.softmax(x)  # dim is required
    with pytest.raises(TypeError, match=r"sigmoid: expected input to have a floating-point dtype"):
        F.sigmoid(x.astype(jnp.int32))
    with pytest.raises(TypeError, match=r"gelu: expected input to have a floating-point dtype"):
        F.gelu(x.astype(jnp.int32))
    with pytest.raises(TypeError, match=r"relu: expected a floating or integer input, got dtype bool"):
        F.relu(x > 0)


def test_relu_and_hardtanh_accept_integers_like_torch():
    x = np.arange(-3, 4, dtype=np.int32)
    np.testing.assert_array_equal(np.asarray(F.relu(jnp.asarray(x))), TF.relu(to_torch(x)).numpy())
    np.testing.assert_array_equal(
        np.asarray(F.hardtanh(jnp.asarray(x), -2, 2)), TF.hardtanh(to_torch(x), -2, 2).numpy()
    )


FLATTEN_CASES = [
    ((2, 3, 4, 5), {}),
    ((2, 3, 4, 5), dict(start_dim=0)),
    ((2, 3, 4, 5), dict(start_dim=1, end_dim=2)),
    ((2, 3, 4, 5), dict(start_dim=-3, end_dim=-2)),
    ((2, 3, 4, 5), dict(start_dim=2, end_dim=2)),
    ((2, 3, 4, 5), dict(start_dim=-1)),
    ((6,), dict(start_dim=0)),
    ((), dict(start_dim=0)),
    ((), dict(start_dim=-1, end_dim=0)),
    ((2, 0, 3), dict(start_dim=0, end_dim=1)),
]


@pytest.mark.parametrize("shape, kwargs", FLATTEN_CASES)
def test_flatten_matches_torch(shape, kwargs):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    torch_kwargs = dict(start_dim=1, **kwargs) if "start_dim" not in kwargs else kwargs
    expected = torch.flatten(to_torch(x), **torch_kwargs).numpy()
    out = F.flatten(jnp.asarray(x), **kwargs)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_flatten_default_is_nn_flatten_and_works_under_jit():
    x = jnp.zeros((2, 3, 4, 5), jnp.float32)
    assert jax.jit(F.flatten)(x).shape == tuple(torch.nn.Flatten()(torch.zeros(2, 3, 4, 5)).shape) == (2, 60)


@pytest.mark.parametrize(
    "shape, kwargs, error, match",
    [
        ((2, 3, 4), dict(start_dim=2, end_dim=1), ValueError, r"flatten: start_dim cannot come after end_dim"),
        ((2, 3, 4), dict(start_dim=3), IndexError, r"expected start_dim to be in range of \[-3, 2\], but got 3"),
        ((2, 3, 4), dict(start_dim=0, end_dim=-4), IndexError, r"expected end_dim to be in range of \[-3, 2\], but got -4"),
        ((), dict(), IndexError, r"in range of \[-1, 0\], but got 1"),
        ((2, 3), dict(start_dim=1.5), TypeError, r"start_dim must be an int, got 1.5"),
    ],
)
def test_flatten_errors(shape, kwargs, error, match):
    with pytest.raises(error, match=match):
        F.flatten(jnp.zeros(shape, jnp.float32), **kwargs)
