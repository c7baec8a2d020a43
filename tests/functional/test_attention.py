"""scaled_dot_product_attention and multi_head_attention_forward against torch: values,
gradients, masks (boolean, float, causal, key padding), GQA; jit and vmap."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from rustorch import functional as F
from tests.torch_compare import assert_close, to_torch

RTOL = 2e-5


@pytest.mark.parametrize("case", ["bool", "float", "causal", "gqa", "scale"])
def test_sdpa_matches_torch(rng, case):
    heads_k = 2 if case == "gqa" else 4
    q = rng.standard_normal((2, 4, 5, 8)).astype(np.float32)
    k = rng.standard_normal((2, heads_k, 7 if case != "causal" else 5, 8)).astype(np.float32)
    v = rng.standard_normal(k.shape[:-1] + (3,)).astype(np.float32)
    kw = {}
    if case == "bool":
        mask = rng.random((5, 7)) > 0.4
        mask[0] = False  # a row with no allowed key gives zeros, as torch
        kw["attn_mask"] = mask
    elif case == "float":
        kw["attn_mask"] = rng.standard_normal((2, 1, 5, 7)).astype(np.float32)
    elif case == "causal":
        kw["is_causal"] = True
    elif case == "gqa":
        kw["enable_gqa"] = True
    else:
        kw["scale"] = 0.3
    fn = jax.jit(lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, **{a: (jnp.asarray(b) if isinstance(b, np.ndarray) else b) for a, b in kw.items()}))
    out, vjp = jax.vjp(fn, *(jnp.asarray(a) for a in (q, k, v)))
    cot = rng.standard_normal(out.shape).astype(np.float32)
    grads = vjp(jnp.asarray(cot))
    tensors = [to_torch(a, True) for a in (q, k, v)]
    t_kw = {a: (torch.from_numpy(b) if isinstance(b, np.ndarray) else b) for a, b in kw.items()}
    t_out = torch.nn.functional.scaled_dot_product_attention(*tensors, **t_kw)
    t_out.backward(to_torch(cot))
    assert_close(np.asarray(out), t_out, RTOL)
    for g, t in zip(grads, tensors):
        assert_close(np.asarray(g), t.grad, RTOL, 1e-5)


def test_sdpa_vmap_dropout_and_errors(rng):
    q = jnp.asarray(rng.standard_normal((3, 5, 4)).astype(np.float32))
    mapped = jax.vmap(lambda x: F.scaled_dot_product_attention(x, x, x))(q)
    np.testing.assert_allclose(mapped, F.scaled_dot_product_attention(q, q, q), rtol=1e-6, atol=1e-6)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, dropout_key=jax.random.key(0))
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, dropout_key=jax.random.key(1))
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=jnp.ones((5, 5), bool), is_causal=True)
    with pytest.raises(ValueError, match="dropout_key"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=0.1)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multi_head_attention_forward_matches_torch(rng, need_weights):
    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True, add_zero_attn=True)
    q = rng.standard_normal((4, 2, 8)).astype(np.float32)
    k = rng.standard_normal((6, 2, 3)).astype(np.float32)
    v = rng.standard_normal((6, 2, 5)).astype(np.float32)
    kpm = np.zeros((2, 6), bool)
    kpm[0, 4:] = True
    mask = rng.random((4, 6)) > 0.8
    p = {n: jnp.asarray(t.detach().numpy()) for n, t in module.named_parameters()}

    def fn(q, k, v, p):
        return F.multi_head_attention_forward(
            q, k, v, 8, 2, None, p["in_proj_bias"], p["bias_k"], p["bias_v"], True, 0.0, p["out_proj.weight"],
            p["out_proj.bias"], key_padding_mask=jnp.asarray(kpm), need_weights=need_weights,
            attn_mask=jnp.asarray(mask), use_separate_proj_weight=True, q_proj_weight=p["q_proj_weight"],
            k_proj_weight=p["k_proj_weight"], v_proj_weight=p["v_proj_weight"])[0]

    out, vjp = jax.vjp(jax.jit(fn), jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), p)
    cot = rng.standard_normal(out.shape).astype(np.float32)
    *grads, grad_p = vjp(jnp.asarray(cot))
    tensors = [to_torch(a, True) for a in (q, k, v)]
    t_out, _ = module(*tensors, key_padding_mask=torch.from_numpy(kpm), attn_mask=torch.from_numpy(mask),
                      need_weights=need_weights)
    t_out.backward(to_torch(cot))
    assert_close(np.asarray(out), t_out, RTOL)
    for g, t in zip(grads, tensors):
        assert_close(np.asarray(g), t.grad, RTOL, 1e-5)
    for name, t in module.named_parameters():
        assert_close(np.asarray(grad_p[name]), t.grad, RTOL, 1e-5, err_msg=name)
