"""``SyncBatchNorm``: batch normalisation with statistics over the whole distributed batch.

In training, the per-channel count, sum and centred sum of squares are summed over the
processes with ``lax.psum`` over the process mesh axis, so every rank normalises with the
mean and (biased) variance of the global batch and stores the same running statistics (the
unbiased variance over the global count), as ``torch.nn.SyncBatchNorm``. The op is marked as
a collective, so the program that contains it runs as one SPMD program over the processes
(:mod:`rustorch.distributed._spmd`); its backward (a custom VJP) sums the per-channel gradient
terms over the processes too, as PyTorch's SyncBatchNorm backward does. Outside a process
group of more than one process the axis is unbound and the op is ordinary batch norm.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from . import _graph
from ._layers import _BatchNorm, _batch_norm_eval, _batch_norm_stateless, _expect, _expect_size
from ._module import Module
from ._variable import apply

AXIS = "dp"  # rustorch.distributed's process mesh axis (imported lazily there to keep the layers light)


def _psum(x):
    """``lax.psum`` over the process axis when a program binds it, else the identity."""
    try:
        return lax.psum(x, AXIS)
    except NameError:  # unbound axis: a single process
        return x


def _layout(x):
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, bshape


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _sync_normalize(x, weight, bias, eps):
    """``(y, mean, var_sum, count)``: ``x`` normalised with the statistics of the global batch."""
    return _sync_normalize_fwd(x, weight, bias, eps)[0]


def _sync_normalize_fwd(x, weight, bias, eps):
    axes, bshape = _layout(x)
    count = _psum(jnp.asarray(x.size // x.shape[1], x.dtype))
    mean = _psum(jnp.sum(x, axis=axes)) / count
    centred = x - mean.reshape(bshape)
    var_sum = _psum(jnp.sum(centred * centred, axis=axes))
    invstd = lax.rsqrt(var_sum / count + eps)
    y = centred * (invstd * weight).reshape(bshape) + bias.reshape(bshape)
    return (y, mean, var_sum, count), (centred, invstd, weight, count)


def _sync_normalize_bwd(eps, residuals, cotangents):
    # torch.nn.SyncBatchNorm's backward: the per-channel sums of dy and dy * (x - mean) are
    # summed over the processes (each process's dy is the cotangent of its own loss), so the
    # input gradient is that of the sum of every process's loss; the weight and bias gradients
    # stay local (DistributedDataParallel averages them). The statistics outputs feed only the
    # running buffers and carry no gradient.
    centred, invstd, weight, count = residuals
    dy = cotangents[0]
    axes, bshape = _layout(centred)
    sum_dy_local = jnp.sum(dy, axis=axes)
    dot_local = jnp.sum(dy * centred, axis=axes)
    mean_dy = _psum(sum_dy_local) / count
    mean_dot = _psum(dot_local) / count
    grad_x = (dy - mean_dy.reshape(bshape) - centred * (mean_dot * invstd * invstd).reshape(bshape)) * (
        invstd * weight).reshape(bshape)
    return grad_x, dot_local * invstd, sum_dy_local


_sync_normalize.defvjp(_sync_normalize_fwd, _sync_normalize_bwd)


def _sync_batch_norm_train(x, weight, bias, running_mean, running_var, num_batches_tracked, *, momentum, eps):
    """Training-mode batch norm over ``[N, C, *]`` with statistics summed over the processes.

    ``mean = psum(sum x) / psum(n)``, ``var = psum(sum (x - mean)^2) / psum(n)`` per channel;
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``; running statistics updated with the
    unbiased variance ``var * N / (N - 1)`` over the global count ``N``."""
    compute = x.dtype if jnp.finfo(x.dtype).bits >= 32 else jnp.dtype(jnp.float32)
    channels = x.shape[1]
    w = jnp.ones((channels,), compute) if weight is None else weight.astype(compute)
    b = jnp.zeros((channels,), compute) if bias is None else bias.astype(compute)
    y, mean, var_sum, count = _sync_normalize(x.astype(compute), w, b, float(eps))
    if running_mean is None:
        return y.astype(x.dtype), None, None, None
    tracked = num_batches_tracked + jnp.ones((), num_batches_tracked.dtype)
    factor = 1 / tracked.astype(compute) if momentum is None else jnp.asarray(momentum, compute)
    batch_mean = lax.stop_gradient(mean)
    unbiased = lax.stop_gradient(var_sum / (count - 1))
    new_mean = (factor * batch_mean + (1 - factor) * running_mean.astype(compute)).astype(running_mean.dtype)
    new_var = (factor * unbiased + (1 - factor) * running_var.astype(compute)).astype(running_var.dtype)
    return y.astype(x.dtype), new_mean, new_var, tracked


def _sync_batch_norm_stateless(x, weight, bias, *, eps):
    return _sync_batch_norm_train(x, weight, bias, None, None, None, momentum=None, eps=eps)[0]


_sync_batch_norm_train._rustorch_collective = True
_sync_batch_norm_stateless._rustorch_collective = True


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation synchronised over the processes of the default group
    (``torch.nn.SyncBatchNorm(num_features, eps=1e-5, momentum=0.1, affine=True,
    track_running_stats=True, process_group=None)``), for inputs ``[N, C, *]`` of two or more
    dims. Training uses the statistics of the global batch (all ranks' inputs together);
    eval mode uses the running statistics, as BatchNorm. With one process it computes what
    ``BatchNorm{1,2,3}d`` computes. Convert a model's BatchNorm layers with
    :meth:`convert_sync_batchnorm`.

    Raises:
        ValueError: input with fewer than 2 dims or the wrong channel count; training with a
            single value per channel on this process.
    """

    _ranks = (2, 3, 4, 5)
    _layout = "[N, C, *]"

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, dtype=None):
        if process_group is not None:
            raise ValueError("SyncBatchNorm: only the default process group (process_group=None) is supported")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)
        self.process_group = None

    def forward(self, input):
        _expect(self, input, self._ranks, self._layout)
        _expect_size(self, input, 1, self.num_features, "channels")
        buffers = self._buffers
        if self.running_mean is not None and not self.training:
            state = (buffers["running_mean"], buffers["running_var"], buffers["num_batches_tracked"])
            return apply(_batch_norm_eval, input, self.weight, self.bias, *state, eps=self.eps)
        if input.numel() // input.shape[1] <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(input.shape)}")
        if self.running_mean is None:
            return apply(_sync_batch_norm_stateless, input, self.weight, self.bias, eps=self.eps)
        state = (buffers["running_mean"], buffers["running_var"], buffers["num_batches_tracked"])
        y, mean, var, count = apply(_sync_batch_norm_train, input, self.weight, self.bias, *state,
                                    momentum=self.momentum, eps=self.eps)
        for name, value in (("running_mean", mean), ("running_var", var), ("num_batches_tracked", count)):
            value.requires_grad = False
            buffers[name] = value
            _graph.register_effect(value)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Replace every ``BatchNorm*d`` in ``module`` (recursively) by a SyncBatchNorm with the
        same parameters, buffers and settings; returns the converted module (``module`` itself
        when it has no BatchNorm at its root)."""
        result = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            result = cls(module.num_features, module.eps, module.momentum, module.affine,
                         module.track_running_stats, process_group)
            if module.affine:
                result.weight = module.weight
                result.bias = module.bias
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                result._buffers[name] = module._buffers[name]
            result.training = module.training
        for name, child in list(module._modules.items()):
            if child is not None:
                converted = cls.convert_sync_batchnorm(child, process_group)
                if converted is not child:
                    result._modules[name] = converted
        return result
