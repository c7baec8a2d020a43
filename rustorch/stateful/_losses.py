"""Loss modules, as ``torch.nn``'s: thin Modules over :mod:`._nn_functional`."""
from __future__ import annotations

from . import _nn_functional as NF
from ._module import Module
from ._variable import Variable

_REDUCTIONS = ("none", "mean", "sum")


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self):
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        # A buffer, as in PyTorch: saved in state_dict only when given.
        self.register_buffer("weight", None if weight is None else Variable(weight), persistent=weight is not None)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross entropy, as ``torch.nn.CrossEntropyLoss(weight=None, ignore_index=-100,
    reduction='mean', label_smoothing=0.0)``.

    Targets are class indices (integer, shape ``[N]`` or ``[N, d1, ...]``) or probabilities /
    one-hot rows (floating, the input's shape). ``'mean'`` with class indices is the weighted
    mean ``sum l_n / sum w[y_n]`` over non-ignored targets; with probabilities it divides by N.
    See :func:`rustorch.functional.cross_entropy` for the exact rules and errors.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        if size_average is not None or reduce is not None:
            raise ValueError("size_average and reduce are deprecated in PyTorch; use reduction=")
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return NF.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                                reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood on log-probabilities, as ``torch.nn.NLLLoss(weight=None,
    ignore_index=-100, reduction='mean')``."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return NF.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error, as ``torch.nn.MSELoss(reduction='mean')`` (shapes must match)."""

    def forward(self, input, target):
        return NF.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error, as ``torch.nn.L1Loss(reduction='mean')`` (shapes must match)."""

    def forward(self, input, target):
        return NF.l1_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Sigmoid + binary cross entropy, as ``torch.nn.BCEWithLogitsLoss(weight=None,
    reduction='mean', pos_weight=None)``."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", None if pos_weight is None else Variable(pos_weight),
                             persistent=pos_weight is not None)

    def forward(self, input, target):
        return NF.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                   pos_weight=self.pos_weight)
