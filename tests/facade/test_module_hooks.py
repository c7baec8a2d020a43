"""Module: forward hooks, pre-hooks, apply, named_modules, buffers, requires_grad_, zero_grad,
get_submodule, as torch.nn.Module."""
import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn as nn


def _twins():
    return (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)),
            torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)))


def test_forward_hooks_order_results_and_removal():
    for lib, model in zip((rustorch, torch), _twins()):
        calls = []
        h1 = model[0].register_forward_pre_hook(lambda m, args: calls.append(("pre", len(args))))
        h2 = model[0].register_forward_hook(lambda m, args, out: calls.append(("post", tuple(out.shape))))
        h3 = model[2].register_forward_hook(lambda m, args, out: out * 0)
        h4 = model[0].register_forward_pre_hook(lambda m, args: calls.append(("first",)), prepend=True)
        out = model(lib.ones(5, 3))
        assert calls == [("first",), ("pre", 1), ("post", (5, 4))], lib
        assert float(out.detach().abs().sum()) == 0.0
        for h in (h1, h2, h3, h4):
            h.remove()
        calls.clear()
        assert float(model(lib.ones(5, 3)).detach().abs().sum()) > 0 and calls == []


def test_pre_hook_replaces_args_and_kwargs_hooks():
    layer = nn.Linear(3, 2)
    layer.register_forward_pre_hook(lambda m, args: args[0] * 0)
    assert float(layer(rustorch.ones(1, 3)).sub(layer.bias).abs().sum()) == 0.0

    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": 3.0}), with_kwargs=True)
    seen = []
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs), with_kwargs=True)
    assert m(rustorch.ones(2)).tolist() == [3.0, 3.0] and seen == [{"factor": 3.0}]
    with m.register_forward_hook(lambda mod, args, out: out + 1):
        assert m(rustorch.ones(1)).tolist() == [4.0]
    assert m(rustorch.ones(1)).tolist() == [3.0]


def test_hook_activations_keep_gradients():
    model, _ = _twins()
    kept = {}
    model[1].register_forward_hook(lambda m, a, out: kept.setdefault("relu", out))
    model(rustorch.ones(2, 3)).sum().backward()
    assert kept["relu"].shape == (2, 4) and model[0].weight.grad is not None


def test_named_modules_apply_and_submodules_match_torch():
    ours, theirs = _twins()
    shared = ours[0]
    ours.add_module("again", shared)
    theirs.add_module("again", theirs[0])
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert ([n for n, _ in ours.named_modules(remove_duplicate=False)]
            == [n for n, _ in theirs.named_modules(remove_duplicate=False)])
    visited = []
    assert ours.apply(lambda m: visited.append(type(m).__name__)) is ours
    t_visited = []
    theirs.apply(lambda m: t_visited.append(type(m).__name__))
    assert visited == t_visited
    assert ours.get_submodule("2") is ours[2] and ours.get_submodule("") is ours
    assert ours.get_parameter("0.weight") is ours[0].weight
    with pytest.raises(AttributeError):
        ours.get_submodule("7")


def test_buffers_persistence_requires_grad_and_zero_grad():
    m = nn.Linear(2, 2)
    m.register_buffer("kept", rustorch.ones(2))
    m.register_buffer("scratch", rustorch.zeros(2), persistent=False)
    assert "kept" in m.state_dict() and "scratch" not in m.state_dict()
    assert [n for n, _ in m.named_buffers()] == ["kept", "scratch"]
    assert m.get_buffer("scratch") is m.scratch
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    m(rustorch.ones(1, 2)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert np.all(np.asarray(m.weight.grad) == 0)
    m.zero_grad()
    assert m.weight.grad is None


def test_lazy_layers_infer_sizes_and_keep_parameter_identity():
    model = nn.Sequential(nn.LazyLinear(4), nn.LazyBatchNorm1d(), nn.ReLU(), nn.LazyLinear(2, bias=False))
    params = list(model.parameters())
    optimizer = rustorch.optim.SGD(params, lr=0.1)
    rustorch.manual_seed(0)
    out = model(rustorch.randn(5, 3))
    assert out.shape == (5, 2)
    assert type(model[0]) is nn.Linear and type(model[1]) is nn.BatchNorm1d and type(model[3]) is nn.Linear
    assert list(model.parameters()) == params and model[0].weight.shape == (4, 3) and model[3].bias is None
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                                 torch.nn.Linear(4, 2, bias=False))
    assert list(model.state_dict()) == list(theirs.state_dict())
    assert repr(model[0]) == repr(theirs[0]) and repr(model[3]) == repr(theirs[3])
    out.sum().backward()
    optimizer.step()
    conv_bn = nn.LazyBatchNorm2d()
    assert conv_bn(rustorch.ones(2, 3, 4, 4)).shape == (2, 3, 4, 4) and conv_bn.num_features == 3


def test_select_mT_legacy_constructors():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert np.array_equal(np.asarray(rustorch.tensor(x).select(1, -1)), torch.from_numpy(x).select(1, -1).numpy())
    assert np.array_equal(np.asarray(rustorch.tensor(x).mT), torch.from_numpy(x).mT.numpy())
    with pytest.raises(IndexError):
        rustorch.tensor(x).select(2, 4)
    assert rustorch.LongTensor([1, 2]).tolist() == [1, 2] and rustorch.LongTensor([1]).dtype.kind == "i"
    assert rustorch.FloatTensor(2, 3).shape == (2, 3) and rustorch.FloatTensor([1]).dtype == np.float32
    assert rustorch.ByteTensor([1]).dtype == np.uint8
