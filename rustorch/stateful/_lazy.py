"""Lazy layers: ``LazyLinear`` and ``LazyBatchNorm1d/2d`` infer their input size from the first
input, as PyTorch's ``torch.nn.LazyLinear`` and friends.

Until the first call the parameters are empty placeholders (``numel() == 0``), registered under
their final names so an optimizer built before the first call holds them: the first call fills
them in place (same objects) with PyTorch's initialisation, and the module becomes the plain
layer (``type(layer)`` is then ``Linear`` / ``BatchNorm1d`` / ``BatchNorm2d``, as PyTorch's
``cls_to_become``).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import _graph
from ._layers import BatchNorm1d, BatchNorm2d, BatchNorm3d, Linear, _dtype, _expect
from ._module import Module, Parameter
from ._variable import Variable


def _placeholder(dtype) -> Parameter:
    return Parameter._wrap(jnp.zeros((0,), _dtype(dtype)))


def _fill(target: Variable, source: Variable) -> None:
    """Give the placeholder ``target`` the value (and shape) of ``source``, keeping its identity."""
    target._value = source._concrete()
    target._node = None
    target._pending_leaf = False  # (a step recorded on the placeholder is dropped with it)
    target._aval = _graph.Aval(tuple(source.shape), source.dtype)


class _LazyMixin:
    def has_uninitialized_params(self) -> bool:
        return any(p.numel() == 0 for p in self._parameters.values() if p is not None)

    def _become(self, materialized: Module) -> None:
        for table in ("_parameters", "_buffers"):
            own, new = getattr(self, table), getattr(materialized, table)
            for name, value in new.items():
                current = own.get(name)
                if isinstance(current, Variable) and value is not None and table == "_parameters":
                    _fill(current, value)
                else:
                    own[name] = value
        for key, value in materialized.__dict__.items():
            if key not in ("_parameters", "_buffers", "_modules", "training", "_forward_hooks",
                           "_forward_pre_hooks", "_non_persistent_buffers"):
                object.__setattr__(self, key, value)
        self.__class__ = self.cls_to_become


class LazyLinear(_LazyMixin, Linear):
    """``torch.nn.LazyLinear(out_features, bias=True, device=None, dtype=None)``: a
    :class:`Linear` whose ``in_features`` is the last dim of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self._lazy_args = (bias, device, dtype)
        self.weight = _placeholder(dtype)
        if bias:
            self.bias = _placeholder(dtype)
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        _expect(self, input, range(1, 64), "[*, in_features]")
        bias, device, dtype = self._lazy_args
        self._become(Linear(input.shape[-1], self.out_features, bias, device, dtype))
        del self._lazy_args
        return self.forward(input)

    def extra_repr(self):
        return f"in_features=0, out_features={self.out_features}, bias={self.bias is not None}"


def _lazy_batch_norm(name, base):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None):
        Module.__init__(self)
        self.num_features = 0
        self.eps, self.momentum, self.affine, self.track_running_stats = eps, momentum, affine, track_running_stats
        self._lazy_args = (eps, momentum, affine, track_running_stats, device, dtype)
        if affine:
            self.weight = _placeholder(dtype)
            self.bias = _placeholder(dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        for buffer in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(buffer, None)

    def forward(self, input):
        if base._ranks:
            _expect(self, input, base._ranks, base._layout)
        else:  # instance norm: [N, C, *spatial] or unbatched [C, *spatial]
            n = base._spatial
            _expect(self, input, (n + 1, n + 2), f"[N, C, *{n} spatial] or unbatched [C, *{n} spatial]")
        # dim 1, as PyTorch's _LazyNormBase.initialize_parameters (for unbatched input too)
        self._become(base(input.shape[1], *self._lazy_args))
        del self._lazy_args
        return self.forward(input)

    doc = (f"``torch.nn.{name}(eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, "
           f"dtype=None)``: a :class:`{base.__name__}` whose ``num_features`` is dim 1 of its first input.")
    return type(name, (_LazyMixin, base), {"__init__": __init__, "forward": forward, "cls_to_become": base,
                                          "__doc__": doc, "__module__": __name__})


LazyBatchNorm1d = _lazy_batch_norm("LazyBatchNorm1d", BatchNorm1d)
LazyBatchNorm2d = _lazy_batch_norm("LazyBatchNorm2d", BatchNorm2d)
LazyBatchNorm3d = _lazy_batch_norm("LazyBatchNorm3d", BatchNorm3d)


def _instance_norm_classes():
    from . import _image_layers

    return _image_layers.InstanceNorm1d, _image_layers.InstanceNorm2d, _image_layers.InstanceNorm3d


LazyInstanceNorm1d, LazyInstanceNorm2d, LazyInstanceNorm3d = (
    _lazy_batch_norm(f"LazyInstanceNorm{k}d", base) for k, base in zip((1, 2, 3), _instance_norm_classes()))


def _lazy_conv(name, base, spatial):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        Module.__init__(self)
        self.in_channels = 0
        self.out_channels = out_channels
        self._lazy_args = dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                               groups=groups, bias=bias, padding_mode=padding_mode, device=device, dtype=dtype)
        self.weight = _placeholder(dtype)
        if bias:
            self.bias = _placeholder(dtype)
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        _expect(self, input, (spatial + 1, spatial + 2), f"[N, C, *spatial] with {spatial} spatial dims")
        self._become(base(input.shape[-(spatial + 1)], self.out_channels, **self._lazy_args))
        del self._lazy_args
        return self.forward(input)

    def extra_repr(self):
        return f"0, {self.out_channels}, kernel_size={self._lazy_args['kernel_size']}"

    doc = (f"``torch.nn.{name}(out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, "
           f"padding_mode='zeros', device=None, dtype=None)``: a :class:`{base.__name__}` whose ``in_channels`` is "
           "the channel dim of its first input.")
    return type(name, (_LazyMixin, base), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                          "cls_to_become": base, "__doc__": doc, "__module__": __name__})


def _conv_classes():
    from . import _conv_layers

    return _conv_layers.Conv1d, _conv_layers.Conv2d, _conv_layers.Conv3d


LazyConv1d, LazyConv2d, LazyConv3d = (_lazy_conv(f"LazyConv{k}d", base, k)
                                      for k, base in zip((1, 2, 3), _conv_classes()))


def _lazy_conv_transpose(name, base, spatial):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        Module.__init__(self)
        self.in_channels = 0
        self.out_channels = out_channels
        self._lazy_args = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                               output_padding=output_padding, groups=groups, bias=bias, dilation=dilation,
                               padding_mode=padding_mode, device=device, dtype=dtype)
        self.weight = _placeholder(dtype)
        if bias:
            self.bias = _placeholder(dtype)
        else:
            self.register_parameter("bias", None)

    def forward(self, input, output_size=None):
        _expect(self, input, (spatial + 1, spatial + 2), f"[N, C, *spatial] with {spatial} spatial dims")
        self._become(base(input.shape[-(spatial + 1)], self.out_channels, **self._lazy_args))
        del self._lazy_args
        return self.forward(input, output_size)

    def extra_repr(self):
        return f"0, {self.out_channels}, kernel_size={self._lazy_args['kernel_size']}"

    doc = (f"``torch.nn.{name}(out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, "
           "bias=True, dilation=1, padding_mode='zeros', device=None, dtype=None)``: a "
           f":class:`{base.__name__}` whose ``in_channels`` is the channel dim of its first input.")
    return type(name, (_LazyMixin, base), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                          "cls_to_become": base, "__doc__": doc, "__module__": __name__})


def _conv_transpose_classes():
    from . import _conv_layers

    return _conv_layers.ConvTranspose1d, _conv_layers.ConvTranspose2d, _conv_layers.ConvTranspose3d


LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d = (
    _lazy_conv_transpose(f"LazyConvTranspose{k}d", base, k) for k, base in zip((1, 2, 3), _conv_transpose_classes()))
