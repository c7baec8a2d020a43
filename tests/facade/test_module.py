"""The Module API against torch.nn.Module: registration, traversal names and order, state_dict
keys, load_state_dict from a torch checkpoint (values, then outputs), strictness errors,
train/eval recursion and repr."""
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch

import rustorch
from tests.facade.facade_utils import cnn_class, cnn_sequential, copy_weights
from tests.torch_compare import assert_close, to_torch

RT_NET = cnn_class(rustorch.nn)
TH_NET = cnn_class(torch.nn)


@pytest.fixture(scope="module")
def twins():
    """(rustorch, torch) pairs of the MNIST CNN, as Sequential and as a Module subclass."""
    return [(cnn_sequential(rustorch.nn), cnn_sequential(torch.nn)), (RT_NET(), TH_NET())]


class Nested:
    """A model with nesting, a ModuleList, a ModuleDict, a shared module and a bias-less layer,
    built the same way on either library."""

    @staticmethod
    def build(nn):
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 3, bias=False)
                self.norm = nn.BatchNorm1d(3)

            def forward(self, x):
                return self.norm(self.fc(x)).relu()

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([Block(), Block()])
                self.heads = nn.ModuleDict({"a": nn.Linear(3, 2), "b": nn.Linear(3, 1)})
                self.shared = self.blocks[0]  # the same module twice: listed once
                self.scale = nn.Parameter(torch.ones(1) if nn is torch.nn else rustorch.ones(1))
                self.register_buffer("steps", torch.zeros(2) if nn is torch.nn else rustorch.zeros(2))
                self.register_buffer("scratch", torch.zeros(1) if nn is torch.nn else rustorch.zeros(1),
                                     persistent=False)

            def forward(self, x):
                for block in self.blocks:
                    x = block(x)
                return self.heads["a"](x) * self.scale + self.heads["b"](x)

        return Model()


@pytest.fixture(scope="module")
def nested():
    return Nested.build(rustorch.nn), Nested.build(torch.nn)


def _names(pairs):
    return [name for name, _ in pairs]


# ------------------------------------------------------------------------- traversal

def test_traversal_names_and_order_match_torch(twins, nested):
    for rt, th in twins + [nested]:
        assert _names(rt.named_parameters()) == _names(th.named_parameters())
        assert _names(rt.named_buffers()) == _names(th.named_buffers())
        assert _names(rt.named_children()) == _names(th.named_children())
        assert _names(rt.named_modules()) == _names(th.named_modules())
        assert [type(m).__name__ for m in rt.modules()] == [type(m).__name__ for m in th.modules()]
        assert [type(m).__name__ for m in rt.children()] == [type(m).__name__ for m in th.children()]
        assert [p.shape for p in rt.parameters()] == [tuple(p.shape) for p in th.parameters()]
        assert [b.shape for b in rt.buffers()] == [tuple(b.shape) for b in th.buffers()]
        assert list(rt.state_dict()) == list(th.state_dict())
        assert _names(rt.named_parameters(recurse=False)) == _names(th.named_parameters(recurse=False))
        assert _names(rt.named_parameters(prefix="m")) == _names(th.named_parameters(prefix="m"))


def test_state_dict_keys_use_torch_names(twins):
    seq_keys = list(twins[0][0].state_dict())
    assert seq_keys[:7] == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                            "1.num_batches_tracked"]
    net_keys = list(twins[1][0].state_dict())
    assert "conv1.weight" in net_keys and "bn3.num_batches_tracked" in net_keys and "linear2.bias" in net_keys
    assert all(isinstance(v, rustorch.Tensor) and not v.requires_grad for v in twins[1][0].state_dict().values())
    kept = twins[1][0].state_dict(keep_vars=True)
    assert kept["conv1.weight"] is twins[1][0].conv1.weight


def test_registration_by_attribute():
    model = rustorch.nn.Module()
    model.layer = rustorch.nn.Linear(2, 2)
    model.weight = rustorch.nn.Parameter(rustorch.ones(3))
    model.plain = rustorch.ones(3)  # a plain tensor attribute is neither a parameter nor a buffer
    model.register_buffer("count", rustorch.zeros(1))
    assert _names(model.named_parameters()) == ["weight", "layer.weight", "layer.bias"]
    assert _names(model.named_buffers()) == ["count"]
    assert model.weight.requires_grad and isinstance(model.weight, rustorch.nn.Parameter)
    model.weight = None  # torch allows assigning None to a registered parameter
    assert _names(model.named_parameters()) == ["layer.weight", "layer.bias"]
    with pytest.raises(TypeError, match="cannot assign"):
        model.weight = rustorch.ones(3)
    model.count = rustorch.ones(1)  # re-assigning a buffer keeps it a buffer
    assert float(model.count) == 1.0 and _names(model.named_buffers()) == ["count"]
    del model.layer
    assert _names(model.named_children()) == []
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        model.missing

    class Early(rustorch.nn.Module):
        def __init__(self):
            self.fc = rustorch.nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    with pytest.raises(NotImplementedError, match="forward"):
        rustorch.nn.Module()(rustorch.ones(1))


def test_non_persistent_buffer_is_not_saved(nested):
    rt, th = nested
    assert "scratch" not in rt.state_dict() and "scratch" not in th.state_dict()
    assert "scratch" in _names(rt.named_buffers())


# ------------------------------------------------------------------------ load_state_dict

def _torch_state_as_numpy(th):
    return OrderedDict((k, v.detach().numpy().copy()) for k, v in th.state_dict().items())


def test_load_state_dict_from_torch_then_outputs_match(twins):
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((4, 1, 12, 12)).astype(np.float32)
    for rt, th in twins:
        th.train()
        with torch.no_grad():  # move torch's buffers and weights away from their initial values
            th(to_torch(x_np))
            for p in th.parameters():
                p.add_(0.01 * torch.randn_like(p))
        th.eval()
        ids = [id(p) for p in rt.parameters()]
        result = rt.load_state_dict(_torch_state_as_numpy(th))
        assert result.missing_keys == [] and result.unexpected_keys == []
        assert [id(p) for p in rt.parameters()] == ids  # values copied in place, as torch
        for key, value in rt.state_dict().items():
            assert_close(np.asarray(value), th.state_dict()[key], err_msg=key)
        rt.eval()
        assert_close(np.asarray(rt(rustorch.tensor(x_np))), th(to_torch(x_np)))
        rt.train()
        th.train()


def test_load_state_dict_accepts_rustorch_values_and_keeps_dtypes(twins):
    rt, _ = twins[1]
    saved = rt.state_dict()
    other = RT_NET()
    other.load_state_dict(saved)
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(saved[key]), err_msg=key)
        assert value.dtype == saved[key].dtype


def test_load_state_dict_strict_errors_list_every_key(nested):
    rt, th = nested
    state = _torch_state_as_numpy(th)
    del state["heads.a.bias"]
    state["blocks.0.extra"] = np.zeros(1, np.float32)
    with pytest.raises(RuntimeError) as rt_error:
        rt.load_state_dict(state)
    with pytest.raises(RuntimeError) as th_error:
        th.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    message = str(rt_error.value)
    assert 'Missing key(s) in state_dict: "heads.a.bias"' in message
    assert 'Unexpected key(s) in state_dict: "blocks.0.extra"' in message
    assert message.startswith("Error(s) in loading state_dict for Model")
    assert str(th_error.value).split("\n")[1:] == message.split("\n")[1:]  # torch's wording

    state = _torch_state_as_numpy(th)
    state["heads.b.weight"] = np.zeros((2, 3), np.float32)
    state["blocks.1.norm.running_mean"] = np.zeros((4,), np.float32)
    with pytest.raises(RuntimeError, match=re.escape(
            "size mismatch for blocks.1.norm.running_mean: copying a param with shape rustorch.Size([4]) "
            "from checkpoint, the shape in current model is rustorch.Size([3])")) as error:
        rt.load_state_dict(state)
    assert "size mismatch for heads.b.weight" in str(error.value)
    with pytest.raises(RuntimeError, match="size mismatch for heads.b.weight"):
        rt.load_state_dict(state, strict=False)  # shapes are checked even when not strict, as torch


def test_load_state_dict_non_strict_returns_missing_and_unexpected(nested):
    rt, th = nested
    state = _torch_state_as_numpy(th)
    state["heads.a.weight"] = state["heads.a.weight"] + 1.0
    del state["scale"], state["blocks.1.norm.running_var"]
    state["bogus"] = np.ones(2, np.float32)
    result = rt.load_state_dict(state, strict=False)
    th_result = th.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert result.missing_keys == th_result.missing_keys
    assert sorted(result.missing_keys) == ["blocks.1.norm.running_var", "scale"]
    assert result.unexpected_keys == th_result.unexpected_keys == ["bogus"]
    missing, unexpected = result  # a named tuple, as torch's
    assert unexpected == ["bogus"]
    assert_close(np.asarray(rt.heads["a"].weight), th.heads["a"].weight)


def test_load_state_dict_with_missing_keys_leaves_model_unchanged(twins):
    rt, _ = twins[0]
    before = {k: np.asarray(v) for k, v in rt.state_dict().items()}
    state = {k: np.zeros_like(v) for k, v in before.items() if k != "0.bias"}
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "0.bias"'):
        rt.load_state_dict(state)
    for key, value in rt.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), before[key])


# ------------------------------------------------------------------------------- modes

def test_train_eval_recurse_into_every_submodule(twins, nested):
    for rt, _ in twins + [nested]:
        assert rt.eval() is rt
        assert all(not m.training for m in rt.modules())
        assert rt.train() is rt
        assert all(m.training for m in rt.modules())
        rt.train(False)
        assert all(not m.training for m in rt.modules())
        rt.train()
    with pytest.raises(ValueError, match="boolean"):
        twins[0][0].train("yes")


def test_requires_grad_zero_grad_and_apply(nested):
    rt, th = nested
    copy_weights(rt, th)
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((5, 3)).astype(np.float32)
    rt.requires_grad_(False)
    th.requires_grad_(False)
    rt.heads.requires_grad_(True)
    th.heads.requires_grad_(True)
    rt(rustorch.tensor(x_np)).sum().backward()
    th(to_torch(x_np)).sum().backward()
    for (name, p), (_, tp) in zip(rt.named_parameters(), th.named_parameters()):
        assert p.requires_grad == tp.requires_grad, name
        assert (p.grad is None) == (tp.grad is None), name
        if tp.grad is not None:
            assert_close(np.asarray(p.grad), tp.grad, err_msg=name)
    rt.zero_grad()
    assert all(p.grad is None for p in rt.parameters())
    rt.requires_grad_(True)
    visited = []
    rt.apply(lambda m: visited.append(type(m).__name__))
    th_visited = []
    th.apply(lambda m: th_visited.append(type(m).__name__))
    assert visited == th_visited


# ------------------------------------------------------------------------- containers

def test_sequential_and_list_containers():
    layers = [rustorch.nn.Linear(4, 4), rustorch.nn.ReLU(), rustorch.nn.Linear(4, 2)]
    seq = rustorch.nn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    head = seq[:2]
    assert isinstance(head, rustorch.nn.Sequential) and len(head) == 2
    assert _names(head.named_children()) == ["0", "1"]
    named = rustorch.nn.Sequential(OrderedDict([("fc", layers[0]), ("act", layers[1])]))
    assert _names(named.named_parameters()) == ["fc.weight", "fc.bias"]
    seq.append(rustorch.nn.Sigmoid())
    assert len(seq) == 4 and _names(seq.named_children())[-1] == "3"
    with pytest.raises(IndexError):
        seq[4]
    x = rustorch.tensor(np.ones((2, 4), np.float32))
    np.testing.assert_allclose(np.asarray(seq(x)), np.asarray(layers[2](layers[1](layers[0](x))).sigmoid()),
                               rtol=1e-6)
    module_list = rustorch.nn.ModuleList(layers[:2])
    module_list.extend([layers[2]])
    assert len(module_list) == 3 and module_list[2] is layers[2] and list(module_list) == layers
    assert _names(module_list.named_parameters()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    module_dict = rustorch.nn.ModuleDict({"x": layers[0]})
    module_dict["y"] = layers[2]
    assert "y" in module_dict and list(module_dict.keys()) == ["x", "y"] and len(module_dict) == 2


# ------------------------------------------------------------------------------ repr

def test_cnn_repr_resembles_torch(twins):
    for rt, th in twins:
        text = repr(rt)
        assert "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))" in text
        rt_lines, th_lines = text.split("\n"), repr(th).split("\n")
        assert len(rt_lines) == len(th_lines)
        for line, th_line in zip(rt_lines, th_lines):
            # torch 2.13 also prints BatchNorm's new ``bias`` flag; everything else reads the same.
            assert line == th_line.replace(", bias=True, track", ", track")
    assert repr(rustorch.nn.Parameter(rustorch.ones(1))).startswith("Parameter containing:\ntensor([1.]")


@pytest.mark.parametrize("version", [None, 1, 2])
def test_missing_num_batches_tracked_follows_torch_versions(version):
    # PyTorch added num_batches_tracked in BatchNorm's format version 2: a state dict without
    # versions (a plain dict) or from version 1 that lacks it loads and keeps the current count;
    # a version-2 state dict that lacks it is an error. Checked against torch itself.
    model = rustorch.nn.Sequential(rustorch.nn.Conv2d(1, 2, 3), rustorch.nn.BatchNorm2d(2))
    twin = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    model[1].num_batches_tracked = rustorch.tensor(np.array(5, np.int32))
    state = OrderedDict((key, value) for key, value in model.state_dict().items() if key != "1.num_batches_tracked")
    torch_state = OrderedDict((key, torch.from_numpy(np.array(value))) for key, value in state.items())
    if version is not None:
        metadata = {"": {"version": 1}, "0": {"version": 1}, "1": {"version": version}}
        state._metadata = metadata
        torch_state._metadata = metadata
    if version == 2:
        with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "1.num_batches_tracked"'):
            model.load_state_dict(state)
        with pytest.raises(RuntimeError, match="num_batches_tracked"):
            twin.load_state_dict(torch_state)
        return
    model.load_state_dict(state)
    twin.load_state_dict(torch_state)
    assert int(np.asarray(model[1].num_batches_tracked)) == 5
    assert int(twin[1].num_batches_tracked) == 0  # torch keeps its own current count too


def test_load_state_dict_result_prints_as_torch():
    model, reference = rustorch.nn.Linear(2, 3), torch.nn.Linear(2, 3)
    assert repr(model.load_state_dict(model.state_dict())) == repr(reference.load_state_dict(reference.state_dict()))
    partial = model.load_state_dict({"weight": model.weight.detach()}, strict=False)
    assert partial.missing_keys == ["bias"] and "missing_keys=['bias']" in repr(partial)


def test_reassigning_a_child_keeps_its_place():
    def build(nn):
        model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        model.add_module("0", nn.Linear(2, 3, bias=False))
        setattr(model, "2", nn.Linear(3, 4))
        return [type(m).__name__ + str(getattr(m, "out_features", "")) for m in model.children()]

    assert build(rustorch.nn) == build(torch.nn) == ["Linear3", "ReLU", "Linear4"]
