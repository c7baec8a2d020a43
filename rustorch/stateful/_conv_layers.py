"""The convolution layers, as ``torch.nn.Conv{1,2,3}d`` and ``torch.nn.ConvTranspose{1,2,3}d``.

One N-d base class (:class:`_ConvNd`) holds the arguments, the parameters and the padding
modes; the per-dimension classes only fix the number of spatial dimensions and whether the
convolution is transposed, as ``torch.nn.modules.conv`` does.
"""
from __future__ import annotations

import math

from .. import _device
from .. import functional as F
from . import _random
from ._layers import _dtype, _expect, _expect_size, _init_weight_and_bias
from ._module import Module, Parameter
from ._variable import apply

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_LAYOUTS = {1: "[N, C, L] or unbatched [C, L]", 2: "[N, C, H, W] or unbatched [C, H, W]",
            3: "[N, C, D, H, W] or unbatched [C, D, H, W]"}


def _ntuple(value, n):
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"expected an int or {n} ints, got {value!r}")
    return value


class _ConvNd(Module):
    _n = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, output_padding, device, dtype):
        super().__init__()
        name = type(self).__name__
        n = self._n
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels must be divisible by groups (got {in_channels} and {groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels must be divisible by groups (got {out_channels} and {groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {list(_PADDING_MODES)}, but got padding_mode={padding_mode!r}"
            )
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f'{name}: only "zeros" padding mode is supported for {name}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride, n)
        self.dilation = _ntuple(dilation, n)
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of ['valid', 'same']")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n)
        self.output_padding = _ntuple(output_padding, n)
        self.groups = groups
        self.padding_mode = padding_mode
        if device is not None:
            _device.device(device)  # validates the name; parameters live on JAX's default device
        # torch's _reversed_padding_repeated_twice: F.pad's (last dim first) form of the padding.
        if self.padding == "valid":
            pads = [(0, 0)] * n
        elif self.padding == "same":
            pads = F._conv.same_padding(self.kernel_size, self.dilation)
        else:
            pads = [(p, p) for p in self.padding]
        self._reversed_padding_repeated_twice = tuple(v for lo_hi in reversed(pads) for v in lo_hi)
        if self._transposed:
            # fan_in is weight.size(1) * prod(kernel) for both layouts (torch's
            # _calculate_fan_in_and_fan_out); the bias has out_channels entries.
            shape = (in_channels, out_channels // groups) + self.kernel_size
            _init_weight_and_bias(self, shape, False, dtype)
            if bias:
                bound = 1.0 / math.sqrt(math.prod(shape[1:]))
                self.bias = Parameter._wrap(
                    _random.default_generator.uniform(-bound, bound, (out_channels,), _dtype(dtype)))
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
            _init_weight_and_bias(self, shape, bias, dtype)

    def _check_input(self, input):
        _expect(self, input, (self._n + 1, self._n + 2), _LAYOUTS[self._n])
        _expect_size(self, input, -self._n - 1, self.in_channels, "channels")

    def extra_repr(self):
        n = self._n
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            text += f", padding={self.padding}"  # torch prints padding=same, unquoted
        if self.dilation != (1,) * n:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class _Conv(_ConvNd):
    """Shared by Conv1d, Conv2d and Conv3d."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, 0, device, dtype)

    def forward(self, input):
        self._check_input(input)
        conv = _CONV[self._n]
        padding = self.padding
        if self.padding_mode != "zeros":
            input = apply(F.pad, input, pad=self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = 0
        return apply(conv, input, self.weight, self.bias, stride=self.stride, padding=padding,
                     dilation=self.dilation, groups=self.groups)


class _ConvTranspose(_ConvNd):
    """Shared by ConvTranspose1d, ConvTranspose2d and ConvTranspose3d."""

    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device, dtype)

    def forward(self, input, output_size=None):
        self._check_input(input)
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = F._conv.conv_transpose_output_padding(
                repr(self), input.shape[-self._n:], tuple(int(s) for s in output_size), self.kernel_size,
                self.stride, self.padding, self.dilation,
            )
        return apply(_CONV_TRANSPOSE[self._n], input, self.weight, self.bias, stride=self.stride,
                     padding=self.padding, output_padding=output_padding, groups=self.groups,
                     dilation=self.dilation)


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}

_CONV_DOC = """{n}-D convolution over ``{layout}`` input, as ``torch.nn.Conv{n}d(in_channels,
    out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
    padding_mode='zeros', device=None, dtype=None)``.

    ``padding`` is an int, one int per spatial dimension, ``'same'`` or ``'valid'``;
    ``padding_mode`` is ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'`` (non-zero
    modes pad with :func:`rustorch.nn.functional.pad` first, as PyTorch). ``weight`` is
    ``[out_channels, in_channels // groups, *kernel_size]`` and both weight and bias start from
    ``U(+-1/sqrt(fan_in))`` with ``fan_in = in_channels // groups * prod(kernel_size)``.

    Raises:
        ValueError: bad channel/group counts, padding string or mode at construction; at call
            time, an input of another rank or channel count.
    """

_CONV_TRANSPOSE_DOC = """{n}-D transposed convolution over ``{layout}`` input, as
    ``torch.nn.ConvTranspose{n}d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros', device=None,
    dtype=None)``; ``forward(input, output_size=None)`` picks the ``output_padding`` that gives
    ``output_size``.

    ``weight`` is ``[in_channels, out_channels // groups, *kernel_size]``, initialised from
    ``U(+-1/sqrt(out_channels // groups * prod(kernel_size)))`` as PyTorch.

    Raises:
        ValueError: bad channel/group counts or a padding mode other than 'zeros' at
            construction; at call time, a wrong input, or an unreachable ``output_size``.
    """


def _layer(name, base, n, doc):
    return type(name, (base,), {"_n": n, "__doc__": doc.format(n=n, layout=_LAYOUTS[n]), "__module__": __name__})


Conv1d = _layer("Conv1d", _Conv, 1, _CONV_DOC)
Conv2d = _layer("Conv2d", _Conv, 2, _CONV_DOC)
Conv3d = _layer("Conv3d", _Conv, 3, _CONV_DOC)
ConvTranspose1d = _layer("ConvTranspose1d", _ConvTranspose, 1, _CONV_TRANSPOSE_DOC)
ConvTranspose2d = _layer("ConvTranspose2d", _ConvTranspose, 2, _CONV_TRANSPOSE_DOC)
ConvTranspose3d = _layer("ConvTranspose3d", _ConvTranspose, 3, _CONV_TRANSPOSE_DOC)
