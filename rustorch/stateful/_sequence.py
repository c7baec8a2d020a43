"""Embedding, normalisation and recurrent layers (``torch.nn.Embedding``, ``LayerNorm``,
``GroupNorm``, ``RMSNorm``, ``RNN``/``LSTM``/``GRU`` and their cells) over ``rustorch.functional``.

Parameter names, shapes, registration order (hence ``state_dict`` keys) and initialisation are
PyTorch's, so a state dict saved by PyTorch loads with ``load_state_dict`` and gives the same
numbers. A recurrent layer records one op: the whole multi-layer, bidirectional network, each
layer and direction a ``lax.scan`` inside the compiled program.
"""
from __future__ import annotations

import math
import numbers
import warnings

import jax
import numpy as np

from .. import functional as F
from ..functional._embedding import normalize_padding_idx
from . import _graph, _random
from ._layers import _dtype, _expect
from ._module import Module, Parameter
from ._variable import Variable, apply


def _normal(shape, dtype):
    sample = _random.default_generator.numpy_generator().standard_normal(size=tuple(shape))
    return jax.device_put(sample.astype(dtype))


# -------------------------------------------------------------------------------- embedding

def _check_concrete_indices(layer, input, num_embeddings):
    """Raise IndexError, as PyTorch, when concrete indices fall outside the table."""
    if input._value is None:
        return  # a pending value: the compiled lookup gives NaN rows for bad indices
    values = np.asarray(input._value)
    if values.size and (values.min() < 0 or values.max() >= num_embeddings):
        bad = values[(values < 0) | (values >= num_embeddings)].flat[0]
        raise IndexError(f"{layer}: index {bad} out of range in self (num_embeddings={num_embeddings}); "
                         f"indices must lie in [0, {num_embeddings})")


def _renorm_in_place(weight, input, max_norm, norm_type):
    with _graph.no_grad():
        renormed = apply(F.embedding_renorm, weight, input, max_norm=float(max_norm), norm_type=float(norm_type))
    weight._assign(renormed._concrete())


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False):
    """``torch.nn.functional.embedding`` on Variables: rows of ``weight`` gathered by the integer
    ``input``; with ``max_norm`` the referenced rows of ``weight`` are renormalised in place
    first, as PyTorch does. See :func:`rustorch.functional.embedding`."""
    if not isinstance(input, Variable):
        input = Variable(input)
    if not np.issubdtype(input.dtype, np.integer):
        raise TypeError(f"embedding: expected integer indices (Long or Int tensor), got {input.dtype}")
    _check_concrete_indices("embedding", input, weight.shape[0])
    if max_norm is not None:
        _renorm_in_place(weight, input, max_norm, norm_type)
    return apply(F.embedding, input, weight, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq,
                 sparse=sparse)


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, as
    ``torch.nn.Embedding(num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
    norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False)``.

    ``weight`` starts from ``N(0, 1)`` with the ``padding_idx`` row zeroed; that row gets no
    gradient. ``max_norm`` renormalises looked-up rows of ``weight`` in place on every call.

    Raises:
        ValueError: ``padding_idx`` outside the table, ``sparse=True`` (gradients are dense).
        IndexError: (at call time) an index outside ``[0, num_embeddings)``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight=None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        if sparse:
            raise ValueError("Embedding: sparse=True is not supported (gradients are dense JAX arrays); "
                             "use sparse=False with a dense optimizer")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = normalize_padding_idx("Embedding", padding_idx, num_embeddings)
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            weight = _normal((num_embeddings, embedding_dim), _dtype(dtype))
            if self.padding_idx is not None:
                weight = weight.at[self.padding_idx].set(0)
            self.weight = Parameter._wrap(weight, requires_grad=not _freeze)
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError("Embedding: shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """Redraw ``weight`` from ``N(0, 1)`` and zero the ``padding_idx`` row."""
        weight = _normal(self.weight.shape, self.weight.dtype)
        if self.padding_idx is not None:
            weight = weight.at[self.padding_idx].set(0)
        self.weight._assign(weight)

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
        """An Embedding holding ``embeddings`` (2-D); ``freeze`` (default) stops its training."""
        if len(embeddings.shape) != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        return text


# ---------------------------------------------------------------------------- normalisation

def _shape_tuple(normalized_shape):
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(int(s) for s in normalized_shape)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """``torch.nn.functional.layer_norm`` on Variables (see :func:`rustorch.functional.layer_norm`)."""
    return apply(_layer_norm_op, input, weight, bias, normalized_shape=_shape_tuple(normalized_shape), eps=eps)


def _layer_norm_op(input, weight, bias, *, normalized_shape, eps):
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """``torch.nn.functional.group_norm`` on Variables (see :func:`rustorch.functional.group_norm`)."""
    return apply(_group_norm_op, input, weight, bias, num_groups=num_groups, eps=eps)


def _group_norm_op(input, weight, bias, *, num_groups, eps):
    return F.group_norm(input, num_groups, weight, bias, eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``torch.nn.functional.rms_norm`` on Variables (see :func:`rustorch.functional.rms_norm`)."""
    return apply(_rms_norm_op, input, weight, normalized_shape=_shape_tuple(normalized_shape), eps=eps)


def _rms_norm_op(input, weight, *, normalized_shape, eps):
    return F.rms_norm(input, normalized_shape, weight, eps)


class LayerNorm(Module):
    """``torch.nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)``:
    normalise over the trailing ``normalized_shape`` dims (biased variance), then
    ``* weight + bias`` (ones and zeros at the start)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = _dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter._wrap(jax.numpy.ones(self.normalized_shape, dtype))
            if bias:
                self.bias = Parameter._wrap(jax.numpy.zeros(self.normalized_shape, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        _expect(self, input, range(len(self.normalized_shape), 64), f"[*, {', '.join(map(str, self.normalized_shape))}]")
        return apply(_layer_norm_op, input, self.weight, self.bias, normalized_shape=self.normalized_shape, eps=self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """``torch.nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)`` on ``[N, C, *]``.

    Raises:
        ValueError: ``num_channels`` not divisible by ``num_groups``.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        dtype = _dtype(dtype)
        if affine:
            self.weight = Parameter._wrap(jax.numpy.ones((num_channels,), dtype))
            self.bias = Parameter._wrap(jax.numpy.zeros((num_channels,), dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return apply(_group_norm_op, input, self.weight, self.bias, num_groups=self.num_groups, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class RMSNorm(Module):
    """``torch.nn.RMSNorm(normalized_shape, eps=None, elementwise_affine=True)``:
    ``x / sqrt(mean(x^2) + eps) * weight`` (``eps=None``: the dtype's machine epsilon)."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter._wrap(jax.numpy.ones(self.normalized_shape, _dtype(dtype)))
        else:
            self.register_parameter("weight", None)

    def forward(self, input):
        return apply(_rms_norm_op, input, self.weight, normalized_shape=self.normalized_shape, eps=self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


# ------------------------------------------------------------------------------- recurrent

def _weight_groups(flat, num_groups, has_biases, has_proj):
    """Regroup PyTorch's flat weight list into one :class:`RNNWeights` per layer and direction."""
    per = 2 + 2 * has_biases + has_proj
    groups = []
    for g in range(num_groups):
        chunk = list(flat[g * per:(g + 1) * per])
        w_ih, w_hh = chunk[:2]
        b_ih, b_hh = (chunk[2], chunk[3]) if has_biases else (None, None)
        w_hr = chunk[-1] if has_proj else None
        groups.append(F.RNNWeights(w_ih, w_hh, b_ih, b_hh, w_hr))
    return groups


def _rnn_op(input, h0, c0, lengths, key, counter, *flat, mode, num_layers, bidirectional, batch_first,
            dropout, training, has_biases, has_proj):
    """The recorded forward of an RNN/LSTM/GRU module (PyTorch's flat weight order)."""
    weights = _weight_groups(flat, num_layers * (2 if bidirectional else 1), has_biases, has_proj)
    if h0 is None:
        hx = None
    elif mode == "LSTM":
        hx = (h0, c0)
    else:
        hx = h0
    if key is not None:
        key = jax.random.fold_in(key, counter)
    output, state = F.rnn(input, hx, weights, mode=mode, num_layers=num_layers, bidirectional=bidirectional,
                          batch_first=batch_first, dropout=dropout, training=training, key=key, lengths=lengths)
    if mode == "LSTM":
        return output, state[0], state[1]
    return output, state


class RNNBase(Module):
    """The shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU` (``torch.nn.RNNBase``).

    Parameters per layer ``k`` and direction (suffix ``_reverse`` for the backward one), in
    PyTorch's order: ``weight_ih_l{k}`` ``[G * hidden, input]``, ``weight_hh_l{k}``
    ``[G * hidden, hidden or proj_size]``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (with ``bias``),
    ``weight_hr_l{k}`` ``[proj_size, hidden]`` (LSTM with ``proj_size``). All start from
    ``U(±1/sqrt(hidden_size))``.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          UserWarning, stacklevel=3)
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive int, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = F._rnn.GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        num_directions = 2 if bidirectional else 1
        dtype = _dtype(dtype)
        bound = 1.0 / math.sqrt(hidden_size)
        generator = _random.default_generator
        self._flat_weights_names = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                shapes = [("weight_ih", (gate_size, layer_input)), ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                suffix = "_reverse" if direction == 1 else ""
                for stem, shape in shapes:
                    param_name = f"{stem}_l{layer}{suffix}"
                    setattr(self, param_name, Parameter._wrap(generator.uniform(-bound, bound, shape, dtype)))
                    self._flat_weights_names.append(param_name)

    @property
    def _flat_weights(self):
        return [self._parameters[name] for name in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters grouped per layer and direction, as ``torch.nn.RNNBase.all_weights``."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        flat = self._flat_weights
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def flatten_parameters(self) -> None:
        """A no-op, kept for PyTorch programs that call it: PyTorch compacts its weights into one
        cuDNN buffer here; rustorch passes every weight to one compiled program as is, so there is
        nothing to compact."""

    def reset_parameters(self) -> None:
        """Redraw every parameter from ``U(±1/sqrt(hidden_size))``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            param._assign(_random.default_generator.uniform(-bound, bound, param.shape, param.dtype))

    def _check_hidden(self, value, name, expected):
        if not isinstance(value, Variable):
            raise TypeError(f"{type(self).__name__}: expected {name} to be a rustorch tensor, got {type(value).__name__}")
        if tuple(value.shape) != tuple(expected):
            raise RuntimeError(f"Expected {name} size {tuple(expected)}, got {tuple(value.shape)}")

    def forward(self, input, hx=None):
        from ..nn.utils import rnn as rnn_utils

        packed = isinstance(input, rnn_utils.PackedSequence)
        lengths = None
        if packed:
            source = input
            input, lengths_var = rnn_utils.pad_packed_sequence(source)
            lengths = np.asarray(lengths_var).astype(np.int32)
        else:
            _expect(self, input, (2, 3), "[L, N, H_in], [N, L, H_in] with batch_first, or unbatched [L, H_in]")
        batched = input.ndim == 3
        batch = (input.shape[0] if self.batch_first and not packed else input.shape[1]) if batched else None
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")
        num_directions = 2 if self.bidirectional else 1
        lead = (self.num_layers * num_directions,) + ((batch,) if batched else ())
        out_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        h0 = c0 = None
        if hx is not None:
            if self.mode == "LSTM":
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError("LSTM: hx must be a tuple (h_0, c_0)")
                h0, c0 = hx
                self._check_hidden(h0, "hidden[0]", lead + (out_size,))
                self._check_hidden(c0, "hidden[1]", lead + (self.hidden_size,))
            else:
                h0 = hx
                self._check_hidden(h0, "hidden", lead + (out_size,))
        dropout_active = self.training and self.dropout > 0 and self.num_layers > 1
        key = counter = None
        if dropout_active:
            generator = _random.default_generator
            key, counter = generator.key, generator.next_counter()
        outs = apply(_rnn_op, input, h0, c0, lengths, key, counter, *self._flat_weights, mode=self.mode,
                     num_layers=self.num_layers, bidirectional=self.bidirectional,
                     batch_first=self.batch_first and not packed, dropout=self.dropout,
                     training=bool(dropout_active), has_biases=bool(self.bias), has_proj=self.proj_size > 0)
        output = outs[0]
        if packed:
            output = rnn_utils._repack_like(output, source)
        if self.mode == "LSTM":
            return output, (outs[1], outs[2])
        return output, outs[1]

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first is not False:
            text += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            text += f", bidirectional={self.bidirectional}"
        return text


class RNN(RNNBase):
    """Elman RNN, ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, as
    ``torch.nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``. ``forward(input, hx=None)`` returns
    ``(output, h_n)``; ``input`` may be a :class:`~rustorch.nn.utils.rnn.PackedSequence`."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
            kwargs["nonlinearity"] = nonlinearity
        nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", *args, **kwargs)

    def extra_repr(self):
        text = super().extra_repr()
        return text + (", nonlinearity='relu'" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """Long short-term memory, as ``torch.nn.LSTM(input_size, hidden_size, num_layers=1,
    bias=True, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0)``.

    Gates in PyTorch's order (input, forget, cell, output). ``forward(input, (h_0, c_0)=None)``
    returns ``(output, (h_n, c_n))``; ``h`` has ``proj_size`` features when ``proj_size > 0``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit, as ``torch.nn.GRU(input_size, hidden_size, num_layers=1, bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)``: gates reset, update, new (PyTorch's
    order), ``n = tanh(x_n + r * (h W_hn^T + b_hn))``, ``h' = (1 - z) n + z h``."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


def _lstm_cell_op(input, h, c, w_ih, w_hh, b_ih, b_hh):
    return F.lstm_cell(input, None if h is None else (h, c), w_ih, w_hh, b_ih, b_hh)


class RNNCellBase(Module):
    """Parameters ``weight_ih`` ``[G * hidden, input]``, ``weight_hh`` ``[G * hidden, hidden]``,
    ``bias_ih``, ``bias_hh``, all ``U(±1/sqrt(hidden_size))``, as ``torch.nn.RNNCellBase``."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dtype = _dtype(dtype)
        bound = 1.0 / math.sqrt(hidden_size)
        uniform = _random.default_generator.uniform
        gate_size = self._gates * hidden_size
        self.weight_ih = Parameter._wrap(uniform(-bound, bound, (gate_size, input_size), dtype))
        self.weight_hh = Parameter._wrap(uniform(-bound, bound, (gate_size, hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter._wrap(uniform(-bound, bound, (gate_size,), dtype))
            self.bias_hh = Parameter._wrap(uniform(-bound, bound, (gate_size,), dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            param._assign(_random.default_generator.uniform(-bound, bound, param.shape, param.dtype))

    def _check(self, input, hx, name="hidden"):
        _expect(self, input, (1, 2), "[N, input_size] or unbatched [input_size]")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}")
        if hx is not None:
            expected = input.shape[:-1] + (self.hidden_size,)
            if tuple(hx.shape) != expected:
                raise RuntimeError(f"{type(self).__name__}: expected {name} of shape {expected}, got {tuple(hx.shape)}")

    def extra_repr(self):
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        return text


class RNNCell(RNNCellBase):
    """One Elman step, as ``torch.nn.RNNCell(input_size, hidden_size, bias=True,
    nonlinearity='tanh')``; ``forward(input, hx=None)`` returns ``h'``."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        self._check(input, hx)
        cell = F.rnn_tanh_cell if self.nonlinearity == "tanh" else F.rnn_relu_cell
        return apply(cell, input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(RNNCellBase):
    """One LSTM step, as ``torch.nn.LSTMCell(input_size, hidden_size, bias=True)``;
    ``forward(input, (h, c)=None)`` returns ``(h', c')``."""

    _gates = 4

    def forward(self, input, hx=None):
        h = c = None
        if hx is not None:
            h, c = hx
            self._check(input, c, "cx")
        self._check(input, h, "hx")
        return apply(_lstm_cell_op, input, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(RNNCellBase):
    """One GRU step, as ``torch.nn.GRUCell(input_size, hidden_size, bias=True)``;
    ``forward(input, hx=None)`` returns ``h'``."""

    _gates = 3

    def forward(self, input, hx=None):
        self._check(input, hx)
        return apply(F.gru_cell, input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
