"""The default process group: ``init_process_group`` over ``jax.distributed.initialize``.

Every process runs the same program (JAX's multi-controller SPMD model). The group is the list
of participating processes, one JAX device each, laid out as a one-axis
:class:`jax.sharding.Mesh` (axis name :data:`AXIS`); collectives are XLA programs over that mesh
(``psum``/``all_gather`` inside ``shard_map``), executed with gloo between CPU processes and NCCL
between GPUs.
"""
from __future__ import annotations

import datetime
import os
from typing import Optional
from urllib.parse import urlparse

import jax
import numpy as np
from jax.sharding import Mesh

AXIS = "dp"
"""The mesh axis name of the default group: collectives inside programs reduce over it."""

_BACKENDS = ("gloo", "nccl")
_DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # torch.distributed's default_pg_timeout


class DistBackendError(RuntimeError):
    """A collective failed in the communication backend (as ``torch.distributed.DistBackendError``);
    most often another rank died or became unreachable."""


class _Group:
    """The state of the default process group."""

    def __init__(self, backend, rank, world_size, mesh, device, timeout, owns_runtime):
        self.backend = backend
        self.rank = rank
        self.world_size = world_size
        self.mesh = mesh
        self.device = device
        self.timeout = timeout
        self.owns_runtime = owns_runtime


class _World:
    group: Optional[_Group] = None


_world = _World()


class _GroupMember:
    """``torch.distributed.group``: ``group.WORLD`` names the default group."""

    WORLD = "WORLD"


group = _GroupMember
GroupMember = _GroupMember


def is_available() -> bool:
    """Always True: distributed support is part of JAX (``torch.distributed.is_available``)."""
    return True


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and :func:`destroy_process_group` has not)."""
    return _world.group is not None


def is_gloo_available() -> bool:
    """True: CPU processes communicate through XLA's gloo collectives."""
    return True


def is_nccl_available() -> bool:
    """Whether a GPU backend is present (XLA runs NCCL collectives between GPUs)."""
    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:
        return False


def is_torchelastic_launched() -> bool:
    """Whether the process was started by a torchrun-style launcher (``TORCHELASTIC_RUN_ID`` set)."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def _require_group(name: str) -> _Group:
    if _world.group is None:
        raise ValueError(
            f"{name}: Default process group has not been initialized, please make sure to call "
            "init_process_group."
        )
    return _world.group


def _check_group(group, name):
    if group not in (None, _GroupMember.WORLD) and group is not _world.group:
        raise ValueError(f"{name}: only the default process group (group=None) is supported, got {group!r}")


def _env_int(name: str, method: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise ValueError(
            f"Error initializing torch.distributed using {method} rendezvous: environment variable "
            f"{name} expected, but not set (launch with `python -m rustorch.distributed.run`, or "
            f"pass rank=/world_size= to init_process_group)"
        )
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def _rendezvous(init_method, world_size, rank):
    """(coordinator "host:port" or None, world_size, rank) from ``init_method`` and the environment."""
    if init_method is None or init_method == "env://":
        method = "env://"
        if world_size < 0:
            world_size = _env_int("WORLD_SIZE", method)
        if rank < 0:
            rank = _env_int("RANK", method)
        if world_size == 1:
            return None, world_size, rank
        addr = os.environ.get("MASTER_ADDR")
        if addr is None:
            raise ValueError(
                "Error initializing torch.distributed using env:// rendezvous: environment variable "
                "MASTER_ADDR expected, but not set"
            )
        port = _env_int("MASTER_PORT", method)
        return f"{addr}:{port}", world_size, rank
    parsed = urlparse(init_method)
    if parsed.scheme != "tcp":
        raise ValueError(
            f"init_process_group: init_method {init_method!r} is not supported; use 'env://' "
            "(torchrun's variables) or 'tcp://host:port'"
        )
    if parsed.hostname is None or parsed.port is None:
        raise ValueError(f"init_process_group: init_method must be 'tcp://host:port', got {init_method!r}")
    if world_size < 0:
        world_size = _env_int("WORLD_SIZE", "tcp://")
    if rank < 0:
        rank = _env_int("RANK", "tcp://")
    return f"{parsed.hostname}:{parsed.port}", world_size, rank


def init_process_group(
    backend: Optional[str] = None,
    init_method: Optional[str] = None,
    timeout: Optional[datetime.timedelta] = None,
    world_size: int = -1,
    rank: int = -1,
    store=None,
    group_name: str = "",
    pg_options=None,
    device_id=None,
) -> None:
    """Join the default process group, as ``torch.distributed.init_process_group``.

    With ``init_method=None`` or ``'env://'`` the rendezvous comes from torchrun's environment
    (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); with
    ``'tcp://host:port'``, ``rank`` and ``world_size`` come from the arguments (or ``RANK`` /
    ``WORLD_SIZE``). Rank 0 hosts JAX's coordination service on the master address and port;
    every process calls ``jax.distributed.initialize(coordinator_address, num_processes,
    process_id)``.

    Args:
        backend: ``'gloo'`` (CPU processes; the program runs on the CPU and XLA's gloo
            collectives connect the processes) or ``'nccl'`` (one GPU per process, chosen by
            ``LOCAL_RANK``; XLA uses NCCL). None picks nccl when GPUs are present, else gloo.
        init_method: ``'env://'`` (default) or ``'tcp://host:port'``.
        timeout: how long to wait for every process to join, and after how long without a
            heartbeat a process counts as dead (capped at 100 s, JAX's default). Default 30 min.
        world_size, rank: the number of processes and this one's index.
        store, group_name, pg_options, device_id: accepted for signature compatibility;
            ``store`` must be None (JAX's coordination service is the store).

    Raises:
        RuntimeError: called twice, or after JAX already started its backends (create tensors
            only after ``init_process_group``).
        ValueError: an unknown backend or init method, a missing environment variable, or a
            rank outside ``[0, world_size)``.
    """
    if _world.group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if store is not None:
        raise ValueError("init_process_group: store= is not supported; use init_method='env://' or 'tcp://host:port'")
    if backend is None:
        backend = "nccl" if _gpu_expected() else "gloo"
    backend = str(backend).lower()
    if backend not in _BACKENDS:
        raise ValueError(f"init_process_group: backend must be one of {_BACKENDS}, got {backend!r}")
    timeout = _DEFAULT_TIMEOUT if timeout is None else timeout
    coordinator, world_size, rank = _rendezvous(init_method, world_size, rank)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"init_process_group: rank {rank} is not in [0, world_size={world_size})")
    from jax._src import xla_bridge

    if backend == "gloo" and not xla_bridge.backends_are_initialized():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if not os.environ.get("JAX_PLATFORMS"):
            jax.config.update("jax_platforms", "cpu")
    owns_runtime = False
    if world_size > 1 and not jax.distributed.is_initialized():
        if xla_bridge.backends_are_initialized():
            raise RuntimeError(
                "init_process_group must run before JAX starts its backends: call it at the top of "
                "the script, before creating tensors or models (jax.distributed.initialize cannot "
                "join a running JAX runtime)"
            )
        seconds = max(1, int(timeout.total_seconds()))
        local_device_ids = None
        if backend == "nccl":
            local_device_ids = [int(os.environ.get("LOCAL_RANK", device_id if isinstance(device_id, int) else 0))]
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=world_size,
            process_id=rank,
            local_device_ids=local_device_ids,
            initialization_timeout=seconds,
            heartbeat_timeout_seconds=min(seconds, 100),
        )
        owns_runtime = True
    if world_size > 1 and jax.process_count() != world_size:
        raise RuntimeError(
            f"init_process_group: JAX sees {jax.process_count()} processes, expected world_size={world_size}"
        )
    platform = "cpu" if backend == "gloo" else None
    devices = jax.devices(platform) if platform else jax.devices()
    # One device per process, ordered by process index: mesh position == rank.
    first = {}
    for d in sorted(devices, key=lambda d: (d.process_index, d.id)):
        first.setdefault(d.process_index, d)
    if world_size == 1:
        first = {0: jax.local_devices(backend=platform)[0] if platform else jax.local_devices()[0]}
    ordered = [first[p] for p in sorted(first)]
    mesh = Mesh(np.array(ordered, dtype=object), (AXIS,))
    _world.group = _Group(backend, rank, world_size, mesh, ordered[rank], timeout, owns_runtime)
    from . import _spmd

    _spmd.install()
    if world_size > 1:
        # XLA's gloo connects the processes at their first collective and gives up if a peer
        # is more than 30 s late; here they all arrive together, straight from the rendezvous,
        # and later collectives reuse the connections.
        from ._collectives import barrier

        barrier()


def _gpu_expected() -> bool:
    """Whether a GPU is visible, judged without starting JAX's backends (that would make
    ``jax.distributed.initialize`` impossible)."""
    if os.environ.get("JAX_PLATFORMS", "").lower().startswith("cpu"):
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidia0") or os.path.exists("/dev/kfd")


def destroy_process_group(group=None) -> None:
    """Leave the default group (``torch.distributed.destroy_process_group``); JAX's distributed
    runtime is shut down once every process gets here."""
    _check_group(group, "destroy_process_group")
    state = _require_group("destroy_process_group")
    from . import _spmd

    _spmd.uninstall()
    _world.group = None
    if state.owns_runtime:
        jax.distributed.shutdown()


def get_rank(group=None) -> int:
    """This process's rank in the default group."""
    _check_group(group, "get_rank")
    return _require_group("get_rank").rank


def get_world_size(group=None) -> int:
    """The number of processes in the default group."""
    _check_group(group, "get_world_size")
    return _require_group("get_world_size").world_size


def get_backend(group=None) -> str:
    """``'gloo'`` or ``'nccl'``."""
    _check_group(group, "get_backend")
    return _require_group("get_backend").backend


def get_node_local_rank(fallback_rank: Optional[int] = None) -> int:
    """``LOCAL_RANK`` from the launcher's environment (``torch.distributed.get_node_local_rank``)."""
    value = os.environ.get("LOCAL_RANK")
    if value is not None:
        return int(value)
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("LOCAL_RANK is not in the environment; launch with python -m rustorch.distributed.run")


def process_mesh() -> Mesh:
    """The default group as a one-axis :class:`jax.sharding.Mesh` (axis :data:`AXIS`), one
    device per process in rank order: the mesh for ``jax.jit``/``shard_map`` programs that
    span the processes."""
    return _require_group("process_mesh").mesh
