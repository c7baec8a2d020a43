"""BCELoss, KLDivLoss, SmoothL1Loss, HuberLoss, MarginRankingLoss, CosineEmbeddingLoss,
TripletMarginLoss (modules and F. forms) and F.one_hot / cosine_similarity / normalize /
pairwise_distance against PyTorch: values and gradients, random shapes and options."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import rustorch
import rustorch.functional as RF
import rustorch.nn as nn
import rustorch.nn.functional as F
from tests.torch_compare import assert_close


def _pair(rng, shape, positive=False, unit=False):
    x = rng.standard_normal(shape).astype(np.float32)
    if unit:
        x = (1 / (1 + np.exp(-x))).astype(np.float32)
    if positive:
        x = np.abs(x) + 0.1
    return x


def _run(rt_fn, th_fn, arrays, grads):
    rt = [rustorch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    th = [torch.from_numpy(a.copy()).requires_grad_(g) for a, g in zip(arrays, grads)]
    out, t_out = rt_fn(*rt), th_fn(*th)
    assert_close(np.asarray(out.detach()), t_out.detach(), rtol=2e-5, err_msg="loss")
    cot = np.random.default_rng(0).standard_normal(tuple(t_out.shape)).astype(np.float32)
    (out * rustorch.tensor(cot)).sum().backward()
    (t_out * torch.from_numpy(cot)).sum().backward()
    for r, t, g in zip(rt, th, grads):
        if g:
            assert_close(np.asarray(r.grad), t.grad, rtol=2e-5, err_msg="gradient")


def _shape(rng):
    return tuple(int(s) for s in rng.integers(1, 5, size=rng.integers(1, 4)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("seed", range(2))
def test_bce_loss(reduction, seed):
    rng = np.random.default_rng(seed)
    shape = _shape(rng)
    x, t = _pair(rng, shape, unit=True), _pair(rng, shape, unit=True)
    w = _pair(rng, shape[-1:], positive=True)
    _run(lambda a, b: nn.BCELoss(reduction=reduction)(a, b), lambda a, b: torch.nn.BCELoss(reduction=reduction)(a, b),
         [x, t], [True, True])
    _run(lambda a, b: F.binary_cross_entropy(a, b, rustorch.tensor(w), reduction=reduction),
         lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, torch.from_numpy(w), reduction=reduction),
         [x, t], [True, False])


def test_bce_clamps_logs_at_minus_100_as_torch():
    x = np.array([0.0, 1.0, 0.5, 1e-30], np.float32)
    t = np.array([1.0, 0.0, 1.0, 0.3], np.float32)
    _run(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
         lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, reduction="none"), [x, t], [True, False])
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(rustorch.zeros(3), rustorch.zeros(3, 1))


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    rng = np.random.default_rng(3)
    x = np.log(_pair(rng, (4, 5), unit=True))
    t = _pair(rng, (4, 5), unit=True)
    if log_target:
        t = np.log(t + 0.1).astype(np.float32)
    _run(lambda a, b: nn.KLDivLoss(reduction=reduction, log_target=log_target)(a, b),
         lambda a, b: torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(a, b), [x, t], [True, True])
    if not log_target:
        t[0, 0] = 0.0  # xlogy(0, 0) = 0 (the target's gradient is -inf there, in both)
        _run(lambda a, b: F.kl_div(a, b, reduction=reduction), lambda a, b: torch.nn.functional.kl_div(
            a, b, reduction=reduction), [x, t], [True, False])


def test_kl_div_mean_warns_as_torch():
    x = rustorch.zeros(2, 3)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(x, x.exp())


@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_smooth_l1_and_huber(beta, reduction):
    rng = np.random.default_rng(int(beta * 10))
    shape = _shape(rng)
    x, t = _pair(rng, shape), _pair(rng, shape)
    _run(lambda a, b: nn.SmoothL1Loss(reduction=reduction, beta=beta)(a, b),
         lambda a, b: torch.nn.SmoothL1Loss(reduction=reduction, beta=beta)(a, b), [x, t], [True, True])
    if beta > 0:
        _run(lambda a, b: nn.HuberLoss(reduction=reduction, delta=beta)(a, b),
             lambda a, b: torch.nn.HuberLoss(reduction=reduction, delta=beta)(a, b), [x, t], [True, True])
    with pytest.raises(ValueError):
        nn.HuberLoss(delta=0.0)(rustorch.zeros(2), rustorch.zeros(2))


@pytest.mark.parametrize("margin", [0.0, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_ranking_and_cosine_embedding(margin, reduction):
    rng = np.random.default_rng(int(margin * 10) + len(reduction))
    a, b = _pair(rng, (6,)), _pair(rng, (6,))
    y = np.where(rng.random(6) > 0.5, 1.0, -1.0).astype(np.float32)
    _run(lambda p, q, s: nn.MarginRankingLoss(margin, reduction=reduction)(p, q, s),
         lambda p, q, s: torch.nn.MarginRankingLoss(margin, reduction=reduction)(p, q, s), [a, b, y],
         [True, True, False])
    u, v = _pair(rng, (6, 4)), _pair(rng, (6, 4))
    _run(lambda p, q, s: nn.CosineEmbeddingLoss(margin, reduction=reduction)(p, q, s),
         lambda p, q, s: torch.nn.CosineEmbeddingLoss(margin, reduction=reduction)(p, q, s), [u, v, y],
         [True, True, False])
    _run(lambda p, q, s: F.cosine_embedding_loss(p, q, s, margin=margin, reduction=reduction),
         lambda p, q, s: torch.nn.functional.cosine_embedding_loss(p, q, s, margin=margin, reduction=reduction),
         [u[0], v[0], y[:1].reshape(())], [True, True, False])


@pytest.mark.parametrize("p,swap", [(2.0, False), (1.0, True), (3.0, False)])
def test_triplet_margin_loss(p, swap):
    rng = np.random.default_rng(int(p))
    a, pos, neg = _pair(rng, (5, 4)), _pair(rng, (5, 4)), _pair(rng, (5, 4))
    for reduction in ("mean", "none"):
        _run(lambda x, y, z: nn.TripletMarginLoss(margin=0.5, p=p, swap=swap, reduction=reduction)(x, y, z),
             lambda x, y, z: torch.nn.TripletMarginLoss(margin=0.5, p=p, swap=swap, reduction=reduction)(x, y, z),
             [a, pos, neg], [True, True, True])


def test_distances_and_normalize():
    rng = np.random.default_rng(9)
    a, b = _pair(rng, (4, 5)), _pair(rng, (4, 5))
    _run(lambda x, y: F.pairwise_distance(x, y), lambda x, y: torch.nn.functional.pairwise_distance(x, y),
         [a, b], [True, True])
    _run(lambda x, y: F.cosine_similarity(x, y, dim=1),
         lambda x, y: torch.nn.functional.cosine_similarity(x, y, dim=1), [a, b], [True, True])
    _run(lambda x: F.normalize(x, dim=0), lambda x: torch.nn.functional.normalize(x, dim=0), [a], [True])
    _run(lambda x: F.normalize(x, p=1.0, dim=1), lambda x: torch.nn.functional.normalize(x, p=1.0, dim=1), [a],
         [True])


def test_one_hot():
    labels = np.array([[0, 3], [2, 1]], np.int64)
    ours = F.one_hot(rustorch.tensor(labels))
    theirs = torch.nn.functional.one_hot(torch.from_numpy(labels))
    np.testing.assert_array_equal(np.asarray(ours), theirs.numpy())
    assert np.asarray(ours).dtype.kind == "i"
    np.testing.assert_array_equal(np.asarray(F.one_hot(rustorch.tensor(labels), 6)),
                                  torch.nn.functional.one_hot(torch.from_numpy(labels), 6).numpy())
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(rustorch.tensor(labels), 3)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(rustorch.tensor([-1, 0]))
    with pytest.raises(RuntimeError, match="index tensor"):
        F.one_hot(rustorch.tensor([0.0, 1.0]))


def test_pure_functions_compose_with_jit_and_grad():
    rng = np.random.default_rng(5)
    x = jnp.asarray(_pair(rng, (3, 4), unit=True))
    t = jnp.asarray(_pair(rng, (3, 4), unit=True))
    value, grad = jax.jit(jax.value_and_grad(RF.binary_cross_entropy))(x, t)
    tx = torch.from_numpy(np.array(x)).requires_grad_(True)
    t_value = torch.nn.functional.binary_cross_entropy(tx, torch.from_numpy(np.array(t)))
    t_value.backward()
    assert_close(np.asarray(value), t_value.detach())
    assert_close(np.asarray(grad), tx.grad)
    for fn in (RF.smooth_l1_loss, RF.huber_loss, lambda a, b: RF.kl_div(a, b, reduction="batchmean")):
        jax.jit(jax.grad(fn))(x, t)
    assert RF.one_hot(jnp.asarray([1, 0]), 3).shape == (2, 3)
