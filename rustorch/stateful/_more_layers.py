"""Margin, likelihood and CTC loss modules, ``Bilinear``, ``CosineSimilarity``,
``PairwiseDistance`` and ``EmbeddingBag``, as ``torch.nn``'s: thin Modules over
:mod:`._nn_functional_more` and :mod:`._nn_functional`."""
from __future__ import annotations

import math
import warnings

from ..functional._embedding import normalize_padding_idx
from . import _nn_functional as NF
from . import _nn_functional_more as NFM
from . import _random
from ._layers import _dtype
from ._losses import NLLLoss, _Loss, _no_deprecated, _WeightedLoss
from ._module import Module, Parameter
from ._sequence import _normal


# ---------------------------------------------------------------------------------- losses
class GaussianNLLLoss(_Loss):
    """``torch.nn.GaussianNLLLoss(*, full=False, eps=1e-6, reduction='mean')``:
    ``0.5 (log max(var, eps) + (input - target)^2 / max(var, eps))``; ``forward(input, target,
    var)``."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return NFM.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """``torch.nn.PoissonNLLLoss(log_input=True, full=False, eps=1e-8, reduction='mean')``:
    ``exp(x) - t x`` (``log_input``) or ``x - t log(x + eps)``, plus Stirling's term with
    ``full``."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        _no_deprecated("PoissonNLLLoss", size_average, reduce)
        super().__init__(reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return NFM.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full, eps=self.eps,
                                    reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """``torch.nn.HingeEmbeddingLoss(margin=1.0, reduction='mean')``: ``x`` for ``y = 1``,
    ``max(0, margin - x)`` for ``y = -1``."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        _no_deprecated("HingeEmbeddingLoss", size_average, reduce)
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input, target):
        return NFM.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """``torch.nn.SoftMarginLoss(reduction='mean')``: ``log(1 + exp(-y x))``."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        _no_deprecated("SoftMarginLoss", size_average, reduce)
        super().__init__(reduction)

    def forward(self, input, target):
        return NFM.soft_margin_loss(input, target, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """``torch.nn.MultiMarginLoss(p=1, margin=1.0, weight=None, reduction='mean')``: the
    multi-class hinge loss ``sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C``."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None, reduce=None,
                 reduction: str = "mean"):
        _no_deprecated("MultiMarginLoss", size_average, reduce)
        super().__init__(weight, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and self.weight.ndim != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be a 1D tensor but got: {self.weight.ndim}D")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return NFM.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                     reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """``torch.nn.MultiLabelMarginLoss(reduction='mean')``: targets are class indices padded
    with -1."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        _no_deprecated("MultiLabelMarginLoss", size_average, reduce)
        super().__init__(reduction)

    def forward(self, input, target):
        return NFM.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """``torch.nn.MultiLabelSoftMarginLoss(weight=None, reduction='mean')``: per-class logistic
    losses averaged over the classes."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        _no_deprecated("MultiLabelSoftMarginLoss", size_average, reduce)
        super().__init__(weight, reduction)

    def forward(self, input, target):
        return NFM.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """``torch.nn.TripletMarginWithDistanceLoss(*, distance_function=None, margin=1.0,
    swap=False, reduction='mean')``.

    Raises:
        ValueError: ``margin <= 0``.
    """

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean"):
        super().__init__(reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} "
                             f"instead")
        self.distance_function = distance_function if distance_function is not None else PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return NFM.triplet_margin_with_distance_loss(anchor, positive, negative,
                                                     distance_function=self.distance_function, margin=self.margin,
                                                     swap=self.swap, reduction=self.reduction)


class CTCLoss(_Loss):
    """``torch.nn.CTCLoss(blank=0, reduction='mean', zero_infinity=False)``;
    ``forward(log_probs, targets, input_lengths, target_lengths)`` (see
    :func:`rustorch.functional.ctc_loss`)."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return NFM.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                            self.zero_infinity)


class NLLLoss2d(NLLLoss):
    """The deprecated ``torch.nn.NLLLoss2d``: :class:`NLLLoss` (which takes ``[N, C, H, W]``)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        warnings.warn("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement and "
                      "see https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for more details.", FutureWarning,
                      stacklevel=2)
        _no_deprecated("NLLLoss2d", size_average, reduce)
        super().__init__(weight, ignore_index, reduction)


# ------------------------------------------------------------------ similarity, bilinear
class CosineSimilarity(Module):
    """``torch.nn.CosineSimilarity(dim=1, eps=1e-8)``: ``x1 . x2 / (max(|x1|, eps) max(|x2|, eps))``
    along ``dim``."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return NF.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """``torch.nn.PairwiseDistance(p=2.0, eps=1e-6, keepdim=False)``: ``norm(x1 - x2 + eps, p)``
    over the last dim."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return NF.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class Bilinear(Module):
    """``y = x1^T A x2 + b``, as ``torch.nn.Bilinear(in1_features, in2_features, out_features,
    bias=True)``: ``weight [out, in1, in2]`` and ``bias [out]``, both from
    ``U(+-1/sqrt(in1_features))``."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        dtype = _dtype(dtype)
        bound = 1.0 / math.sqrt(in1_features) if in1_features > 0 else 0.0
        generator = _random.default_generator
        self.weight = Parameter._wrap(generator.uniform(-bound, bound, (out_features, in1_features, in2_features),
                                                        dtype))
        if bias:
            self.bias = Parameter._wrap(generator.uniform(-bound, bound, (out_features,), dtype))
        else:
            self.register_parameter("bias", None)
        self.to(device=device)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.weight.shape[1]) if self.weight.shape[1] > 0 else 0.0
        generator = _random.default_generator
        self.weight._assign(generator.uniform(-bound, bound, self.weight.shape, self.weight.dtype))
        if self.bias is not None:
            self.bias._assign(generator.uniform(-bound, bound, self.bias.shape, self.bias.dtype))

    def forward(self, input1, input2):
        return NFM.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


# --------------------------------------------------------------------------- embedding bag
class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, as ``torch.nn.EmbeddingBag(num_embeddings,
    embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, mode='mean',
    sparse=False, _weight=None, include_last_offset=False, padding_idx=None)``;
    ``forward(input, offsets=None, per_sample_weights=None)`` (see
    :func:`rustorch.functional.embedding_bag`). ``weight`` starts from ``N(0, 1)`` with the
    ``padding_idx`` row zeroed.

    Raises:
        ValueError: ``padding_idx`` outside the table, ``sparse=True``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        if sparse:
            raise ValueError("EmbeddingBag: sparse=True is not supported (gradients are dense JAX arrays); use "
                             "sparse=False with a dense optimizer")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.padding_idx = normalize_padding_idx("EmbeddingBag", padding_idx, num_embeddings)
        if _weight is None:
            weight = _normal((num_embeddings, embedding_dim), _dtype(dtype))
            if self.padding_idx is not None:
                weight = weight.at[self.padding_idx].set(0)
            self.weight = Parameter._wrap(weight)
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError("EmbeddingBag: Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight)
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset
        self.to(device=device)

    def reset_parameters(self) -> None:
        """Redraw ``weight`` from ``N(0, 1)`` and zero the ``padding_idx`` row."""
        weight = _normal(self.weight.shape, self.weight.dtype)
        if self.padding_idx is not None:
            weight = weight.at[self.padding_idx].set(0)
        self.weight._assign(weight)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return NFM.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                                 self.scale_grad_by_freq, self.mode, self.sparse, per_sample_weights,
                                 self.include_last_offset, self.padding_idx)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        text += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx=None):
        """An EmbeddingBag holding the 2-D ``embeddings``; ``freeze`` (default) stops its training."""
        if len(embeddings.shape) != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        bag = cls(rows, cols, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings,
                  include_last_offset, padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag

