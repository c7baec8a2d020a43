"""Attention and Transformer layers (``torch.nn.MultiheadAttention``, ``TransformerEncoderLayer``,
``TransformerDecoderLayer``, ``TransformerEncoder``, ``TransformerDecoder``, ``Transformer``).

Module structure, parameter names and initialisation are PyTorch's, so PyTorch state dicts load
as they are. Attention records one op (projections, heads, masks, softmax, dropout and output
projection) over :func:`rustorch.functional.multi_head_attention_forward`.
"""
from __future__ import annotations

import copy
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import functional as F
from . import _graph, _random
from ._layers import Dropout, Linear, _dtype, _expect
from ._module import Module, ModuleList, Parameter
from ._sequence import LayerNorm
from ._variable import Variable, apply


def _dropout_inputs(active: bool):
    if not active:
        return None, None
    generator = _random.default_generator
    return generator.key, generator.next_counter()


def _as_mask(mask):
    if mask is None or isinstance(mask, Variable):
        return mask
    return Variable(mask)


# ---------------------------------------------------------------------- functional forms

def _sdpa_op(query, key, value, attn_mask, rng, counter, *, dropout_p, is_causal, scale, enable_gqa):
    dropout_key = None if rng is None else jax.random.fold_in(rng, counter)
    return F.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa,
                                          dropout_key=dropout_key)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale=None, enable_gqa: bool = False):
    """``torch.nn.functional.scaled_dot_product_attention`` on Variables; dropout masks come
    from the default generator. See :func:`rustorch.functional.scaled_dot_product_attention`."""
    rng, counter = _dropout_inputs(dropout_p > 0)
    return apply(_sdpa_op, query, key, value, _as_mask(attn_mask), rng, counter, dropout_p=float(dropout_p),
                 is_causal=bool(is_causal), scale=None if scale is None else float(scale), enable_gqa=bool(enable_gqa))


def _mha_op(query, key, value, in_proj_weight, in_proj_bias, bias_k, bias_v, out_proj_weight, out_proj_bias,
            key_padding_mask, attn_mask, q_proj_weight, k_proj_weight, v_proj_weight, static_k, static_v,
            rng, counter, *, embed_dim, num_heads, add_zero_attn, dropout_p, training, need_weights,
            use_separate_proj_weight, average_attn_weights, is_causal, batch_first):
    if batch_first:
        query, key, value = (jnp.swapaxes(x, 0, 1) for x in (query, key, value))
    dropout_key = None if rng is None else jax.random.fold_in(rng, counter)
    out, weights = F.multi_head_attention_forward(
        query, key, value, embed_dim, num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
        dropout_p, out_proj_weight, out_proj_bias, training, key_padding_mask, need_weights, attn_mask,
        use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, static_k, static_v,
        average_attn_weights, is_causal, dropout_key=dropout_key)
    if batch_first:
        out = jnp.swapaxes(out, 0, 1)
    return (out, weights) if need_weights else out


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """``torch.nn.functional.multi_head_attention_forward`` on Variables (sequence-first
    inputs); returns ``(output, weights or None)``. See
    :func:`rustorch.functional.multi_head_attention_forward`."""
    return _mha(query, key, value, in_proj_weight, in_proj_bias, bias_k, bias_v, out_proj_weight, out_proj_bias,
                key_padding_mask, attn_mask, q_proj_weight, k_proj_weight, v_proj_weight, static_k, static_v,
                embed_dim=embed_dim_to_check, num_heads=num_heads, add_zero_attn=bool(add_zero_attn),
                dropout_p=float(dropout_p), training=bool(training), need_weights=bool(need_weights),
                use_separate_proj_weight=bool(use_separate_proj_weight),
                average_attn_weights=bool(average_attn_weights), is_causal=bool(is_causal), batch_first=False)


def _mha(*arrays, **static):
    rng, counter = _dropout_inputs(static["training"] and static["dropout_p"] > 0)
    arrays = list(arrays)
    arrays[9] = _as_mask(arrays[9])
    arrays[10] = _as_mask(arrays[10])
    out = apply(_mha_op, *arrays, rng, counter, **static)
    return out if static["need_weights"] else (out, None)


# ------------------------------------------------------------------------------- modules

class MultiheadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0,
    bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False)``.

    Parameters: ``in_proj_weight`` ``[3E, E]`` when ``kdim == vdim == E``, otherwise
    ``q_proj_weight`` ``[E, E]``, ``k_proj_weight`` ``[E, kdim]``, ``v_proj_weight`` ``[E, vdim]``
    (xavier-uniform); ``in_proj_bias`` ``[3E]`` (zeros); ``out_proj`` (a Linear, bias zeroed);
    ``bias_k``/``bias_v`` ``[1, 1, E]`` (xavier-normal) with ``add_bias_kv``.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights or None)``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ValueError("embed_dim must be divisible by num_heads")
        dtype = _dtype(dtype)
        generator = _random.default_generator

        def xavier_uniform(shape):
            fan_out, fan_in = shape[0], shape[1]
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            return Parameter._wrap(generator.uniform(-bound, bound, shape, dtype))

        if not self._qkv_same_embed_dim:
            self.q_proj_weight = xavier_uniform((embed_dim, embed_dim))
            self.k_proj_weight = xavier_uniform((embed_dim, self.kdim))
            self.v_proj_weight = xavier_uniform((embed_dim, self.vdim))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = xavier_uniform((3 * embed_dim, embed_dim))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter._wrap(jnp.zeros((3 * embed_dim,), dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if bias:
            self.out_proj.bias._assign(jnp.zeros((embed_dim,), dtype))
        if add_bias_kv:
            # xavier_normal_ on [1, 1, E]: fan_in = fan_out = E, std = sqrt(2 / (2E)).
            std = math.sqrt(2.0 / (2 * embed_dim))
            for name in ("bias_k", "bias_v"):
                sample = generator.numpy_generator().standard_normal((1, 1, embed_dim)) * std
                setattr(self, name, Parameter._wrap(jax.device_put(sample.astype(dtype))))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        _expect(self, query, (2, 3), "[L, N, E] ([N, L, E] with batch_first) or unbatched [L, E]")
        batched = query.ndim == 3
        return _mha(query, key, value, self.in_proj_weight, self.in_proj_bias, self.bias_k, self.bias_v,
                    self.out_proj.weight, self.out_proj.bias, key_padding_mask, attn_mask, self.q_proj_weight,
                    self.k_proj_weight, self.v_proj_weight, None, None, embed_dim=self.embed_dim,
                    num_heads=self.num_heads, add_zero_attn=bool(self.add_zero_attn), dropout_p=float(self.dropout),
                    training=self.training, need_weights=bool(need_weights),
                    use_separate_proj_weight=not self._qkv_same_embed_dim,
                    average_attn_weights=bool(average_attn_weights), is_causal=bool(is_causal),
                    batch_first=bool(self.batch_first and batched))


def _relu_or_gelu(activation) -> int:
    """1 for ReLU, 2 for GELU (function or module), 0 otherwise, as PyTorch's attribute."""
    from . import _layers, _nn_functional

    if activation is _nn_functional.relu or isinstance(activation, _layers.ReLU):
        return 1
    if activation is _nn_functional.gelu or isinstance(activation, _layers.GELU):
        return 2
    return 0


def _activation_fn(activation):
    from . import _nn_functional

    if isinstance(activation, str):
        if activation == "relu":
            return _nn_functional.relu
        if activation == "gelu":
            return _nn_functional.gelu
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"activation must be 'relu', 'gelu' or a callable, got {activation!r}")
    return activation


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, as ``torch.nn.TransformerEncoderLayer(d_model,
    nhead, dim_feedforward=2048, dropout=0.1, activation=relu, layer_norm_eps=1e-5,
    batch_first=False, norm_first=False, bias=True)``:
    ``x = norm1(x + sa(x)); x = norm2(x + ff(x))`` (``norm_first``: ``x = x + sa(norm1(x))`` ...).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation_fn(activation)
        self.activation_relu_or_gelu = _relu_or_gelu(self.activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention over ``memory`` and a feed-forward block, as
    ``torch.nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation=relu, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias,
                                            dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first,
                                                 bias=bias, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation_fn(activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


def _clones(module, n):
    # PyTorch deep-copies the layer: every copy starts from the same weights.
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (identical initial weights, as PyTorch) and an
    optional final ``norm``, as ``torch.nn.TransformerEncoder(encoder_layer, num_layers,
    norm=None, enable_nested_tensor=True, mask_check=True)``. ``enable_nested_tensor`` is
    accepted; padded positions are computed rather than skipped."""

    def __init__(self, encoder_layer, num_layers: int, norm=None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def _padding_zeroed(self, src, mask, src_key_padding_mask) -> bool:
        """Whether PyTorch would run this call on its nested-tensor fast path, whose outputs at
        padded positions are 0 (before the final norm): inference (eval mode, no gradient
        needed) of batch-first 3-D input with a left-aligned key padding mask and no attention
        mask, through post-norm layers that PyTorch's fast path supports."""
        layer = self.layers[0] if len(self.layers) else None
        if not (self.enable_nested_tensor and isinstance(layer, TransformerEncoderLayer)) or layer.training:
            return False
        attn = layer.self_attn
        if (layer.norm_first or not attn.batch_first or not attn._qkv_same_embed_dim or attn.in_proj_bias is None
                or not layer.activation_relu_or_gelu or layer.norm1.eps != layer.norm2.eps or attn.num_heads % 2):
            return False
        if src.ndim != 3 or src_key_padding_mask is None or mask is not None:
            return False
        if _graph.is_grad_enabled() and (src.requires_grad or any(p.requires_grad for p in layer.parameters())):
            return False
        padding = np.asarray(src_key_padding_mask)
        if padding.dtype != np.bool_:
            return False
        if self.mask_check:
            # Left-aligned: every row is some kept positions followed only by padding.
            kept = ~padding
            if np.any(kept[:, 1:] & ~kept[:, :-1]):
                return False
        return True

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        output = src
        zero_padding = self._padding_zeroed(src, mask, src_key_padding_mask)
        for layer in self.layers:
            output = layer(output, src_mask=mask, is_causal=bool(is_causal), src_key_padding_mask=src_key_padding_mask)
        if zero_padding:
            kept = ~np.asarray(src_key_padding_mask)
            output = output * Variable(kept[:, :, None].astype(output.dtype))
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` and an optional final ``norm``, as
    ``torch.nn.TransformerDecoder(decoder_layer, num_layers, norm=None)``."""

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal: bool = False):
        output = tgt
        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=bool(tgt_is_causal),
                           memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Variable:
    """A ``[sz, sz]`` float mask with ``-inf`` above the diagonal and 0 elsewhere (position ``i``
    may attend to ``j <= i``), as ``torch.nn.Transformer.generate_square_subsequent_mask``."""
    dtype = _dtype(dtype)
    mask = np.triu(np.full((sz, sz), -np.inf, dtype), k=1)
    return Variable(mask)


class Transformer(Module):
    """The encoder-decoder Transformer, as ``torch.nn.Transformer(d_model=512, nhead=8,
    num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1,
    activation=relu, custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
    batch_first=False, norm_first=False, bias=True)``; every parameter with more than one
    dimension starts xavier-uniform, as PyTorch's ``_reset_parameters``."""

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias, dtype=dtype)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self):
        generator = _random.default_generator
        for param in self.parameters():
            if param.ndim > 1:
                receptive = int(np.prod(param.shape[2:]))
                fan_in, fan_out = param.shape[1] * receptive, param.shape[0] * receptive
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                param._assign(generator.uniform(-bound, bound, param.shape, param.dtype))

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        batched = src.ndim == 3
        if not self.batch_first and src.shape[1] != tgt.shape[1] and batched:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if self.batch_first and src.shape[0] != tgt.shape[0] and batched:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)
