"""``DistributedDataParallel``: data parallel training over processes, as ``torch.nn.parallel``.

Each process holds a full replica and feeds it its own part of the batch. At wrap time the
replicas are made identical (rank 0's parameters and buffers broadcast to all). After
``loss.backward()`` every parameter's gradient is the average over the processes: the
backward program runs as one SPMD program over the process mesh and averages the gradients
with ``lax.pmean`` inside it (see :mod:`rustorch.distributed._spmd`), so the all-reduce is
part of the same compiled XLA program as the forward and backward passes. The optimizer then
takes the same step on every rank, and the replicas stay identical.
"""
from __future__ import annotations

import contextlib
import zlib

import numpy as np

from ...distributed import _collectives, _process_group, _spmd
from ...stateful import _graph
from ...stateful._module import Module
from ...stateful._variable import Variable


class DistributedDataParallel(Module):
    """Wrap ``module`` for data parallel training over the default process group
    (``torch.nn.parallel.DistributedDataParallel``).

    * Construction broadcasts rank 0's parameters and buffers to every rank and checks that
      every rank wraps a model with the same parameter shapes.
    * ``forward`` calls ``module``; in training with gradients enabled and
      ``broadcast_buffers=True`` it first copies rank 0's buffers (BatchNorm running
      statistics) to every rank, as PyTorch does.
    * ``backward()`` on a loss computed from the output averages the gradients of the wrapped
      parameters over all ranks inside the compiled backward program.
    * :meth:`no_sync` skips the averaging; the gradients accumulated meanwhile are averaged
      together with the next synchronised backward (PyTorch's semantics).
    * ``model.module`` is the wrapped module; ``state_dict()`` keys carry the ``module.``
      prefix, as PyTorch's.

    ``device_ids``/``output_device`` name this process's device (one device per process; the
    launcher's ``LOCAL_RANK`` picks the GPU under nccl). ``bucket_cap_mb``,
    ``find_unused_parameters``, ``gradient_as_bucket_view`` and ``static_graph`` are accepted
    for compatibility: the averaging is one fused all-reduce inside the backward program, and
    parameters that receive no gradient are simply not averaged.

    Raises:
        ValueError: the default process group is not initialised; ``module`` has no
            parameter that requires a gradient; the ranks' parameter shapes differ.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim: int = 0, broadcast_buffers: bool = True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False, static_graph: bool = False,
                 **kwargs):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expects a rustorch Module, got {type(module).__name__}")
        _process_group._check_group(process_group, "DistributedDataParallel")
        state = _process_group._require_group("DistributedDataParallel")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError(
                "device_ids can only be None or contain a single element (one device per process), "
                f"got {device_ids!r}"
            )
        if dim != 0:
            raise ValueError(f"DistributedDataParallel: only dim=0 (the batch dimension) is supported, got {dim}")
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.world_size = state.world_size
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError(
                "DistributedDataParallel is not needed when a module doesn't have any parameter that requires a gradient."
            )
        self._sync_ids = frozenset(id(p) for p in params)
        self._sync_pending = False
        self._grads_unsynced = False
        if state.world_size > 1:
            self._verify_shapes()
            self._sync_module_states()
        _spmd.register_ddp(self)

    # ----------------------------------------------------------------------- wrap time
    def _verify_shapes(self):
        text = ";".join(f"{name}:{tuple(p.shape)}:{p.dtype}" for name, p in self.module.named_parameters())
        signature = np.int32(zlib.crc32(text.encode()) & 0x7FFFFFFF)
        low, high = _collectives.all_reduce_arrays([signature], _collectives.ReduceOp.MIN) + \
            _collectives.all_reduce_arrays([signature], _collectives.ReduceOp.MAX)
        if int(low) != int(high):
            raise ValueError(
                "DistributedDataParallel: the ranks wrap models with different parameter names, shapes "
                "or dtypes; every rank must build the same model"
            )

    def _sync_module_states(self):
        tensors = list(self.module.parameters()) + [b for b in self.module.buffers()]
        values = _collectives.broadcast_arrays([t._concrete() for t in tensors], src=0)
        for tensor, value in zip(tensors, values):
            tensor._assign(value)

    def _sync_buffers(self):
        owners = [(m, name) for m in self.module.modules() for name, b in m._buffers.items() if b is not None]
        if not owners:
            return
        values = _collectives.broadcast_arrays([m._buffers[name]._concrete() for m, name in owners], src=0,
                                               block=False)
        for (m, name), value in zip(owners, values):
            m._buffers[name] = Variable._wrap(value)

    def _average_accumulated_grads(self):
        params = [p for p in self.module.parameters() if id(p) in self._sync_ids and p.grad is not None]
        if not params:
            return
        averaged = _collectives.all_reduce_arrays([p.grad._concrete() for p in params], _collectives.ReduceOp.AVG)
        for p, value in zip(params, averaged):
            p.grad = Variable._wrap(value)

    # ------------------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        if _graph.is_grad_enabled():
            if self.world_size > 1 and self.training and self.broadcast_buffers:
                self._sync_buffers()
            if self.require_backward_grad_sync:
                if self._grads_unsynced and self.world_size > 1:
                    self._average_accumulated_grads()
                self._grads_unsynced = False
                self._sync_pending = True
            else:
                self._sync_pending = False
                self._grads_unsynced = True
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, backward() accumulates local gradients without averaging them; the first
        synchronised backward after it averages everything accumulated (gradient accumulation
        without a collective per micro-batch)."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous
