"""Collectives of ``torch.distributed`` as XLA programs over the process mesh.

Each call turns the local tensor into a global ``jax.Array`` (one block per process, no copy)
and runs one jitted ``shard_map`` whose body is a JAX collective (``psum``, ``pmax``,
``all_gather``, ``psum_scatter``); the program is compiled once per operation, shape and dtype.
The result replaces the tensor's value in place, as PyTorch's collectives do. Several arrays
can go through one program (:func:`all_reduce_arrays`, :func:`broadcast_arrays`): that is how
DistributedDataParallel moves all its parameters with one collective.
"""
from __future__ import annotations

import enum
import functools
import pickle
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ..stateful._variable import Variable
from ._process_group import AXIS, DistBackendError, _check_group, _require_group


class ReduceOp(enum.Enum):
    """Reduction of :func:`all_reduce` and friends (``torch.distributed.ReduceOp``)."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"
    AVG = "avg"

    def __repr__(self):
        return f"<ReduceOp.{self.name}>"


_BITWISE = {ReduceOp.BAND: jnp.bitwise_and, ReduceOp.BOR: jnp.bitwise_or, ReduceOp.BXOR: jnp.bitwise_xor}


class Work:
    """The handle an ``async_op=True`` collective returns (``torch.distributed.Work``). JAX
    dispatches asynchronously; :meth:`wait` blocks until the result is computed."""

    def __init__(self, arrays):
        self._arrays = arrays

    def wait(self, timeout=None) -> bool:
        jax.block_until_ready(self._arrays)
        return True

    def is_completed(self) -> bool:
        return all(a.is_ready() for a in self._arrays)

    def is_success(self) -> bool:
        return self.is_completed()


def _reduce(x, op: ReduceOp):
    if op is ReduceOp.SUM:
        return lax.psum(x, AXIS)
    if op is ReduceOp.AVG:
        return lax.pmean(x, AXIS)
    if op is ReduceOp.MAX:
        return lax.pmax(x, AXIS)
    if op is ReduceOp.MIN:
        return lax.pmin(x, AXIS)
    gathered = lax.all_gather(x, AXIS)
    if op is ReduceOp.PRODUCT:
        return jnp.prod(gathered, axis=0).astype(x.dtype)
    return functools.reduce(_BITWISE[op], list(gathered))


def _check_op(op, dtype, name):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a rustorch.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and not jnp.issubdtype(dtype, jnp.inexact):
        raise ValueError(f"{name}: ReduceOp.AVG needs a floating point tensor, got {np.dtype(dtype)}; use SUM")
    if op in _BITWISE and not jnp.issubdtype(dtype, jnp.integer) and dtype != jnp.bool_:
        raise ValueError(f"{name}: {op} needs an integer or bool tensor, got {np.dtype(dtype)}")


@functools.lru_cache(maxsize=None)
def _program(kind: str, op, src: int, count: int, mesh):
    """The jitted collective over ``count`` arrays: each process contributes a ``[1, *shape]``
    block; replicated results come back whole, per-rank results as ``[1, *shape]`` blocks."""
    replicated = kind in ("all_reduce", "broadcast", "all_gather")

    def one(block):
        x = block[0]
        if kind == "all_reduce":
            return _reduce(x, op)
        if kind == "broadcast":
            return lax.all_gather(x, AXIS)[src]
        if kind == "all_gather":
            return lax.all_gather(x, AXIS)
        # reduce_scatter: x stacks one input per destination rank along dim 0
        if op in (ReduceOp.SUM, ReduceOp.AVG):
            out = lax.psum_scatter(x, AXIS, scatter_dimension=0, tiled=False)
            if op is ReduceOp.AVG:
                out = (out / lax.psum(1, AXIS)).astype(x.dtype)
        else:
            out = _reduce(x, op)[lax.axis_index(AXIS)]
        return out[None]

    def body(*blocks):
        return tuple(one(b) for b in blocks)

    out_spec = P() if replicated else P(AXIS)
    mapped = jax.shard_map(body, mesh=mesh, in_specs=(P(AXIS),) * count, out_specs=(out_spec,) * count,
                           check_vma=False)
    return jax.jit(mapped)


def _run(kind: str, arrays: Sequence, op=None, src: int = 0, name: str = "collective", block: bool = True) -> list:
    """Run collective ``kind`` over the local ``arrays``; returns the local results. With
    ``block`` it waits for them, so that a failure surfaces here as a DistBackendError."""
    state = _require_group(name)
    arrays = [jnp.asarray(a) for a in arrays]
    if state.world_size == 1:
        return _single_process(kind, arrays, op, src)
    mesh, device = state.mesh, state.device
    sharding = NamedSharding(mesh, P(AXIS))
    blocks = []
    for a in arrays:
        local = jax.device_put(a, device)[None]
        blocks.append(jax.make_array_from_single_device_arrays(
            (state.world_size,) + tuple(a.shape), sharding, [local]))
    try:
        outs = _program(kind, op, src, len(blocks), mesh)(*blocks)
        locals_ = [o.addressable_data(0) for o in outs]
        if block:
            jax.block_until_ready(locals_)
    except (jax.errors.JaxRuntimeError, ValueError, RuntimeError) as error:
        raise DistBackendError(
            f"rustorch.distributed.{name} failed on rank {state.rank} of {state.world_size} "
            f"({state.backend}): another rank probably died or is unreachable. Backend error: {error}"
        ) from error
    if kind == "reduce_scatter":
        locals_ = [o[0] for o in locals_]
    return locals_


def _single_process(kind, arrays, op, src):
    if kind == "all_gather":
        return [a[None] for a in arrays]
    if kind == "reduce_scatter":
        return [a[0] for a in arrays]
    return list(arrays)


def _value(tensor, name):
    if isinstance(tensor, Variable):
        return tensor._concrete()
    raise TypeError(f"{name}: expected a rustorch tensor, got {type(tensor).__name__}")


def _finish(async_op, outputs):
    return Work(outputs) if async_op else None


# ------------------------------------------------------------------------ public API

def all_reduce(tensor: Variable, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over all ranks, in place on every rank (``torch.distributed.all_reduce``).

    ``op``: SUM (default), AVG, MAX, MIN, PRODUCT, or BAND/BOR/BXOR for integer tensors.
    """
    _check_group(group, "all_reduce")
    value = _value(tensor, "all_reduce")
    _check_op(op, value.dtype, "all_reduce")
    (out,) = _run("all_reduce", [value], op=op, name="all_reduce")
    tensor._assign(out)
    return _finish(async_op, [out])


def reduce(tensor: Variable, dst: int, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over all ranks into rank ``dst``'s tensor; other ranks keep theirs."""
    _check_group(group, "reduce")
    state = _require_group("reduce")
    _check_rank(dst, state, "reduce", "dst")
    value = _value(tensor, "reduce")
    _check_op(op, value.dtype, "reduce")
    (out,) = _run("all_reduce", [value], op=op, name="reduce")
    if state.rank == dst:
        tensor._assign(out)
    return _finish(async_op, [out])


def broadcast(tensor: Variable, src: int, group=None, async_op: bool = False):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor`` (``torch.distributed.broadcast``)."""
    _check_group(group, "broadcast")
    _check_rank(src, _require_group("broadcast"), "broadcast", "src")
    (out,) = _run("broadcast", [_value(tensor, "broadcast")], src=src, name="broadcast")
    tensor._assign(out)
    return _finish(async_op, [out])


def all_gather(tensor_list: list, tensor: Variable, group=None, async_op: bool = False):
    """Fill ``tensor_list[i]`` with rank ``i``'s ``tensor`` on every rank."""
    _check_group(group, "all_gather")
    state = _require_group("all_gather")
    if len(tensor_list) != state.world_size:
        raise ValueError(f"all_gather: tensor_list must have world_size={state.world_size} tensors, "
                         f"got {len(tensor_list)}")
    value = _value(tensor, "all_gather")
    for t in tensor_list:
        if tuple(t.shape) != tuple(value.shape):
            raise ValueError(f"all_gather: output tensors must have the input's shape {tuple(value.shape)}, "
                             f"got {tuple(t.shape)}")
    (out,) = _run("all_gather", [value], name="all_gather")
    for i, t in enumerate(tensor_list):
        t._assign(out[i])
    return _finish(async_op, [out])


def all_gather_into_tensor(output_tensor: Variable, input_tensor: Variable, group=None, async_op: bool = False):
    """Concatenate every rank's ``input_tensor`` along dim 0 into ``output_tensor``
    (shape ``[world_size * n, ...]``), or stack them when ``output_tensor`` is
    ``[world_size, n, ...]``, as ``torch.distributed.all_gather_into_tensor``."""
    _check_group(group, "all_gather_into_tensor")
    state = _require_group("all_gather_into_tensor")
    value = _value(input_tensor, "all_gather_into_tensor")
    stacked = (state.world_size,) + tuple(value.shape)
    concatenated = (state.world_size * value.shape[0],) + tuple(value.shape[1:]) if value.ndim else None
    if tuple(output_tensor.shape) not in (stacked, concatenated):
        raise ValueError(
            f"all_gather_into_tensor: output tensor must have shape {concatenated or stacked} "
            f"(world_size={state.world_size} times the input's {tuple(value.shape)}), got {tuple(output_tensor.shape)}"
        )
    (out,) = _run("all_gather", [value], name="all_gather_into_tensor")
    output_tensor._assign(out.reshape(output_tensor.shape))
    return _finish(async_op, [out])


def reduce_scatter(output: Variable, input_list: list, op: ReduceOp = ReduceOp.SUM, group=None,
                   async_op: bool = False):
    """Reduce ``input_list[r]`` over all ranks into rank ``r``'s ``output``."""
    _check_group(group, "reduce_scatter")
    state = _require_group("reduce_scatter")
    if len(input_list) != state.world_size:
        raise ValueError(f"reduce_scatter: input_list must have world_size={state.world_size} tensors, "
                         f"got {len(input_list)}")
    values = [_value(t, "reduce_scatter") for t in input_list]
    for v in values:
        if tuple(v.shape) != tuple(output.shape):
            raise ValueError(f"reduce_scatter: inputs must have the output's shape {tuple(output.shape)}, "
                             f"got {tuple(v.shape)}")
    _check_op(op, values[0].dtype, "reduce_scatter")
    (out,) = _run("reduce_scatter", [jnp.stack(values)], op=op, name="reduce_scatter")
    output._assign(out)
    return _finish(async_op, [out])


def reduce_scatter_tensor(output: Variable, input: Variable, op: ReduceOp = ReduceOp.SUM, group=None,
                          async_op: bool = False):
    """Reduce ``input`` (``[world_size * n, ...]``) over all ranks; rank ``r`` gets the ``r``-th
    block of ``n`` rows in ``output`` (``torch.distributed.reduce_scatter_tensor``)."""
    _check_group(group, "reduce_scatter_tensor")
    state = _require_group("reduce_scatter_tensor")
    value = _value(input, "reduce_scatter_tensor")
    expected = (state.world_size,) + tuple(output.shape)
    if value.ndim == 0 or value.shape[0] != state.world_size * (output.shape[0] if output.ndim else 1):
        raise ValueError(
            f"reduce_scatter_tensor: input must have world_size={state.world_size} times the output's rows "
            f"(output {tuple(output.shape)}), got {tuple(value.shape)}"
        )
    _check_op(op, value.dtype, "reduce_scatter_tensor")
    (out,) = _run("reduce_scatter", [value.reshape(expected)], op=op, name="reduce_scatter_tensor")
    output._assign(out)
    return _finish(async_op, [out])


def gather(tensor: Variable, gather_list: Optional[list] = None, dst: int = 0, group=None, async_op: bool = False):
    """Collect every rank's ``tensor`` into ``gather_list`` on rank ``dst`` (``torch.distributed.gather``);
    other ranks pass ``gather_list=None``."""
    _check_group(group, "gather")
    state = _require_group("gather")
    _check_rank(dst, state, "gather", "dst")
    if state.rank == dst and (gather_list is None or len(gather_list) != state.world_size):
        raise ValueError(f"gather: rank {dst} must pass gather_list with world_size={state.world_size} tensors")
    (out,) = _run("all_gather", [_value(tensor, "gather")], name="gather")
    if state.rank == dst:
        for i, t in enumerate(gather_list):
            t._assign(out[i])
    return _finish(async_op, [out])


def scatter(tensor: Variable, scatter_list: Optional[list] = None, src: int = 0, group=None, async_op: bool = False):
    """Give rank ``r`` the tensor ``scatter_list[r]`` of rank ``src`` (``torch.distributed.scatter``);
    other ranks pass ``scatter_list=None``."""
    _check_group(group, "scatter")
    state = _require_group("scatter")
    _check_rank(src, state, "scatter", "src")
    if state.rank == src:
        if scatter_list is None or len(scatter_list) != state.world_size:
            raise ValueError(f"scatter: rank {src} must pass scatter_list with world_size={state.world_size} tensors")
        stacked = jnp.stack([_value(t, "scatter") for t in scatter_list])
    else:
        value = _value(tensor, "scatter")
        stacked = jnp.zeros((state.world_size,) + tuple(value.shape), value.dtype)
    (out,) = _run("broadcast", [stacked], src=src, name="scatter")
    tensor._assign(out[state.rank])
    return _finish(async_op, [out])


def _gather_bytes(payload: bytes, name: str) -> list:
    """Every rank's ``payload``, in rank order (two all-gathers: the lengths, then the padded bytes)."""
    state = _require_group(name)
    (sizes,) = _run("all_gather", [jnp.asarray(len(payload), jnp.int32)], name=name)
    sizes = [int(n) for n in np.asarray(sizes)]
    padded = np.zeros(max(sizes), np.uint8)
    padded[: len(payload)] = np.frombuffer(payload, np.uint8)
    (data,) = _run("all_gather", [padded], name=name)
    data = np.asarray(data)
    return [data[r, : sizes[r]].tobytes() for r in range(state.world_size)]


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list[i]`` with rank ``i``'s picklable ``obj`` (``torch.distributed.all_gather_object``).
    As in PyTorch, the objects are pickled: only exchange data from processes you trust."""
    _check_group(group, "all_gather_object")
    state = _require_group("all_gather_object")
    if len(object_list) != state.world_size:
        raise ValueError(f"all_gather_object: object_list must have world_size={state.world_size} entries, "
                         f"got {len(object_list)}")
    for i, payload in enumerate(_gather_bytes(pickle.dumps(obj), "all_gather_object")):
        object_list[i] = pickle.loads(payload)


def broadcast_object_list(object_list: list, src: int = 0, group=None, device=None) -> None:
    """Replace every rank's ``object_list`` entries by rank ``src``'s (picklable objects, as
    ``torch.distributed.broadcast_object_list``; the lists must have the same length)."""
    _check_group(group, "broadcast_object_list")
    state = _require_group("broadcast_object_list")
    _check_rank(src, state, "broadcast_object_list", "src")
    payloads = _gather_bytes(pickle.dumps(list(object_list)), "broadcast_object_list")
    received = pickle.loads(payloads[src])
    if len(received) != len(object_list):
        raise ValueError(f"broadcast_object_list: rank {src} sent {len(received)} objects, this rank's list "
                         f"has {len(object_list)}")
    object_list[:] = received


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Block until every rank reaches this call (a one-element all-reduce)."""
    _check_group(group, "barrier")
    _run("all_reduce", [jnp.zeros((), jnp.int32)], op=ReduceOp.SUM, name="barrier")
    return _finish(async_op, [])


def all_reduce_arrays(arrays: Sequence, op: ReduceOp = ReduceOp.SUM) -> list:
    """All-reduce several local arrays in one XLA program; returns the reduced arrays."""
    return _run("all_reduce", list(arrays), op=op, name="all_reduce")


def broadcast_arrays(arrays: Sequence, src: int = 0, block: bool = True) -> list:
    """Rank ``src``'s values of several arrays, on every rank, in one XLA program (without
    ``block``, dispatched asynchronously like any other program)."""
    return _run("broadcast", list(arrays), src=src, name="broadcast", block=block)


def _check_rank(value, state, name, argument):
    if not 0 <= value < state.world_size:
        raise ValueError(f"{name}: {argument}={value} is not a rank of the group (world_size={state.world_size})")
