"""More of ``torch.nn``'s activation layers (CELU, SELU, GLU, the shrink functions, Softsign,
Tanhshrink, LogSigmoid, Softmin, Softmax2d, Threshold, RReLU), the alpha dropouts, and the
patch layers ChannelShuffle, Unfold and Fold, as thin layers over
:mod:`rustorch.stateful._nn_functional_act`."""
from __future__ import annotations

from .. import functional as F
from ..functional import _activations_more as _A
from . import _nn_functional_act as _act
from ._layers import _activation
from ._module import Module

CELU = _activation("CELU", _A.celu, "``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``, as "
                   "``torch.nn.CELU(alpha=1.0, inplace=False)``.", (("alpha", 1.0),), inplace=True)
SELU = _activation("SELU", _A.selu, "``scale * (max(0, x) + min(0, alpha * (exp(x) - 1)))``, as "
                   "``torch.nn.SELU(inplace=False)``.", inplace=True)
GLU = _activation("GLU", _A.glu, "``a * sigmoid(b)`` over the halves of ``dim``, as ``torch.nn.GLU(dim=-1)``.",
                  (("dim", -1),))
Hardshrink = _activation("Hardshrink", _A.hardshrink, "``x if |x| > lambd else 0``, as "
                         "``torch.nn.Hardshrink(lambd=0.5)``.", (("lambd", 0.5),), bare=True)
Softshrink = _activation("Softshrink", _A.softshrink, "``x -+ lambd`` outside ``[-lambd, lambd]``, else 0, as "
                         "``torch.nn.Softshrink(lambd=0.5)``.", (("lambd", 0.5),), bare=True)
Softsign = _activation("Softsign", _A.softsign, "``x / (1 + |x|)``, as ``torch.nn.Softsign``.")
Tanhshrink = _activation("Tanhshrink", _A.tanhshrink, "``x - tanh(x)``, as ``torch.nn.Tanhshrink``.")
LogSigmoid = _activation("LogSigmoid", _A.logsigmoid, "``log(sigmoid(x))``, as ``torch.nn.LogSigmoid``.")
Softmax2d = _activation("Softmax2d", _A.softmax2d, "Softmax over the channels (dim -3) of ``[N, C, H, W]`` or "
                        "``[C, H, W]`` input, as ``torch.nn.Softmax2d``.")
Threshold = _activation("Threshold", _A.threshold, "``x if x > threshold else value``, as "
                        "``torch.nn.Threshold(threshold, value, inplace=False)``.",
                        (("threshold", _activation.REQUIRED), ("value", _activation.REQUIRED)), inplace=True)


class Softmin(Module):
    """``softmax(-x, dim)``, as ``torch.nn.Softmin(dim=None)`` (``dim=None``: PyTorch's
    deprecated implicit choice, with its warning)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return _act.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self):
        return f"dim={self.dim}"


class RReLU(Module):
    """Randomized leaky ReLU, as ``torch.nn.RReLU(lower=1/8, upper=1/3, inplace=False)``: in
    training each non-positive element gets its own slope from ``U(lower, upper)`` (the default
    generator, drawn inside the compiled program), in eval the slope ``(lower + upper) / 2``.

    Raises:
        RuntimeError: ``lower > upper`` (at the first call, as PyTorch).
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return _act.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class _AlphaDropout(Module):
    _feature = False

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        F._checks.check_probability(type(self).__name__, p)
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return _act.record_alpha_dropout(input, self.p, self.training, self.inplace, self._feature)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class AlphaDropout(_AlphaDropout):
    """Dropout that keeps SELU's mean and variance, as ``torch.nn.AlphaDropout(p=0.5,
    inplace=False)`` (see :func:`rustorch.functional.alpha_dropout`); the identity in eval mode."""


class FeatureAlphaDropout(_AlphaDropout):
    """Alpha dropout of whole channels (one draw per ``(n, c)``), as
    ``torch.nn.FeatureAlphaDropout(p=0.5, inplace=False)``; the identity in eval mode."""

    _feature = True


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups, as ``torch.nn.ChannelShuffle(groups)``."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return _act.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


class Unfold(Module):
    """Sliding local blocks (im2col), as ``torch.nn.Unfold(kernel_size, dilation=1, padding=0,
    stride=1)``: ``[N, C, H, W] -> [N, C * kh * kw, L]``."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):
        return _act.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """Sum sliding local blocks into an image (col2im), as ``torch.nn.Fold(output_size,
    kernel_size, dilation=1, padding=0, stride=1)``: ``[N, C * kh * kw, L] -> [N, C, *output_size]``."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return _act.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
