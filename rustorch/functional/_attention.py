"""Scaled dot-product attention and PyTorch's multi-head attention forward."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ._conv import check_floating
from ._dropout import dropout as _dropout


def _additive_mask(mask, dtype, allowed_when_true: bool):
    """A float mask to add to attention scores: ``-inf`` where attention is forbidden.

    Boolean masks mean "allowed" for :func:`scaled_dot_product_attention`
    (``allowed_when_true``) and "forbidden" for multi-head attention, as in PyTorch.
    """
    if mask is None:
        return None
    if mask.dtype == jnp.bool_:
        forbidden = ~mask if allowed_when_true else mask
        return jnp.where(forbidden, jnp.asarray(-jnp.inf, dtype), jnp.zeros((), dtype))
    if not jnp.issubdtype(mask.dtype, jnp.floating):
        raise TypeError(f"attention: only bool and floating types of masks are supported, got {mask.dtype}")
    return mask.astype(dtype)


def _safe_softmax(scores):
    """Softmax over the last axis that gives 0 (not NaN) on rows that are all ``-inf``, as
    PyTorch's ``_safe_softmax`` in scaled dot-product attention."""
    all_masked = jnp.all(scores == -jnp.inf, axis=-1, keepdims=True)
    # Masked rows go through the softmax as zeros, so that no NaN reaches the gradient either.
    out = jax.nn.softmax(jnp.where(all_masked, jnp.zeros((), scores.dtype), scores), axis=-1)
    return jnp.where(all_masked, jnp.zeros((), out.dtype), out)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False, *, dropout_key=None):
    """``torch.nn.functional.scaled_dot_product_attention``:
    ``softmax(Q K^T * scale + mask) V`` over ``[..., L, E]`` queries and ``[..., S, E]`` keys,
    ``[..., S, Ev]`` values; ``scale`` defaults to ``1 / sqrt(E)``.

    * ``attn_mask``: boolean (True = may attend) or float (added to the scores), broadcastable
      to ``[..., L, S]``. Rows with no allowed key give zeros, as PyTorch.
    * ``is_causal``: the lower-triangular mask (query ``i`` sees keys ``j <= i``); excludes
      ``attn_mask``.
    * ``dropout_p``: dropout on the attention weights, drawn from ``dropout_key`` (required
      when ``dropout_p > 0``).
    * ``enable_gqa``: grouped-query attention; the ``Hq`` query heads (dim -3) share the
      ``Hk`` key/value heads, each repeated ``Hq // Hk`` times.

    Raises:
        ValueError: ``attn_mask`` with ``is_causal``, mismatched head counts, or a missing key.
    """
    for name, x in (("query", query), ("key", key), ("value", value)):
        check_floating("scaled_dot_product_attention", name, x)
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: explicit attn_mask should not be set when is_causal=True")
    if enable_gqa and query.ndim >= 3:
        heads_q, heads_k = query.shape[-3], key.shape[-3]
        if heads_q % heads_k or value.shape[-3] != heads_k:
            raise ValueError(f"scaled_dot_product_attention: with enable_gqa, the query heads ({heads_q}) must be "
                             f"a multiple of the key/value heads ({heads_k}, {value.shape[-3]})")
        key = jnp.repeat(key, heads_q // heads_k, axis=-3)
        value = jnp.repeat(value, heads_q // heads_k, axis=-3)
    length, source = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = jnp.matmul(query, jnp.swapaxes(key, -1, -2)) * jnp.asarray(scale, query.dtype)
    if is_causal:
        attn_mask = jnp.tril(jnp.ones((length, source), bool))
    bias = _additive_mask(attn_mask, query.dtype, allowed_when_true=True)
    if bias is not None:
        scores = scores + bias
    weights = _safe_softmax(scores)
    if dropout_p > 0.0:
        if dropout_key is None:
            raise ValueError("scaled_dot_product_attention: dropout_p > 0 needs a dropout_key")
        weights = _dropout(weights, dropout_p, key=dropout_key, training=True)
    return jnp.matmul(weights, value)


def _pad_last(x, value=0.0):
    if x is None:
        return None
    widths = [(0, 0)] * (x.ndim - 1) + [(0, 1)]
    return jnp.pad(x, widths, constant_values=jnp.asarray(value, x.dtype))


def _linear(x, w, b):
    y = jnp.matmul(x, w.T)
    return y if b is None else y + b


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn: bool,
                                 dropout_p: float, out_proj_weight, out_proj_bias, training: bool = True,
                                 key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                                 use_separate_proj_weight: bool = False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None,
                                 average_attn_weights: bool = True, is_causal: bool = False, *,
                                 dropout_key=None):
    """``torch.nn.functional.multi_head_attention_forward`` (sequence-first ``[L, N, E]`` or
    unbatched ``[L, E]`` inputs), in PyTorch's steps: project ``q, k, v`` (one packed
    ``in_proj_weight`` ``[3E, E]``, or separate ``q/k/v_proj_weight``), append ``bias_k``/``bias_v``
    and a zero key/value (``add_zero_attn``), split into ``num_heads`` heads, attend with
    ``softmax(q k^T / sqrt(E / num_heads) + masks)``, dropout on the weights, project with
    ``out_proj``. Boolean masks mean True = *not* allowed; float masks are added.
    ``key_padding_mask`` is ``[N, S]``; ``attn_mask`` is ``[L, S]`` or ``[N * num_heads, L, S]``.

    Returns ``(output, weights)``: ``output`` like ``query``; ``weights`` (``need_weights``)
    ``[N, L, S]`` averaged over heads or ``[N, num_heads, L, S]``, else None. ``is_causal`` is
    only a hint, as in PyTorch: ``attn_mask`` must be given with it.
    """
    batched = query.ndim == 3
    if not batched:
        query, key, value = query[:, None], key[:, None], value[:, None]
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask[None]
    if is_causal and attn_mask is None:
        raise ValueError("multi_head_attention_forward: need attn_mask if specifying the is_causal hint; "
                         "pass attn_mask=Transformer.generate_square_subsequent_mask(L)")
    tgt_len, bsz, embed_dim = query.shape
    if embed_dim != embed_dim_to_check:
        raise ValueError(f"multi_head_attention_forward: was expecting embedding dimension of "
                         f"{embed_dim_to_check}, but got {embed_dim}")
    if embed_dim % num_heads:
        raise ValueError(f"multi_head_attention_forward: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    head_dim = embed_dim // num_heads
    dtype = query.dtype
    key_padding_mask = _additive_mask(key_padding_mask, dtype, allowed_when_true=False)
    attn_mask = _additive_mask(attn_mask, dtype, allowed_when_true=False)

    if use_separate_proj_weight:
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        w_q, w_k, w_v = jnp.split(in_proj_weight, 3, axis=0)
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = jnp.split(in_proj_bias, 3)
    q = _linear(query, w_q, b_q)
    k = _linear(key, w_k, b_k)
    v = _linear(value, w_v, b_v)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if attn_mask.shape != (tgt_len, k.shape[0]):
                raise ValueError(f"multi_head_attention_forward: the shape of the 2D attn_mask is "
                                 f"{attn_mask.shape}, but should be {(tgt_len, k.shape[0])}")
            attn_mask = attn_mask[None]
        elif attn_mask.shape != (bsz * num_heads, tgt_len, k.shape[0]):
            raise ValueError(f"multi_head_attention_forward: the shape of the 3D attn_mask is {attn_mask.shape}, "
                             f"but should be {(bsz * num_heads, tgt_len, k.shape[0])}")
    if bias_k is not None and bias_v is not None:
        k = jnp.concatenate([k, jnp.broadcast_to(bias_k, (1, bsz, embed_dim))])
        v = jnp.concatenate([v, jnp.broadcast_to(bias_v, (1, bsz, embed_dim))])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)

    q = q.reshape(tgt_len, bsz * num_heads, head_dim).swapaxes(0, 1)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).swapaxes(0, 1) if static_k is None else static_k
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).swapaxes(0, 1) if static_v is None else static_v
    if add_zero_attn:
        k = jnp.concatenate([k, jnp.zeros((bsz * num_heads, 1, head_dim), k.dtype)], axis=1)
        v = jnp.concatenate([v, jnp.zeros((bsz * num_heads, 1, head_dim), v.dtype)], axis=1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if key_padding_mask.shape != (bsz, src_len):
            raise ValueError(f"multi_head_attention_forward: expecting key_padding_mask shape of "
                             f"{(bsz, src_len)}, but got {key_padding_mask.shape}")
        padding = jnp.broadcast_to(key_padding_mask[:, None, None, :], (bsz, num_heads, 1, src_len))
        padding = padding.reshape(bsz * num_heads, 1, src_len)
        attn_mask = padding if attn_mask is None else attn_mask + padding
    if not training:
        dropout_p = 0.0
    if dropout_p > 0.0 and dropout_key is None:
        raise ValueError("multi_head_attention_forward: dropout_p > 0 in training needs a dropout_key")

    if need_weights:
        q_scaled = q * jnp.asarray(math.sqrt(1.0 / head_dim), dtype)
        scores = jnp.matmul(q_scaled, k.swapaxes(-1, -2))
        if attn_mask is not None:
            scores = attn_mask + scores
        weights = jax.nn.softmax(scores, axis=-1)
        if dropout_p > 0.0:
            weights = _dropout(weights, dropout_p, key=dropout_key, training=True)
        out = jnp.matmul(weights, v)
        out = out.swapaxes(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = jnp.mean(weights, axis=1)
        if not batched:
            out, weights = out[:, 0], weights[0]
        return out, weights
    if attn_mask is not None:
        attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len) if attn_mask.shape[0] != 1 else attn_mask[None]
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, dropout_key=dropout_key)
    out = out.transpose(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if not batched:
        out = out[:, 0]
    return out, None
