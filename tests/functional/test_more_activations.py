"""celu, selu, glu, hardshrink, softshrink, softsign, tanhshrink, logsigmoid, softmin,
softmax2d, threshold, rrelu and the alpha dropouts against torch: outputs and gradients on
random inputs that include the kinks, jit, and PyTorch's errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F
from rustorch.functional import _activations_more as A


def _input(rng, shape, kinks=()):
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    flat = x.reshape(-1)
    flat[: len(kinks)] = kinks  # exact kink values get PyTorch's backward convention
    return x


def _check(ours, theirs, x, rng, rtol=1e-5):
    t = to_torch(x, requires_grad=True)
    expected = theirs(t)
    out, vjp = jax.vjp(ours, jnp.asarray(x))
    cotangent = rng.standard_normal(expected.shape).astype(np.float32)
    expected.backward(to_torch(cotangent))
    assert_close(out, expected, rtol=rtol, err_msg="output")
    assert_close(vjp(jnp.asarray(cotangent))[0], t.grad, rtol=rtol, err_msg="gradient")


def _random_cases(seed, count=2):
    r = np.random.default_rng(seed)
    for _ in range(count):
        lambd = float(r.choice([0.0, 0.25, 0.5, 1.5]))
        alpha = float(r.choice([0.3, 1.0, 2.5]))
        thr, value = float(r.uniform(-1, 1)), float(r.uniform(-5, 5))
        lower = float(r.uniform(0.0, 0.3))
        upper = lower + float(r.uniform(0.0, 0.5))
        dim = int(r.integers(-3, 3))
        yield [
            ("celu", lambda x, a=alpha: F.celu(x, a), lambda x, a=alpha: TF.celu(x, a), (0.0,)),
            ("selu", F.selu, TF.selu, (0.0,)),
            ("glu", lambda x, d=dim: F.glu(x, d), lambda x, d=dim: TF.glu(x, d), ()),
            ("hardshrink", lambda x, l=lambd: F.hardshrink(x, l), lambda x, l=lambd: TF.hardshrink(x, l),
             (lambd, -lambd, 0.0)),
            ("softshrink", lambda x, l=lambd: F.softshrink(x, l), lambda x, l=lambd: TF.softshrink(x, l),
             (lambd, -lambd, 0.0)),
            ("softsign", F.softsign, TF.softsign, (0.0,)),
            ("tanhshrink", F.tanhshrink, TF.tanhshrink, (0.0,)),
            ("logsigmoid", F.logsigmoid, TF.logsigmoid, (0.0, 40.0, -40.0)),
            ("softmin", lambda x, d=dim: F.softmin(x, d), lambda x, d=dim: TF.softmin(x, d), ()),
            ("threshold", lambda x, t=thr, v=value: F.threshold(x, t, v),
             lambda x, t=thr, v=value: TF.threshold(x, t, v), (np.float32(thr),)),
            ("rrelu_eval", lambda x, lo=lower, up=upper: F.rrelu(x, lo, up),
             lambda x, lo=lower, up=upper: TF.rrelu(x, lo, up), (0.0,)),
        ]


@pytest.mark.parametrize("seed", range(2))
def test_activations_match_torch_on_random_configurations(seed):
    rng = np.random.default_rng(seed)
    for cases in _random_cases(seed):
        for name, ours, theirs, kinks in cases:
            x = _input(rng, (2, 4, 6), kinks)
            _check(ours, theirs, x, rng)


def test_softmax2d_matches_torch(rng):
    for shape in ((2, 3, 4, 5), (3, 4, 5)):
        _check(A.softmax2d, torch.nn.Softmax2d(), _input(rng, shape), rng)
    with pytest.raises(ValueError, match="expected input to be 3D or 4D"):
        A.softmax2d(jnp.zeros((3, 4)))


def test_large_inputs_keep_finite_gradients():
    x = jnp.asarray([-100.0, -30.0, 30.0, 100.0], jnp.float32)
    for fn in (F.celu, F.selu, F.logsigmoid, F.softsign, F.tanhshrink):
        grad = jax.grad(lambda v: fn(v).sum())(x)
        assert np.isfinite(np.asarray(grad)).all(), fn.__name__


def test_jit_and_float64():
    x = np.random.default_rng(1).standard_normal((3, 4))
    fn = jax.jit(lambda v: F.celu(v, 0.5) + F.softshrink(v, 0.3) + F.glu(jnp.concatenate([v, v], 1), 1))
    expected = TF.celu(torch.tensor(x), 0.5) + TF.softshrink(torch.tensor(x), 0.3) + TF.glu(
        torch.cat([torch.tensor(x)] * 2, 1), 1)
    assert_close(fn(jnp.asarray(x, jnp.float32)), expected.float())


def test_softmin_without_dim_warns_and_picks_torchs_dim(rng):
    x = _input(rng, (2, 3, 4))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        ours = F.softmin(jnp.asarray(x))
    with pytest.warns(UserWarning):
        theirs = TF.softmin(torch.tensor(x))
    assert_close(ours, theirs)


def test_errors_match_torch():
    x = jnp.zeros((2, 3), jnp.float32)
    with pytest.raises(RuntimeError, match="alpha cannot be 0"):
        F.celu(x, 0.0)
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(x, 1)
    with pytest.raises(RuntimeError, match="does not support scalars"):
        F.glu(jnp.float32(1.0))
    with pytest.raises(IndexError):
        F.glu(x, 2)
    with pytest.raises(RuntimeError, match="lambda must be greater or equal to 0"):
        F.softshrink(x, -0.5)
    with pytest.raises(RuntimeError, match="Lower bound should be less than or equal"):
        F.rrelu(x, 0.5, 0.1)
    with pytest.raises(ValueError, match="PRNG key"):
        F.rrelu(x, training=True)
    with pytest.raises(TypeError):
        F.selu(jnp.zeros(3, jnp.int32))
    with pytest.raises(ValueError, match="probability"):
        F.alpha_dropout(x, 1.5, True, key=jax.random.key(0))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(jnp.zeros(3), 0.5, True, key=jax.random.key(0))


def test_rrelu_training_draws_slopes_in_range_and_backpropagates_them():
    x = jnp.asarray(np.random.default_rng(2).standard_normal((4, 500)), jnp.float32)
    key = jax.random.key(3)
    out, vjp = jax.vjp(lambda v: F.rrelu(v, 0.1, 0.3, True, key=key), x)
    (grad,) = vjp(jnp.ones_like(x))
    x, out, grad = map(np.asarray, (x, out, grad))
    positive = x > 0
    np.testing.assert_array_equal(out[positive], x[positive])
    np.testing.assert_array_equal(grad[positive], 1.0)
    slopes = out[~positive] / x[~positive]
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.3 + 1e-6
    assert slopes.std() > 0.03  # one draw per element
    np.testing.assert_allclose(grad[~positive], slopes, rtol=1e-5)
    again = F.rrelu(jnp.asarray(x), 0.1, 0.3, True, key=key)
    np.testing.assert_array_equal(np.asarray(again), out)  # the key decides the slopes


@pytest.mark.parametrize("feature", [False, True])
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_follows_atens_formula(feature, p):
    fn = F.feature_alpha_dropout if feature else F.alpha_dropout
    x = jnp.asarray(np.random.default_rng(4).standard_normal((64, 32, 6)), jnp.float32)
    out, vjp = jax.vjp(lambda v: fn(v, p, True, key=jax.random.key(5)), x)
    (grad,) = vjp(jnp.ones_like(x))
    alpha = 1.7580993408473766
    a = 1.0 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    x, out, grad = map(np.asarray, (x, out, grad))
    kept = grad != 0
    np.testing.assert_allclose(grad[kept], np.float32(a), rtol=1e-6)
    np.testing.assert_allclose(out[kept], x[kept] * np.float32(a) + np.float32(alpha * a * p), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[~kept], np.float32(-alpha * a + alpha * a * p), rtol=1e-5)
    assert abs((~kept).mean() - p) < 0.05
    if feature:  # one draw per (n, c), shared over the rest
        assert (kept == kept[:, :, :1]).all()
    # Self-normalising: standard normal input keeps mean ~0 and variance ~1.
    if not feature:
        assert abs(out.mean()) < 0.05 and abs(out.var() - 1) < 0.1


def test_alpha_dropout_identity_cases():
    x = jnp.ones((3, 4), jnp.float32)
    assert F.alpha_dropout(x, 0.5) is x  # training defaults to False, as PyTorch's functional form
    assert F.alpha_dropout(x, 0.0, True, key=jax.random.key(0)) is x
    np.testing.assert_array_equal(np.asarray(F.alpha_dropout(x, 1.0, True, key=jax.random.key(0))), 0.0)
    np.testing.assert_array_equal(np.asarray(TF.alpha_dropout(torch.ones(3, 4), 1.0, True)), 0.0)
