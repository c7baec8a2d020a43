"""1-D pooling and adaptive max pooling layers, as their ``torch.nn`` namesakes (the 2-D max,
average and adaptive average pooling layers are in ``_layers``)."""
from __future__ import annotations

from .. import functional as F
from ._layers import _expect, _static
from ._module import Module
from ._variable import apply

_1D = "[N, C, L] or unbatched [C, L]"
_2D = "[N, C, H, W] or unbatched [C, H, W]"


class MaxPool1d(Module):
    """Max pooling over ``[N, C, L]`` input, as ``torch.nn.MaxPool1d(kernel_size, stride=None,
    padding=0, dilation=1, return_indices=False, ceil_mode=False)``: the rules of ``MaxPool2d``
    along the last dimension."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        if return_indices:
            raise ValueError("MaxPool1d: return_indices=True is not supported; use return_indices=False")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation, self.ceil_mode = padding, dilation, ceil_mode
        self.return_indices = False

    def forward(self, input):
        _expect(self, input, (2, 3), _1D)
        return apply(F.max_pool1d, input, kernel_size=_static(self.kernel_size), stride=_static(self.stride),
                     padding=_static(self.padding), dilation=_static(self.dilation), ceil_mode=self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool1d(Module):
    """Average pooling over ``[N, C, L]`` input, as ``torch.nn.AvgPool1d(kernel_size,
    stride=None, padding=0, ceil_mode=False, count_include_pad=True)``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad

    def forward(self, input):
        _expect(self, input, (2, 3), _1D)
        return apply(F.avg_pool1d, input, kernel_size=_static(self.kernel_size), stride=_static(self.stride),
                     padding=_static(self.padding), ceil_mode=self.ceil_mode,
                     count_include_pad=self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _adaptive(name, fn, ranks, layout, doc):
    def __init__(self, output_size, return_indices=False):
        Module.__init__(self)
        if return_indices:
            raise ValueError(f"{name}: return_indices=True is not supported; use return_indices=False")
        self.output_size = output_size

    def forward(self, input):
        _expect(self, input, ranks, layout)
        return apply(fn, input, output_size=_static(self.output_size))

    def extra_repr(self):
        return f"output_size={self.output_size}"

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                  "__doc__": doc, "__module__": __name__})


AdaptiveAvgPool1d = _adaptive(
    "AdaptiveAvgPool1d", F.adaptive_avg_pool1d, (2, 3), _1D,
    "Average pooling of ``[N, C, L]`` input to ``output_size`` cells, as ``torch.nn.AdaptiveAvgPool1d``.")
AdaptiveMaxPool1d = _adaptive(
    "AdaptiveMaxPool1d", F.adaptive_max_pool1d, (2, 3), _1D,
    "Max pooling of ``[N, C, L]`` input to ``output_size`` cells, as ``torch.nn.AdaptiveMaxPool1d``.")
AdaptiveMaxPool2d = _adaptive(
    "AdaptiveMaxPool2d", F.adaptive_max_pool2d, (3, 4), _2D,
    "Max pooling of ``[N, C, H, W]`` input to ``output_size`` (an int, or a pair of ints/None), "
    "as ``torch.nn.AdaptiveMaxPool2d``.")
