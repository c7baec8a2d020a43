"""dropout: statistics of the mask, and PyTorch's arithmetic on the deterministic parts.

JAX's and PyTorch's random streams differ, so the mask is tested statistically and the scaling,
gradient and special cases are compared with PyTorch given the same mask.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from rustorch.functional import dropout
from tests.torch_compare import assert_close, to_torch

DROPOUT = jax.jit(dropout, static_argnames=("p", "training"))


@pytest.mark.parametrize("p", [0.2, 0.75])
def test_fraction_kept_and_exact_torch_scaling(p):
    rng = np.random.default_rng(int(p * 100))
    x = rng.standard_normal((200, 250)).astype(np.float32)
    out = np.asarray(DROPOUT(x, p, key=jax.random.key(int(p * 100))))
    kept = out != 0
    # Binomial(n, 1-p): 5 standard deviations is a false-alarm rate of ~1e-6.
    n = x.size
    assert abs(kept.sum() - n * (1 - p)) < 5 * np.sqrt(n * p * (1 - p))
    # PyTorch computes input * (bernoulli(1 - p) / (1 - p)); given our mask it must agree
    # bit for bit.
    noise = to_torch(kept.astype(np.float32)).div_(1 - p)
    np.testing.assert_array_equal(out, (to_torch(x) * noise).numpy())
    # And PyTorch's own dropout keeps units with that same factor.
    torch_out = torch.nn.functional.dropout(torch.ones(1000), p, training=True)
    assert set(np.unique(torch_out.numpy())) <= {0.0, float(noise.max())}


def test_gradient_is_mask_times_scale_like_torch():
    p = 0.3
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 7)).astype(np.float32)
    cot = rng.standard_normal((6, 7)).astype(np.float32)
    key = jax.random.key(3)
    f = jax.jit(lambda x: dropout(x, p, key=key))
    out, vjp = jax.vjp(f, jnp.asarray(x))
    (grad,) = vjp(jnp.asarray(cot))
    kept = np.asarray(out) != 0
    tx = to_torch(x, True)
    expected = tx * to_torch(kept.astype(np.float32)).div_(1 - p)
    expected.backward(to_torch(cot))
    np.testing.assert_array_equal(out, expected.detach().numpy())
    np.testing.assert_array_equal(grad, tx.grad.numpy())
    scale = np.float32(1) / np.float32(1 - p)
    np.testing.assert_array_equal(grad, np.where(kept, cot * scale, 0))


def test_same_key_same_mask_different_keys_differ():
    x = jnp.ones((200, 250), jnp.float32)
    a = DROPOUT(x, 0.2, key=jax.random.key(0))
    b = DROPOUT(x, 0.2, key=jax.random.key(0))
    c = DROPOUT(x, 0.2, key=jax.random.key(1))
    np.testing.assert_array_equal(a, b)
    # Independent masks with keep probability 0.8 disagree on 2 * 0.8 * 0.2 = 32% of units.
    assert abs(np.mean(np.asarray(a) != np.asarray(c)) - 0.32) < 0.02


def test_vmap_over_keys_equals_loop():
    rng = np.random.default_rng(2)
    xs = jnp.asarray(rng.standard_normal((3, 200, 250)).astype(np.float32))
    keys = jax.random.split(jax.random.key(7), 3)
    batched = jax.jit(jax.vmap(lambda x, k: dropout(x, 0.2, key=k)))(xs, keys)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], DROPOUT(xs[i], 0.2, key=keys[i]))
    assert np.any(np.asarray(batched[0] == 0) != np.asarray(batched[1] == 0))


def test_identity_in_eval_mode_and_for_p_zero():
    x = jnp.asarray(np.random.default_rng(3).standard_normal((3, 4)), jnp.float32)
    assert dropout(x, 0.5, key=jax.random.key(0), training=False) is x
    assert dropout(x, 0.0, key=jax.random.key(0)) is x
    assert dropout(x, 0.7, key=None, training=False) is x
    tx = to_torch(x)
    assert_close(x, torch.nn.functional.dropout(tx, 0.5, training=False))
    assert_close(x, torch.nn.functional.dropout(tx, 0.0, training=True))
    grad = jax.grad(lambda x: jnp.sum(dropout(x, 0.5, key=None, training=False) * 2))(x)
    np.testing.assert_array_equal(grad, np.full((3, 4), 2, np.float32))


def test_p_one_gives_zeros_with_zero_gradients_like_torch():
    x = np.array([1.5, -2.0, 0.0, np.inf], np.float32)
    tx = to_torch(x, True)
    expected = torch.nn.functional.dropout(tx, 1.0, training=True)
    expected.sum().backward()
    out, vjp = jax.vjp(lambda x: dropout(x, 1.0, key=jax.random.key(0)), jnp.asarray(x))
    (grad,) = vjp(jnp.ones(4, jnp.float32))
    # PyTorch multiplies by 0, so an infinite input gives NaN there too.
    np.testing.assert_array_equal(out, expected.detach().numpy())
    np.testing.assert_array_equal(grad, tx.grad.numpy())
    np.testing.assert_array_equal(grad, np.zeros(4, np.float32))


def test_dtype_is_preserved():
    for dtype in (jnp.bfloat16, jnp.float16, jnp.float32):
        x = jax.ShapeDtypeStruct((8, 8), dtype)
        out = jax.eval_shape(lambda x: dropout(x, 0.5, key=jax.random.key(0)), x)
        assert out.dtype == dtype and out.shape == (8, 8)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5", True])
def test_bad_probability_raises(p):
    with pytest.raises(ValueError, match="dropout: probability has to be between 0 and 1"):
        dropout(jnp.ones(3), p, key=jax.random.key(0))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_torch_rejects_the_same_probabilities(p):
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        torch.nn.functional.dropout(torch.ones(3), p)


def test_missing_key_and_integer_input_raise():
    with pytest.raises(ValueError, match="a PRNG key is required"):
        dropout(jnp.ones(3), 0.5, key=None)
    with pytest.raises(TypeError, match="expected a floating-point input, got dtype int32"):
        dropout(jnp.ones(3, jnp.int32), 0.5, key=jax.random.key(0))


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_has_no_structure_between_neighbours_rows_or_keys(p):
    # The mask is a hash of each element's flat index: neighbours, rows and columns must be as
    # independent as fresh Bernoulli draws. Bounds are 5 standard deviations.
    q = 1 - p
    shape = (256, 257)
    kept = np.asarray(DROPOUT(jnp.ones(shape, jnp.float32), p, key=jax.random.key(5))) != 0
    n = kept.size
    pairs = kept.ravel()[:-1] & kept.ravel()[1:]
    assert abs(pairs.mean() - q * q) < 5 * np.sqrt(q * q * (1 - q * q) / (n - 1))
    stride_pairs = kept[:-1] & kept[1:]  # elements 257 apart in the flat index
    assert abs(stride_pairs.mean() - q * q) < 5 * np.sqrt(q * q * (1 - q * q) / stride_pairs.size)
    for axis, count in ((0, shape[0]), (1, shape[1])):
        rates = kept.mean(axis=axis)
        chi_square = np.sum((rates - q) ** 2 * count / (q * (1 - q)))
        degrees = rates.size
        assert abs(chi_square - degrees) < 5 * np.sqrt(2 * degrees)
    keys = jax.random.split(jax.random.key(6), 64)
    first_elements = np.array([np.asarray(DROPOUT(jnp.ones(4), p, key=k))[0] != 0 for k in keys])
    assert 0 < first_elements.sum() < 64


def test_masks_larger_than_the_counter_are_refused():
    too_big = jax.ShapeDtypeStruct((2**16, 2**16 + 1), jnp.float32)
    with pytest.raises(ValueError, match="2\\*\\*32 elements"):
        jax.eval_shape(lambda x: dropout(x, 0.5, key=jax.random.key(0)), too_big)
