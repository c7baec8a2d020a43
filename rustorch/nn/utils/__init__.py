"""``rustorch.nn.utils``: gradient clipping and parameter/vector conversion, as
``torch.nn.utils``.

The clipping functions read the gradients that ``backward()`` left on the parameters and write
the clipped ones back in place, with one compiled program per set of gradient shapes: the
limits (``max_norm``, ``clip_value``) are arguments of that program, so changing them never
recompiles, and nothing waits for the values unless ``error_if_nonfinite=True`` asks to check
them.
"""
from __future__ import annotations

import functools
from typing import Iterable, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from ...stateful import _graph
from ...stateful._tensor_methods import _vector_norm
from ...stateful._tensor_functions import cat
from ...stateful._variable import Variable

__all__ = [
    "clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
    "parameters_to_vector", "vector_to_parameters",
]

_Tensors = Union[Variable, Iterable[Variable]]


def _as_list(tensors) -> list:
    if isinstance(tensors, Variable):
        return [tensors]
    return list(tensors)


def _norm_order(norm_type) -> float:
    norm_type = float(norm_type)
    if norm_type != norm_type:
        raise ValueError("norm_type must not be NaN")
    return norm_type


def _total_norm(arrays, norm_type):
    """PyTorch's order: the norm of the stacked per-tensor norms."""
    norms = [_vector_norm(a, ord=norm_type, axis=None, keepdims=False) for a in arrays]
    dtype = norms[0].dtype
    return _vector_norm(jnp.stack([n.astype(dtype) for n in norms]), ord=norm_type, axis=None, keepdims=False)


def _scaled(arrays, max_norm, total):
    # torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1, always applied.
    coef = jnp.minimum(max_norm.astype(total.dtype) / (total + 1e-6), 1.0)
    return tuple(a * coef.astype(a.dtype) for a in arrays)


@functools.partial(jax.jit, static_argnames=("norm_type",))
def _norm_program(arrays, *, norm_type):
    _graph.count_compile()
    return _total_norm(arrays, norm_type)


@functools.partial(jax.jit, static_argnames=("norm_type",))
def _clip_norm_program(arrays, max_norm, *, norm_type):
    _graph.count_compile()
    total = _total_norm(arrays, norm_type)
    return total, _scaled(arrays, max_norm, total)


@jax.jit
def _scale_program(arrays, max_norm, total):
    _graph.count_compile()
    return _scaled(arrays, max_norm, total)


@jax.jit
def _clip_value_program(arrays, clip_value):
    _graph.count_compile()
    return tuple(jnp.clip(a, -clip_value.astype(a.dtype), clip_value.astype(a.dtype)) for a in arrays)


def _check_finite(total, norm_type, error_if_nonfinite):
    if error_if_nonfinite and not bool(jnp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
            "anyway, set `error_if_nonfinite=False`")


def _grads(parameters) -> list:
    return [p.grad for p in _as_list(parameters) if p.grad is not None]


def get_total_norm(tensors: _Tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: Optional[bool] = None) -> Variable:
    """The ``norm_type``-norm of all ``tensors`` together (the norm of their norms), as
    ``torch.nn.utils.get_total_norm``; 0 for no tensors.

    Raises:
        RuntimeError: a non-finite total with ``error_if_nonfinite``.
    """
    norm_type = _norm_order(norm_type)
    tensors = _as_list(tensors)
    if not tensors:
        return Variable._wrap(jnp.zeros((), jnp.float32))
    total = _norm_program(tuple(t._concrete() for t in tensors), norm_type=norm_type)
    _check_finite(total, norm_type, error_if_nonfinite)
    return Variable._wrap(total)


def clip_grads_with_norm_(parameters: _Tensors, max_norm: float, total_norm, foreach: Optional[bool] = None) -> None:
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))`` in place, as
    ``torch.nn.utils.clip_grads_with_norm_``."""
    grads = _grads(parameters)
    if not grads:
        return
    total = total_norm._concrete() if isinstance(total_norm, Variable) else jnp.asarray(total_norm, jnp.float32)
    scaled = _scale_program(tuple(g._concrete() for g in grads), jnp.asarray(max_norm, jnp.float32), total)
    for grad, value in zip(grads, scaled):
        grad._assign(value)


def clip_grad_norm_(parameters: _Tensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Variable:
    """Scale the gradients of ``parameters`` in place so that their total norm is at most
    ``max_norm``, as ``torch.nn.utils.clip_grad_norm_``.

    ``total = norm([norm(g, p) for g in grads], p)`` (``p = norm_type``, ``inf`` for the max
    magnitude) and every gradient is multiplied by ``min(1, max_norm / (total + 1e-6))``.
    Parameters without a gradient are skipped.

    Args:
        parameters: a tensor or an iterable of tensors (``model.parameters()``).
        max_norm: the largest allowed total norm.
        norm_type: the order of the norms (default 2).
        error_if_nonfinite: raise when the total norm is NaN or infinite (reads the value).
        foreach: accepted; the clipping is always one fused program.

    Returns:
        The total norm before clipping, a 0-d tensor.

    Raises:
        RuntimeError: a non-finite total norm with ``error_if_nonfinite``.
    """
    norm_type = _norm_order(norm_type)
    grads = _grads(parameters)
    if not grads:
        return Variable._wrap(jnp.zeros((), jnp.float32))
    total, scaled = _clip_norm_program(tuple(g._concrete() for g in grads), jnp.asarray(max_norm, jnp.float32),
                                       norm_type=norm_type)
    _check_finite(total, norm_type, error_if_nonfinite)
    for grad, value in zip(grads, scaled):
        grad._assign(value)
    return Variable._wrap(total)


def clip_grad_norm(parameters: _Tensors, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: Optional[bool] = None) -> Variable:
    """Deprecated alias of :func:`clip_grad_norm_`, as in PyTorch."""
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: _Tensors, clip_value: float, foreach: Optional[bool] = None) -> None:
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place, as
    ``torch.nn.utils.clip_grad_value_``."""
    grads = _grads(parameters)
    if not grads:
        return
    clipped = _clip_value_program(tuple(g._concrete() for g in grads), jnp.asarray(float(clip_value), jnp.float32))
    for grad, value in zip(grads, clipped):
        grad._assign(value)


def parameters_to_vector(parameters: _Tensors) -> Variable:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable), as
    ``torch.nn.utils.parameters_to_vector``."""
    return cat([p.reshape(-1) for p in _as_list(parameters)])


def vector_to_parameters(vec: Variable, parameters: _Tensors) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters (in place), as
    ``torch.nn.utils.vector_to_parameters``.

    Raises:
        TypeError: ``vec`` is not a tensor. RuntimeError: ``vec`` has the wrong length.
    """
    if not isinstance(vec, Variable):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = _as_list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise RuntimeError(f"vector_to_parameters: vec has shape {tuple(vec.shape)}, the parameters hold {total} "
                           "values")
    values = vec._concrete()
    pointer = 0
    for param in params:
        n = param.numel()
        param._assign(values[pointer:pointer + n].reshape(param.shape))
        pointer += n

from . import rnn  # noqa: E402  (pack_padded_sequence, pad_sequence, PackedSequence, ...)
