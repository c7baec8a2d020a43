"""Autocast at record time: PyTorch's per-op cast policy applied where a facade op is recorded.

:func:`rustorch.autocast` turns on a thread-local state (:data:`state`). While it is active,
:func:`~rustorch.stateful._variable.apply` hands each op to :func:`record`, which looks the op
function up in the policy table of the backend's device type and records the casts it asks for
as ordinary ``_cast`` nodes before the op:

* ``lower``: floating inputs (float64 excepted, as in PyTorch) are cast to the autocast dtype
  (matmul, linear, convolutions, addmm, einsum, attention, recurrent cells).
* ``fp32``: floating inputs (float64 excepted) are cast to float32 (losses everywhere; on CUDA
  also softmax, log_softmax, exp, log, pow, sums, layer/group norm, ...).
* ``promote``: floating inputs are cast to the widest floating input dtype.
* ``keep``: the op handles mixed precision itself (batch norm computes half-precision input
  with float32 statistics and returns the input's dtype).
* ``input``: the op runs in float32 and its first output is cast back to the dtype of its
  first input (PyTorch's CPU layer/group norm return a bfloat16 input's dtype).
* ``banned``: PyTorch refuses it under CUDA autocast (``binary_cross_entropy``).

Ops not in the table run in their inputs' dtype; when their floating inputs mix dtypes (a
bfloat16 linear output added to a float32 residual), they are promoted to the widest one, as
PyTorch's type promotion does. Casts are differentiable, so the gradient of a float32
parameter used by a bfloat16 matmul comes back in float32. Autocast changes programs only
through the cast nodes it records: the same model recorded with and without autocast gives two
programs, each compiled once.

The tables follow ``aten/src/ATen/autocast_mode.cpp`` (CPU: ``TORCH_LIBRARY_IMPL(aten,
AutocastCPU)``; CUDA: ``AT_FORALL_LOWER_PRECISION_FP``/``AT_FORALL_FP32``/``..._SET_OPT_DTYPE``/
``AT_FORALL_PROMOTE``), mapped onto the functions the facade records.
"""
from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _config
from . import _channels_last

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


class _State(threading.local):
    """Per thread: the autocast setting of each device type, and the one in force for ops."""

    def __init__(self):
        self.settings = {"cpu": (False, np.dtype(jnp.bfloat16)), "cuda": (False, np.dtype(np.float16))}
        self.active = False   # autocast is on for the device type of this process's programs
        self.dtype = None     # the lower-precision dtype then
        self.device_type = "cpu"


state = _State()


_backend_kind = None


def backend_device_type() -> str:
    """The autocast device type of the programs this process records: ``'cuda'`` on a GPU
    backend, else ``'cpu'`` (the backend is fixed once JAX started it)."""
    global _backend_kind
    if _backend_kind is None:
        _backend_kind = "cpu" if _config.on_cpu() else "cuda"
    return _backend_kind


def set_setting(device_type: str, enabled: bool, dtype) -> tuple:
    """Set ``device_type``'s autocast setting for this thread; returns the previous one."""
    previous = state.settings[device_type]
    state.settings[device_type] = (bool(enabled), np.dtype(dtype))
    kind = backend_device_type()
    state.device_type = kind
    state.active, state.dtype = state.settings[kind]
    return previous


def _cast(x, *, dtype):
    """The recorded autocast conversion (a module-level op: a stable part of the program key)."""
    return lax.convert_element_type(x, dtype)


_channels_last.register_elementwise(_cast)

# ---------------------------------------------------------------------------- the tables

def _build_tables():
    from .. import functional as F
    from . import _image_layers, _layers, _nn_functional, _sequence, _tensor_functions, _tensor_methods
    from . import _transformer, _variable

    def found(module, *names):
        return [getattr(module, n) for n in names if hasattr(module, n)]

    matmul_like = [jnp.matmul, _tensor_methods._addmm, _tensor_functions._einsum]
    convs = found(F, "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    layers = [F.linear, *convs, *found(F, "prelu", "gru_cell"), _transformer._sdpa_op, _transformer._mha_op,
              _sequence._lstm_cell_op, _sequence._rnn_op]
    losses = found(F, "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                   "kl_div", "margin_ranking_loss", "cosine_embedding_loss", "triplet_margin_loss",
                   "hinge_embedding_loss", "poisson_nll_loss", "soft_margin_loss", "multi_margin_loss",
                   "multilabel_margin_loss", "ctc_loss") + [_nn_functional._bce_with_logits]
    keep = [_layers._batch_norm_train, _layers._batch_norm_eval, _layers._batch_norm_stateless,
            _image_layers._instance_norm, _image_layers._instance_norm_update,
            _tensor_functions._concatenate, _tensor_functions._stack]  # these two promote themselves
    casts = [_cast, _variable._astype]
    cpu = {op: "lower" for op in layers + matmul_like + [_tensor_functions._tensordot]}
    cpu.update({op: "fp32" for op in losses + found(F, "binary_cross_entropy", "cdist", "max_pool3d",
                                                    "avg_pool3d", "adaptive_avg_pool3d")})
    cpu.update({_tensor_methods._prod: "fp32", _tensor_methods._trace: "fp32"})
    cpu.update({op: "input" for op in (_sequence._layer_norm_op, _sequence._group_norm_op)})
    cuda = {op: "lower" for op in layers + matmul_like}
    fp32_cuda = losses + found(F, "cosine_similarity", "pdist", "cdist", "softplus", "softmax", "log_softmax",
                               "logsumexp") + [
        jnp.exp, jnp.expm1, jnp.log, jnp.log10, jnp.log2, jnp.log1p, jnp.reciprocal, jnp.arccos, jnp.arcsin,
        jnp.cosh, jnp.sinh, jnp.tan, jnp.power, lax.rsqrt, jnp.sum, _variable._pow_scalar,
        _variable._softmax, _variable._log_softmax, _sequence._layer_norm_op, _sequence._group_norm_op,
        _sequence._rms_norm_op] + found(_tensor_methods, "_sum_dtype", "_prod", "_cumsum", "_cumprod",
                                        "_logsumexp", "_vector_norm", "_rsqrt")
    cuda.update({op: "fp32" for op in fp32_cuda})
    cuda.update({op: "promote" for op in (_tensor_methods._addcmul, _tensor_methods._addcdiv,
                                          _tensor_functions._tensordot, jnp.arctan2)})
    for table in (cpu, cuda):
        table.update({op: "keep" for op in keep})
        table.update({op: "pass" for op in casts})
    cuda.update({op: "banned" for op in found(F, "binary_cross_entropy")})
    return {"cpu": cpu, "cuda": cuda}


_tables = None


def policy(op, device_type: str | None = None) -> str | None:
    """The cast policy of a recorded op function under autocast (None: not in the table)."""
    global _tables
    if _tables is None:
        _tables = _build_tables()
    return _tables[device_type or state.device_type].get(op)


# ------------------------------------------------------------------------------ recording

_floating: dict = {}  # dtype -> the dtype when it is floating, else None


def _floating_dtype(value):
    """The floating dtype of an array operand; None for other operands (Python numbers stay
    weakly typed, integer, bool and PRNG key arrays are never cast)."""
    if value is None or isinstance(value, (bool, int, float)):
        return None
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return None
    try:
        return _floating[dtype]
    except (KeyError, TypeError):
        pass
    try:
        result = np.dtype(dtype)
    except TypeError:
        result = None
    if result is not None and (jax.dtypes.issubdtype(result, jax.dtypes.extended)
                               or not jnp.issubdtype(result, jnp.floating)):
        result = None
    try:
        _floating[dtype] = result
    except TypeError:
        pass
    return result


def _cast_all(apply, inputs, target, skip_double):
    out = []
    for value in inputs:
        dtype = _floating_dtype(value)
        if dtype is None or dtype == target or (skip_double and dtype == _FLOAT64):
            out.append(value)
        else:
            out.append(apply(_cast, value, dtype=target))
    return out


def _widest(dtypes):
    """PyTorch's promotion of floating dtypes: the widest; bfloat16 with float16 gives float32."""
    widest = dtypes[0]
    for dtype in dtypes[1:]:
        if dtype.itemsize > widest.itemsize:
            widest = dtype
        elif dtype.itemsize == widest.itemsize and dtype != widest:
            widest = _FLOAT32
    return widest


_BANNED = ("torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
           "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
           "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
           "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
           "safe to autocast.")


def record(apply, op, inputs, static):
    """Record ``op(*inputs, **static)`` through ``apply`` with the autocast casts of ``op``'s
    policy (see the module docstring). Called by ``apply`` while :data:`state` is active;
    nested ``apply`` calls (the casts, the op itself) run with autocast suspended."""
    kind = policy(op)
    if kind == "pass" or kind == "keep":
        return _suspended(apply, op, inputs, static)
    if kind == "banned":
        raise RuntimeError(_BANNED)
    state.active = False
    try:
        if kind == "lower":
            inputs = _cast_all(apply, inputs, state.dtype, skip_double=True)
        elif kind == "fp32":
            inputs = _cast_all(apply, inputs, _FLOAT32, skip_double=True)
        else:
            dtypes = [d for d in map(_floating_dtype, inputs) if d is not None]
            if kind == "input" and dtypes and dtypes[0] != _FLOAT32 and dtypes[0] != _FLOAT64:
                first = dtypes[0]
                outs = apply(op, *_cast_all(apply, inputs, _FLOAT32, skip_double=True), **static)
                if isinstance(outs, tuple):
                    return (apply(_cast, outs[0], dtype=first),) + outs[1:]
                return apply(_cast, outs, dtype=first)
            if len(set(dtypes)) > 1:  # promote, and the default for mixed floating inputs
                inputs = _cast_all(apply, inputs, _widest(dtypes), skip_double=False)
        return apply(op, *inputs, **static)
    finally:
        state.active = True


def _suspended(apply, op, inputs, static):
    state.active = False
    try:
        return apply(op, *inputs, **static)
    finally:
        state.active = True
