"""``torch.Tensor``'s non-in-place methods, as a mixin of :class:`~rustorch.stateful.Variable`.

Every method records pure JAX ops through :func:`~rustorch.stateful._variable.apply`: the ops
are module-level functions (stable parts of a program's cache key) and only shape-deciding
arguments are static. Semantics follow PyTorch's code: type promotion by
:func:`result_type` (tensors over 0-d tensors over Python scalars, by category), ``dim`` /
``keepdim`` conventions, IndexError for dims out of range, and out-of-range indices raise
(checked when the index values are known) instead of being clamped.

Elementwise methods come from the tables ``_UNARY`` and ``_BINARY``; the rest are written out.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Optional

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
from jax import lax

from .. import _device
from . import _channels_last, _graph, _random
from . import _variable as _v

# ----------------------------------------------------------------------------- results

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])


class Size(tuple):
    """A tensor's shape, as ``torch.Size``: a tuple of ints with ``numel()``."""

    __slots__ = ()

    def numel(self) -> int:
        return math.prod(self)

    def __repr__(self):
        return f"rustorch.Size({list(self)})"

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))


# ------------------------------------------------------------------------ type promotion

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_DEFAULT_FLOAT = np.dtype(np.float32)


def _category(dtype) -> int:
    dtype = np.dtype(dtype)
    if dtype == jnp.bfloat16:
        return 2
    return _CATEGORY[dtype.kind]


def _scalar_dtype(value) -> np.dtype:
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, (int, np.integer)):
        return _v._canonical_dtype(np.int64)
    if isinstance(value, complex):
        return np.dtype(np.complex64)
    return _DEFAULT_FLOAT


def _promote(dtypes) -> Optional[np.dtype]:
    result = None
    for dtype in dtypes:
        if result is None:
            result = dtype
        else:
            with jax.numpy_dtype_promotion("standard"):  # the lattice only; casts stay explicit
                result = np.dtype(jnp.promote_types(result, dtype))
    return result


def result_type(*operands) -> np.dtype:
    """The dtype PyTorch's ``torch.result_type`` gives for ``operands`` (tensors, arrays,
    Python numbers): dimensioned tensors decide, unless 0-d tensors or Python scalars are of a
    higher category (bool < integer < floating < complex); a Python float then gives float32,
    a Python int JAX's default integer."""
    groups = ([], [], [])  # dimensioned tensors, 0-d tensors, Python scalars
    for value in operands:
        if value is None:
            continue
        if isinstance(value, (bool, int, float, complex)):
            groups[2].append(_scalar_dtype(value))
        elif isinstance(value, np.generic):
            groups[1].append(np.dtype(value.dtype))
        else:
            shape = value.shape if hasattr(value, "shape") else np.shape(value)
            dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
            groups[0 if len(shape) else 1].append(np.dtype(dtype))
    promoted = [_promote(group) for group in groups]
    result = next(d for d in promoted if d is not None)
    for dtype in promoted[1:]:
        if dtype is not None and _category(dtype) > _category(result):
            result = dtype
    return np.dtype(result)


def _cast(value, dtype):
    """An operand of an op cast to ``dtype`` (inside the recorded op)."""
    return jnp.asarray(value).astype(dtype) if value is not None else None


def _as_float_dtype(dtype) -> np.dtype:
    return np.dtype(dtype) if _category(dtype) >= 2 else _DEFAULT_FLOAT


# ----------------------------------------------------------------------------- the ops
# Module-level functions: stable (hashable) members of a compiled program's cache key.

def _binary(a, b, *, fn, dtype):
    return fn(_cast(a, dtype), _cast(b, dtype))


def _identity_copy(x):
    return x


def _rsqrt(x):
    return lax.rsqrt(x)


def _reciprocal(x):
    return 1 / x


def _frac(x):
    return x - jnp.trunc(x)


def _square(x):
    return x * x


def _round(x, *, decimals):
    return jnp.round(x, decimals)


def _sign(x):
    return jnp.sign(x)


def _nan_to_num(x, *, nan, posinf, neginf):
    return jnp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


def _logit(x, *, eps):
    if eps is not None:
        x = jnp.clip(x, eps, 1 - eps)
    return jnp.log(x / (1 - x))


def _prod(x, *, axis, keepdims, dtype):
    return jnp.prod(x, axis=axis, keepdims=keepdims, dtype=dtype)


def _sum_dtype(x, *, axis, keepdims, dtype):
    return jnp.sum(x, axis=axis, keepdims=keepdims, dtype=dtype)


def _cumsum(x, *, axis, dtype):
    return jnp.cumsum(x, axis=axis, dtype=dtype)


def _cumprod(x, *, axis, dtype):
    return jnp.cumprod(x, axis=axis, dtype=dtype)


def _logcumsumexp(x, *, axis):
    return lax.cumlogsumexp(x, axis=axis)


def _cummax(x, *, axis):
    values = lax.cummax(x, axis=axis)
    positions = lax.broadcasted_iota(np.int32, x.shape, axis)
    # torch returns the index of the last occurrence of the running maximum.
    hits = jnp.where(x == values, positions, -1)
    return values, lax.cummax(hits, axis=axis).astype(_v._canonical_dtype(np.int64))


def _cummin(x, *, axis):
    values = lax.cummin(x, axis=axis)
    positions = lax.broadcasted_iota(np.int32, x.shape, axis)
    hits = jnp.where(x == values, positions, -1)
    return values, lax.cummax(hits, axis=axis).astype(_v._canonical_dtype(np.int64))


def _logsumexp(x, *, axis, keepdims):
    return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)


def _amax(x, *, axis, keepdims):
    return jnp.max(x, axis=axis, keepdims=keepdims)


def _amin(x, *, axis, keepdims):
    return jnp.min(x, axis=axis, keepdims=keepdims)


def _all(x, *, axis, keepdims):
    return jnp.all(x, axis=axis, keepdims=keepdims)


def _any(x, *, axis, keepdims):
    return jnp.any(x, axis=axis, keepdims=keepdims)


def _count_nonzero(x, *, axis):
    return jnp.count_nonzero(x, axis=axis).astype(_v._canonical_dtype(np.int64))


def _vector_norm(x, *, ord, axis, keepdims):
    """``torch.linalg.vector_norm``; the gradient at a zero norm is 0, as PyTorch's."""
    a = jnp.abs(x)
    if ord == math.inf:
        return jnp.max(a, axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return jnp.min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return jnp.sum((x != 0).astype(x.dtype), axis=axis, keepdims=keepdims)
    if ord == 1:
        return jnp.sum(a, axis=axis, keepdims=keepdims)
    if ord == 2:
        total = jnp.sum(x * x, axis=axis, keepdims=keepdims)
    else:
        total = jnp.sum(a ** ord, axis=axis, keepdims=keepdims)
    positive = total > 0
    safe = jnp.where(positive, total, jnp.ones((), total.dtype))
    root = jnp.sqrt(safe) if ord == 2 else safe ** (1.0 / ord)
    return jnp.where(positive, root, jnp.zeros((), total.dtype))


def _var_correction(x, *, axis, correction, keepdims):
    return jnp.var(x, axis=axis, ddof=correction, keepdims=keepdims)


def _sorted(x, *, axis, descending, stable):
    indices = jnp.argsort(x, axis=axis, descending=descending, stable=stable)
    return jnp.take_along_axis(x, indices, axis=axis), indices.astype(_v._canonical_dtype(np.int64))


def _argsort(x, *, axis, descending, stable):
    return jnp.argsort(x, axis=axis, descending=descending, stable=stable).astype(_v._canonical_dtype(np.int64))


def _topk(x, *, k, axis, largest):
    moved = jnp.moveaxis(x, axis, -1)
    if largest:
        values, indices = lax.top_k(moved, k)
    else:
        _, indices = lax.top_k(-moved, k)
        values = jnp.take_along_axis(moved, indices, axis=-1)
    return (jnp.moveaxis(values, -1, axis),
            jnp.moveaxis(indices, -1, axis).astype(_v._canonical_dtype(np.int64)))


def _median(x, *, axis, keepdims):
    n = x.shape[axis]
    indices = jnp.argsort(x, axis=axis, stable=True)
    pick = lax.slice_in_dim(indices, (n - 1) // 2, (n - 1) // 2 + 1, axis=axis)
    values = jnp.take_along_axis(x, pick, axis=axis)
    if not keepdims:
        values, pick = jnp.squeeze(values, axis), jnp.squeeze(pick, axis)
    return values, pick.astype(_v._canonical_dtype(np.int64))


def _slice_dim(x, *, axis, start, stop, step):
    return lax.slice_in_dim(x, start, stop, step, axis=axis)


def _split_sizes(x, *, axis, sizes):
    pieces = []
    start = 0
    for size in sizes:
        pieces.append(lax.slice_in_dim(x, start, start + size, axis=axis))
        start += size
    return tuple(pieces)


def _unbind(x, *, axis):
    return tuple(jnp.squeeze(lax.slice_in_dim(x, i, i + 1, axis=axis), axis) for i in range(x.shape[axis]))


def _tile(x, *, reps):
    return jnp.tile(x, reps)


def _repeat_interleave(x, *, repeats, axis, total):
    if axis is None:
        x = jnp.ravel(x)
        axis = 0
    return jnp.repeat(x, np.asarray(repeats) if isinstance(repeats, tuple) else repeats, axis=axis,
                      total_repeat_length=total)


def _gather(x, index, *, axis):
    shape = index.shape
    x = x[tuple(slice(None) if d == axis else slice(0, shape[d]) for d in range(x.ndim))]
    return jnp.take_along_axis(x, index, axis=axis, mode="fill", fill_value=None)


def _scatter_index(index, axis):
    return tuple(index if d == axis else lax.broadcasted_iota(index.dtype, index.shape, d)
                 for d in range(index.ndim))


def _scatter(x, index, src, *, axis, reduce):
    where = _scatter_index(index, axis)
    if jnp.ndim(src) == 0:
        values = jnp.broadcast_to(jnp.asarray(src, x.dtype), index.shape)
    else:
        values = src[tuple(slice(0, n) for n in index.shape)].astype(x.dtype)
    target = x.at[where]
    if reduce is None:
        return target.set(values, mode="drop")
    if reduce in ("add", "sum"):
        return target.add(values, mode="drop")
    if reduce in ("multiply", "prod"):
        return target.multiply(values, mode="drop")
    if reduce == "amax":
        return target.max(values, mode="drop")
    return target.min(values, mode="drop")


def _index_select(x, index, *, axis):
    return jnp.take(x, index, axis=axis)


def _index_add(x, index, source, alpha, *, axis):
    where = (slice(None),) * axis + (index,)
    return x.at[where].add((source * alpha).astype(x.dtype) if alpha is not None else source.astype(x.dtype))


def _masked_fill(x, mask, value):
    return jnp.where(mask, jnp.asarray(value).astype(x.dtype), x)


def _where(condition, x, y, *, dtype):
    return jnp.where(condition, _cast(x, dtype), _cast(y, dtype))


def _tril(x, *, k):
    return jnp.tril(x, k)


def _triu(x, *, k):
    return jnp.triu(x, k)


def _flip(x, *, axes):
    return jnp.flip(x, axes)


def _roll(x, *, shifts, axes):
    return jnp.roll(x, shifts, axes)


def _moveaxis(x, *, source, destination):
    return jnp.moveaxis(x, source, destination)


def _diag(x, *, k):
    return jnp.diag(x, k)


def _diagonal(x, *, offset, axis1, axis2):
    return jnp.diagonal(x, offset, axis1, axis2)


def _trace(x):
    return jnp.trace(x)


def _take(x, index):
    return jnp.take(jnp.ravel(x), index)


def _lerp(start, end, weight, *, dtype):
    start, end = _cast(start, dtype), _cast(end, dtype)
    weight = _cast(weight, dtype)
    # aten's lerp: start + w * (end - start) for |w| < 0.5, else end - (end - start) * (1 - w).
    diff = end - start
    return jnp.where(jnp.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight))


def _addmm(x, a, b, beta, alpha):
    product = jnp.matmul(a, b)
    if alpha is not None:
        product = product * jnp.asarray(alpha, product.dtype)
    if beta is None:
        return x + product
    return jnp.asarray(beta, product.dtype) * x + product


def _addcmul(x, a, b, value, *, dtype):
    return _cast(x, dtype) + jnp.asarray(value, dtype) * (_cast(a, dtype) * _cast(b, dtype))


def _addcdiv(x, a, b, value, *, dtype):
    return _cast(x, dtype) + jnp.asarray(value, dtype) * (_cast(a, dtype) / _cast(b, dtype))


def _outer(a, b, *, dtype):
    return jnp.outer(_cast(a, dtype), _cast(b, dtype))


def _isclose(a, b, *, rtol, atol, equal_nan, dtype):
    a, b = _cast(a, dtype), _cast(b, dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        return a == b
    close = jnp.abs(a - b) <= atol + rtol * jnp.abs(b)
    close = close | (a == b)
    if equal_nan:
        close = close | (jnp.isnan(a) & jnp.isnan(b))
    return close


def _bernoulli(p, key, counter):
    key = jax.random.fold_in(key, counter)
    return (jax.random.uniform(key, p.shape, p.dtype) < p).astype(p.dtype)


def _device_put(x, *, device):
    return jax.device_put(x, device)


# ----------------------------------------------------------------------- tables

def _make_float_unary(fn, name):
    def op(x):
        return fn(x.astype(_as_float_dtype(x.dtype)))

    op.__name__ = op.__qualname__ = f"_{name}"
    return op


# name -> (op, whether integer inputs are computed in float32 as PyTorch does)
_UNARY_FNS = {
    "abs": (jnp.abs, False), "absolute": (jnp.abs, False), "neg": (jnp.negative, False),
    "negative": (jnp.negative, False), "exp": (jnp.exp, True), "exp2": (jnp.exp2, True),
    "expm1": (jnp.expm1, True), "log": (jnp.log, True), "log2": (jnp.log2, True),
    "log10": (jnp.log10, True), "log1p": (jnp.log1p, True), "sqrt": (jnp.sqrt, True),
    "rsqrt": (_rsqrt, True), "sin": (jnp.sin, True), "cos": (jnp.cos, True), "tan": (jnp.tan, True),
    "asin": (jnp.arcsin, True), "acos": (jnp.arccos, True), "atan": (jnp.arctan, True),
    "arcsin": (jnp.arcsin, True), "arccos": (jnp.arccos, True), "arctan": (jnp.arctan, True),
    "sinh": (jnp.sinh, True), "cosh": (jnp.cosh, True), "tanh": (jnp.tanh, True),
    "asinh": (jnp.arcsinh, True), "acosh": (jnp.arccosh, True), "atanh": (jnp.arctanh, True),
    "arcsinh": (jnp.arcsinh, True), "arccosh": (jnp.arccosh, True), "arctanh": (jnp.arctanh, True),
    "sigmoid": (jax.nn.sigmoid, True), "floor": (jnp.floor, False), "ceil": (jnp.ceil, False),
    "trunc": (jnp.trunc, False), "fix": (jnp.trunc, False), "frac": (_frac, False),
    "sign": (_sign, False), "sgn": (_sign, False), "reciprocal": (_reciprocal, True),
    "square": (_square, False), "erf": (jsp.erf, True), "erfc": (jsp.erfc, True),
    "erfinv": (jsp.erfinv, True), "lgamma": (jsp.gammaln, True), "digamma": (jsp.digamma, True),
    "i0": (jsp.i0, True), "sinc": (jnp.sinc, True), "deg2rad": (jnp.deg2rad, True),
    "rad2deg": (jnp.rad2deg, True), "isnan": (jnp.isnan, False), "isinf": (jnp.isinf, False),
    "isfinite": (jnp.isfinite, False), "isposinf": (jnp.isposinf, False),
    "isneginf": (jnp.isneginf, False), "isreal": (jnp.isreal, False), "signbit": (jnp.signbit, False),
    "logical_not": (jnp.logical_not, False), "bitwise_not": (jnp.bitwise_not, False),
}

_UNARY = {}
for _name, (_fn, _to_float) in _UNARY_FNS.items():
    _UNARY[_name] = _make_float_unary(_fn, _name) if _to_float else _fn

# name -> (op, output category): "same" (promoted dtype), "float" (promoted to floating), "bool"
_BINARY_FNS = {
    "maximum": (jnp.maximum, "same"), "minimum": (jnp.minimum, "same"),
    "fmax": (jnp.fmax, "same"), "fmin": (jnp.fmin, "same"),
    "atan2": (jnp.arctan2, "float"), "arctan2": (jnp.arctan2, "float"), "hypot": (jnp.hypot, "float"),
    "logaddexp": (jnp.logaddexp, "float"), "logaddexp2": (jnp.logaddexp2, "float"),
    "copysign": (jnp.copysign, "float"), "true_divide": (jnp.true_divide, "float"),
    "fmod": (jnp.fmod, "same"), "remainder": (jnp.remainder, "same"),
    "floor_divide": (jnp.floor_divide, "same"), "xlogy": (jsp.xlogy, "float"),
    "eq": (jnp.equal, "bool"), "ne": (jnp.not_equal, "bool"), "lt": (jnp.less, "bool"),
    "le": (jnp.less_equal, "bool"), "gt": (jnp.greater, "bool"), "ge": (jnp.greater_equal, "bool"),
    "greater": (jnp.greater, "bool"), "greater_equal": (jnp.greater_equal, "bool"),
    "less": (jnp.less, "bool"), "less_equal": (jnp.less_equal, "bool"),
    "not_equal": (jnp.not_equal, "bool"),
    "logical_and": (jnp.logical_and, "bool"), "logical_or": (jnp.logical_or, "bool"),
    "logical_xor": (jnp.logical_xor, "bool"),
    "bitwise_and": (jnp.bitwise_and, "same"), "bitwise_or": (jnp.bitwise_or, "same"),
    "bitwise_xor": (jnp.bitwise_xor, "same"),
}


def _binary_call(fn, kind, a, b):
    if not isinstance(a, _v.Variable) and not isinstance(b, _v.Variable):
        a = _v.tensor(a)
    dtype = result_type(a, b)
    if kind == "float":
        dtype = _as_float_dtype(dtype)
    return _v.apply(_binary, a, b, fn=fn, dtype=dtype)


def _make_unary_method(name, op):
    def method(self):
        return _v.apply(op, self)

    method.__name__ = name
    method.__doc__ = f"``torch.Tensor.{name}``: elementwise, recorded."
    return method


def _make_binary_method(name, fn, kind):
    def method(self, other):
        return _binary_call(fn, kind, self, other)

    method.__name__ = name
    method.__doc__ = f"``torch.Tensor.{name}(other)``: elementwise with PyTorch's type promotion."
    return method


# --------------------------------------------------------------------------- helpers

def _dim(dim, ndim, name="dim"):
    return _v._normalize_dim(dim, ndim, name)


def _dims(dim, ndim):
    """A normalised reduction ``dim`` (None, an int, or a tuple; ``()`` means all, as amax)."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return None
    return _dim(tuple(dim) if isinstance(dim, list) else dim, ndim)


def _index_values(index):
    """The concrete values of an index argument, or None when they are still pending."""
    if isinstance(index, _v.Variable):
        return np.asarray(index._value) if index._value is not None else None
    return np.asarray(index)


def _check_index_range(op, values, size, dim, allow_negative=False):
    if values is None or values.size == 0:
        return
    low = -size if allow_negative else 0
    bad = (values < low) | (values >= size)
    if bad.any():
        raise IndexError(
            f"{op}(): index {int(values[bad].flat[0])} is out of bounds for dimension {dim} with size {size}"
        )


def _check_integer_index(op, index):
    dtype = np.dtype(index.dtype) if hasattr(index, "dtype") else np.asarray(index).dtype
    if dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {dtype}")


def _shape_args(args):
    return tuple(int(s) for s in _v._dims_from_args(args))


def _eager_like(self, array, requires_grad=False):
    array = _device.place(array, _variable_device(self))
    return _v.Variable._wrap(array, requires_grad)


def _leaf_device(var):
    """The device of the first concrete array found below ``var`` (no computation)."""
    if var._value is not None:
        return _device.device_of_array(var._value)
    stack = [var._node]
    seen = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.op is _device_put:
            return _device.device(dict(node.static)["device"])
        if node.values is not None:
            for value in node.values:
                if value is not None:
                    return _device.device_of_array(value)
        for item in node.inputs:
            if isinstance(item, _graph.Leaf) and hasattr(item.array, "devices"):
                return _device.device_of_array(item.array)
            if isinstance(item, tuple):
                stack.append(item[0])
    return _device.default_device()


def _variable_device(var) -> _device.device:
    return _leaf_device(var)


def _creation_dtype(dtype, default):
    return np.dtype(default) if dtype is None else _v._canonical_dtype(dtype)


# ------------------------------------------------------------------------------ mixin

class TensorMethods:
    """The ``torch.Tensor`` methods that return new tensors (no in-place ones)."""

    __slots__ = ()

    # ------------------------------------------------------------------ device
    @property
    def device(self) -> _device.device:
        """The ``rustorch.device`` holding the value (for a pending result: its inputs'
        device, where JAX will compute it; nothing is computed)."""
        return _variable_device(self)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    @property
    def is_meta(self) -> bool:
        return False

    @property
    def is_xpu(self) -> bool:
        return False

    @property
    def is_mps(self) -> bool:
        return False

    @property
    def is_sparse(self) -> bool:
        return False

    @property
    def is_quantized(self) -> bool:
        return False

    def get_device(self) -> int:
        """-1 on the CPU, the GPU index otherwise (as ``torch.Tensor.get_device``)."""
        device = self.device
        return -1 if device.type == "cpu" else device.index

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (its device and
        dtype), keywords ``device=``/``dtype=``; ``non_blocking``/``copy`` accepted. Returns
        ``self`` when nothing changes, as PyTorch.

        Raises:
            RuntimeError: a device this process does not have (``cuda`` without a GPU).
        """
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for arg in args:
            if isinstance(arg, _v.Variable):
                dtype, device = arg.dtype, arg.device
            elif _device.is_device_spec(arg):
                device = arg
            elif isinstance(arg, bool):
                continue  # non_blocking / copy given positionally
            elif arg is not None:
                dtype = arg
        result = self
        if dtype is not None:
            dtype = _v._canonical_dtype(dtype)
            if dtype != self.dtype:
                result = _v.apply(_v._astype, self, dtype=dtype)
        if device is not None:
            target = _device.as_jax_device(device)
            if _device.device(target) != _variable_device(result):
                if result._node is None and not result.requires_grad:
                    result = _v.Variable._wrap(jax.device_put(result._value, target))
                else:
                    result = _v.apply(_device_put, result, device=target)
        if copy and result is self:
            result = self.clone()
        return result

    def cuda(self, device=None, non_blocking=False):
        """The tensor on a GPU (``cuda:0`` by default).

        Raises:
            RuntimeError: no GPU in this process.
        """
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = _device.device("cuda", device)
        return self.to(device)

    def cpu(self):
        """The tensor on the CPU (``self`` when it is there)."""
        return self.to("cpu")

    # ------------------------------------------------------------------ metadata
    def is_floating_point(self) -> bool:
        return _category(self.dtype) == 2

    def is_complex(self) -> bool:
        return _category(self.dtype) == 3

    def is_contiguous(self, memory_format=None) -> bool:
        """True: JAX arrays have no strides (every tensor behaves as a contiguous one)."""
        return True

    def element_size(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.numel() * np.dtype(self.dtype).itemsize

    def nelement(self) -> int:
        return self.numel()

    def ndimension(self) -> int:
        return self.ndim

    def stride(self, dim=None):
        """The strides of a contiguous tensor of this shape (in elements)."""
        strides = []
        step = 1
        for size in reversed(self.shape):
            strides.append(step)
            step *= max(size, 1)
        strides = tuple(reversed(strides))
        return strides if dim is None else strides[_dim(dim, self.ndim)]

    # --------------------------------------------------------------- dtype casts
    def bfloat16(self):
        return self.to(jnp.bfloat16)

    def short(self):
        return self.to(np.int16)

    def byte(self):
        return self.to(np.uint8)

    def char(self):
        return self.to(np.int8)

    def type_as(self, other):
        return self.to(other.dtype)

    # -------------------------------------------------------------------- copies
    def clone(self, memory_format=None):
        """A copy with the same value that keeps the history (gradients flow to ``self``)."""
        if self._node is None and not (self.requires_grad and _graph.is_grad_enabled()):
            return _v.Variable._wrap(self._value)
        return _v.apply(_identity_copy, self)

    # --------------------------------------------------------------- arithmetic
    def add(self, other, *, alpha=1):
        """``self + alpha * other``."""
        return self.__add__(other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1):
        """``self - alpha * other``."""
        return self.__sub__(other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other):
        return self.__mul__(other)

    multiply = mul

    def div(self, other, *, rounding_mode=None):
        """``self / other``; ``rounding_mode='trunc'`` or ``'floor'`` rounds the quotient."""
        if rounding_mode is None:
            return self.__truediv__(other)
        if rounding_mode == "floor":
            return _binary_call(jnp.floor_divide, "same", self, other)
        if rounding_mode == "trunc":
            dtype = result_type(self, other)
            if _category(dtype) < 2:
                return _v.apply(_binary, self, other, fn=_trunc_divide_int, dtype=dtype)
            return _v.apply(_binary, self, other, fn=_trunc_divide, dtype=dtype)
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")

    divide = div

    def pow(self, exponent):
        return self.__pow__(exponent)

    def float_power(self, exponent):
        return self.double().__pow__(exponent)

    def round(self, decimals: int = 0):
        """Round half to even (``decimals`` places), as ``torch.round``."""
        return _v.apply(_round, self, decimals=int(decimals))

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _v.apply(_nan_to_num, self, nan=nan, posinf=posinf, neginf=neginf)

    def logit(self, eps=None):
        return _v.apply(_logit, self, eps=eps)

    def clamp_min(self, min):
        return self.clamp(min=min)

    def clamp_max(self, max):
        return self.clamp(max=max)

    def lerp(self, end, weight):
        """``self + weight * (end - self)``, as ``torch.lerp``."""
        return _v.apply(_lerp, self, end, weight, dtype=result_type(self, end))

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """``beta * self + alpha * (mat1 @ mat2)``."""
        _check_matrix("addmm", mat1, 2, "mat1")
        _check_matrix("addmm", mat2, 2, "mat2")
        return _v.apply(_addmm, self, mat1, mat2, None if beta == 1 else beta, None if alpha == 1 else alpha)

    def addcmul(self, tensor1, tensor2, *, value=1):
        return _v.apply(_addcmul, self, tensor1, tensor2, value, dtype=result_type(self, tensor1, tensor2))

    def addcdiv(self, tensor1, tensor2, *, value=1):
        dtype = _as_float_dtype(result_type(self, tensor1, tensor2))
        return _v.apply(_addcdiv, self, tensor1, tensor2, value, dtype=dtype)

    # ------------------------------------------------------------- linear algebra
    def mm(self, mat2):
        """Matrix product of two 2-D tensors (no broadcasting), as ``torch.mm``."""
        _check_matrix("mm", self, 2, "self")
        _check_matrix("mm", mat2, 2, "mat2")
        _check_inner("mm", self.shape, mat2.shape)
        return self.__matmul__(mat2)

    def bmm(self, mat2):
        """Batched matrix product of two 3-D tensors with equal batch sizes, as ``torch.bmm``."""
        _check_matrix("bmm", self, 3, "batch1")
        _check_matrix("bmm", mat2, 3, "batch2")
        if self.shape[0] != mat2.shape[0]:
            raise RuntimeError(f"bmm(): batch1 and batch2 must have the same batch size, got "
                               f"{self.shape[0]} and {mat2.shape[0]}")
        _check_inner("bmm", self.shape, mat2.shape)
        return self.__matmul__(mat2)

    def mv(self, vec):
        _check_matrix("mv", self, 2, "self")
        _check_matrix("mv", vec, 1, "vec")
        return self.__matmul__(vec)

    def dot(self, other):
        _check_matrix("dot", self, 1, "self")
        _check_matrix("dot", other, 1, "tensor")
        if self.shape != other.shape:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{self.shape[0]}] and src "
                               f"[{other.shape[0]}] to have the same number of elements")
        return self.__matmul__(other)

    def outer(self, vec2):
        _check_matrix("outer", self, 1, "self")
        _check_matrix("outer", vec2, 1, "vec2")
        return _v.apply(_outer, self, vec2, dtype=result_type(self, vec2))

    ger = outer

    # -------------------------------------------------------------- comparisons
    def allclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
        """Whether ``|self - other| <= atol + rtol * |other|`` everywhere (reads the values)."""
        return bool(self.isclose(other, rtol, atol, equal_nan).all().item())

    def isclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False):
        return _v.apply(_isclose, self, other, rtol=float(rtol), atol=float(atol), equal_nan=bool(equal_nan),
                        dtype=result_type(self, other))

    def equal(self, other) -> bool:
        """Whether both have the same shape and elements (reads the values)."""
        if not isinstance(other, _v.Variable):
            raise TypeError(f"equal(): argument 'other' must be Tensor, not {type(other).__name__}")
        if self.shape != other.shape:
            return False
        return bool(_binary_call(jnp.equal, "bool", self, other).all().item())

    # --------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False, *, dtype=None):
        axis = _dims(dim, self.ndim)
        if dtype is None:
            return _v.apply(jnp.sum, self, axis=axis, keepdims=keepdim)
        return _v.apply(_sum_dtype, self, axis=axis, keepdims=keepdim, dtype=_v._canonical_dtype(dtype))

    def prod(self, dim=None, keepdim=False, *, dtype=None):
        dtype = None if dtype is None else _v._canonical_dtype(dtype)
        return _v.apply(_prod, self, axis=None if dim is None else _dim(dim, self.ndim), keepdims=keepdim,
                        dtype=dtype)

    def cumsum(self, dim, *, dtype=None):
        dtype = None if dtype is None else _v._canonical_dtype(dtype)
        return _v.apply(_cumsum, self, axis=_dim(dim, self.ndim), dtype=dtype)

    def cumprod(self, dim, *, dtype=None):
        dtype = None if dtype is None else _v._canonical_dtype(dtype)
        return _v.apply(_cumprod, self, axis=_dim(dim, self.ndim), dtype=dtype)

    def logcumsumexp(self, dim):
        return _v.apply(_logcumsumexp, self, axis=_dim(dim, self.ndim))

    def cummax(self, dim):
        return SortResult(*_v.apply(_cummax, self, axis=_dim(dim, self.ndim)))

    def cummin(self, dim):
        return SortResult(*_v.apply(_cummin, self, axis=_dim(dim, self.ndim)))

    def logsumexp(self, dim, keepdim=False):
        """``log(sum(exp(self), dim))``, computed stably."""
        return _v.apply(_logsumexp, self, axis=_dims(dim, self.ndim), keepdims=keepdim)

    def amax(self, dim=(), keepdim=False):
        return _v.apply(_amax, self, axis=_dims(dim, self.ndim), keepdims=keepdim)

    def amin(self, dim=(), keepdim=False):
        return _v.apply(_amin, self, axis=_dims(dim, self.ndim), keepdims=keepdim)

    def aminmax(self, *, dim=None, keepdim=False):
        return namedtuple("aminmax", ["min", "max"])(self.amin(() if dim is None else dim, keepdim),
                                                     self.amax(() if dim is None else dim, keepdim))

    def all(self, dim=None, keepdim=False):
        return _v.apply(_all, self, axis=_dims(dim, self.ndim), keepdims=keepdim)

    def any(self, dim=None, keepdim=False):
        return _v.apply(_any, self, axis=_dims(dim, self.ndim), keepdims=keepdim)

    def count_nonzero(self, dim=None):
        return _v.apply(_count_nonzero, self, axis=_dims(dim, self.ndim))

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        """``torch.norm``: the vector ``p``-norm over ``dim`` (all elements by default);
        ``'fro'`` is the 2-norm, ``inf``/``-inf`` the largest/smallest magnitude, ``0`` the
        count of non-zeros. The gradient at a zero norm is 0, as PyTorch's."""
        if p == "fro" or p is None:
            p = 2
        if p == "nuc" or isinstance(p, str):
            raise ValueError(f"norm(): p={p!r} is not supported; use a number, 'fro', inf or -inf")
        x = self if dtype is None else self.to(dtype)
        if not x.is_floating_point():
            raise RuntimeError(f"norm(): input dtype should be floating point, got {x.dtype}")
        return _v.apply(_vector_norm, x, ord=float(p), axis=_dims(dim, self.ndim), keepdims=keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance over ``dim``; ``unbiased`` (default True) or ``correction`` (default 1)
        is the degrees-of-freedom correction, as ``torch.var``."""
        return _v.apply(_var_correction, self, axis=_dims(dim, self.ndim),
                        correction=_correction(unbiased, correction), keepdims=keepdim)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Standard deviation, the square root of :meth:`var`."""
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def median(self, dim=None, keepdim=False):
        """The lower median; with ``dim`` a ``(values, indices)`` named tuple."""
        if dim is None:
            values, _ = _v.apply(_median, self.reshape(-1), axis=0, keepdims=False)
            return values
        return MedianResult(*_v.apply(_median, self, axis=_dim(dim, self.ndim), keepdims=keepdim))

    def sort(self, dim=-1, descending=False, stable=False):
        """``(values, indices)`` sorted along ``dim`` (a stable sort in every case)."""
        if self.ndim == 0:
            return SortResult(self, _v.Variable._wrap(jnp.zeros((), _v._canonical_dtype(np.int64))))
        return SortResult(*_v.apply(_sorted, self, axis=_dim(dim, self.ndim), descending=bool(descending),
                                    stable=True))

    def argsort(self, dim=-1, descending=False, stable=False):
        return _v.apply(_argsort, self, axis=_dim(dim, max(self.ndim, 1)), descending=bool(descending), stable=True)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The ``k`` largest (``largest=False``: smallest) entries along ``dim`` and their indices."""
        axis = _dim(dim, self.ndim)
        size = self.shape[axis] if self.ndim else 1
        if not 0 <= k <= size:
            raise RuntimeError(f"topk(): selected index k={k} out of range for dimension {axis} of size {size}")
        return TopkResult(*_v.apply(_topk, self, k=int(k), axis=axis, largest=bool(largest)))

    # -------------------------------------------------------------------- shape
    def narrow(self, dim, start, length):
        """The slice ``start:start+length`` of ``dim`` (``start`` may be negative)."""
        axis = _dim(dim, self.ndim)
        size = self.shape[axis]
        start = int(start.item() if isinstance(start, _v.Variable) else start)
        if not -size <= start <= size:
            raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
        if start < 0:
            start += size
        if length < 0 or start + length > size:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
        return _v.apply(_slice_dim, self, axis=axis, start=start, stop=start + int(length), step=1)

    def chunk(self, chunks, dim=0):
        """Split into ``chunks`` pieces of ``ceil(size / chunks)`` (the last may be smaller)."""
        if chunks <= 0:
            raise RuntimeError("chunk expects `chunks` to be greater than 0")
        axis = _dim(dim, self.ndim)
        size = self.shape[axis]
        step = max(-(-size // chunks), 1)
        return self.split(step, axis)

    def split(self, split_size_or_sections, dim=0):
        """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or pieces of the
        listed sizes, which must add up to the dimension's size."""
        axis = _dim(dim, self.ndim)
        size = self.shape[axis]
        if isinstance(split_size_or_sections, (list, tuple)):
            sizes = tuple(int(s) for s in split_size_or_sections)
            if sum(sizes) != size or any(s < 0 for s in sizes):
                raise RuntimeError(
                    f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size "
                    f"at dimension {axis}), but got split_sizes={list(sizes)}")
        else:
            step = int(split_size_or_sections)
            if step <= 0 and size:
                raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
            sizes = tuple(min(step, size - start) for start in range(0, size, step)) if size else (0,)
        pieces = _v.apply(_split_sizes, self, axis=axis, sizes=sizes)
        return pieces if isinstance(pieces, tuple) else (pieces,)

    def tensor_split(self, indices_or_sections, dim=0):
        axis = _dim(dim, self.ndim)
        size = self.shape[axis]
        if isinstance(indices_or_sections, int):
            n = indices_or_sections
            sizes = tuple(size // n + 1 if i < size % n else size // n for i in range(n))
        else:
            bounds = [0] + [min(max(int(i), 0), size) for i in indices_or_sections] + [size]
            sizes = tuple(max(b - a, 0) for a, b in zip(bounds, bounds[1:]))
        pieces = _v.apply(_split_sizes, self, axis=axis, sizes=sizes)
        return pieces if isinstance(pieces, tuple) else (pieces,)

    def unbind(self, dim=0):
        """The slices along ``dim``, that dim removed, as a tuple."""
        axis = _dim(dim, self.ndim)
        if self.shape[axis] == 0:
            return ()
        pieces = _v.apply(_unbind, self, axis=axis)
        return pieces if isinstance(pieces, tuple) else (pieces,)

    def repeat(self, *sizes):
        """Tile the tensor ``sizes`` times along each dim (``len(sizes) >= ndim``)."""
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of "
                               "dimensions of tensor")
        return _v.apply(_tile, self, reps=sizes)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        """Repeat each element ``repeats`` times (an int, or one count per element) along ``dim``."""
        axis = None if dim is None else _dim(dim, self.ndim)
        length = self.numel() if axis is None else self.shape[axis]
        if isinstance(repeats, _v.Variable) or isinstance(repeats, (list, tuple, np.ndarray)):
            counts = np.asarray(repeats).reshape(-1)
            if counts.size == 1:
                repeats = int(counts[0])
            else:
                if counts.size != length:
                    raise RuntimeError(f"repeats must have the same size as input along dim, got {counts.size} "
                                       f"and {length}")
                repeats = tuple(int(c) for c in counts)
        total = sum(repeats) if isinstance(repeats, tuple) else repeats * length
        return _v.apply(_repeat_interleave, self, repeats=repeats, axis=axis, total=int(total))

    def select(self, dim, index):
        """The slice at ``index`` of ``dim``, that dim removed (``x.select(1, i)`` is ``x[:, i]``).

        Raises:
            IndexError: ``index`` outside ``[-size, size)``.
        """
        axis = _dim(dim, self.ndim)
        size = self.shape[axis]
        if not -size <= index < size:
            raise IndexError(f"select(): index {index} out of range for tensor of size {list(self.shape)} at "
                             f"dimension {axis}")
        return self[(slice(None),) * axis + (int(index),)]

    @property
    def mT(self):
        """The transpose of the last two dims (batched matrices)."""
        if self.ndim < 2:
            raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
        return self.transpose(-2, -1)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        """Indices drawn in proportion to the rows' weights (see :func:`rustorch.multinomial`)."""
        from ._tensor_functions import multinomial

        return multinomial(self, num_samples, replacement, generator=generator)

    def expand_as(self, other):
        return self.expand(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def unflatten(self, dim, sizes):
        axis = _dim(dim, self.ndim)
        return self.reshape(self.shape[:axis] + tuple(sizes) + self.shape[axis + 1:])

    def movedim(self, source, destination):
        single = not isinstance(source, (tuple, list))
        source = (source,) if single else tuple(source)
        destination = (destination,) if not isinstance(destination, (tuple, list)) else tuple(destination)
        if len(source) != len(destination):
            raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(source)} dims) "
                               f"should contain the same number of dims as destination ({list(destination)} dims)")
        return _v.apply(_moveaxis, self, source=_dim(source, self.ndim), destination=_dim(destination, self.ndim))

    moveaxis = movedim

    def swapaxes(self, axis0, axis1):
        return self.transpose(axis0, axis1)

    swapdims = swapaxes

    def flip(self, *dims):
        dims = _v._dims_from_args(dims)
        return _v.apply(_flip, self, axes=_dim(tuple(dims), self.ndim))

    def fliplr(self):
        if self.ndim < 2:
            raise RuntimeError("Input must be >= 2-d.")
        return self.flip(1)

    def flipud(self):
        if self.ndim < 1:
            raise RuntimeError("Input must be >= 1-d.")
        return self.flip(0)

    def roll(self, shifts, dims=None):
        """Shift elements along ``dims`` (the flattened tensor when None), wrapping around."""
        if dims is None:
            return _v.apply(_roll, self, shifts=int(shifts) if not isinstance(shifts, (tuple, list)) else
                            tuple(shifts), axes=None)
        shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (int(shifts),)
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
        if len(shifts) != len(dims):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
        return _v.apply(_roll, self, shifts=shifts, axes=_dim(dims, self.ndim))

    def tril(self, diagonal=0):
        if self.ndim < 2:
            raise RuntimeError("tril: input tensor must have at least 2 dimensions")
        return _v.apply(_tril, self, k=int(diagonal))

    def triu(self, diagonal=0):
        if self.ndim < 2:
            raise RuntimeError("triu: input tensor must have at least 2 dimensions")
        return _v.apply(_triu, self, k=int(diagonal))

    def diag(self, diagonal=0):
        if self.ndim not in (1, 2):
            raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")
        return _v.apply(_diag, self, k=int(diagonal))

    def diagonal(self, offset=0, dim1=0, dim2=1):
        return _v.apply(_diagonal, self, offset=int(offset), axis1=_dim(dim1, self.ndim),
                        axis2=_dim(dim2, self.ndim))

    def trace(self):
        _check_matrix("trace", self, 2, "self")
        return _v.apply(_trace, self)

    # ------------------------------------------------------------------ indexing
    def gather(self, dim, index):
        """``out[i][j][k] = self[index[i][j][k]][j][k]`` (for ``dim=0``), as ``torch.gather``.

        Raises:
            RuntimeError: ``index`` of another rank, larger than ``self`` off ``dim``, or not integer.
            IndexError: an index value outside ``[0, size)`` (checked when the values are known;
                a pending index that is out of range gives NaN, or the dtype's minimum).
        """
        axis = _dim(dim, self.ndim)
        _check_integer_index("gather", index)
        index_shape = tuple(index.shape)
        if len(index_shape) != self.ndim:
            raise RuntimeError("gather(): Index tensor must have the same number of dimensions as input tensor")
        for d, (a, b) in enumerate(zip(index_shape, self.shape)):
            if d != axis and a > b:
                raise RuntimeError(f"gather(): Size does not match at dimension {d} expected index "
                                   f"{list(index_shape)} to be smaller than self {list(self.shape)} apart "
                                   f"from dimension {axis}")
        _check_index_range("gather", _index_values(index), self.shape[axis], axis)
        return _v.apply(_gather, self, index, axis=axis)

    def scatter(self, dim, index, src=None, *, value=None, reduce=None):
        """A copy of ``self`` with ``src`` (a tensor or number) written at ``index`` along
        ``dim``, as ``torch.scatter``; ``reduce='add'``/``'multiply'`` combines instead."""
        if src is None:
            src = value
        return self._scatter("scatter", dim, index, src, reduce)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        """In-place :meth:`scatter`."""
        self._begin_write()
        return self._write(self.scatter(dim, index, src, value=value, reduce=reduce))

    def scatter_add(self, dim, index, src):
        return self._scatter("scatter_add", dim, index, src, "add")

    def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
        if reduce not in ("sum", "prod", "amax", "amin"):
            raise RuntimeError(f"scatter_reduce(): reduce argument must be one of sum, prod, amax, amin "
                               f"(mean is not supported), got {reduce!r}")
        if not include_self:
            raise RuntimeError("scatter_reduce(): include_self=False is not supported")
        return self._scatter("scatter_reduce", dim, index, src, reduce)

    def _scatter(self, op, dim, index, src, reduce):
        axis = _dim(dim, self.ndim)
        _check_integer_index(op, index)
        if len(index.shape) != self.ndim:
            raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as self tensor")
        _check_index_range(op, _index_values(index), self.shape[axis], axis)
        return _v.apply(_scatter, self, index, src, axis=axis, reduce=reduce)

    def index_select(self, dim, index):
        """The entries at ``index`` (1-D integer) along ``dim``."""
        axis = _dim(dim, self.ndim)
        _check_integer_index("index_select", index)
        if len(index.shape) > 1:
            raise IndexError("index_select(): Index is supposed to be a vector")
        _check_index_range("index_select", _index_values(index), self.shape[axis] if self.ndim else 1, axis)
        return _v.apply(_index_select, self, index, axis=axis)

    def index_add(self, dim, index, source, *, alpha=1):
        axis = _dim(dim, self.ndim)
        _check_integer_index("index_add", index)
        _check_index_range("index_add", _index_values(index), self.shape[axis], axis)
        return _v.apply(_index_add, self, index, source, None if alpha == 1 else alpha, axis=axis)

    def take(self, index):
        _check_integer_index("take", index)
        _check_index_range("take", _index_values(index), self.numel(), 0, allow_negative=True)
        return _v.apply(_take, self, index)

    def masked_fill(self, mask, value):
        """``value`` where ``mask`` (bool, broadcastable) is True, ``self`` elsewhere."""
        if np.dtype(mask.dtype) != np.bool_:
            raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype}")
        if isinstance(value, _v.Variable) and value.ndim != 0:
            raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        return _v.apply(_masked_fill, self, mask, value)

    def masked_select(self, mask):
        """The elements where ``mask`` is True, as a 1-D tensor (reads the mask)."""
        shape = tuple(jnp.broadcast_shapes(self.shape, tuple(mask.shape)))
        mask_values = np.broadcast_to(np.asarray(mask), shape)
        return self.expand(shape)[mask_values]

    def where(self, condition, other):
        """``self`` where ``condition``, ``other`` elsewhere (``torch.where(condition, self, other)``)."""
        return _v.apply(_where, condition, self, other, dtype=result_type(self, other))

    def nonzero(self, *, as_tuple=False):
        """The indices of non-zero elements (reads the values: the count decides the shape)."""
        positions = np.nonzero(np.asarray(self._concrete()))
        dtype = _v._canonical_dtype(np.int64)
        if as_tuple:
            return tuple(_v.Variable._wrap(jnp.asarray(p.astype(dtype))) for p in positions)
        return _v.Variable._wrap(jnp.asarray(np.stack(positions, axis=1).astype(dtype)))

    def argwhere(self):
        return self.nonzero()

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        """The distinct values, sorted (reads the values: their count decides the shape)."""
        if dim is not None:
            raise RuntimeError("unique(): dim is not supported")
        values, inverse, counts = np.unique(np.asarray(self._concrete()), return_inverse=True, return_counts=True)
        out = [_v.Variable._wrap(jnp.asarray(values))]
        dtype = _v._canonical_dtype(np.int64)
        if return_inverse:
            out.append(_v.Variable._wrap(jnp.asarray(inverse.reshape(self.shape).astype(dtype))))
        if return_counts:
            out.append(_v.Variable._wrap(jnp.asarray(counts.astype(dtype))))
        return out[0] if len(out) == 1 else tuple(out)

    # ------------------------------------------------------------------ creation
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(jnp.zeros, size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(jnp.ones, size, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        """An uninitialised tensor in PyTorch; zeros here (JAX has no uninitialised memory)."""
        return self._new(jnp.zeros, size, dtype, device, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        dtype = self.dtype if dtype is None else _v._canonical_dtype(dtype)
        array = jnp.full(_shape_args((size,)), fill_value, dtype)
        return self._placed(array, device, requires_grad)

    def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
        array = _v._to_array(data, self.dtype if dtype is None else dtype)
        return self._placed(array, device, requires_grad)

    def _new(self, fill, size, dtype, device, requires_grad):
        dtype = self.dtype if dtype is None else _v._canonical_dtype(dtype)
        return self._placed(fill(_shape_args(size), dtype), device, requires_grad)

    def _placed(self, array, device, requires_grad):
        array = _device.place(array, device if device is not None else _variable_device(self))
        return _v.Variable._wrap(array, requires_grad)

    # ------------------------------------------------------------------- random
    def bernoulli(self, p=None, *, generator=None):
        """0/1 samples with probability ``self`` (or ``p``) per element, recorded with a key of
        the default generator (or ``generator``), as dropout masks are."""
        generator = generator or _random.default_generator
        probs = self if p is None else _v.apply(jnp.full_like, self, p)
        return _v.apply(_bernoulli, probs, generator.key, generator.next_counter())


def _trunc_divide(a, b):
    return jnp.trunc(a / b)


def _trunc_divide_int(a, b):
    return lax.div(a, b)


def _correction(unbiased, correction):
    if correction is not None:
        if unbiased is not None:
            raise TypeError("var()/std(): give either unbiased or correction, not both")
        return int(correction)
    return 1 if unbiased is None or unbiased else 0


def _check_matrix(op, value, ndim, name):
    if value.ndim != ndim:
        word = {1: "1D", 2: "a matrix", 3: "a 3D tensor"}[ndim]
        raise RuntimeError(f"{op}(): {name} must be {word}, got a {value.ndim}-D tensor of shape {tuple(value.shape)}")


def _check_inner(op, a, b):
    if a[-1] != b[-2]:
        raise RuntimeError(f"{op}(): mat1 and mat2 shapes cannot be multiplied "
                           f"({'x'.join(map(str, a[-2:]))} and {'x'.join(map(str, b[-2:]))})")


for _name, _op in _UNARY.items():
    setattr(TensorMethods, _name, _make_unary_method(_name, _op))
    _channels_last.register_elementwise(_op)
for _op in (_binary, _identity_copy, _round):
    _channels_last.register_elementwise(_op)
for _name, (_fn, _kind) in _BINARY_FNS.items():
    setattr(TensorMethods, _name, _make_binary_method(_name, _fn, _kind))
del _name, _op, _fn, _kind
