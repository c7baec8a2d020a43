"""``DataParallel``: one process, the batch split over several local devices.

The module's parameters and buffers are replicated over a one-axis :class:`jax.sharding.Mesh`
of the local devices, and each input is split along the batch dimension over that mesh
(``NamedSharding(mesh, P('dp'))``). The recorded programs are then compiled by XLA's SPMD
partitioner: each device computes its slice of the batch, and the reductions that need the
whole batch (the loss mean, the gradient sums, BatchNorm statistics) become collectives
inserted by XLA. The numbers are those of one device running the whole batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ...stateful._module import Module
from ...stateful._variable import Variable, apply

_AXIS = "dp"


def _shard_batch(x, *, sharding):
    return lax.with_sharding_constraint(x, sharding)


class DataParallel(Module):
    """Data parallelism over the local devices of one process (``torch.nn.DataParallel``).

    Args:
        module: the model.
        device_ids: indices into ``jax.local_devices()`` (default: all of them).
        output_device: accepted for compatibility (outputs stay sharded over the mesh; reading
            them gathers them).
        dim: the batch dimension the inputs are split along (default 0).

    Differences from PyTorch, all towards the single-device result: BatchNorm computes its
    statistics over the whole batch (PyTorch's replicas each use their own chunk), and a batch
    whose size the device count does not divide runs replicated instead of unevenly split.
    With one device the wrapper is transparent.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel expects a rustorch Module, got {type(module).__name__}")
        devices = jax.local_devices()
        if device_ids is not None:
            ids = [d if isinstance(d, int) else getattr(d, "index", None) for d in device_ids]
            if any(i is None or not 0 <= i < len(devices) for i in ids):
                raise ValueError(f"DataParallel: device_ids {device_ids!r} are not in [0, {len(devices)})")
            devices = [devices[i] for i in ids]
        self.module = module
        self.device_ids = list(range(len(devices))) if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim
        self._mesh = Mesh(np.array(devices, dtype=object), (_AXIS,))
        self._replicated = NamedSharding(self._mesh, P())
        if len(devices) > 1:
            # Replicas of a copy: device_put to a sharding keeps the source buffer as the first
            # device's shard, and a training step of whatever else holds that array (a model
            # loaded from the same state_dict) may donate it.
            for tensor in list(module.parameters()) + list(module.buffers()):
                tensor._assign(jax.device_put(jnp.array(tensor._concrete(), copy=True), self._replicated))

    def _scatter(self, value):
        if not isinstance(value, Variable) or value.ndim <= self.dim:
            return value
        n = len(self.device_ids)
        if n == 1 or value.shape[self.dim] % n:
            return value
        spec = [None] * value.ndim
        spec[self.dim] = _AXIS
        return apply(_shard_batch, value, sharding=NamedSharding(self._mesh, P(*spec)))

    def forward(self, *inputs, **kwargs):
        inputs = tuple(self._scatter(x) for x in inputs)
        kwargs = {k: self._scatter(v) for k, v in kwargs.items()}
        return self.module(*inputs, **kwargs)
