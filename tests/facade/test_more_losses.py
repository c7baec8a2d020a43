"""Hinge embedding, soft margin, multi-margin, multi-label margin / soft margin, triplet with
distance, Gaussian / Poisson NLL losses and NLLLoss2d (nn modules and F forms) against PyTorch:
values and gradients on random shapes and options, and PyTorch's errors."""
import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn as nn
import rustorch.nn.functional as F
from tests.torch_compare import assert_close

REDUCTIONS = ["mean", "sum", "none"]


def _run(rt_fn, th_fn, arrays, grads, rtol=2e-5):
    """Compare outputs and the gradients (a random cotangent) of the arrays flagged in ``grads``."""
    rt = [rustorch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    th = [torch.from_numpy(np.array(a)).requires_grad_(g) for a, g in zip(arrays, grads)]
    out, t_out = rt_fn(*rt), th_fn(*th)
    assert tuple(out.shape) == tuple(t_out.shape)
    assert_close(np.asarray(out.detach()), t_out.detach(), rtol=rtol, err_msg="loss")
    cot = np.random.default_rng(0).standard_normal(tuple(t_out.shape)).astype(np.float32)
    (out * rustorch.tensor(cot)).sum().backward()
    (t_out * torch.from_numpy(cot)).sum().backward()
    for i, (r, t, g) in enumerate(zip(rt, th, grads)):
        if g:
            assert_close(np.asarray(r.grad), t.grad, rtol=rtol, err_msg=f"gradient of argument {i}")


def _both(name, *args, **kwargs):
    """The rustorch and torch forms of ``nn.<name>(*args, **kwargs)``, weight tensors converted."""
    def convert(value, module):
        return module.tensor(value) if isinstance(value, np.ndarray) else value
    rt = getattr(nn, name)(*[convert(a, rustorch) for a in args], **{k: convert(v, rustorch) for k, v in kwargs.items()})
    th = getattr(torch.nn, name)(*[convert(a, torch) for a in args],
                                 **{k: convert(v, torch) for k, v in kwargs.items()})
    return rt, th


def _shape(rng, low=1):
    return tuple(int(s) for s in rng.integers(low, 5, size=rng.integers(1, 4)))


def _signs(rng, shape, dtype=np.float32):
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(2))
def test_hinge_embedding_loss(reduction, seed):
    rng = np.random.default_rng(seed)
    shape = _shape(rng)
    x = rng.standard_normal(shape).astype(np.float32)
    margin = float(rng.uniform(0.2, 2.0))
    rt, th = _both("HingeEmbeddingLoss", margin=margin, reduction=reduction)
    y = _signs(rng, shape)
    _run(lambda a: rt(a, rustorch.tensor(y)), lambda a: th(a, torch.from_numpy(y)), [x], [True])
    y_int = _signs(rng, shape, np.int64)
    _run(lambda a: F.hinge_embedding_loss(a, rustorch.tensor(y_int), margin, reduction=reduction),
         lambda a: torch.nn.functional.hinge_embedding_loss(a, torch.from_numpy(y_int), margin, reduction=reduction),
         [x], [True])


def test_hinge_embedding_loss_tie_gradient_is_torchs():
    x = np.array([1.0, 0.5, 2.0], np.float32)  # margin - x == 0 at the first entry
    y = np.array([-1.0, -1.0, 1.0], np.float32)
    _run(lambda a: F.hinge_embedding_loss(a, rustorch.tensor(y), reduction="sum"),
         lambda a: torch.nn.functional.hinge_embedding_loss(a, torch.from_numpy(y), reduction="sum"), [x], [True])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(2))
def test_soft_margin_loss(reduction, seed):
    rng = np.random.default_rng(seed)
    shape = _shape(rng)
    x = (3 * rng.standard_normal(shape)).astype(np.float32)
    y = _signs(rng, shape)
    rt, th = _both("SoftMarginLoss", reduction=reduction)
    _run(lambda a: rt(a, rustorch.tensor(y)), lambda a: th(a, torch.from_numpy(y)), [x], [True])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(2))
def test_multi_margin_loss(reduction, seed):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 6)), int(rng.integers(2, 6))
    p, margin = int(rng.integers(1, 3)), float(rng.uniform(0.1, 2.0))
    x = rng.standard_normal((n, c)).astype(np.float32)
    y = rng.integers(0, c, n)
    w = rng.uniform(0.1, 2.0, c).astype(np.float32) if seed % 2 else None
    rt, th = _both("MultiMarginLoss", p=p, margin=margin, weight=w, reduction=reduction)
    _run(lambda a: rt(a, rustorch.tensor(y)), lambda a: th(a, torch.from_numpy(y)), [x], [True])
    if w is not None:
        assert list(rt.state_dict()) == list(th.state_dict()) == ["weight"]
    # Unbatched [C] input with a [] or [1] target.
    for target in (np.array(y[0]), y[:1]):
        _run(lambda a: F.multi_margin_loss(a, rustorch.tensor(target), p, margin, reduction=reduction),
             lambda a: torch.nn.functional.multi_margin_loss(a, torch.from_numpy(target), p, margin,
                                                             reduction=reduction), [x[0]], [True])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(2))
def test_multilabel_margin_loss(reduction, seed):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 5)), int(rng.integers(2, 6))
    x = rng.standard_normal((n, c)).astype(np.float32)
    y = rng.integers(0, c, (n, c))  # repeated classes allowed, as in PyTorch
    for row in y:
        row[rng.integers(0, c + 1):] = -1
        if rng.random() < 0.5 and c > 2:
            row[-1] = rng.integers(0, c)  # entries after the first -1 are ignored
    rt, th = _both("MultiLabelMarginLoss", reduction=reduction)
    _run(lambda a: rt(a, rustorch.tensor(y)), lambda a: th(a, torch.from_numpy(y)), [x], [True])
    _run(lambda a: F.multilabel_margin_loss(a, rustorch.tensor(y[0]), reduction=reduction),
         lambda a: torch.nn.functional.multilabel_margin_loss(a, torch.from_numpy(y[0]), reduction=reduction),
         [x[0]], [True])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(3))
def test_multilabel_soft_margin_loss(reduction, seed):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    x = (2 * rng.standard_normal((n, c))).astype(np.float32)
    y = (rng.random((n, c)) < 0.5).astype(np.float32)
    w = rng.uniform(0.1, 2.0, c).astype(np.float32) if seed else None
    rt, th = _both("MultiLabelSoftMarginLoss", weight=w, reduction=reduction)
    _run(lambda a, b: rt(a, b), lambda a, b: th(a, b), [x, y], [True, True])


def _cosine_distance(module):
    return lambda a, b: 1.0 - module.nn.functional.cosine_similarity(a, b)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("seed", range(4))
def test_triplet_margin_with_distance_loss(reduction, seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    arrays = [rng.standard_normal((n, d)).astype(np.float32) for _ in range(3)]
    swap, margin = bool(seed % 2), float(rng.uniform(0.1, 2.0))
    custom = seed >= 2
    rt_distance, th_distance = (_cosine_distance(rustorch), _cosine_distance(torch)) if custom else (None, None)
    rt, th = _both("TripletMarginWithDistanceLoss", margin=margin, swap=swap, reduction=reduction,
                   distance_function=rt_distance)
    th.distance_function = th_distance if custom else th.distance_function
    if not custom and reduction == "mean":
        assert repr(rt) == repr(th)  # the default distance is a PairwiseDistance child
    _run(rt, th, arrays, [True, True, True])
    _run(lambda a, p, q: F.triplet_margin_with_distance_loss(
        a, p, q, distance_function=rt_distance, margin=margin, swap=swap, reduction=reduction),
        lambda a, p, q: torch.nn.functional.triplet_margin_with_distance_loss(
            a, p, q, distance_function=th_distance, margin=margin, swap=swap, reduction=reduction),
        arrays, [True, True, True])


def test_triplet_margin_with_distance_loss_errors():
    a = rustorch.zeros(2, 3)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        F.triplet_margin_with_distance_loss(a, a, a, margin=0.0)
    with pytest.raises(ValueError, match="greater than 0"):
        nn.TripletMarginWithDistanceLoss(margin=-1.0)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        F.triplet_margin_with_distance_loss(a, a, rustorch.zeros(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_kind", ["full", "short", "one", "float"])
def test_gaussian_nll_loss(reduction, var_kind):
    full = var_kind in ("short", "float")
    rng = np.random.default_rng(len(var_kind) + full)
    shape = (int(rng.integers(1, 4)), int(rng.integers(2, 4)), int(rng.integers(2, 4)))
    x, t = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    var_shape = {"full": shape, "short": shape[:-1], "one": (shape[0], 1, shape[2])}.get(var_kind)
    eps = 1e-2
    if var_shape is None:
        rt, th = _both("GaussianNLLLoss", full=full, eps=eps, reduction=reduction)
        _run(lambda a, b: rt(a, b, 0.7), lambda a, b: th(a, b, 0.7), [x, t], [True, True])
        return
    var = rng.uniform(0.0, 2.0, var_shape).astype(np.float32)
    var.flat[0] = 1e-3  # below eps: clamped, yet the gradient passes as PyTorch's
    rt, th = _both("GaussianNLLLoss", full=full, eps=eps, reduction=reduction)
    _run(rt, th, [x, t, var], [True, True, True])


def test_gaussian_nll_loss_errors():
    x = rustorch.zeros(2, 3)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, rustorch.tensor([[1.0, -1.0, 1.0]] * 2))
    pending = rustorch.tensor([[1.0, 1.0, 1.0]] * 2) - 2.0  # negative, known only when computed
    loss = F.gaussian_nll_loss(x, x, pending)
    with pytest.raises(ValueError, match="negative"):
        loss.item()
    with pytest.raises(ValueError, match="incorrect size"):
        F.gaussian_nll_loss(x, x, rustorch.ones(3, 3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_loss(reduction, log_input):
    full = reduction != "sum"
    rng = np.random.default_rng(int(log_input) * 2 + full)
    shape = _shape(rng)
    x = rng.standard_normal(shape).astype(np.float32)
    if not log_input:
        x = np.abs(x) + 0.1
    # Counts from 1: at a zero count PyTorch's target gradient of Stirling's term is NaN.
    t = (rng.poisson(2.0, shape) + 1).astype(np.float32)
    t.flat[0] = 1.0  # Stirling's term starts above 1
    rt, th = _both("PoissonNLLLoss", log_input=log_input, full=full, reduction=reduction)
    _run(rt, th, [x, t], [True, True])
    _run(lambda a, b: F.poisson_nll_loss(a, b, log_input, full, reduction=reduction, eps=1e-6),
         lambda a, b: torch.nn.functional.poisson_nll_loss(a, b, log_input, full, reduction=reduction, eps=1e-6),
         [x, t], [True, False])


def test_margin_losses_check_targets():
    x = rustorch.zeros(2, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        F.multi_margin_loss(x, rustorch.tensor([0, 3]))
    with pytest.raises(IndexError, match="out of bounds"):
        F.multilabel_margin_loss(x, rustorch.tensor([[0, 5, -1], [1, -1, 7]]))
    F.multilabel_margin_loss(x, rustorch.tensor([[0, -1, 7], [1, -1, 7]]))  # after -1: ignored
    pending = rustorch.tensor([0, 1]) + 2  # [2, 3]: the 3 is found when the program runs
    loss = F.multi_margin_loss(x, pending)
    with pytest.raises(IndexError, match="out of bounds"):
        loss.item()
    with pytest.raises(ValueError, match="only p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="deprecated"):
        nn.SoftMarginLoss(size_average=True)
    with pytest.raises(ValueError, match="reduction"):
        F.soft_margin_loss(x, x, reduction="avg")


def test_nll_loss_2d_is_nll_loss_with_a_warning():
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(np.log(rng.dirichlet(np.ones(3), (2, 4, 5)).transpose(0, 3, 1, 2)), np.float32)
    y = rng.integers(0, 3, (2, 4, 5))
    with pytest.warns(FutureWarning, match="NLLLoss2d` has been deprecated"):
        rt = nn.NLLLoss2d()
    with pytest.warns(FutureWarning):
        th = torch.nn.NLLLoss2d()
    _run(lambda a: rt(a, rustorch.tensor(y)), lambda a: th(a, torch.from_numpy(y)), [x], [True])
