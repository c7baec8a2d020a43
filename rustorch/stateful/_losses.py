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


# --- more losses (surface block) ---
def _no_deprecated(name, size_average, reduce):
    if size_average is not None or reduce is not None:
        raise ValueError(f"{name}: size_average and reduce are deprecated in PyTorch; use reduction=")


class BCELoss(_WeightedLoss):
    """Binary cross entropy on probabilities, as ``torch.nn.BCELoss(weight=None,
    reduction='mean')``: ``-w (t log x + (1 - t) log(1 - x))`` with the logs clamped at -100
    (see :func:`rustorch.functional.binary_cross_entropy`)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        _no_deprecated("BCELoss", size_average, reduce)
        super().__init__(weight, reduction)

    def forward(self, input, target):
        return NF.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class KLDivLoss(_Loss):
    """``torch.nn.KLDivLoss(reduction='mean', log_target=False)`` on log-probability inputs;
    ``reduction='batchmean'`` is the KL divergence (see :func:`rustorch.functional.kl_div`)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        _no_deprecated("KLDivLoss", size_average, reduce)
        Module.__init__(self)
        if reduction not in ("none", "mean", "sum", "batchmean"):
            raise ValueError(f"KLDivLoss: {reduction} is not a valid value for reduction")
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input, target):
        return NF.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class SmoothL1Loss(_Loss):
    """``torch.nn.SmoothL1Loss(reduction='mean', beta=1.0)``: squared below ``beta``, L1 above."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        _no_deprecated("SmoothL1Loss", size_average, reduce)
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return NF.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``torch.nn.HuberLoss(reduction='mean', delta=1.0)``: ``0.5 d^2`` below ``delta``,
    ``delta (|d| - 0.5 delta)`` above."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return NF.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class MarginRankingLoss(_Loss):
    """``torch.nn.MarginRankingLoss(margin=0.0, reduction='mean')``: ``max(0, -y (x1 - x2) + margin)``."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        _no_deprecated("MarginRankingLoss", size_average, reduce)
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return NF.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """``torch.nn.CosineEmbeddingLoss(margin=0.0, reduction='mean')``: ``1 - cos`` for
    ``y = 1``, ``max(0, cos - margin)`` for ``y = -1``."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        _no_deprecated("CosineEmbeddingLoss", size_average, reduce)
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return NF.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``torch.nn.TripletMarginLoss(margin=1.0, p=2.0, eps=1e-6, swap=False, reduction='mean')``:
    ``max(d(a, p) - d(a, n) + margin, 0)`` with the pairwise ``p``-distance."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        _no_deprecated("TripletMarginLoss", size_average, reduce)
        super().__init__(reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return NF.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                      swap=self.swap, reduction=self.reduction)
