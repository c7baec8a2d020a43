"""layer_norm, group_norm, rms_norm and embedding: PyTorch parity (values and gradients) and
composition with jit, grad and vmap."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from rustorch import functional as F
from tests.torch_compare import assert_close, to_torch

RTOL = 2e-5


def _vjp_vs_torch(fn, torch_fn, arrays, rng):
    out, vjp = jax.vjp(fn, *[jnp.asarray(a) for a in arrays])
    cot = rng.standard_normal(out.shape).astype(np.float32)
    grads = vjp(jnp.asarray(cot))
    tensors = [to_torch(a, True) for a in arrays]
    t_out = torch_fn(*tensors)
    t_out.backward(to_torch(cot))
    assert_close(np.asarray(out), t_out, RTOL)
    for g, t in zip(grads, tensors):
        assert_close(np.asarray(g), t.grad, RTOL, 1e-5)


def test_layer_norm_matches_torch(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32) * 2 + 1
    w, b = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    _vjp_vs_torch(jax.jit(lambda x, w, b: F.layer_norm(x, (4, 5), w, b, 1e-3)),
                  lambda x, w, b: torch.nn.functional.layer_norm(x, (4, 5), w, b, 1e-3), [x, w, b], rng)


def test_group_norm_matches_torch(rng):
    x = rng.standard_normal((2, 6, 3, 2)).astype(np.float32)
    w, b = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    _vjp_vs_torch(jax.jit(lambda x, w, b: F.group_norm(x, 2, w, b)),
                  lambda x, w, b: torch.nn.functional.group_norm(x, 2, w, b), [x, w, b], rng)


@pytest.mark.parametrize("eps", [None, 1e-2])
def test_rms_norm_matches_torch(rng, eps):
    x = rng.standard_normal((4, 7)).astype(np.float32)
    w = rng.standard_normal(7).astype(np.float32)
    _vjp_vs_torch(jax.jit(lambda x, w: F.rms_norm(x, 7, w, eps)),
                  lambda x, w: torch.nn.functional.rms_norm(x, [7], w, eps), [x, w], rng)


def test_norms_vmap_equals_batched(rng):
    x = jnp.asarray(rng.standard_normal((3, 2, 6, 4)).astype(np.float32))
    np.testing.assert_allclose(jax.vmap(lambda v: F.group_norm(v, 3))(x), F.group_norm(x.reshape(6, 6, 4), 3)
                               .reshape(x.shape), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(lambda v: F.layer_norm(v, 4))(x), F.layer_norm(x, 4), rtol=1e-6, atol=1e-6)


def test_norm_shape_errors():
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(jnp.ones((2, 3)), 4)
    with pytest.raises(ValueError, match="divisible"):
        F.group_norm(jnp.ones((2, 6)), 4)


@pytest.mark.parametrize("padding_idx,max_norm,freq", [(None, None, False), (1, None, True), (None, 0.8, False)])
def test_embedding_matches_torch(rng, padding_idx, max_norm, freq):
    w = rng.standard_normal((6, 3)).astype(np.float32)
    idx = np.array([[1, 4, 1], [0, 1, 5]])
    fn = jax.jit(lambda w: F.embedding(jnp.asarray(idx), w, padding_idx, max_norm, 2.0, freq))
    out, vjp = jax.vjp(fn, jnp.asarray(w))
    cot = rng.standard_normal(out.shape).astype(np.float32)
    (grad,) = vjp(jnp.asarray(cot))
    tw = to_torch(w, True)
    t_out = torch.nn.functional.embedding(torch.from_numpy(idx), tw, padding_idx, max_norm, 2.0, freq)
    t_out.backward(to_torch(cot))
    assert_close(np.asarray(out), t_out, RTOL)
    assert_close(np.asarray(grad), tw.grad, RTOL)
    if max_norm is not None:
        assert_close(np.asarray(F.embedding_renorm(jnp.asarray(w), jnp.asarray(idx), max_norm)), tw.detach(), RTOL)


def test_embedding_out_of_range_gives_nan_and_vmap():
    w = jnp.arange(6.0, dtype=jnp.float32).reshape(3, 2)
    out = F.embedding(jnp.asarray([0, 3, -1]), w)
    assert np.isnan(np.asarray(out[1:])).all() and not np.isnan(np.asarray(out[0])).any()
    batched = jax.vmap(lambda i: F.embedding(i, w))(jnp.asarray([[0, 1], [2, 2]]))
    np.testing.assert_array_equal(batched, np.asarray(w)[[[0, 1], [2, 2]]])
    with pytest.raises(TypeError, match="integer"):
        F.embedding(jnp.ones(2), w)
