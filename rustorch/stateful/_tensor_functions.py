"""Tensor-creating and tensor-combining functions of the flat namespace (``rustorch.cat``,
``rustorch.zeros``, ``rustorch.randn``, ...), with PyTorch's signatures."""
from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from . import _random
from ._variable import Variable, _canonical_dtype, _dims_from_args, _to_array, apply


def _shape(size):
    return tuple(int(s) for s in _dims_from_args(size))


def _float_dtype(dtype):
    return np.dtype(np.float32) if dtype is None else _canonical_dtype(dtype)


def zeros(*size, dtype=None, requires_grad=False) -> Variable:
    """A tensor of zeros (float32 unless ``dtype``), as ``torch.zeros``."""
    return Variable._wrap(jnp.zeros(_shape(size), _float_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False) -> Variable:
    """A tensor of ones (float32 unless ``dtype``), as ``torch.ones``."""
    return Variable._wrap(jnp.ones(_shape(size), _float_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False) -> Variable:
    """A tensor filled with ``fill_value``, as ``torch.full``."""
    if dtype is None:
        dtype = np.float32 if isinstance(fill_value, float) else np.asarray(fill_value).dtype
    return Variable._wrap(jnp.full(_shape(size), fill_value, _canonical_dtype(dtype)), requires_grad)


def zeros_like(input, dtype=None, requires_grad=False) -> Variable:
    """A tensor of zeros with ``input``'s shape and (unless ``dtype``) dtype, as ``torch.zeros_like``."""
    return Variable._wrap(jnp.zeros(input.shape, dtype or input.dtype), requires_grad)


def ones_like(input, dtype=None, requires_grad=False) -> Variable:
    """A tensor of ones with ``input``'s shape and (unless ``dtype``) dtype, as ``torch.ones_like``."""
    return Variable._wrap(jnp.ones(input.shape, dtype or input.dtype), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False) -> Variable:
    """``torch.arange``: integers unless any bound is a float or ``dtype`` says otherwise."""
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    return Variable._wrap(_to_array(values, dtype if dtype is not None else (
        np.float32 if values.dtype.kind == "f" else values.dtype)), requires_grad)


def from_numpy(array: np.ndarray) -> Variable:
    """A tensor holding ``array``'s values (a copy: JAX arrays are immutable)."""
    return Variable._wrap(_to_array(array))


def randn(*size, dtype=None, generator=None, requires_grad=False) -> Variable:
    """Standard normal samples from the default generator, as ``torch.randn``."""
    key = (generator or _random.default_generator).next_key()
    return Variable._wrap(jax.random.normal(key, _shape(size), _float_dtype(dtype)), requires_grad)


def rand(*size, dtype=None, generator=None, requires_grad=False) -> Variable:
    """Uniform samples in [0, 1) from the default generator, as ``torch.rand``."""
    key = (generator or _random.default_generator).next_key()
    return Variable._wrap(jax.random.uniform(key, _shape(size), _float_dtype(dtype)), requires_grad)


def randint(low, high=None, size=(), dtype=None, generator=None) -> Variable:
    """Integers in [low, high) from the default generator, as ``torch.randint``."""
    if high is None:
        low, high = 0, low
    key = (generator or _random.default_generator).next_key()
    dtype = _canonical_dtype(np.int64 if dtype is None else dtype)
    return Variable._wrap(jax.random.randint(key, _shape(size), low, high, dtype))


def _concatenate(*arrays, axis):
    return jnp.concatenate(arrays, axis=axis)


def _stack(*arrays, axis):
    return jnp.stack(arrays, axis=axis)


def cat(tensors, dim: int = 0) -> Variable:
    """Concatenate along ``dim``, as ``torch.cat``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    return apply(_concatenate, *tensors, axis=dim % tensors[0].ndim)


def stack(tensors, dim: int = 0) -> Variable:
    """Stack along a new ``dim``, as ``torch.stack``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack(): expected a non-empty list of Tensors")
    return apply(_stack, *tensors, axis=dim % (tensors[0].ndim + 1))


def where(condition, input, other) -> Variable:
    """``condition ? input : other`` elementwise, as ``torch.where``."""
    return apply(jnp.where, condition, input, other)


def _method(name, doc):
    def function(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = name
    function.__doc__ = doc
    return function


flatten = _method("flatten", "``torch.flatten(input, start_dim=0, end_dim=-1)``.")
argmax = _method("argmax", "``torch.argmax(input, dim=None, keepdim=False)``.")
max = _method("max", "``torch.max(input)`` or ``torch.max(input, dim, keepdim=False)`` -> (values, indices).")
sum = _method("sum", "``torch.sum(input, dim=None, keepdim=False)``.")
mean = _method("mean", "``torch.mean(input, dim=None, keepdim=False)``.")
exp = _method("exp", "``torch.exp(input)``: ``e ** x`` elementwise.")
log = _method("log", "``torch.log(input)``: the natural logarithm elementwise (``-inf`` at 0, NaN below).")
relu = _method("relu", "``torch.relu(input)``: ``max(0, x)`` elementwise, with gradient 0 at 0 as PyTorch.")
sigmoid = _method("sigmoid", "``torch.sigmoid(input)``: ``1 / (1 + exp(-x))`` elementwise.")
tanh = _method("tanh", "``torch.tanh(input)``: the hyperbolic tangent elementwise.")
softmax = _method("softmax", "``torch.softmax(input, dim)``.")
log_softmax = _method("log_softmax", "``torch.log_softmax(input, dim)``.")
matmul = _method("matmul", "``torch.matmul(input, other)``.")
