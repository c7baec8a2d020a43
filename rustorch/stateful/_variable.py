"""``Variable`` (alias ``Tensor``): a PyTorch-style tensor whose operations are recorded.

A Variable is either *concrete* (it holds a JAX array) or *pending* (it is output ``_index`` of
a recorded :class:`~rustorch.stateful._graph.Node`). Arithmetic, indexing, reductions and layer
calls on Variables record nodes; shape and dtype are known at once, values are computed by one
compiled program when first needed. See :mod:`rustorch.stateful._graph`.
"""
from __future__ import annotations

import weakref
from collections import namedtuple
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _device
from . import _autocast, _channels_last, _checks, _graph, _random
from ._graph import Leaf, Node, scalar_leaf
from . import _tensor_methods
from ._tensor_methods import Size, TensorMethods

_INEXACT_KINDS = ("f", "c")
_SCALAR_TYPES = (bool, int, float)


def _canonical_dtype(dtype) -> np.dtype:
    """The dtype JAX will actually hold (int64 becomes int32 unless x64 is enabled)."""
    return np.dtype(jax.dtypes.canonicalize_dtype(np.dtype(dtype)))


def _to_array(data, dtype=None):
    """A strongly typed JAX array from numpy/JAX arrays, (nested) Python numbers or Variables.

    Python floats become float32 and Python ints int32/int64 (JAX's default integer), like
    ``torch.tensor``; float64 numpy data stays float64 only when JAX runs with x64 enabled.
    Arrays are never weakly typed, so a program is never compiled twice for the same shape.
    """
    if isinstance(data, Variable):
        data = data._concrete()
    if isinstance(data, jax.Array) and dtype is None and not data.weak_type:
        return data
    host = np.asarray(data) if not isinstance(data, jax.Array) else data
    if dtype is None:
        if host.dtype == np.float64 and not isinstance(data, (np.ndarray, jax.Array)):
            dtype = np.float32  # Python floats are float32 in PyTorch
        else:
            dtype = host.dtype
    target = _canonical_dtype(dtype)
    if isinstance(host, np.ndarray):
        # Always a private copy: on CPU, device_put can alias an aligned numpy buffer, and the
        # caller may overwrite that buffer (a reused batch array) while the value is in use.
        return jax.device_put(host.astype(target, copy=True))
    return lax.convert_element_type(host, target)


_inexact_cache: dict = {}


def _is_inexact(dtype) -> bool:
    known = _inexact_cache.get(dtype)
    if known is None:
        if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
            known = False  # PRNG keys and other extended dtypes are never differentiated
        else:
            known = np.dtype(dtype).kind in _INEXACT_KINDS or np.dtype(dtype) == jnp.bfloat16
        _inexact_cache[dtype] = known
    return known


def _as_input(value):
    """What a node stores for one positional argument: an edge ``(Node, output)`` for a value
    with a recorded producer, a :class:`Leaf` for a concrete value (Python numbers become
    weakly typed program inputs, so a changing float never recompiles), or a constant."""
    if isinstance(value, Variable):
        if value._pending_leaf:
            node, index = value._node, value._index
            if node.values is None or node.values[index] is None:
                if node.depth > _graph.MAX_FUSED_UPDATE_DEPTH:
                    _graph.materialize(value)  # a long chain of in-place updates: compute it now
            if node.values is not None and node.values[index] is not None:
                _graph.settle(value, node.values[index])
            elif value.requires_grad and _graph.is_grad_enabled():
                # A bound leaf: the pending update runs in the program that uses it.
                box = value._version
                return Leaf(None, value, value._aval, value, 0 if box is None else box[0], pending=(node, index))
            else:
                return (node, index)
        node = value._node
        if node is not None and (value._value is None or value.requires_grad):
            return (node, value._index)
        wants_grad = value.requires_grad and _graph.is_grad_enabled()
        box = value._version
        return Leaf(value._value, value if wants_grad else None, value._aval, value, 0 if box is None else box[0])
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return scalar_leaf(value)
    if isinstance(value, jax.Array):
        return Leaf(value)  # immutable: no copy needed (and none from a device to the host)
    if isinstance(value, (np.ndarray, np.generic)):
        # A snapshot: the op runs later, and the caller may overwrite the array meanwhile.
        return Leaf(np.array(value))
    if isinstance(value, (list, tuple)):
        return Leaf(_to_array(value))
    raise TypeError(f"cannot use a {type(value).__name__} as an operand of a rustorch operation")


def _input_requires_grad(stored) -> bool:
    if isinstance(stored, Leaf):
        return stored.var is not None
    if isinstance(stored, tuple):
        return stored[0].requires_grad
    return False


def apply(op, *inputs, **static):
    """Record ``op(*inputs, **static)`` and return its output Variable(s), without computing.

    ``inputs`` may be Variables, arrays, Python scalars (weakly typed program inputs) or None;
    ``static`` values must be hashable (they are part of the compiled program's cache key:
    pass only values that decide a shape or an algorithm there). Ops that return a tuple give
    a tuple of Variables. Value checks PyTorch makes on the inputs (class targets in range)
    run here when the values are known, else with the program (see ``_checks``).
    """
    if _autocast.state.active:  # rustorch.autocast: record the op's casts first (see _autocast)
        return _autocast.record(apply, op, inputs, static)
    check = _checks.RECORD_CHECKS.get(op)
    flags = check(inputs, static) if check is not None else ()
    stored = tuple(_as_input(v) for v in inputs)
    static_items = tuple(sorted(static.items()))
    avals, multi = _graph.infer_avals(op, static_items, stored)
    requires_grad = _graph.is_grad_enabled() and any(_input_requires_grad(s) for s in stored)
    node = Node(op, static_items, stored, avals, multi, requires_grad)
    outs = []
    for index, aval in enumerate(avals):
        var = Variable.__new__(Variable)
        var._init_pending(node, index, aval, requires_grad and _is_inexact(aval.dtype))
        node.outputs[index] = weakref.ref(var)
        outs.append(var)
    for flag, exception, message in flags:
        _graph.attach_check(outs[0], flag, exception, message)
    if node.overdue():
        _graph.materialize(*outs)  # bounded growth: a chain kept pending for too long
    return tuple(outs) if multi else outs[0]


# ----------------------------------------------------------------------------- small ops
# Module-level functions, so that they are stable (hashable) parts of a program's cache key.

def _astype(x, *, dtype):
    return lax.convert_element_type(x, dtype)


def _rebuild_index(spec, index_arrays):
    """The index tuple that :func:`_advanced_index` encoded, with array entries filled back in."""
    arrays = iter(index_arrays)
    index = []
    for kind, value in spec:
        if kind == "a":
            index.append(next(arrays))
        elif kind == "s":
            index.append(slice(*value))
        else:
            index.append(value)
    return tuple(index)


def _getitem(x, *index_arrays, spec):
    return x[_rebuild_index(spec, index_arrays)]


def _setitem(x, value, *index_arrays, spec):
    value = jnp.asarray(value).astype(x.dtype)
    return x.at[_rebuild_index(spec, index_arrays)].set(value)


def _index_put(x, value, *index_arrays, accumulate):
    value = jnp.asarray(value).astype(x.dtype)
    at = x.at[tuple(index_arrays)]
    return at.add(value) if accumulate else at.set(value)


def _basic_window(shape, starts, spec):
    """Per input axis: the start, the window size and the step of a basic index; plus the
    result shape. ``spec`` entries: ("full",), ("int",), ("slice", length, step), ("new",)."""
    starts = iter(starts)
    begin, sizes, steps, result = [], [], [], []
    axis = 0
    for entry in spec:
        kind = entry[0]
        if kind == "new":
            result.append(1)
            continue
        if kind == "full":
            begin.append(0)
            sizes.append(shape[axis])
            steps.append(1)
            result.append(shape[axis])
        elif kind == "int":
            begin.append(next(starts))
            sizes.append(1)
            steps.append(1)
        else:
            _, length, step = entry
            begin.append(next(starts))
            sizes.append((length - 1) * step + 1 if length else 0)
            steps.append(step)
            result.append(length)
        axis += 1
    return begin, sizes, steps, tuple(result)


def _basic_getitem(x, *starts, spec):
    """``x[ints and slices]`` with the starts as program inputs: a loop that moves a window of
    fixed length (``source[i:i + 35]``) replays one program."""
    begin, sizes, steps, result = _basic_window(x.shape, starts, spec)
    y = lax.dynamic_slice(x, begin, sizes) if x.ndim else x
    if any(step != 1 for step in steps):
        y = y[tuple(slice(None, None, step) for step in steps)]
    return jnp.reshape(y, result)


def _basic_getitem_channels_last(args, static):
    """``x[:, c0:c1, h0:h1:sh, w0:w1:sw]`` (slices of all four axes of an image activation) on the
    channels-last array: the same window with its axes in NHWC order."""
    x, starts, spec = args[0], iter(args[1:]), static["spec"]
    if not isinstance(x, _channels_last.ChannelsLast) or len(spec) != 4 or any(
            entry[0] not in ("full", "slice") for entry in spec):
        return NotImplemented
    per_axis = [(entry, next(starts) if entry[0] == "slice" else None) for entry in spec]
    nhwc = [per_axis[axis] for axis in (0, 2, 3, 1)]
    nhwc_starts = [start for _, start in nhwc if start is not None]
    return _channels_last.ChannelsLast(
        _basic_getitem(x.array, *nhwc_starts, spec=tuple(entry for entry, _ in nhwc)))


_channels_last.register(_basic_getitem, _basic_getitem_channels_last)


def _basic_setitem(x, value, *starts, spec):
    begin, sizes, steps, result = _basic_window(x.shape, starts, spec)
    value = jnp.broadcast_to(lax.convert_element_type(jnp.asarray(value), x.dtype), result)
    window = tuple(1 if entry[0] == "int" else (entry[1] if entry[0] == "slice" else size)
                   for entry, size in zip([e for e in spec if e[0] != "new"], sizes))
    value = jnp.reshape(value, window)
    if all(step == 1 for step in steps):
        return lax.dynamic_update_slice(x, value, begin) if x.ndim else value
    positions = jnp.ix_(*(start + jnp.arange(length) * step
                          for start, length, step in zip(begin, window, steps)))
    return x.at[positions].set(value)


def _out_of_bounds(index, *, size):
    return jnp.any((index < -size) | (index >= size))


def _zeros(*, shape, dtype):
    return jnp.zeros(shape, dtype)


def recorded_zeros_like(var) -> "Variable":
    """Zeros of ``var``'s shape and dtype, recorded: computed by the program that reads them
    (``zero_grad(set_to_none=False)`` costs no dispatch of its own)."""
    with _graph.no_grad():
        return apply(_zeros, shape=tuple(var.shape), dtype=np.dtype(var.dtype))


def _fill(x, value):
    return jnp.broadcast_to(lax.convert_element_type(jnp.asarray(value), x.dtype), x.shape)


def _copy(x, src):
    return jnp.broadcast_to(lax.convert_element_type(src, x.dtype), x.shape)


def _masked_fill(x, mask, value):
    return jnp.where(mask, lax.convert_element_type(jnp.asarray(value), x.dtype), x)


def _uniform(x, key, counter, low, high):
    sample = jax.random.uniform(jax.random.fold_in(key, counter), x.shape, x.dtype)
    return sample * (high - low) + low


def _normal(x, key, counter, mean, std):
    return jax.random.normal(jax.random.fold_in(key, counter), x.shape, x.dtype) * std + mean


def _random_integers(x, key, counter, low, high):
    sample = jax.random.randint(jax.random.fold_in(key, counter), x.shape, low, high, dtype=jnp.int32)
    return sample.astype(x.dtype)


@jax.custom_vjp
def _overwrite(old, new):
    """The value ``new`` with the gradient history of ``old``: an in-place write made without
    autograd (under no_grad, or through ``.data``/``detach()``) on a tensor that requires grad."""
    return new


def _overwrite_fwd(old, new):
    return new, None


def _overwrite_bwd(_, g):
    return g, jnp.zeros_like(g)


_overwrite.defvjp(_overwrite_fwd, _overwrite_bwd)


def _pow_scalar(x, *, exponent):
    if isinstance(exponent, float) and not _is_inexact(x.dtype):
        x = lax.convert_element_type(x, np.float32)
    return jnp.power(x, exponent)


def _max_dim(x, *, axis, keepdims):
    return jnp.max(x, axis=axis, keepdims=keepdims), jnp.argmax(x, axis=axis, keepdims=keepdims)


def _min_dim(x, *, axis, keepdims):
    return jnp.min(x, axis=axis, keepdims=keepdims), jnp.argmin(x, axis=axis, keepdims=keepdims)


def _mean(x, *, axis, keepdims):
    return jnp.mean(x, axis=axis, keepdims=keepdims)


def _var(x, *, axis, correction, keepdims):
    return jnp.var(x, axis=axis, ddof=correction, keepdims=keepdims)


def _relu(x):
    # jax.nn.relu's gradient is 0 at exactly 0, as torch's; jnp.maximum would give 0.5 there.
    return jax.nn.relu(x)


_channels_last.register_elementwise(_relu)


def _softmax(x, *, axis):
    return jax.nn.softmax(x, axis=axis)


def _log_softmax(x, *, axis):
    return jax.nn.log_softmax(x, axis=axis)


def _flatten(x, *, start_dim, end_dim):
    shape = x.shape
    ndim = len(shape)
    if ndim == 0:
        return jnp.reshape(x, (1,))
    start = start_dim % ndim
    end = end_dim % ndim
    return jnp.reshape(x, shape[:start] + (-1,) + shape[end + 1:])


def _clamp(x, lo, hi):
    # torch passes the gradient where lo <= x <= hi, boundaries included; jnp.maximum and
    # jnp.minimum would halve it at the boundaries.
    if lo is not None:
        x = jnp.where(x < lo, jnp.asarray(lo, x.dtype), x)
    if hi is not None:
        x = jnp.where(x > hi, jnp.asarray(hi, x.dtype), x)
    return x


def _stop_gradient(x):
    return lax.stop_gradient(x)


def _normalize_dim(dim, ndim, name="dim"):
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        return tuple(_normalize_dim(d, ndim, name) for d in dim)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {dim!r}")
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-size}, {size - 1}], but got {dim})"
        )
    return int(dim) % size


# Which values each op's backward reads (PyTorch's saved tensors): overwriting one in place
# before backward() raises. Unlisted ops save their inputs.
for _op in (jnp.add, jnp.subtract, jnp.negative, _basic_getitem, _getitem, _basic_setitem, _setitem,
            _index_put, _fill, _copy, _masked_fill, _astype, _stop_gradient, _overwrite, jnp.reshape,
            jnp.transpose, jnp.sum, _mean, _flatten, jnp.squeeze, jnp.expand_dims, jnp.broadcast_to):
    _graph.register_saved(_op, inputs=False, outputs=False)
for _op in (jnp.exp, jax.nn.sigmoid, jnp.tanh, _relu, _softmax, _log_softmax, jnp.sqrt,
            *(_tensor_methods._UNARY[name] for name in ("exp", "expm1", "sigmoid", "tanh", "sqrt", "rsqrt",
                                                        "reciprocal"))):
    _graph.register_saved(_op, inputs=False, outputs=True)
_graph.register_saved(_tensor_methods._UNARY["neg"], inputs=False, outputs=False)


def _is_index_array(item) -> bool:
    return isinstance(item, (Variable, np.ndarray, jax.Array, list)) or isinstance(item, bool)


def _out_of_range(index, size, axis) -> IndexError:
    return IndexError(f"index {index} is out of bounds for dimension {axis} with size {size}")


def _consumes(item) -> int:
    """How many input axes an index entry addresses."""
    if item is None or item is Ellipsis or isinstance(item, bool):
        return 0
    dtype = getattr(item, "dtype", None)
    if dtype is None and isinstance(item, list):
        dtype = np.asarray(item).dtype
        return np.asarray(item).ndim if dtype == np.bool_ else 1
    if dtype is not None and np.dtype(dtype) == np.bool_:
        return max(len(item.shape), 1)
    return 1


def _expand_index(index, shape):
    """The index as a tuple with the Ellipsis expanded, and the input axis of every entry."""
    if not isinstance(index, tuple):
        index = (index,)
    # A range indexes as the list of its values, as in PyTorch (x[range(n), labels]).
    index = tuple(np.arange(i.start, i.stop, i.step) if isinstance(i, range) else i for i in index)
    consumed = sum(_consumes(item) for item in index)
    if sum(1 for item in index if item is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    items, axes = [], []
    axis = 0
    for item in index:
        if item is Ellipsis:
            for _ in range(len(shape) - consumed):
                items.append(slice(None))
                axes.append(axis)
                axis += 1
            continue
        items.append(item)
        axes.append(axis)
        axis += _consumes(item)
    while axis < len(shape):
        items.append(slice(None))
        axes.append(axis)
        axis += 1
    return items, axes


def _check_int(item, size, axis) -> int:
    item = int(item)
    if not -size <= item < size:
        raise _out_of_range(item, size, axis)
    return item % size if size else item


def _basic_index(items, axes, shape):
    """``(spec, starts)`` of an index made of ints, slices and None: static window lengths,
    dynamic starts."""
    spec, starts = [], []
    for item, axis in zip(items, axes):
        if item is None:
            spec.append(("new",))
        elif isinstance(item, slice):
            size = shape[axis]
            if item.step is not None and int(item.step) <= 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = item.indices(size)
            length = len(range(start, stop, step))
            if start == 0 and step == 1 and length == size:
                spec.append(("full",))
            else:
                spec.append(("slice", length, step))
                starts.append(min(start, size - 1) if length == 0 and size else start)
        elif isinstance(item, (int, np.integer)):
            spec.append(("int",))
            starts.append(_check_int(item, shape[axis], axis))
        else:
            raise TypeError(f"unsupported index {item!r} of type {type(item).__name__}")
    return tuple(spec), starts


def _advanced_index(items, axes, shape):
    """``(spec, arrays, pending)`` of an index with index arrays or masks; concrete index arrays
    are checked against the shape here, pending ones are returned to be checked in the program."""
    spec, arrays, pending = [], [], []
    for item, axis in zip(items, axes):
        if isinstance(item, slice):
            spec.append(("s", (item.start, item.stop, item.step)))
        elif item is None:
            spec.append(("c", None))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            spec.append(("c", _check_int(item, shape[axis], axis)))
        elif _is_index_array(item):
            array = item if not isinstance(item, (list, bool)) else np.asarray(item)
            if np.dtype(array.dtype) == np.bool_ and len(array.shape) > 0:
                # A mask selects a data-dependent number of elements, and a recorded op needs
                # its shape now: read the mask and index with its nonzero positions, which is
                # what torch does (x[mask] is x[mask.nonzero(as_tuple=True)]).
                mask = np.asarray(array)
                expected = tuple(shape[axis:axis + mask.ndim])
                if mask.shape != expected:
                    raise IndexError(
                        f"The shape of the mask {list(mask.shape)} at index {axis} does not match the "
                        f"shape of the indexed tensor {list(expected)} at index {axis}")
                for positions in np.nonzero(mask):
                    spec.append(("a", None))
                    arrays.append(positions.astype(_canonical_dtype(np.int64)))
                continue
            if np.dtype(array.dtype).kind not in "iu":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            values = _checks.concrete(array)
            size = shape[axis]
            if values is not None:
                bad = (values < -size) | (values >= size)
                if bad.any():
                    raise _out_of_range(int(values[bad].flat[0]), size, axis)
            else:
                pending.append((array, size, axis))
            spec.append(("a", None))
            arrays.append(array)
        else:
            raise TypeError(f"unsupported index {item!r} of type {type(item).__name__}")
    return tuple(spec), arrays, pending


def _base_ref(base):
    """How a view refers to its base: weakly when the base is an ordinary tensor (a view must
    not keep it, and its value as a program output, alive; a write to a dropped base is
    unobservable), strongly when the base is itself a view (``x.view(-1)[0:2].zero_()``
    writes through a temporary view)."""
    if base._view is not None:
        return lambda: base
    return weakref.ref(base)


def _reshape_view(base, result):
    """Mark ``result`` (a reshape of ``base``) as a view: in-place writes reach ``base``."""
    shape = base.shape
    result._view = (_base_ref(base), lambda b, v: apply(jnp.reshape, v, shape=shape))
    return result


def _permute_view(base, result, axes):
    inverse = tuple(int(i) for i in np.argsort(axes))
    result._view = (_base_ref(base), lambda b, v: apply(jnp.transpose, v, axes=inverse))
    return result


def _window_view(base, result, spec, starts):
    result._view = (_base_ref(base), lambda b, v: apply(_basic_setitem, b, v, *starts, spec=spec))
    return result


def _attach_index_checks(result, pending, what):
    for array, size, axis in pending:
        with _graph.no_grad():
            flag = apply(_out_of_bounds, array, size=size)
        _graph.attach_check(result, flag, IndexError,
                            f"{what}: an index tensor holds a value out of bounds for dimension {axis} with size {size}")


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _dims_from_args(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


class Variable(TensorMethods):
    """A tensor in the PyTorch sense: data, ``requires_grad``, ``grad`` and recorded history.

    ``Variable(data, requires_grad=False)`` wraps ``data`` (a Variable, a numpy or JAX array,
    or nested Python numbers; see :func:`tensor` for dtype rules). Arithmetic, comparison,
    indexing, reduction and shape methods behave as ``torch.Tensor``'s. Operations are recorded
    and computed lazily, in one compiled program per graph structure; reading a value
    (``item()``, ``numpy()``, ``tolist()``, ``float()``, printing, ``bool()``) computes it.

    Raises:
        RuntimeError: ``requires_grad=True`` on an integer or boolean tensor, as PyTorch.
    """

    __slots__ = ("_value", "_node", "_index", "_aval", "requires_grad", "grad", "_is_param",
                 "_version", "_aliases", "_view", "_pending_leaf", "__weakref__")
    __array_priority__ = 1000  # numpy defers ``ndarray op Variable`` to our reflected operators

    def __init__(self, data=None, requires_grad: bool = False):
        if data is None:
            data = np.zeros((0,), np.float32)
        value = _to_array(data)
        self._init_concrete(value, requires_grad)

    def __getstate__(self):
        # Aliases (``.data``/``detach()`` views) are relations inside this process, held by
        # weak references: a pickled tensor (sent to another process) starts without them.
        state = object.__getstate__(self)
        if isinstance(state, tuple) and state[1] and state[1].get("_aliases") is not None:
            state = (state[0], dict(state[1], _aliases=None))
        return state

    def _init_concrete(self, value, requires_grad):
        if requires_grad and not _is_inexact(value.dtype):
            raise RuntimeError(
                f"Only Tensors of floating point dtype can require gradients, got {np.dtype(value.dtype)}"
            )
        self._value = value
        self._node = None
        self._index = 0
        self._aval = _graph.Aval(tuple(value.shape), value.dtype)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._is_param = False
        self._version = None       # None (version 0) or a one-item list shared with detach() aliases
        self._aliases = None       # None or a list of weak references shared by .data/detach() aliases
        self._view = None          # (base reference, write_back(base, view) -> new base) of a view
        self._pending_leaf = False  # a leaf whose in-place update (under no_grad) is not computed yet

    def _init_pending(self, node, index, aval, requires_grad):
        self._value = None
        self._node = node
        self._index = index
        self._aval = aval
        self.requires_grad = requires_grad
        self.grad = None
        self._is_param = False
        self._version = None
        self._aliases = None
        self._view = None
        self._pending_leaf = False

    @classmethod
    def _wrap(cls, value, requires_grad=False):
        var = cls.__new__(cls)
        var._init_concrete(value, requires_grad)
        return var

    # -------------------------------------------------------------- values and metadata
    def _take_computed(self) -> bool:
        """Whether the value is at hand: a pending one that a program has computed is taken
        (no program runs)."""
        if self._value is None:
            node = self._node
            if node.values is None or node.values[self._index] is None:
                return False
            _graph.settle(self, node.values[self._index])
        return True

    def _concrete(self):
        if not self._take_computed():
            _graph.materialize(self)
        _graph.raise_pending_errors()
        return self._value

    @property
    def data(self) -> "Variable":
        """The value without history (``requires_grad=False``), as ``tensor.data``: a view that
        shares the value, so in-place ops on it (``p.data.fill_(0)``) change this tensor too,
        without autograd noticing (no version change, as PyTorch)."""
        return self._alias(share_version=False)

    @data.setter
    def data(self, value) -> None:
        self._assign(_to_array(value, self.dtype), bump_version=False)

    def _alias(self, share_version: bool) -> "Variable":
        """A Variable without history sharing this one's value (``.data``, ``detach()``)."""
        if self._value is not None and not self._pending_leaf:
            alias = Variable._wrap(self._value)
        else:
            with _graph.no_grad():
                alias = apply(_stop_gradient, self)
            if self._node is not None and alias._node is not None:
                node = self._node
                if node.followers is None:
                    node.followers = []
                elif len(node.followers) > 8:
                    node.followers[:] = [ref for ref in node.followers if ref() is not None]
                node.followers.append(weakref.ref(alias))
        if share_version:
            if self._version is None:
                self._version = [0]
            alias._version = self._version
        group = self._aliases
        if group is None:
            group = self._aliases = [weakref.ref(self)]
        elif len(group) > 8:
            group[:] = [ref for ref in group if ref() is not None]
        group.append(weakref.ref(alias))
        alias._aliases = group
        return alias

    def _assign(self, array, allow_dtype_change: bool = False, bump_version: bool = True) -> None:
        """Replace the value in place (keeps identity, drops history): optimizer steps, loads.
        Aliases (``.data``, ``detach()``) see the new value."""
        if not allow_dtype_change and array.dtype != self.dtype:
            array = lax.convert_element_type(array, self.dtype)
        if tuple(array.shape) != self.shape:
            raise RuntimeError(
                f"cannot assign a value of shape {tuple(array.shape)} to a tensor of shape {self.shape}"
            )
        if bump_version:
            if self._version is None:
                self._version = [1]
            else:
                self._version[0] += 1
        members = [self] if self._aliases is None else [m for m in (r() for r in self._aliases) if m is not None]
        for member in members:
            if member is not self and member.requires_grad and member._node is not None and not member._pending_leaf:
                continue  # a non-leaf alias keeps its history
            member._value = array
            member._node = None
            member._pending_leaf = False
            member._aval = _graph.Aval(tuple(array.shape), array.dtype)

    @property
    def shape(self) -> Size:
        """The shape, a :class:`Size` (a tuple of ints, as ``torch.Size``)."""
        return Size(self._aval.shape)

    @property
    def dtype(self) -> np.dtype:
        """The element type, a numpy dtype (``rustorch.float32`` is ``numpy.float32``)."""
        return self._aval.dtype

    @property
    def ndim(self) -> int:
        return len(self._aval.shape)

    @property
    def is_leaf(self) -> bool:
        """True for Variables created by the user (not results of recorded operations), and,
        by torch's convention, for every Variable that does not require grad."""
        return self._node is None or not self.requires_grad or self._pending_leaf

    def size(self, dim=None):
        """The shape, or one dimension of it."""
        if dim is None:
            return self.shape
        return self.shape[_normalize_dim(dim, self.ndim)]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def numpy(self) -> np.ndarray:
        """The value as a numpy array (raises if the Variable requires grad, as PyTorch)."""
        if self.requires_grad and _graph.is_grad_enabled():
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        return np.asarray(self._concrete())

    def item(self):
        """The single value as a Python number (computes the graph if pending)."""
        value = self._concrete()
        if value.size != 1:
            raise RuntimeError(
                f"a Tensor with {value.size} elements cannot be converted to Scalar"
            )
        return np.asarray(value).reshape(()).item()

    def tolist(self):
        return np.asarray(self._concrete()).tolist()

    def __array__(self, dtype=None, copy=None):
        array = np.asarray(self._concrete())
        if dtype is not None:
            return array.astype(dtype)
        # numpy asks for copy=True in np.array(v): it must get a writable array of its own.
        return array.copy() if copy else array

    def __jax_array__(self):
        return self._concrete()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if np.dtype(self.dtype).kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        value = self._concrete()
        if value.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {value.size} values is ambiguous"
            )
        return bool(np.asarray(value).reshape(()))

    __hash__ = object.__hash__

    def __repr__(self):
        body = np.array2string(
            np.asarray(self._concrete()), separator=", ", prefix="tensor(", precision=4,
            threshold=1000, edgeitems=3,
        )
        extras = []
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.bool_)) or self.numel() == 0:
            extras.append(f"dtype=rustorch.{self.dtype.name}")
        if self._node is not None and self.requires_grad:
            extras.append(f"grad_fn=<{getattr(self._node.op, '__name__', 'op')}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        """A 0-d tensor formats as its Python number (``f"{loss:.4f}"``), as in PyTorch."""
        if self.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    # ------------------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad: bool = True) -> "Variable":
        """Set ``requires_grad`` on a leaf in place; returns ``self``."""
        if not self.is_leaf and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. Use detach() instead."
            )
        if requires_grad and not _is_inexact(self.dtype):
            raise RuntimeError("Only Tensors of floating point dtype can require gradients")
        if requires_grad and not self.requires_grad and self._node is not None:
            # A no-grad result is a leaf (torch's convention); gradients can only reach it as
            # a concrete leaf of the graphs that use it from now on.
            self._concrete()
            self._node = None
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Variable":
        """A Variable with the same value and no history (``requires_grad=False``). As in
        PyTorch it shares the value and the version counter: in-place ops on either are seen
        by both, and by a backward that saved the value."""
        return self._alias(share_version=True)

    def backward(self, gradient=None, retain_graph=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        As ``torch.Tensor.backward``: gradients add up across calls until ``zero_grad()``;
        a non-scalar needs ``gradient`` (the vector in the vector-Jacobian product); the graph
        is freed afterwards unless ``retain_graph=True``. Leaves that took no part keep
        ``grad=None``. The forward values, the gradients and any pending BatchNorm statistics
        are computed by one compiled program.

        Raises:
            RuntimeError: the Variable does not require grad, is not a scalar and no
                ``gradient`` was given, or its graph was already freed by a backward().
        """
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        cotangent = None
        if gradient is not None:
            cotangent = _to_array(gradient, self.dtype)
            if tuple(cotangent.shape) != self.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of {tuple(cotangent.shape)} "
                    f"and output[0] has a shape of {self.shape}."
                )
        elif self.numel() != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs (this output has shape "
                f"{self.shape}); pass gradient= with the output's shape, or reduce it first (e.g. .sum())"
            )
        if self._node is None:  # a leaf: d(self)/d(self) is the cotangent itself
            grads = [(self, cotangent if cotangent is not None else jnp.ones(self.shape, self.dtype))]
        else:
            grads = _graph.evaluate([self], grad_root=self, cotangent=cotangent, retain_graph=bool(retain_graph))
        for var, grad in grads:
            previous = var.grad
            if previous is None:
                var.grad = Variable._wrap(grad)
            elif previous._value is None and previous._node.depth < _graph.MAX_FUSED_UPDATE_DEPTH:
                # A pending gradient (zero_grad(set_to_none=False)'s zeros): the sum is computed
                # in the program that reads it, usually the next optimizer step's.
                with _graph.no_grad():
                    var.grad = apply(jnp.add, previous, grad)
            else:
                var.grad = Variable._wrap(previous._concrete() + grad)

    # ---------------------------------------------------------------------- arithmetic
    def __add__(self, other):
        return _binary(jnp.add, self, other)

    def __radd__(self, other):
        return _binary(jnp.add, other, self)

    def __sub__(self, other):
        return _binary(jnp.subtract, self, other)

    def __rsub__(self, other):
        return _binary(jnp.subtract, other, self)

    def __mul__(self, other):
        return _binary(jnp.multiply, self, other)

    def __rmul__(self, other):
        return _binary(jnp.multiply, other, self)

    def __truediv__(self, other):
        return _binary(jnp.true_divide, self, other)

    def __rtruediv__(self, other):
        return _binary(jnp.true_divide, other, self)

    def __floordiv__(self, other):
        return _binary(jnp.floor_divide, self, other)

    def __mod__(self, other):
        return _binary(jnp.remainder, self, other)

    def __pow__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return apply(_pow_scalar, self, exponent=other)  # x ** 2 stays exact (x * x)
        return apply(jnp.power, self, other)

    def __rpow__(self, other):
        return _binary(jnp.power, other, self)

    def __matmul__(self, other):
        return apply(jnp.matmul, self, other)

    def __rmatmul__(self, other):
        return apply(jnp.matmul, other, self)

    def __neg__(self):
        return apply(jnp.negative, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return apply(jnp.abs, self)

    def __invert__(self):
        return apply(jnp.invert, self)

    def __and__(self, other):
        return apply(jnp.bitwise_and, self, other)

    def __or__(self, other):
        return apply(jnp.bitwise_or, self, other)

    def __xor__(self, other):
        return apply(jnp.bitwise_xor, self, other)

    def __eq__(self, other):
        return _binary(jnp.equal, self, other)

    def __ne__(self, other):
        return _binary(jnp.not_equal, self, other)

    def __lt__(self, other):
        return _binary(jnp.less, self, other)

    def __le__(self, other):
        return _binary(jnp.less_equal, self, other)

    def __gt__(self, other):
        return _binary(jnp.greater, self, other)

    def __ge__(self, other):
        return _binary(jnp.greater_equal, self, other)

    matmul = __matmul__
    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__
    neg = __neg__
    abs = __abs__

    # ------------------------------------------------------------------- elementwise
    def exp(self):
        return apply(jnp.exp, self)

    def log(self):
        return apply(jnp.log, self)

    def sqrt(self):
        return apply(jnp.sqrt, self)

    def sin(self):
        return apply(jnp.sin, self)

    def cos(self):
        return apply(jnp.cos, self)

    def tanh(self):
        return apply(jnp.tanh, self)

    def relu(self):
        return apply(_relu, self)

    def clamp(self, min=None, max=None):
        """``torch.clamp``: elementwise limits (either may be None)."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return apply(_clamp, self, min, max)

    clip = clamp

    def softmax(self, dim):
        return apply(_softmax, self, axis=_normalize_dim(dim, self.ndim))

    def log_softmax(self, dim):
        return apply(_log_softmax, self, axis=_normalize_dim(dim, self.ndim))

    # -------------------------------------------------------------------- reductions
    def mean(self, dim=None, keepdim=False):
        if not _is_inexact(self.dtype):
            raise RuntimeError(
                f"mean(): could not infer output dtype. Input dtype must be either a floating point "
                f"or complex dtype. Got: {self.dtype}; call .float() first"
            )
        return apply(_mean, self, axis=_normalize_dim(dim, self.ndim), keepdims=keepdim)

    def max(self, dim=None, keepdim=False):
        """Largest value; with ``dim`` a ``(values, indices)`` named tuple, as PyTorch."""
        if dim is None:
            return apply(jnp.max, self)
        return MaxResult(*apply(_max_dim, self, axis=_normalize_dim(dim, self.ndim), keepdims=keepdim))

    def min(self, dim=None, keepdim=False):
        if dim is None:
            return apply(jnp.min, self)
        return MaxResult(*apply(_min_dim, self, axis=_normalize_dim(dim, self.ndim), keepdims=keepdim))

    def argmax(self, dim=None, keepdim=False):
        """Index of the first largest value (over the flattened tensor when ``dim`` is None)."""
        return apply(jnp.argmax, self, axis=_normalize_dim(dim, self.ndim), keepdims=keepdim)

    def argmin(self, dim=None, keepdim=False):
        return apply(jnp.argmin, self, axis=_normalize_dim(dim, self.ndim), keepdims=keepdim)

    # ------------------------------------------------------------------------- shape
    def reshape(self, *shape):
        shape = _dims_from_args(shape)
        if sum(1 for s in shape if s == -1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if (-1 not in shape and known != self.numel()) or (-1 in shape and (known == 0 or self.numel() % known)):
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {self.numel()}")
        return _reshape_view(self, apply(jnp.reshape, self, shape=tuple(int(s) for s in shape)))

    view = reshape

    def view_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """``torch.flatten``: merge dims ``start_dim..end_dim`` (default: all) into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start = _normalize_dim(start_dim, self.ndim, "start_dim")
        end = _normalize_dim(end_dim, self.ndim, "end_dim")
        if start > end:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        return _reshape_view(self, apply(_flatten, self, start_dim=start, end_dim=end))

    def permute(self, *dims):
        dims = tuple(_normalize_dim(d, self.ndim) for d in _dims_from_args(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise RuntimeError(f"permute(): dims {dims} are not a permutation of {self.ndim} dims")
        return _permute_view(self, apply(jnp.transpose, self, axes=dims), dims)

    def transpose(self, dim0, dim1):
        axes = list(range(self.ndim))
        a, b = _normalize_dim(dim0, self.ndim), _normalize_dim(dim1, self.ndim)
        axes[a], axes[b] = axes[b], axes[a]
        return _permute_view(self, apply(jnp.transpose, self, axes=tuple(axes)), axes)

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self):
        axes = tuple(reversed(range(self.ndim)))
        return _permute_view(self, apply(jnp.transpose, self, axes=axes), axes)

    def squeeze(self, dim=None):
        if dim is None:
            return _reshape_view(self, apply(jnp.squeeze, self, axis=None))
        d = _normalize_dim(dim, self.ndim)
        return self if self.shape[d] != 1 else _reshape_view(self, apply(jnp.squeeze, self, axis=d))

    def unsqueeze(self, dim):
        return _reshape_view(self, apply(jnp.expand_dims, self, axis=_normalize_dim(dim, self.ndim + 1)))

    def expand(self, *sizes):
        sizes = _dims_from_args(sizes)
        offset = len(sizes) - self.ndim
        target = tuple(self.shape[i - offset] if s == -1 else s for i, s in enumerate(sizes))
        result = apply(jnp.broadcast_to, self, shape=target)
        if int(np.prod(target, dtype=np.int64)) == self.numel():
            return _reshape_view(self, result)
        result._view = (_base_ref(self), None)  # elements share memory: not writable
        return result

    def contiguous(self):
        return self

    def __getitem__(self, index):
        """``x[index]`` as torch: ints and slices give a view (in-place ops on it write
        through to ``x``) whose starts are program inputs; index tensors and masks gather.

        Raises:
            IndexError: an int or a concrete index tensor out of range for its dimension.
        """
        items, axes = _expand_index(index, self.shape)
        if not any(_is_index_array(item) for item in items):
            spec, starts = _basic_index(items, axes, self.shape)
            result = apply(_basic_getitem, self, *starts, spec=spec)
            return _window_view(self, result, spec, starts)
        spec, arrays, pending = _advanced_index(items, axes, self.shape)
        result = apply(_getitem, self, *arrays, spec=spec)
        _attach_index_checks(result, pending, "index")
        return result

    def __setitem__(self, index, value):
        """``x[index] = value``, recorded as a functional update of ``x`` (see :meth:`_write`)."""
        self._check_inplace()
        items, axes = _expand_index(index, self.shape)
        if not any(_is_index_array(item) for item in items):
            spec, starts = _basic_index(items, axes, self.shape)
            # Writing known values into a known tensor (filling a tensor element by element)
            # runs at once: one small cached program per write instead of a chain to compile.
            eager = self._value is not None and not self.requires_grad and self._aliases is None and (
                isinstance(value, (int, float)) or (isinstance(value, Variable) and value._value is not None
                                                    and not value.requires_grad))
            self._begin_write()
            self._write(apply(_basic_setitem, self, value, *starts, spec=spec))
            if eager:
                self._concrete()
            return
        spec, arrays, pending = _advanced_index(items, axes, self.shape)
        self._begin_write()
        result = apply(_setitem, self, value, *arrays, spec=spec)
        _attach_index_checks(result, pending, "index assignment")
        self._write(result)

    # ------------------------------------------------------------------------ in-place
    def _check_inplace(self) -> None:
        """PyTorch's refusal of in-place ops on a leaf that requires grad (or a view of one)
        while gradients are recorded."""
        if not _graph.is_grad_enabled():
            return
        base, view = self, False
        while base._view is not None and base._view[0]() is not None:
            base, view = base._view[0](), True
        if base.requires_grad and base.is_leaf:
            raise RuntimeError(
                ("a view of a leaf Variable" if view else "a leaf Variable")
                + " that requires grad is being used in an in-place operation."
            )

    def _begin_write(self) -> None:
        """Start an in-place write: refuse it where PyTorch does, then bump the version of this
        tensor (shared with its ``detach()`` aliases) and mark the value it replaces, so that a
        backward through a node recorded until now that saved that value raises."""
        self._check_inplace()
        if self._view is not None and self._view[1] is None:
            raise RuntimeError(
                "unsupported operation: more than one element of the written-to tensor refers to a "
                "single memory location. Please clone() the tensor before performing the operation.")
        if self._version is None:
            self._version = [1]
        else:
            self._version[0] += 1
        members = [self]
        if self._aliases is not None:
            members += [m for m in (r() for r in self._aliases) if m is not None and m is not self]
        for member in members:
            if member._version is self._version and member._node is not None and not member._pending_leaf:
                _graph.mark_overwritten(member._node, member._index)

    def _write(self, new: "Variable") -> "Variable":
        """Make ``new`` (the recorded result of an in-place op on ``self``, recorded after
        :meth:`_begin_write`) the value of ``self``, of its ``.data``/``detach()`` aliases and,
        through a view, of its base.

        The old value stays what earlier nodes recorded. A leaf that requires grad (updated
        under no_grad or through ``.data``) stays a leaf, with a pending value computed by the
        next program that needs it; a non-leaf written without autograd keeps its gradient
        history, as in PyTorch.
        """
        if new.shape != self.shape:
            try:
                target = np.broadcast_shapes(new.shape, self.shape)
            except ValueError:
                target = None
            if target != self.shape:
                raise RuntimeError(
                    f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                    f"{list(target) if target else list(new.shape)}"
                )
            new = apply(jnp.broadcast_to, new, shape=self.shape)
        if new.dtype != self.dtype:
            if _is_inexact(new.dtype) and not _is_inexact(self.dtype):
                raise RuntimeError(
                    f"result type {np.dtype(new.dtype).name} can't be cast to the desired output "
                    f"type {np.dtype(self.dtype).name}")
            new = apply(_astype, new, dtype=self.dtype)
        members = [self]
        if self._aliases is not None:
            members += [m for m in (r() for r in self._aliases) if m is not None and m is not self]
        for member in members:
            _rebind(member, new, written=member is self)
        base = self._view[0]() if self._view is not None else None
        if base is not None:
            base._begin_write()
            with _graph.no_grad() if not self.requires_grad else _graph.enable_grad():
                base._write(self._view[1](base, self))
        return self

    def _inplace(self, op, *inputs):
        """``self = op(self, *inputs)`` in place; returns ``self``."""
        self._begin_write()
        return self._write(apply(op, self, *inputs))

    def _inplace_binary(self, op, other):
        self._begin_write()
        return self._write(_binary(op, self, other))

    def add_(self, other, alpha=1) -> "Variable":
        """In-place ``self += alpha * other``."""
        return self._inplace_binary(jnp.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1) -> "Variable":
        """In-place ``self -= alpha * other``."""
        return self._inplace_binary(jnp.subtract, other if alpha == 1 else other * alpha)

    def mul_(self, other) -> "Variable":
        return self._inplace_binary(jnp.multiply, other)

    def div_(self, other) -> "Variable":
        return self._inplace_binary(jnp.true_divide, other)

    def clamp_(self, min=None, max=None) -> "Variable":
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return self._inplace(_clamp, min, max)

    clip_ = clamp_

    def relu_(self) -> "Variable":
        return self._inplace(_relu)

    def fill_(self, value) -> "Variable":
        """Set every element to ``value`` (a number or a 0-d tensor)."""
        return self._inplace(_fill, value)

    def zero_(self) -> "Variable":
        return self._inplace(_fill, 0)

    def copy_(self, src) -> "Variable":
        """Overwrite the value with ``src`` (broadcast to this shape, cast to this dtype)."""
        if not isinstance(src, Variable):
            src = _to_array(src)
        if np.broadcast_shapes(tuple(src.shape), self.shape) != self.shape:
            raise RuntimeError(
                f"The size of tensor a ({self.shape}) must match the size of tensor b ({tuple(src.shape)})")
        return self._inplace(_copy, src)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> "Variable":
        """Fill with samples of ``U(a, b)`` from the default generator (or ``generator``)."""
        generator = generator or _random.default_generator
        return self._inplace(_uniform, generator.key, generator.next_counter(), float(a), float(b))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> "Variable":
        """Fill with samples of ``N(mean, std^2)`` from the default generator (or ``generator``)."""
        generator = generator or _random.default_generator
        return self._inplace(_normal, generator.key, generator.next_counter(), float(mean), float(std))

    def random_(self, *bounds, generator=None, **named) -> "Variable":
        """Fill with integers drawn uniformly from ``[from, to - 1]``, as ``torch.Tensor.random_``:
        ``random_(to)``, ``random_(from, to)``; without ``to``, up to ``2**mantissa_digits`` for
        floating dtypes (``2**24`` for float32) and the dtype's maximum for integers. Draws are
        int32: bounds beyond its range are refused."""
        low, high = 0, None
        if len(bounds) == 1:
            high = bounds[0]
        elif len(bounds) == 2:
            low, high = bounds
        elif bounds:
            raise TypeError(f"random_() takes at most 2 positional arguments ({len(bounds)} given)")
        low, high = named.pop("from", low), named.pop("to", high)
        if named:
            raise TypeError(f"random_() got an unexpected keyword argument '{next(iter(named))}'")
        if high is None:  # torch's defaults; draws are int32, so integer dtypes stop at its maximum
            high = 2 ** (jnp.finfo(self.dtype).nmant + 1) + 1 if _is_inexact(self.dtype) else \
                min(int(jnp.iinfo(self.dtype).max) + 1, 2 ** 31)
        low, high = int(low), int(high)
        if low >= high:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
        if low < -2 ** 31 or high > 2 ** 31:
            raise RuntimeError(f"random_: the range [{low}, {high}) exceeds int32, which the draws use")
        generator = generator or _random.default_generator
        return self._inplace(_random_integers, generator.key, generator.next_counter(), low, high)

    def detach_(self) -> "Variable":
        """Detach in place: from now on ``self`` has no history and does not require grad, as
        ``torch.Tensor.detach_`` (its value is computed now)."""
        if self._view is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        if self._node is not None:
            self._concrete()
            self._node = None
        self.requires_grad = False
        return self

    def masked_fill_(self, mask, value) -> "Variable":
        """Set the elements where ``mask`` (a bool tensor broadcastable to this one) is True."""
        return self._inplace(_masked_fill, mask, value)

    def index_put_(self, indices, values, accumulate: bool = False) -> "Variable":
        """``self[indices] = values`` (or ``+=`` with ``accumulate``) for a tuple of index tensors."""
        indices = tuple(indices)
        _, arrays, pending = _advanced_index(list(indices), list(range(len(indices))), self.shape)
        self._begin_write()
        result = apply(_index_put, self, values, *arrays, accumulate=bool(accumulate))
        _attach_index_checks(result, pending, "index_put_")
        return self._write(result)

    def __iadd__(self, other):
        return self._inplace_binary(jnp.add, other)

    def __isub__(self, other):
        return self._inplace_binary(jnp.subtract, other)

    def __imul__(self, other):
        return self._inplace_binary(jnp.multiply, other)

    def __itruediv__(self, other):
        return self._inplace_binary(jnp.true_divide, other)

    # ------------------------------------------------------------------------- dtype
    def type(self, dtype):
        return self.to(dtype)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def half(self):
        return self.to(np.float16)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def bool(self):
        return self.to(np.bool_)


def _rebind(member: Variable, new: Variable, written: bool) -> None:
    """Give ``member`` (the written Variable or one of its aliases) the value of ``new``."""
    if member.requires_grad and member.is_leaf:
        if new.requires_grad:
            with _graph.no_grad():
                new = apply(_stop_gradient, new)
        member._value, member._node, member._index = None, new._node, new._index
        member._pending_leaf = True
        _graph.pending_leaves().append(weakref.ref(member))
        return
    if member.requires_grad and not (written and new.requires_grad):
        with _graph.enable_grad():
            new = apply(_overwrite, member, new)  # the value changes, the history stays
    elif not member.requires_grad and new.requires_grad and not written:
        with _graph.no_grad():
            new = apply(_stop_gradient, new)
    member._value, member._node, member._index, member._aval = new._value, new._node, new._index, new._aval
    member.requires_grad = new.requires_grad
    member._pending_leaf = False
    if member._node is not None:
        member._node.outputs[member._index] = weakref.ref(member)


def _float_operand(value):
    if isinstance(value, Variable) and not _is_inexact(value.dtype):
        return apply(_astype, value, dtype=np.dtype(np.float32))
    return value


def _int_operand(value):
    if isinstance(value, Variable) and np.dtype(value.dtype) == np.bool_:
        return apply(_astype, value, dtype=_canonical_dtype(np.int64))
    return value


def _binary(op, a, b):
    """``op(a, b)`` with PyTorch's promotion for Python numbers: they are weakly typed (a
    float32 tensor times 0.5 stays float32), an integer or bool tensor with a Python float
    computes in float32, and a bool tensor with a Python int in the default integer type."""
    if isinstance(b, float):
        a = _float_operand(a)
    elif isinstance(a, float):
        b = _float_operand(b)
    elif isinstance(b, int) and not isinstance(b, bool):
        a = _int_operand(a)
    elif isinstance(a, int) and not isinstance(a, bool):
        b = _int_operand(b)
    return apply(op, a, b)


Tensor = Variable


def tensor(data, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Variable:
    """Create a Variable holding a copy of ``data``, as ``torch.tensor``.

    Args:
        data: nested Python numbers, a numpy or JAX array, or a Variable.
        dtype: the element type (default: inferred; Python floats give float32, float64
            numpy arrays stay float64 only with JAX's x64 mode, integers become JAX's default
            integer, int32 unless x64 is on).
        device: where to place it (``'cpu'``, ``'cuda'``, a :class:`rustorch.device`); default:
            JAX's default device.
        requires_grad: record operations for ``backward()`` (floating dtypes only).

    Raises:
        RuntimeError: ``requires_grad=True`` with an integer or boolean dtype; a device this
            process does not have.
    """
    return Variable._wrap(_device.place(_to_array(data, dtype), device), requires_grad)
