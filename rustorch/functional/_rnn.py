"""Recurrent layers (Elman RNN, LSTM, GRU) with PyTorch's gate order, layouts and numerics.

Each layer and direction runs as one ``lax.scan`` over time (compile time does not grow with
the sequence length); the input projection ``x W_ih^T + b_ih`` of all steps is one matmul
before the scan, so the loop body holds only the recurrent matmul and the gate arithmetic.

Weights follow PyTorch's ``weight_ih_l{k}`` layout: ``w_ih`` is ``[G * hidden, input]`` and
``w_hh`` is ``[G * hidden, hidden_out]`` with the gates stacked in PyTorch's order (LSTM:
input, forget, cell, output; GRU: reset, update, new), ``G`` = 1, 4 or 3.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from ._conv import check_floating
from ._dropout import dropout as _dropout

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNWeights(NamedTuple):
    """The weights of one layer and direction: ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` and (LSTM with ``proj_size``) ``weight_hr_l{k}``; absent
    biases and projection are None. A NamedTuple, so it is a JAX pytree."""

    w_ih: jax.Array
    w_hh: jax.Array
    b_ih: Optional[jax.Array] = None
    b_hh: Optional[jax.Array] = None
    w_hr: Optional[jax.Array] = None


def _linear(x, w, b):
    y = jnp.matmul(x, w.T)
    return y if b is None else y + b


# --------------------------------------------------------------------------------- cells
# Each step function takes the precomputed input projection of one step.

def _step(mode, xp, state, w: RNNWeights):
    if mode == "LSTM":
        h, c = state
        gates = xp + _linear(h, w.w_hh, w.b_hh)
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
        c = f * c + i * g
        h = o * jnp.tanh(c)
        if w.w_hr is not None:
            h = jnp.matmul(h, w.w_hr.T)
        return h, c
    if mode == "GRU":
        gh = _linear(state, w.w_hh, w.b_hh)
        xr, xz, xn = jnp.split(xp, 3, axis=-1)
        hr, hz, hn = jnp.split(gh, 3, axis=-1)
        r = jax.nn.sigmoid(xr + hr)
        z = jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        return n + z * (state - n)  # PyTorch's form of (1 - z) * n + z * h
    pre = xp + _linear(state, w.w_hh, w.b_hh)
    return jnp.tanh(pre) if mode == "RNN_TANH" else jax.nn.relu(pre)


def _check_cell(op, input, hx, w_ih, w_hh, gates):
    check_floating(op, "input", input)
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: expected input to be 1-D or 2-D, got {input.ndim}-D tensor")
    if input.shape[-1] != w_ih.shape[1]:
        raise ValueError(f"{op}: input has inconsistent input_size: got {input.shape[-1]} expected {w_ih.shape[1]}")
    if w_ih.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{op}: weight_ih has {w_ih.shape[0]} rows, expected {gates} * hidden_size = "
                         f"{gates * w_hh.shape[1]}")


def _cell(mode, op, input, hx, w_ih, w_hh, b_ih, b_hh):
    gates = GATES[mode]
    _check_cell(op, input, hx, w_ih, w_hh, gates)
    hidden = w_hh.shape[1]
    batched = input.ndim == 2
    x = input if batched else input[None]
    if hx is None:
        zeros = jnp.zeros((x.shape[0], hidden), input.dtype)
        state = (zeros, zeros) if mode == "LSTM" else zeros
    else:
        state = tuple(s if batched else s[None] for s in hx) if mode == "LSTM" else (hx if batched else hx[None])
    out = _step(mode, _linear(x, w_ih, b_ih), state, RNNWeights(w_ih, w_hh, b_ih, b_hh))
    if not batched:
        out = tuple(o[0] for o in out) if mode == "LSTM" else out[0]
    return out


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of ``torch.nn.RNNCell`` (tanh): ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``.
    ``input`` is ``[N, input_size]`` or unbatched ``[input_size]``; ``hx`` None means zeros."""
    return _cell("RNN_TANH", "rnn_tanh_cell", input, hx, w_ih, w_hh, b_ih, b_hh)


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """:func:`rnn_tanh_cell` with ReLU: ``h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    return _cell("RNN_RELU", "rnn_relu_cell", input, hx, w_ih, w_hh, b_ih, b_hh)


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of ``torch.nn.LSTMCell``; ``hx`` is ``(h, c)`` or None (zeros). Returns ``(h', c')``:
    ``i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)``, ``c' = σ(f) c + σ(i) tanh(g)``,
    ``h' = σ(o) tanh(c')``."""
    return _cell("LSTM", "lstm_cell", input, hx, w_ih, w_hh, b_ih, b_hh)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step of ``torch.nn.GRUCell``: ``r = σ(x_r + h_r)``, ``z = σ(x_z + h_z)``,
    ``n = tanh(x_n + r * h_n)``, ``h' = (1 - z) n + z h`` (``x_*`` and ``h_*`` the input and hidden
    projections with their biases)."""
    return _cell("GRU", "gru_cell", input, hx, w_ih, w_hh, b_ih, b_hh)


# ------------------------------------------------------------------------------ sequences

def _reverse_within_lengths(x, lengths):
    """Each batch column's first ``lengths[b]`` steps reversed, the padding left in place
    (an involution: applying it twice is the identity)."""
    steps = x.shape[0]
    t = lax.broadcasted_iota(lengths.dtype, (steps, lengths.shape[0]), 0)
    index = jnp.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    index = index.reshape(index.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, index, axis=0)


def _run_direction(mode, x, state, w: RNNWeights, reverse, lengths):
    """One layer in one direction over time-major ``x`` [T, B, I]; returns ``(outputs, state)``."""
    if reverse:
        x = x[::-1] if lengths is None else _reverse_within_lengths(x, lengths)
    projected = _linear(x, w.w_ih, w.b_ih)  # all steps in one matmul
    if lengths is None:
        def body(carry, xp):
            new = _step(mode, xp, carry, w)
            return new, (new[0] if mode == "LSTM" else new)

        state, outputs = lax.scan(body, state, projected)
    else:
        steps = x.shape[0]
        valid = jnp.arange(steps, dtype=lengths.dtype)[:, None] < lengths[None, :]  # [T, B]

        def body(carry, inputs):
            xp, keep = inputs
            new = _step(mode, xp, carry, w)
            keep = keep[:, None]
            new = jax.tree_util.tree_map(lambda n, o: jnp.where(keep, n, o), new, carry)
            h = new[0] if mode == "LSTM" else new
            return new, jnp.where(keep, h, jnp.zeros((), h.dtype))

        state, outputs = lax.scan(body, state, (projected, valid))
    if reverse:
        outputs = outputs[::-1] if lengths is None else _reverse_within_lengths(outputs, lengths)
    return outputs, state


def _check_rnn(mode, input, weights, num_layers, num_directions, batch_first, lengths):
    if mode not in MODES:
        raise ValueError(f"rnn: mode must be one of {MODES}, got {mode!r}")
    check_floating("rnn", "input", input)
    if input.ndim not in (2, 3):
        raise ValueError(f"rnn: expected input to be 2-D (unbatched [L, H_in]) or 3-D, got {input.ndim}-D "
                         f"input of shape {tuple(input.shape)}")
    if len(weights) != num_layers * num_directions:
        raise ValueError(f"rnn: expected {num_layers * num_directions} weight groups (num_layers * "
                         f"num_directions), got {len(weights)}")
    if input.shape[-1] != weights[0].w_ih.shape[1]:
        raise ValueError(f"rnn: input.size(-1) must be equal to input_size. Expected {weights[0].w_ih.shape[1]}, "
                         f"got {input.shape[-1]}")
    if lengths is not None and input.ndim != 3:
        raise ValueError("rnn: lengths require batched 3-D input")


def rnn(input, hx, weights: Sequence[RNNWeights], *, mode: str, num_layers: int = 1,
        bidirectional: bool = False, batch_first: bool = False, dropout: float = 0.0,
        training: bool = False, key=None, lengths=None):
    """A multi-layer recurrent network over a sequence: ``torch.nn.RNN``/``LSTM``/``GRU``'s forward.

    Args:
        input: ``[L, N, H_in]`` (``[N, L, H_in]`` with ``batch_first``) or unbatched ``[L, H_in]``.
        hx: initial hidden state ``[num_layers * D, N, H_out]`` (unbatched: without ``N``), for
            LSTM a pair ``(h0, c0)`` (``c0`` has ``hidden_size`` features); None means zeros.
        weights: one :class:`RNNWeights` per layer and direction, in PyTorch's order
            (layer 0 forward, layer 0 reverse, layer 1 forward, ...).
        mode: ``'RNN_TANH'``, ``'RNN_RELU'``, ``'LSTM'`` or ``'GRU'``.
        dropout: dropout probability on the outputs of every layer but the last, in training
            mode; ``key`` (a ``jax.random`` key) draws the masks.
        lengths: optional ``[N]`` integer lengths (packed sequences): step ``t`` of sequence ``b``
            exists when ``t < lengths[b]``; outputs beyond it are zero and the final state is the
            one after the last existing step (for the reverse direction, after step 0).

    Returns:
        ``(output, h_n)``, or for LSTM ``(output, (h_n, c_n))``; ``output`` is
        ``[L, N, D * H_out]`` (batch-first or unbatched as the input), ``h_n`` as ``hx``.
    """
    num_directions = 2 if bidirectional else 1
    _check_rnn(mode, input, weights, num_layers, num_directions, batch_first, lengths)
    batched = input.ndim == 3
    x = input if batched else input[:, None]
    if batched and batch_first:
        x = jnp.swapaxes(x, 0, 1)
    batch = x.shape[1]
    hidden = weights[0].w_hh.shape[0] // GATES[mode]
    out_size = weights[0].w_hh.shape[1]
    is_lstm = mode == "LSTM"
    if hx is None:
        h0 = jnp.zeros((num_layers * num_directions, batch, out_size), input.dtype)
        c0 = jnp.zeros((num_layers * num_directions, batch, hidden), input.dtype) if is_lstm else None
    else:
        h0, c0 = hx if is_lstm else (hx, None)
        expected_rank = 3 if batched else 2
        for name, value, size in (("hx", h0, out_size), ("cx", c0, hidden)):
            if value is None:
                continue
            want = (num_layers * num_directions,) + ((batch,) if batched else ()) + (size,)
            if value.ndim != expected_rank or tuple(value.shape) != want:
                raise ValueError(f"rnn: expected {name} of size {list(want)}, got {list(value.shape)}"
                                 + ("" if value.ndim == expected_rank else
                                    f" (for {'batched 3-D' if batched else 'unbatched 2-D'} input, "
                                    f"{name} should be {expected_rank}-D)"))
        if not batched:
            h0 = h0[:, None]
            c0 = None if c0 is None else c0[:, None]
    if dropout and training and num_layers > 1 and key is None:
        raise ValueError("rnn: a PRNG key is required for dropout between layers in training mode")
    h_n, c_n = [], []
    layer_input = x
    for layer in range(num_layers):
        outputs = []
        for direction in range(num_directions):
            index = layer * num_directions + direction
            state = (h0[index], c0[index]) if is_lstm else h0[index]
            out, state = _run_direction(mode, layer_input, state, weights[index], direction == 1, lengths)
            outputs.append(out)
            if is_lstm:
                h_n.append(state[0])
                c_n.append(state[1])
            else:
                h_n.append(state)
        layer_input = outputs[0] if num_directions == 1 else jnp.concatenate(outputs, axis=-1)
        if dropout and training and layer < num_layers - 1:
            layer_input = _dropout(layer_input, dropout, key=jax.random.fold_in(key, layer), training=True)
    output = layer_input
    h_n = jnp.stack(h_n)
    c_n = jnp.stack(c_n) if is_lstm else None
    if batched and batch_first:
        output = jnp.swapaxes(output, 0, 1)
    if not batched:
        output, h_n = output[:, 0], h_n[:, 0]
        c_n = None if c_n is None else c_n[:, 0]
    return (output, (h_n, c_n)) if is_lstm else (output, h_n)
