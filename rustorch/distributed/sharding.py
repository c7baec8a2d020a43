"""The functional recipe: a ``jax.jit`` train step over a device mesh.

For code written against :mod:`rustorch.functional` (pure functions of parameter pytrees),
data parallelism needs no wrapper: place the batch sharded along its first dimension over a
mesh axis, the parameters replicated (DDP-style) or sharded (FSDP-style), and ``jax.jit`` the
whole step. XLA's SPMD partitioner computes each device's part of the batch and inserts the
collectives (the gradient all-reduce, or all-gathers of sharded parameters and
reduce-scatters of their gradients) into the one compiled program. The same code runs on one
device, on several local devices, and on many processes (after
:func:`rustorch.distributed.init_process_group`, ``jax.devices()`` lists every process's
devices and each process passes only its local part of the batch)::

    mesh = sharding.data_mesh()                                  # all devices, axis 'dp'
    shardings = sharding.fsdp_shardings(params, mesh)            # or sharding.replicated(params, mesh)
    params = sharding.place(params, shardings)
    opt = rustorch.functional.adam(lr=1e-3)
    opt_state = jax.jit(opt.init)(params)                        # sharded like params
    step = sharding.train_step(loss_fn, opt, shardings)          # loss_fn(params, batch) -> scalar
    for x, y in local_batches:                                   # this process's rows
        batch = sharding.shard_batch((x, y), mesh)
        params, opt_state, loss = step(params, opt_state, batch)
    sharding.save(path, {"params": params, "opt": opt_state})   # one file, written by rank 0
    restored = sharding.load(path, {"params": shardings, ...})   # on any mesh / world size
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._process_group import AXIS


def data_mesh(devices: Optional[Sequence] = None, axis: str = AXIS) -> Mesh:
    """A one-axis mesh over ``devices`` (default: every device of every process, ordered by
    process then device id, so each process's devices are contiguous)."""
    if devices is None:
        devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return Mesh(np.array(list(devices), dtype=object), (axis,))


def batch_sharding(mesh: Mesh, axis: str = AXIS) -> NamedSharding:
    """Rows (dim 0) split over ``axis``, other dims whole."""
    return NamedSharding(mesh, P(axis))


def replicated(tree: Any, mesh: Mesh) -> Any:
    """A sharding per leaf of ``tree``: every device holds the whole array (DDP's layout)."""
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(lambda _: sharding, tree)


def fsdp_shardings(tree: Any, mesh: Mesh, axis: str = AXIS, min_size: int = 1024) -> Any:
    """A sharding per leaf that splits each array of at least ``min_size`` elements over
    ``axis`` along its largest dimension divisible by the axis size (FSDP / ZeRO-3 layout);
    small or indivisible arrays are replicated. Inside a jitted step XLA all-gathers a sharded
    parameter where it is used and reduce-scatters its gradient."""
    size = mesh.shape[axis]

    def choose(leaf):
        shape = tuple(np.shape(leaf))
        if int(np.prod(shape, dtype=np.int64)) < min_size:
            return NamedSharding(mesh, P())
        dims = sorted(range(len(shape)), key=lambda d: -shape[d])
        for d in dims:
            if shape[d] % size == 0:
                spec = [None] * len(shape)
                spec[d] = axis
                return NamedSharding(mesh, P(*spec))
        return NamedSharding(mesh, P())

    return jax.tree.map(choose, tree)


def place(tree: Any, shardings: Any) -> Any:
    """Global arrays with the given shardings from values every process holds in full
    (host arrays or local arrays): each device receives only its slice."""

    def put(value, sharding):
        host = np.asarray(value)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree, shardings)


def shard_batch(batch: Any, mesh: Mesh, axis: str = AXIS) -> Any:
    """Global arrays split along dim 0 over ``axis`` from this process's local rows (on one
    process: the whole batch). The global batch is the processes' rows concatenated in rank
    order."""
    sharding = NamedSharding(mesh, P(axis))
    if jax.process_count() == 1:
        return jax.tree.map(lambda x: jax.device_put(np.asarray(x) if not isinstance(x, jax.Array) else x,
                                                     sharding), batch)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)


def train_step(loss_fn: Callable, optimizer, param_shardings: Any, donate: bool = True) -> Callable:
    """``step(params, opt_state, batch) -> (params, opt_state, loss)``, jitted: ``loss_fn(params,
    batch)`` (a scalar, the mean over the global batch), its gradient, and ``optimizer.update``
    (a :class:`rustorch.functional.Optimizer`). The new parameters keep ``param_shardings``;
    with ``donate`` the old parameter and state buffers are reused for the new ones."""

    def step(params, opt_state, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        new_params, new_state = optimizer.update(grads, opt_state, params)
        new_params = jax.lax.with_sharding_constraint(new_params, param_shardings)
        return new_params, new_state, loss

    return jax.jit(step, donate_argnums=(0, 1) if donate else ())


def _flatten(tree):
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def _host(value):
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(value, tiled=True))
    return np.asarray(value)


def save(path: str, tree: Any) -> None:
    """Write a pytree of (possibly sharded, possibly multi-process) arrays to one ``.npz``
    file of full arrays, keyed by their pytree paths. Every process must call it (sharded
    arrays are gathered); process 0 writes (atomically: a temporary file, then a rename) and
    every process returns once the file exists."""
    arrays = {key: _host(value) for key, value in _flatten(tree).items()}
    if jax.process_index() == 0:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"rustorch.distributed.sharding.save:{path}")


def load(path: str, target: Any) -> Any:
    """Read a file written by :func:`save` into arrays laid out by ``target``: a pytree with the
    saved structure whose leaves are shardings (``NamedSharding``) or arrays (their sharding is
    used). The mesh may differ from the one that saved (another device count, another world
    size). Raises KeyError for a missing entry and ValueError for a shape mismatch."""
    with np.load(path, allow_pickle=False) as data:
        stored = {key: data[key] for key in data.files}
    leaves, treedef = jax.tree_util.tree_flatten_with_path(
        target, is_leaf=lambda x: isinstance(x, jax.sharding.Sharding))
    out = []
    for key_path, leaf in leaves:
        key = jax.tree_util.keystr(key_path)
        if key not in stored:
            raise KeyError(f"sharding.load: {path} has no entry {key}")
        host = stored[key]
        sharding = leaf if isinstance(leaf, jax.sharding.Sharding) else leaf.sharding
        if not isinstance(leaf, jax.sharding.Sharding) and tuple(leaf.shape) != host.shape:
            raise ValueError(f"sharding.load: {key} has shape {host.shape} in {path}, target {tuple(leaf.shape)}")
        out.append(jax.make_array_from_callback(host.shape, sharding, lambda index, h=host: h[index]))
    return jax.tree_util.tree_unflatten(treedef, out)
