"""Tensor-creating and tensor-combining functions of the flat namespace (``rustorch.cat``,
``rustorch.zeros``, ``rustorch.randn``, ``rustorch.sin``, ...), with PyTorch's signatures.

Factories take ``dtype=``, ``device=`` and ``requires_grad=`` as PyTorch's do (``layout`` and
``pin_memory`` are accepted; JAX arrays have one layout and no pinned host memory). Functions
that PyTorch also offers as ``Tensor`` methods are generated from the table
:data:`METHOD_FUNCTIONS` and call the method (:mod:`._tensor_methods`).
"""
from __future__ import annotations

import builtins
import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from .. import _device
from . import _graph, _random
from ._tensor_methods import Size, _binary_call, _variable_device, result_type
from ._variable import Variable, _canonical_dtype, _dims_from_args, _to_array, apply, tensor

_FLOAT32 = np.dtype(np.float32)


def _shape(size):
    return tuple(int(s) for s in _dims_from_args(size))


def _float_dtype(dtype):
    return _FLOAT32 if dtype is None else _canonical_dtype(dtype)


def _made(array, device, requires_grad):
    return Variable._wrap(_device.place(array, device), requires_grad)


def _like_device(input, device):
    return device if device is not None else _variable_device(input)


# ------------------------------------------------------------------------------ factories

def zeros(*size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False) -> Variable:
    """A tensor of zeros (float32 unless ``dtype``), as ``torch.zeros``."""
    return _made(jnp.zeros(_shape(size), _float_dtype(dtype)), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False) -> Variable:
    """A tensor of ones (float32 unless ``dtype``), as ``torch.ones``."""
    return _made(jnp.ones(_shape(size), _float_dtype(dtype)), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False,
          memory_format=None) -> Variable:
    """``torch.empty``: uninitialised memory in PyTorch; zeros here (JAX arrays always hold values)."""
    return _made(jnp.zeros(_shape(size), _float_dtype(dtype)), device, requires_grad)


def _fill_dtype(fill_value, dtype):
    if dtype is not None:
        return _canonical_dtype(dtype)
    if isinstance(fill_value, builtins.bool):
        return np.dtype(np.bool_)
    if isinstance(fill_value, builtins.int):
        return _canonical_dtype(np.int64)
    if isinstance(fill_value, builtins.float):
        return _FLOAT32
    return _canonical_dtype(np.asarray(fill_value).dtype)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
         pin_memory=False) -> Variable:
    """A tensor filled with ``fill_value``, as ``torch.full`` (a Python float gives float32,
    an int int64 (JAX's default integer), a bool bool)."""
    return _made(jnp.full(_shape((size,)), fill_value, _fill_dtype(fill_value, dtype)), device, requires_grad)


def _like(fill, input, dtype, device, requires_grad):
    dtype = input.dtype if dtype is None else _canonical_dtype(dtype)
    return _made(fill(tuple(input.shape), dtype), _like_device(input, device), requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
               memory_format=None) -> Variable:
    """Zeros with ``input``'s shape, dtype and device (unless given), as ``torch.zeros_like``."""
    return _like(jnp.zeros, input, dtype, device, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
              memory_format=None) -> Variable:
    """Ones with ``input``'s shape, dtype and device (unless given), as ``torch.ones_like``."""
    return _like(jnp.ones, input, dtype, device, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
               memory_format=None) -> Variable:
    """``torch.empty_like`` (zeros: see :func:`empty`)."""
    return _like(jnp.zeros, input, dtype, device, requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
              memory_format=None) -> Variable:
    """``fill_value`` with ``input``'s shape, dtype and device (unless given)."""
    return _like(lambda shape, dt: jnp.full(shape, fill_value, dt), input, dtype, device, requires_grad)


@functools.partial(jax.jit, static_argnames=("sampler", "shape", "dtype"))
def _sample(key, counter, *, sampler, shape, dtype):
    return sampler(jax.random.fold_in(key, counter), shape, dtype)


def _draw(sampler, shape, dtype, device, generator, requires_grad):
    """A random tensor from ``generator``'s next draw, computed at once (one dispatch: folding
    the counter into the key and sampling are one compiled function per shape). Drawn eagerly
    rather than recorded, so data made once before a loop is an input of the loop's program,
    never a part of its first step's."""
    generator = generator or _random.default_generator
    sample = _sample(generator.key, generator.next_counter(), sampler=sampler, shape=shape, dtype=dtype)
    return _made(sample, device, requires_grad)


def randn(*size, dtype=None, device=None, generator=None, requires_grad=False, layout=None,
          pin_memory=False) -> Variable:
    """Standard normal samples from the default generator, as ``torch.randn``."""
    return _draw(jax.random.normal, _shape(size), _float_dtype(dtype), device, generator, requires_grad)


def rand(*size, dtype=None, device=None, generator=None, requires_grad=False, layout=None,
         pin_memory=False) -> Variable:
    """Uniform samples in [0, 1) from the default generator, as ``torch.rand``."""
    return _draw(jax.random.uniform, _shape(size), _float_dtype(dtype), device, generator, requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
               memory_format=None) -> Variable:
    """Standard normal samples with ``input``'s shape, dtype and device, as ``torch.randn_like``."""
    dtype = input.dtype if dtype is None else _canonical_dtype(dtype)
    return _draw(jax.random.normal, tuple(input.shape), dtype, _like_device(input, device), None, requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, layout=None,
              memory_format=None) -> Variable:
    """Uniform [0, 1) samples with ``input``'s shape, dtype and device."""
    dtype = input.dtype if dtype is None else _canonical_dtype(dtype)
    return _draw(jax.random.uniform, tuple(input.shape), dtype, _like_device(input, device), None, requires_grad)


def randint(low, high=None, size=(), *, dtype=None, device=None, generator=None, requires_grad=False,
            layout=None, pin_memory=False) -> Variable:
    """Integers in [low, high) from the default generator, as ``torch.randint(high, size)`` or
    ``torch.randint(low, high, size)``."""
    if high is None:
        low, high = 0, low
    elif isinstance(high, (tuple, list, Size)):
        low, high, size = 0, low, high
    dtype = _canonical_dtype(np.int64 if dtype is None else dtype)
    key = (generator or _random.default_generator).next_key()
    draw_dtype = dtype if dtype.kind in "iu" else _canonical_dtype(np.int64)
    values = jax.random.randint(key, _shape((size,)), low, high, draw_dtype).astype(dtype)
    return _made(values, device, requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False) -> Variable:
    """Integers in [low, high) with ``input``'s shape, as ``torch.randint_like``."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype, device=_like_device(input, device),
                   requires_grad=requires_grad)


def randperm(n, *, dtype=None, device=None, generator=None, requires_grad=False, layout=None,
             pin_memory=False) -> Variable:
    """A random permutation of ``0..n-1``, as ``torch.randperm``."""
    key = (generator or _random.default_generator).next_key()
    dtype = _canonical_dtype(np.int64 if dtype is None else dtype)
    return _made(jax.random.permutation(key, int(n)).astype(dtype), device, requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False) -> Variable:
    """Normal samples, as ``torch.normal``: ``normal(mean, std, size)`` with numbers, or
    ``normal(mean_tensor, std_tensor)`` elementwise (broadcast)."""
    key = (generator or _random.default_generator).next_key()
    if size is not None:
        noise = jax.random.normal(key, _shape((size,)), _float_dtype(dtype))
        return _made(noise * std + mean, device, requires_grad)
    shape = jnp.broadcast_shapes(np.shape(mean), np.shape(std))
    reference = mean if isinstance(mean, Variable) else std
    dtype = reference.dtype if isinstance(reference, Variable) else _float_dtype(dtype)
    noise = Variable._wrap(_device.place(jax.random.normal(key, shape, dtype), _like_device(reference, device)
                                         if isinstance(reference, Variable) else device))
    return noise * std + mean


def bernoulli(input, p=None, *, generator=None) -> Variable:
    """0/1 samples with probabilities ``input``, as ``torch.bernoulli``."""
    return input.bernoulli(p, generator=generator)


def multinomial(input, num_samples, replacement=False, *, generator=None) -> Variable:
    """Indices drawn from the rows of ``input`` (non-negative weights, 1-D or 2-D), as
    ``torch.multinomial``; without ``replacement`` no index repeats within a row.

    Raises:
        RuntimeError: ``num_samples`` larger than the number of categories without replacement,
            or a row whose weights are not positive and finite.
    """
    weights = jnp.asarray(input._concrete(), jnp.float32)
    if weights.ndim not in (1, 2):
        raise RuntimeError(f"multinomial(): prob_dist must be 1 or 2 dim, got {weights.ndim}")
    categories = weights.shape[-1]
    if not replacement and num_samples > categories:
        raise RuntimeError("multinomial(): cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    host = np.asarray(weights)
    if (host < 0).any() or not np.isfinite(host).all() or (host.sum(-1) <= 0).any():
        raise RuntimeError("multinomial(): probability tensor contains either `inf`, `nan` or element < 0, "
                           "or a row sums to zero")
    key = (generator or _random.default_generator).next_key()
    logits = jnp.log(weights)
    dtype = _canonical_dtype(np.int64)
    if replacement:
        shape = (num_samples,) + weights.shape[:-1]
        draws = jax.random.categorical(key, logits, axis=-1, shape=shape)
        draws = jnp.moveaxis(draws, 0, -1)
    else:
        # Gumbel top-k: sampling without replacement in proportion to the weights.
        gumbel = jax.random.gumbel(key, weights.shape, jnp.float32)
        _, draws = jax.lax.top_k(logits + gumbel, num_samples)
    return Variable._wrap(_device.place(draws.astype(dtype), _variable_device(input)))


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False, layout=None,
           pin_memory=False) -> Variable:
    """``torch.arange``: integers (int64, JAX's default integer) unless a bound or the step is
    a float (float32) or ``dtype`` says otherwise."""
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Variable) else v for v in (start, end, step))
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero")
    is_float = builtins.any(isinstance(v, builtins.float) for v in (start, end, step))
    if dtype is None:
        dtype = np.float32 if is_float else np.int64
    dtype = _canonical_dtype(dtype)
    # PyTorch computes the length in double precision, then start + i * step.
    length = builtins.max(math.ceil((end - start) / step), 0)
    values = start + np.arange(length, dtype=np.float64 if is_float else np.int64) * step
    return _made(jnp.asarray(values.astype(dtype)), device, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, layout=None) -> Variable:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive, as ``torch.linspace``
    (the second half is computed from ``end`` backwards, as PyTorch)."""
    steps = int(steps)
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    dtype = _float_dtype(dtype)
    if steps == 1:
        values = np.asarray([start], np.float64)
    else:
        step = (end - start) / (steps - 1)
        i = np.arange(steps, dtype=np.float64)
        halfway = steps // 2
        values = np.where(i < halfway, start + step * i, end - step * (steps - 1 - i))
    if dtype.kind in "iu":
        values = np.trunc(values)
    return _made(jnp.asarray(values.astype(dtype)), device, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False) -> Variable:
    """``base ** linspace(start, end, steps)``, as ``torch.logspace``."""
    exponents = np.asarray(linspace(start, end, steps, dtype=np.float64 if jax.config.jax_enable_x64
                                    else np.float32)._concrete(), np.float64)
    return _made(jnp.asarray((base ** exponents).astype(_float_dtype(dtype))), device, requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False) -> Variable:
    """An ``n x m`` identity matrix (``m = n`` by default), as ``torch.eye``."""
    return _made(jnp.eye(int(n), None if m is None else int(m), dtype=_float_dtype(dtype)), device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Variable:
    """``data`` as a tensor; a tensor of the right dtype and device is returned as is."""
    if isinstance(data, Variable):
        return data.to(dtype=dtype, device=device)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Variable:
    """A tensor holding ``array``'s values (a copy: JAX arrays are immutable)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return Variable._wrap(_to_array(array))


def scalar_tensor(value, *, dtype=None, device=None, requires_grad=False) -> Variable:
    """A 0-d float32 tensor holding ``value``, as ``torch.scalar_tensor``."""
    return _made(jnp.asarray(value, _float_dtype(dtype)), device, requires_grad)


def _legacy_constructor(name, dtype):
    def constructor(*args, device=None):
        if args and builtins.all(isinstance(a, (builtins.int, np.integer)) and not isinstance(a, builtins.bool)
                                 for a in args):
            return zeros(*args, dtype=dtype, device=device)  # sizes (torch leaves the memory uninitialised)
        if len(args) == 1 and isinstance(args[0], Size):
            return zeros(*args[0], dtype=dtype, device=device)
        if len(args) != 1:
            raise TypeError(f"{name}(): expected sizes or one sequence of data, got {args!r}")
        data = args[0]
        if isinstance(data, Variable):
            return data.to(dtype)
        return tensor(data, dtype=dtype, device=device)

    constructor.__name__ = constructor.__qualname__ = name
    constructor.__doc__ = (f"``torch.{name}``, the legacy constructor: ``{name}(*sizes)`` gives zeros, "
                           f"``{name}(data)`` a tensor of ``data``, with dtype {np.dtype(dtype).name}.")
    return constructor


FloatTensor = _legacy_constructor("FloatTensor", np.float32)
DoubleTensor = _legacy_constructor("DoubleTensor", np.float64)
HalfTensor = _legacy_constructor("HalfTensor", np.float16)
LongTensor = _legacy_constructor("LongTensor", np.int64)
IntTensor = _legacy_constructor("IntTensor", np.int32)
ShortTensor = _legacy_constructor("ShortTensor", np.int16)
ByteTensor = _legacy_constructor("ByteTensor", np.uint8)
CharTensor = _legacy_constructor("CharTensor", np.int8)
BoolTensor = _legacy_constructor("BoolTensor", np.bool_)


# ----------------------------------------------------------------------------- combining

def _concatenate(*arrays, axis, dtype):
    return jnp.concatenate([a.astype(dtype) for a in arrays], axis=axis)


def _stack(*arrays, axis, dtype):
    return jnp.stack([a.astype(dtype) for a in arrays], axis=axis)


_graph.register_saved(_concatenate, inputs=False, outputs=False)
_graph.register_saved(_stack, inputs=False, outputs=False)


def _tensors(name, tensors):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name}(): expected a non-empty list of Tensors")
    return tensors


HOST_CONCATENATE_MIN_INPUTS = 64
"""``cat`` of at least this many computed CPU tensors that need no gradient runs in numpy: an
XLA program with thousands of operands (a tokenised corpus as one tensor per line) takes
seconds to compile for each new set of shapes, numpy's copy takes milliseconds."""


def _host_concatenate(tensors, axis, dtype):
    """The concatenation computed on the host, or None where it must be recorded."""
    if len(tensors) < HOST_CONCATENATE_MIN_INPUTS or _graph.is_grad_enabled() and builtins.any(
            t.requires_grad for t in tensors):
        return None
    arrays = []
    for t in tensors:
        value = t._value
        if value is None or t._pending_leaf or not isinstance(value, jax.Array) or builtins.any(
                d.platform != "cpu" for d in value.devices()):
            return None
        arrays.append(np.asarray(value))
    return Variable._wrap(jnp.asarray(np.concatenate(arrays, axis=axis).astype(dtype, copy=False)))


def cat(tensors, dim: int = 0) -> Variable:
    """Concatenate along ``dim`` (dtypes promoted as PyTorch), as ``torch.cat``.

    Raises:
        IndexError: ``dim`` out of range. RuntimeError: shapes that differ off ``dim``.
    """
    from ._variable import _normalize_dim

    tensors = _tensors("cat", tensors)
    if tensors[0].ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    shaped = [t for t in tensors if not (getattr(t, "ndim", 1) == 1 and t.shape[0] == 0)] or tensors
    ndim = shaped[0].ndim
    axis = _normalize_dim(dim, ndim)
    for t in shaped:
        if t.ndim != ndim or builtins.any(a != b for d, (a, b) in enumerate(zip(t.shape, shaped[0].shape)) if d != axis):
            raise RuntimeError(
                f"cat(): Sizes of tensors must match except in dimension {axis}. Expected shapes like "
                f"{tuple(shaped[0].shape)}, got {tuple(t.shape)}")
    dtype = result_type(*shaped)
    joined = _host_concatenate(shaped, axis, dtype)
    return joined if joined is not None else apply(_concatenate, *shaped, axis=axis, dtype=dtype)


concat = concatenate = cat


def stack(tensors, dim: int = 0) -> Variable:
    """Stack equal-shaped tensors along a new ``dim``, as ``torch.stack``."""
    from ._variable import _normalize_dim

    tensors = _tensors("stack", tensors)
    for t in tensors:
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} "
                               f"at entry 0 and {list(t.shape)} at another entry")
    return apply(_stack, *tensors, axis=_normalize_dim(dim, tensors[0].ndim + 1), dtype=result_type(*tensors))


def hstack(tensors) -> Variable:
    """Concatenate along dim 1 (dim 0 for 1-D tensors), as ``torch.hstack``."""
    tensors = _tensors("hstack", tensors)
    return cat([t.reshape(1) if t.ndim == 0 else t for t in tensors], 0 if tensors[0].ndim <= 1 else 1)


def vstack(tensors) -> Variable:
    """Concatenate along dim 0, 1-D tensors as rows, as ``torch.vstack``."""
    tensors = _tensors("vstack", tensors)
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


def _where(condition, x, y, *, dtype):
    return jnp.where(condition, jnp.asarray(x).astype(dtype), jnp.asarray(y).astype(dtype))


def where(condition, input=None, other=None) -> Variable:
    """``condition ? input : other`` elementwise (dtypes promoted), as ``torch.where``; with
    ``condition`` alone, the indices of its non-zero elements (``nonzero(as_tuple=True)``)."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    return apply(_where, condition, input, other, dtype=result_type(input, other))


def _einsum(*operands, equation):
    return jnp.einsum(equation, *operands)


def einsum(equation: str, *operands) -> Variable:
    """Einstein summation, as ``torch.einsum(equation, *operands)`` (operands may be one list)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return apply(_einsum, *operands, equation=equation.replace(" ", ""))


def _meshgrid(*arrays, indexing):
    return tuple(jnp.meshgrid(*arrays, indexing=indexing))


def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids, as ``torch.meshgrid`` (``indexing='ij'`` by default)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = apply(_meshgrid, *tensors, indexing=indexing)
    return out if isinstance(out, tuple) else (out,)


def broadcast_to(input, size) -> Variable:
    """``input`` broadcast to ``size``, as ``torch.broadcast_to`` (``input.expand(size)``)."""
    return input.expand(tuple(size))


def broadcast_tensors(*tensors):
    """The tensors broadcast to their common shape, as ``torch.broadcast_tensors``."""
    shape = jnp.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    return tuple(t.expand(shape) for t in tensors)


def broadcast_shapes(*shapes) -> Size:
    """The shape the given shapes broadcast to, as ``torch.broadcast_shapes``."""
    return Size(jnp.broadcast_shapes(*(tuple(s) if isinstance(s, (tuple, list)) else (s,) for s in shapes)))


def _tensordot(a, b, *, axes):
    return jnp.tensordot(a, b, axes)


def tensordot(a, b, dims=2) -> Variable:
    """Contract ``dims`` (a count or two lists of dims) of ``a`` and ``b``, as ``torch.tensordot``."""
    axes = dims if isinstance(dims, builtins.int) else tuple(tuple(d) if isinstance(d, (list, tuple)) else (d,)
                                                             for d in dims)
    return apply(_tensordot, a, b, axes=axes)


def max(input, dim=None, keepdim=False, *, other=None):
    """``torch.max(input)``, ``torch.max(input, dim, keepdim=False)`` -> (values, indices), or
    ``torch.max(input, other)`` (elementwise maximum)."""
    if isinstance(dim, Variable):
        return input.maximum(dim)
    return input.max() if dim is None else input.max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    """``torch.min`` in its three forms (see :func:`max`)."""
    if isinstance(dim, Variable):
        return input.minimum(dim)
    return input.min() if dim is None else input.min(dim, keepdim)


def clamp(input, min=None, max=None) -> Variable:
    """``min(max(input, min), max)`` elementwise, as ``torch.clamp`` (also ``torch.clip``)."""
    return input.clamp(min, max)


clip = clamp


def numel(input) -> builtins.int:
    """The number of elements of ``input``."""
    return input.numel()


def is_tensor(obj) -> builtins.bool:
    """Whether ``obj`` is a rustorch tensor."""
    return isinstance(obj, Variable)


def is_floating_point(input) -> builtins.bool:
    """Whether ``input`` has a floating dtype."""
    return input.is_floating_point()


def is_nonzero(input) -> builtins.bool:
    """The truth value of a one-element tensor, as ``torch.is_nonzero``."""
    if input.numel() != 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return builtins.bool(input.item())


def promote_types(type1, type2) -> np.dtype:
    """The dtype PyTorch promotes ``type1`` and ``type2`` to."""
    return result_type(np.zeros((1,), type1), np.zeros((1,), type2))


def get_default_dtype() -> np.dtype:
    """float32, PyTorch's default floating dtype (rustorch does not change it)."""
    return _FLOAT32


def set_default_dtype(dtype) -> None:
    """Only float32 is supported as the default floating dtype.

    Raises:
        TypeError: any other dtype (create float64 tensors with ``dtype=`` and JAX's x64 mode).
    """
    if np.dtype(dtype) != _FLOAT32:
        raise TypeError(f"set_default_dtype(): rustorch's default floating dtype is float32, got {dtype}; pass "
                        "dtype= to factories instead")


# --------------------------------------------------------------------------- threads, modes

_num_threads = [os.cpu_count() or 1]


def set_num_threads(n: builtins.int) -> None:
    """Record the intra-op thread count, as ``torch.set_num_threads``.

    XLA's CPU thread pool is sized when JAX starts (one thread per core); the recorded value is
    what :func:`get_num_threads` returns. Pin JAX to fewer cores with ``taskset`` or
    ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` before the process starts.

    Raises:
        RuntimeError: ``n`` not a positive int.
    """
    if isinstance(n, builtins.bool) or not isinstance(n, (builtins.int, np.integer)) or n <= 0:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {n!r}")
    _num_threads[0] = builtins.int(n)


def get_num_threads() -> builtins.int:
    """The value given to :func:`set_num_threads` (the number of cores by default)."""
    return _num_threads[0]


def set_num_interop_threads(n: builtins.int) -> None:
    """As :func:`set_num_threads` (XLA has one thread pool)."""
    set_num_threads(n)


def get_num_interop_threads() -> builtins.int:
    """The value given to :func:`set_num_interop_threads` (see :func:`set_num_threads`)."""
    return _num_threads[0]


class inference_mode(_graph.no_grad):
    """``torch.inference_mode(mode=True)``: as :class:`no_grad` (a context manager and a
    decorator, with or without parentheses); ``mode=False`` leaves recording as it is."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, builtins.bool):
            return cls()(mode)  # bare @inference_mode
        return super().__new__(cls)

    def __init__(self, mode: builtins.bool = True):
        self.mode = builtins.bool(mode)

    def __enter__(self):
        self._previous = _graph.is_grad_enabled()
        if self.mode:
            _graph.set_grad_enabled(False)
        return self

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(self.mode):
                return fn(*args, **kwargs)

        return wrapper


def is_inference_mode_enabled() -> builtins.bool:
    """Whether recording for backward is off (inside :class:`inference_mode` or ``no_grad``)."""
    return not _graph.is_grad_enabled()


# -------------------------------------------------------------------- method-backed functions

def _method(name, doc):
    def function(input, *args, **kwargs):
        if isinstance(input, (builtins.int, builtins.float, builtins.bool, list, tuple, np.ndarray, np.generic,
                              jax.Array)):
            input = tensor(input)
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


#: ``torch.X(input, ...)`` functions that are ``input.X(...)``.
METHOD_FUNCTIONS = (
    # elementwise
    "abs", "absolute", "neg", "negative", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
    "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "asinh", "acosh", "atanh", "arcsinh", "arccosh", "arctanh", "sigmoid", "relu", "floor", "ceil", "trunc",
    "fix", "frac", "sign", "sgn", "reciprocal", "square", "erf", "erfc", "erfinv", "lgamma", "digamma", "i0",
    "sinc", "deg2rad", "rad2deg", "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isreal", "signbit",
    "logical_not", "bitwise_not", "round", "nan_to_num", "logit", "clamp_min", "clamp_max",
    # binary
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
    "fmod", "pow", "float_power", "maximum", "minimum", "fmax", "fmin", "atan2", "arctan2", "hypot",
    "logaddexp", "logaddexp2", "copysign", "xlogy", "eq", "ne", "lt", "le", "gt", "ge", "greater",
    "greater_equal", "less", "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor", "lerp", "addmm", "addcmul", "addcdiv",
    # linear algebra
    "matmul", "mm", "bmm", "mv", "dot", "outer", "ger",
    # comparison
    "allclose", "isclose", "equal",
    # reductions
    "sum", "mean", "prod", "std", "var", "norm", "logsumexp", "cumsum", "cumprod", "logcumsumexp", "cummax",
    "cummin", "amax", "amin", "aminmax", "all", "any", "count_nonzero", "argmax", "argmin", "median", "sort",
    "argsort", "topk", "softmax", "log_softmax",
    # shape
    "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "t", "swapaxes",
    "swapdims", "movedim", "moveaxis", "narrow", "chunk", "split", "tensor_split", "unbind", "repeat_interleave",
    "flip", "fliplr", "flipud", "roll", "tril", "triu", "diag", "diagonal", "trace", "gather", "scatter",
    "scatter_add", "scatter_reduce", "index_select", "index_add", "take", "masked_fill", "masked_select",
    "nonzero", "argwhere", "unique", "clone", "detach",
)

_DOCS = {
    "exp": "``torch.exp(input)``: ``e ** x`` elementwise.",
    "log": "``torch.log(input)``: the natural logarithm elementwise (``-inf`` at 0, NaN below).",
    "relu": "``torch.relu(input)``: ``max(0, x)`` elementwise, with gradient 0 at 0 as PyTorch.",
    "sigmoid": "``torch.sigmoid(input)``: ``1 / (1 + exp(-x))`` elementwise.",
    "tanh": "``torch.tanh(input)``: the hyperbolic tangent elementwise.",
}
for _name in METHOD_FUNCTIONS:
    globals()[_name] = _method(_name, _DOCS.get(_name, f"``torch.{_name}(input, ...)``: ``input.{_name}(...)``."))
del _name


def _view_as_real(x):
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


def _view_as_complex(x):
    return jax.lax.complex(x[..., 0], x[..., 1])


def _polar(magnitude, angle):
    return jax.lax.complex(magnitude * jnp.cos(angle), magnitude * jnp.sin(angle))


def view_as_real(input) -> Variable:
    """A complex tensor as real pairs ``[..., 2]`` (real, imaginary), as ``torch.view_as_real``
    (a copy: JAX has no views).

    Raises:
        RuntimeError: a non-complex input.
    """
    if np.dtype(input.dtype).kind != "c":
        raise RuntimeError(f"view_as_real is only supported for complex tensors, got {np.dtype(input.dtype)}")
    return apply(_view_as_real, input)


def view_as_complex(input) -> Variable:
    """Real pairs ``[..., 2]`` as a complex tensor, as ``torch.view_as_complex``.

    Raises:
        RuntimeError: the last dim is not 2, or the dtype is not float32/float64.
    """
    if input.ndim == 0 or input.shape[-1] != 2:
        raise RuntimeError(f"Tensor must have a last dimension of size 2, got shape {tuple(input.shape)}")
    if np.dtype(input.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise RuntimeError(f"view_as_complex is only supported for float and double tensors, got {input.dtype}")
    return apply(_view_as_complex, input)


def polar(abs, angle) -> Variable:
    """``abs * (cos(angle) + i sin(angle))``, as ``torch.polar``."""
    return apply(_polar, abs, angle)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std, mean)`` over ``dim``, as ``torch.std_mean``."""
    return (input.std(dim, unbiased, keepdim, correction=correction),
            input.mean(dim, keepdim) if dim is not None else input.mean())


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var, mean)`` over ``dim``, as ``torch.var_mean``."""
    return (input.var(dim, unbiased, keepdim, correction=correction),
            input.mean(dim, keepdim) if dim is not None else input.mean())


__all__ = [
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "randn", "rand",
    "randn_like", "rand_like", "randint", "randint_like", "randperm", "normal", "bernoulli", "multinomial",
    "arange", "linspace", "logspace", "eye", "as_tensor", "from_numpy", "scalar_tensor", "cat", "concat",
    "concatenate", "stack", "hstack", "vstack", "where", "einsum", "meshgrid", "broadcast_to",
    "broadcast_tensors", "broadcast_shapes", "tensordot", "max", "min", "clamp", "clip", "numel", "is_tensor",
    "is_floating_point", "is_nonzero", "promote_types", "result_type", "get_default_dtype",
    "set_default_dtype", "set_num_threads", "get_num_threads", "set_num_interop_threads",
    "get_num_interop_threads", "inference_mode", "is_inference_mode_enabled", "std_mean", "var_mean", "Size",
    "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor", "ByteTensor",
    "CharTensor", "BoolTensor", "view_as_real", "view_as_complex", "polar",
    *METHOD_FUNCTIONS,
]
