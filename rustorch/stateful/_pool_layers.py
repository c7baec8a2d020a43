"""Pooling layers, as their ``torch.nn`` namesakes: max, average, power-average, adaptive max and
average pooling and max unpooling over 1, 2 or 3 spatial dimensions, each a thin layer over the
one N-d ``rustorch.functional`` op of its kind."""
from __future__ import annotations

from .. import functional as F
from ._layers import _expect, _static
from ._module import Module
from ._variable import apply

_LAYOUTS = {1: "[N, C, L] or unbatched [C, L]", 2: "[N, C, H, W] or unbatched [C, H, W]",
            3: "[N, C, D, H, W] or unbatched [C, D, H, W]"}


def _ntuple(value, n):
    return (value,) * n if isinstance(value, int) else tuple(value)


def _layer(base, n, fn, doc):
    return type(f"{base.__name__.lstrip('_')}{n}d", (base,), {
        "_n": n, "_fn": staticmethod(fn), "__doc__": doc, "__module__": __name__,
    })


class _MaxPool(Module):
    _n: int

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        _expect(self, input, (self._n + 1, self._n + 2), _LAYOUTS[self._n])
        extra = {"return_indices": True} if self.return_indices else {}
        return apply(self._fn, input, kernel_size=_static(self.kernel_size), stride=_static(self.stride),
                     padding=_static(self.padding), dilation=_static(self.dilation), ceil_mode=self.ceil_mode,
                     **extra)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class _AvgPool(Module):
    _n: int

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        if self._n == 1:
            if divisor_override is not None:
                raise TypeError("AvgPool1d: takes no divisor_override (as torch.nn.AvgPool1d)")
            # torch.nn.AvgPool1d stores 1-tuples.
            kernel_size, stride = _ntuple(kernel_size, 1), _ntuple(stride if stride is not None else kernel_size, 1)
            padding = _ntuple(padding, 1)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad
        if self._n > 1:
            self.divisor_override = divisor_override

    def forward(self, input):
        _expect(self, input, (self._n + 1, self._n + 2), _LAYOUTS[self._n])
        extra = {} if self._n == 1 else {"divisor_override": self.divisor_override}
        return apply(self._fn, input, kernel_size=_static(self.kernel_size), stride=_static(self.stride),
                     padding=_static(self.padding), ceil_mode=self.ceil_mode,
                     count_include_pad=self.count_include_pad, **extra)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _LPPool(Module):
    _n: int

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, input):
        _expect(self, input, (self._n + 1, self._n + 2), _LAYOUTS[self._n])
        return apply(self._fn, input, norm_type=self.norm_type, kernel_size=_static(self.kernel_size),
                     stride=_static(self.stride), ceil_mode=self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class _AdaptiveAvgPool(Module):
    _n: int

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        _expect(self, input, (self._n + 1, self._n + 2), _LAYOUTS[self._n])
        return apply(self._fn, input, output_size=_static(self.output_size))

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _AdaptiveMaxPool(_AdaptiveAvgPool):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        _expect(self, input, (self._n + 1, self._n + 2), _LAYOUTS[self._n])
        extra = {"return_indices": True} if self.return_indices else {}
        return apply(self._fn, input, output_size=_static(self.output_size), **extra)


class _MaxUnpool(Module):
    _n: int

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        n = self._n
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride if stride is not None else kernel_size, n)
        self.padding = _ntuple(padding, n)

    def forward(self, input, indices, output_size=None):
        _expect(self, input, (self._n + 1, self._n + 2), _LAYOUTS[self._n])
        if output_size is not None:
            output_size = tuple(int(s) for s in output_size)
        return apply(self._fn, input, indices, kernel_size=self.kernel_size, stride=self.stride,
                     padding=self.padding, output_size=output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _doc(text, n):
    return text.format(n=n, layout=_LAYOUTS[n])


MaxPool1d, MaxPool2d, MaxPool3d = (_layer(_MaxPool, n, getattr(F, f"max_pool{n}d"), _doc(
    "Max pooling over ``{layout}`` input, as ``torch.nn.MaxPool{n}d(kernel_size, stride=None, padding=0, "
    "dilation=1, return_indices=False, ceil_mode=False)``: stride defaults to the kernel size, padding is "
    "-inf, with ``ceil_mode`` the last window must start inside the input, and with ``return_indices`` the "
    "layer returns ``(output, indices)`` (see :func:`rustorch.functional.max_pool{n}d`).", n)) for n in (1, 2, 3))

AvgPool1d, AvgPool2d, AvgPool3d = (_layer(_AvgPool, n, getattr(F, f"avg_pool{n}d"), _doc(
    "Average pooling over ``{layout}`` input, as ``torch.nn.AvgPool{n}d(kernel_size, stride=None, "
    "padding=0, ceil_mode=False, count_include_pad=True" + (", divisor_override=None" if n > 1 else "")
    + ")`` (see :func:`rustorch.functional.avg_pool{n}d`).", n)) for n in (1, 2, 3))

LPPool1d, LPPool2d, LPPool3d = (_layer(_LPPool, n, getattr(F, f"lp_pool{n}d"), _doc(
    "Power-average pooling over ``{layout}`` input, as ``torch.nn.LPPool{n}d(norm_type, kernel_size, "
    "stride=None, ceil_mode=False)``: ``(sum over the window of x**p) ** (1/p)`` (see "
    ":func:`rustorch.functional.lp_pool{n}d`).", n)) for n in (1, 2, 3))

AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d = (_layer(
    _AdaptiveAvgPool, n, getattr(F, f"adaptive_avg_pool{n}d"), _doc(
        "Average pooling of ``{layout}`` input to ``output_size`` cells per spatial dimension, as "
        "``torch.nn.AdaptiveAvgPool{n}d(output_size)``.", n)) for n in (1, 2, 3))

AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d = (_layer(
    _AdaptiveMaxPool, n, getattr(F, f"adaptive_max_pool{n}d"), _doc(
        "Max pooling of ``{layout}`` input to ``output_size`` cells per spatial dimension, as "
        "``torch.nn.AdaptiveMaxPool{n}d(output_size, return_indices=False)``.", n)) for n in (1, 2, 3))

MaxUnpool1d, MaxUnpool2d, MaxUnpool3d = (_layer(_MaxUnpool, n, getattr(F, f"max_unpool{n}d"), _doc(
    "Partial inverse of ``MaxPool{n}d``, as ``torch.nn.MaxUnpool{n}d(kernel_size, stride=None, "
    "padding=0)``: ``forward(input, indices, output_size=None)`` places each input at its index in a "
    "zero output (see :func:`rustorch.functional.max_unpool{n}d`).", n)) for n in (1, 2, 3))
