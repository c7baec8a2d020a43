"""The facade's programs as SPMD programs over the process mesh.

While a process group of more than one process is active, :func:`plan` is the engine's
``spmd_hook`` (:mod:`rustorch.stateful._graph`). A recorded program is left alone unless it
computes gradients of parameters owned by a :class:`~rustorch.nn.parallel.DistributedDataParallel`
that will synchronise them, or contains a collective op (SyncBatchNorm in training). Such a
program becomes ``jax.jit(shard_map(per_process_program, mesh, P('dp'), P('dp')))``:

* every leaf array of the process becomes its block of a global ``jax.Array`` (no copy:
  ``jax.make_array_from_single_device_arrays``), so the per-process function sees exactly its
  own data and the program computes exactly what it computes on one process;
* the gradients DDP owns are averaged with ``lax.pmean`` over the mesh axis, inside the same
  XLA program as the forward and backward passes (one fused all-reduce, no extra dispatch);
* collective ops in the graph (``lax.psum`` over :data:`AXIS`) see a bound axis;
* every output comes back as this process's block (``addressable_data(0)``).

All processes must evaluate the same sequence of such programs (the SPMD contract that
torch's DDP has too: every rank runs forward and backward on every step).
"""
from __future__ import annotations

import weakref

import jax
from jax import lax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ..stateful import _graph
from ._process_group import AXIS, DistBackendError, _world

_ddp_modules: "weakref.WeakSet" = weakref.WeakSet()


def register_ddp(module) -> None:
    """Let :func:`plan` see ``module`` (a DistributedDataParallel): its ``_sync_ids`` (ids of the
    parameters whose gradients are averaged while ``_sync_pending`` is true)."""
    _ddp_modules.add(module)


def install() -> None:
    """Become the engine's ``spmd_hook`` when the group spans several processes."""
    group = _world.group
    if group is not None and group.world_size > 1:
        _graph.spmd_hook = plan


def uninstall() -> None:
    if _graph.spmd_hook is plan:
        _graph.spmd_hook = None


def is_collective(op) -> bool:
    """Whether a recorded op communicates over :data:`AXIS` (marked ``_rustorch_collective``)."""
    return getattr(op, "_rustorch_collective", False)


def mark_collective(op):
    """Mark a module-level op function as communicating over :data:`AXIS`; returns it."""
    op._rustorch_collective = True
    return op


def plan(structure, leaves, leaf_vars, diff_positions):
    """The engine hook: None for a program that stays local, else a :class:`_Plan`."""
    sync = ()
    if diff_positions and _ddp_modules:
        ids = set()
        for module in _ddp_modules:
            if module._sync_pending:
                ids |= module._sync_ids
        if ids:
            sync = tuple(i for i, p in enumerate(diff_positions) if id(leaf_vars[p]) in ids)
    if not sync and not any(is_collective(entry[0]) for entry in structure):
        return None
    return _Plan(sync)


class _Plan:
    """How one program runs over the process mesh; ``key`` joins the engine's cache key."""

    def __init__(self, sync):
        group = _world.group
        self.key = ("spmd", group.world_size, sync)
        self.sync = frozenset(sync)
        self.group = group
        self.in_scalars = ()
        self.out_scalars = ()

    def wrap(self, fn):
        mesh = self.group.mesh

        def per_process(*args):
            flat, tree = jax.tree.flatten(args)
            flat = [x.reshape(()) if scalar else x for x, scalar in zip(flat, self.in_scalars)]
            result = fn(*jax.tree.unflatten(tree, flat))
            if self.sync:
                outs, grads = result
                grads = tuple(lax.pmean(g, AXIS) if i in self.sync else g for i, g in enumerate(grads))
                result = (outs, grads)
            flat, tree = jax.tree.flatten(result)
            self.out_scalars = tuple(x.ndim == 0 for x in flat)
            return jax.tree.unflatten(tree, [x.reshape(1) if x.ndim == 0 else x for x in flat])

        def spmd(*args):
            return jax.shard_map(per_process, mesh=mesh, in_specs=(P(AXIS),) * len(args), out_specs=P(AXIS),
                                 check_vma=False)(*args)

        return spmd

    def runner(self, program):
        group = self.group
        world, device = group.world_size, group.device
        sharding = NamedSharding(group.mesh, P(AXIS))

        def to_global(x):
            if not isinstance(x, jax.Array):
                x = jax.device_put(x, device)
            if x.ndim == 0:
                x = x.reshape(1)
            shape = (world * x.shape[0],) + tuple(x.shape[1:])
            return jax.make_array_from_single_device_arrays(shape, sharding, [x])

        def run(*args):
            flat, tree = jax.tree.flatten(args)
            self.in_scalars = tuple(getattr(x, "ndim", 1) == 0 for x in flat)
            global_args = jax.tree.unflatten(tree, [to_global(x) for x in flat])
            try:
                result = program(*global_args)
            except (jax.errors.JaxRuntimeError, ValueError) as error:
                if "gloo" not in str(error).lower() and "nccl" not in str(error).lower():
                    raise
                raise DistBackendError(
                    f"rustorch.distributed: a program with collectives failed on rank {group.rank} of "
                    f"{world} ({group.backend}): another rank probably died or is unreachable. "
                    f"Backend error: {error}"
                ) from error
            flat, tree = jax.tree.flatten(result)
            local = [
                o.addressable_data(0).reshape(()) if scalar else o.addressable_data(0)
                for o, scalar in zip(flat, self.out_scalars)
            ]
            return jax.tree.unflatten(tree, local)

        return run
