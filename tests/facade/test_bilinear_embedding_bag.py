"""nn.Bilinear / F.bilinear, nn.CosineSimilarity, nn.PairwiseDistance, F.pdist and
nn.EmbeddingBag / F.embedding_bag against PyTorch: outputs, input and parameter gradients on
random configurations, parameter names and initial ranges, and PyTorch's errors."""
import numpy as np
import pytest
import torch

import rustorch
import rustorch.functional as RF
import rustorch.nn as nn
import rustorch.nn.functional as F
from tests.facade.facade_utils import assert_param_grads, copy_weights
from tests.torch_compare import assert_close


def _backward(out, t_out, rng):
    cot = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (out * rustorch.tensor(cot)).sum().backward()
    (t_out * torch.from_numpy(cot)).sum().backward()
    assert_close(np.asarray(out.detach()), t_out.detach(), rtol=2e-5, err_msg="output")


@pytest.mark.parametrize("seed", range(3))
def test_bilinear_matches_torch(seed):
    rng = np.random.default_rng(seed)
    in1, in2, out = (int(v) for v in rng.integers(1, 6, 3))
    lead = tuple(int(v) for v in rng.integers(1, 4, size=rng.integers(1, 3)))
    bias = bool(seed % 2 == 0)
    rt, th = nn.Bilinear(in1, in2, out, bias=bias), torch.nn.Bilinear(in1, in2, out, bias=bias)
    assert [n for n, _ in rt.named_parameters()] == [n for n, _ in th.named_parameters()]
    assert rt.weight.shape == tuple(th.weight.shape) and repr(rt) == repr(th)
    assert float(np.abs(np.asarray(rt.weight)).max()) <= 1 / np.sqrt(in1)
    copy_weights(rt, th)
    x1, x2 = rng.standard_normal(lead + (in1,)).astype(np.float32), rng.standard_normal(lead + (in2,)).astype(
        np.float32)
    r1, r2 = rustorch.tensor(x1, requires_grad=True), rustorch.tensor(x2, requires_grad=True)
    t1, t2 = torch.from_numpy(x1).requires_grad_(), torch.from_numpy(x2).requires_grad_()
    _backward(rt(r1, r2), th(t1, t2), rng)
    assert_close(np.asarray(r1.grad), t1.grad, rtol=2e-5)
    assert_close(np.asarray(r2.grad), t2.grad, rtol=2e-5)
    assert_param_grads(rt, th, rtol=2e-5)
    f_out = F.bilinear(rustorch.tensor(x1), rustorch.tensor(x2), rt.weight, rt.bias)
    assert_close(np.asarray(f_out.detach()), th(t1, t2).detach(), rtol=2e-5)
    with pytest.raises(ValueError, match="bilinear"):
        rt(rustorch.tensor(x1), rustorch.zeros(*lead, in2 + 1))


@pytest.mark.parametrize("seed", range(2))
def test_cosine_similarity_and_pairwise_distance_modules(seed):
    rng = np.random.default_rng(seed)
    x1, x2 = (rng.standard_normal((3, 4, 5)).astype(np.float32) for _ in range(2))
    dim, p, keepdim = int(rng.integers(0, 3)), float(rng.choice([1.0, 2.0, 3.0])), bool(seed)
    pairs = [(nn.CosineSimilarity(dim=dim, eps=1e-6), torch.nn.CosineSimilarity(dim=dim, eps=1e-6)),
             (nn.PairwiseDistance(p=p, keepdim=keepdim), torch.nn.PairwiseDistance(p=p, keepdim=keepdim))]
    for rt, th in pairs:
        r1, r2 = rustorch.tensor(x1, requires_grad=True), rustorch.tensor(x2, requires_grad=True)
        t1, t2 = torch.from_numpy(x1).requires_grad_(), torch.from_numpy(x2).requires_grad_()
        _backward(rt(r1, r2), th(t1, t2), rng)
        assert_close(np.asarray(r1.grad), t1.grad, rtol=2e-5)
        assert_close(np.asarray(r2.grad), t2.grad, rtol=2e-5)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 2.0, 3.0, float("inf")])
def test_pdist(p):
    rng = np.random.default_rng(int(p) if p != float("inf") else 9)
    n, m = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    x = rng.standard_normal((n, m)).astype(np.float32)
    if n >= 3:
        x[2] = x[0]  # a pair at distance 0: gradient 0, as PyTorch's
        x[1, 0] = x[0, 0]  # a zero coordinate difference (p < 1)
    rx, tx = rustorch.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
    _backward(F.pdist(rx, p), torch.nn.functional.pdist(tx, p), rng)
    assert_close(np.asarray(rx.grad), tx.grad, rtol=2e-5)
    with pytest.raises(ValueError, match="2D"):
        RF.pdist(np.zeros((2, 3, 4), np.float32))


def _bags(rng, num_embeddings, two_d):
    if two_d:
        return rng.integers(0, num_embeddings, (int(rng.integers(1, 4)), int(rng.integers(1, 5)))), None
    length = int(rng.integers(0, 9))
    indices = rng.integers(0, num_embeddings, length)
    bags = int(rng.integers(1, 4))
    offsets = np.sort(rng.integers(0, length + 1, bags))
    offsets[0] = 0  # empty bags included
    return indices, offsets


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("seed", range(4))
def test_embedding_bag_matches_torch(mode, seed):
    rng = np.random.default_rng(seed)
    num, dim = int(rng.integers(2, 8)), int(rng.integers(1, 5))
    two_d = seed % 2 == 0
    indices, offsets = _bags(rng, num, two_d)
    padding_idx = int(rng.integers(0, num)) if seed >= 2 else None
    include_last = (not two_d) and seed == 3
    if include_last:
        offsets = np.append(offsets, len(indices))
    per_sample = rng.standard_normal(indices.shape).astype(np.float32) if mode == "sum" and seed % 3 == 0 else None
    kwargs = dict(mode=mode, padding_idx=padding_idx, include_last_offset=include_last)
    rt, th = nn.EmbeddingBag(num, dim, **kwargs), torch.nn.EmbeddingBag(num, dim, **kwargs)
    assert repr(rt) == repr(th)
    copy_weights(rt, th)
    args = [rustorch.tensor(indices)] + ([None if offsets is None else rustorch.tensor(offsets)])
    t_args = [torch.from_numpy(indices)] + ([None if offsets is None else torch.from_numpy(offsets)])
    rps = tps = None
    if per_sample is not None:
        rps, tps = rustorch.tensor(per_sample, requires_grad=True), torch.from_numpy(per_sample).requires_grad_()
    out, t_out = rt(*args, per_sample_weights=rps), th(*t_args, per_sample_weights=tps)
    _backward(out, t_out, rng)
    assert_param_grads(rt, th, rtol=2e-5)
    if per_sample is not None:
        assert_close(np.asarray(rps.grad), tps.grad, rtol=2e-5)


def test_embedding_bag_functional_options():
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((6, 3)).astype(np.float32) * 3
    indices, offsets = np.array([1, 2, 2, 5, 0, 1, 1]), np.array([0, 3, 3])
    for kwargs in (dict(mode="sum", max_norm=1.5),
                   dict(mode="max", max_norm=2.0, norm_type=1.0)):
        rw, tw = rustorch.tensor(weight, requires_grad=True), torch.from_numpy(weight.copy()).requires_grad_()
        out = F.embedding_bag(rustorch.tensor(indices), rw, rustorch.tensor(offsets), **kwargs)
        t_out = torch.nn.functional.embedding_bag(torch.from_numpy(indices), tw, torch.from_numpy(offsets), **kwargs)
        _backward(out, t_out, rng)
        assert_close(np.asarray(rw.grad), tw.grad, rtol=2e-5, err_msg=str(kwargs))
        assert_close(np.asarray(rw.detach()), tw.detach(), rtol=2e-5, err_msg="renormalised weight")


def test_embedding_bag_errors_and_from_pretrained():
    weight = rustorch.randn(5, 2)
    with pytest.raises(IndexError, match="out of range"):
        F.embedding_bag(rustorch.tensor([[0, 5]]), weight)
    with pytest.raises(ValueError, match="offsets\\[0\\] has to be 0"):
        F.embedding_bag(rustorch.tensor([0, 1, 2]), weight, rustorch.tensor([1, 2]))
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(rustorch.tensor([[0, 1]]), weight, rustorch.tensor([0]))
    with pytest.raises(ValueError, match="only supported for mode='sum'"):
        F.embedding_bag(rustorch.tensor([[0, 1]]), weight, per_sample_weights=rustorch.ones(1, 2))
    with pytest.raises(ValueError, match="scale_grad_by_freq"):
        nn.EmbeddingBag(5, 2, scale_grad_by_freq=True)(rustorch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="mode"):
        F.embedding_bag(rustorch.tensor([[0, 1]]), weight, mode="median")
    bag = nn.EmbeddingBag.from_pretrained(rustorch.tensor([[1.0, 2.0], [3.0, 4.0]]), mode="sum")
    assert not bag.weight.requires_grad
    assert np.asarray(bag(rustorch.tensor([[0, 1]]))).tolist() == [[4.0, 6.0]]
