"""``rustorch.distributed``: ``torch.distributed``'s API on JAX's multi-controller runtime.

Every process runs the same script (launched by ``python -m rustorch.distributed.run``, or by
SLURM/Kubernetes with torchrun's environment variables) and joins the default group with
:func:`init_process_group`, which calls ``jax.distributed.initialize``. The group is a
one-axis device mesh (:func:`process_mesh`), one device per process in rank order.
Collectives (:func:`all_reduce`, :func:`broadcast`, :func:`all_gather`, ...) are XLA programs
over that mesh: gloo between CPU processes, NCCL between GPUs. They update tensors in place, as
PyTorch's do. :class:`rustorch.nn.parallel.DistributedDataParallel` averages gradients inside
the compiled backward program. :mod:`rustorch.distributed.sharding` holds the functional
recipe: a ``jax.jit`` train step over a mesh with the batch sharded and the parameters
replicated or FSDP-sharded, and checkpoints of sharded state.
"""
from . import sharding
from ._collectives import (
    ReduceOp,
    Work,
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    gather,
    reduce,
    reduce_scatter,
    reduce_scatter_tensor,
    scatter,
)
from ._process_group import (
    AXIS,
    DistBackendError,
    GroupMember,
    destroy_process_group,
    get_backend,
    get_node_local_rank,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    is_available,
    is_gloo_available,
    is_initialized,
    is_nccl_available,
    is_torchelastic_launched,
    process_mesh,
)

__all__ = [
    "AXIS",
    "DistBackendError",
    "GroupMember",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "gather",
    "get_backend",
    "get_node_local_rank",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "is_available",
    "is_gloo_available",
    "is_initialized",
    "is_nccl_available",
    "is_torchelastic_launched",
    "process_mesh",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "scatter",
    "sharding",
]
