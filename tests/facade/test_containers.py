"""ParameterList, ParameterDict, Buffer, and the list operations of ModuleList / ModuleDict /
Sequential against PyTorch: registration, state_dict keys, order, repr, errors, gradients."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn as nn
from tests.torch_compare import assert_close


def _twins(rng, shapes):
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return arrays, [rustorch.tensor(a) for a in arrays], [torch.from_numpy(a.copy()) for a in arrays]


def _same_repr(rt, th):
    assert repr(rt) == repr(th).replace("torch.", "rustorch.")


def _same_keys(rt, th):
    assert list(rt.state_dict()) == list(th.state_dict())
    assert [n for n, _ in rt.named_parameters()] == [n for n, _ in th.named_parameters()]


@pytest.mark.parametrize("seed", range(3))
def test_parameter_list_registration_and_gradients(seed):
    rng = np.random.default_rng(seed)
    shapes = [tuple(rng.integers(1, 4, size=2)) for _ in range(int(rng.integers(2, 5)))]
    arrays, rt_values, th_values = _twins(rng, shapes)
    rt, th = nn.ParameterList(rt_values[:1]), torch.nn.ParameterList(th_values[:1])
    rt.extend(rt_values[1:-1]), th.extend(th_values[1:-1])
    rt.append(nn.Parameter(rt_values[-1])), th.append(torch.nn.Parameter(th_values[-1]))
    rt += ["a string"]
    th += ["a string"]
    assert len(rt) == len(th) == len(shapes) + 1
    assert all(isinstance(p, nn.Parameter) for p in list(rt)[:-1]) and rt[-1] == "a string"
    _same_keys(rt, th)
    _same_repr(rt, th)
    sliced = rt[1::2]
    assert isinstance(sliced, nn.ParameterList) and len(sliced) == len(th[1::2])
    assert sliced[0] is rt[1]

    class RtModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.params = rt

    class ThModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.params = th

    rt_model, th_model = RtModel(), ThModel()
    _same_keys(rt_model, th_model)
    rt_loss = sum((p * p).sum() * (i + 1) for i, p in enumerate(list(rt_model.params)[:-1]))
    th_loss = sum((p * p).sum() * (i + 1) for i, p in enumerate(list(th_model.params)[:-1]))
    rt_loss.backward(), th_loss.backward()
    for (name, p), (_, tp) in zip(rt_model.named_parameters(), th_model.named_parameters()):
        assert_close(np.asarray(p.grad), tp.grad, err_msg=name)
    # Assignment wraps a tensor into a Parameter at the same key.
    rt[0], th[0] = rt_values[1], th_values[1]
    assert isinstance(rt[0], nn.Parameter) and rt[0].shape == tuple(th[0].shape)
    _same_keys(rt, th)
    loaded = nn.ParameterList([rustorch.zeros(*p.shape) for p in list(th)[:-1]])
    state = {k: rustorch.tensor(v.numpy()) for k, v in th.state_dict().items()}
    loaded.load_state_dict(state)
    for p, tp in zip(loaded, list(th)[:-1]):
        assert_close(np.asarray(p), tp.detach())


def test_parameter_list_errors():
    params = nn.ParameterList([rustorch.zeros(2)])
    with pytest.raises(IndexError, match="out of range"):
        params[1]
    with pytest.raises(IndexError, match="out of range"):
        params[-2] = rustorch.zeros(1)
    with pytest.raises(TypeError, match="iterable"):
        params.extend(rustorch.zeros(3))
    with pytest.raises(RuntimeError, match="should not be called"):
        params(rustorch.zeros(2))
    with pytest.raises(RuntimeError, match="floating point"):
        nn.ParameterList([rustorch.tensor([1, 2])])
    assert "0" not in dir(params)


def test_parameter_dict_matches_torch():
    rng = np.random.default_rng(4)
    _, rt_v, th_v = _twins(rng, [(2,), (3, 1), (1, 2), (4,)])
    # A plain dict goes in sorted key order; an OrderedDict / pairs keep theirs.
    rt = nn.ParameterDict({"b": rt_v[0], "a": nn.Parameter(rt_v[1])})
    th = torch.nn.ParameterDict({"b": th_v[0], "a": torch.nn.Parameter(th_v[1])})
    rt.update(OrderedDict([("z", rt_v[2]), ("c", rt_v[3])]))
    th.update(OrderedDict([("z", th_v[2]), ("c", th_v[3])]))
    rt.update([("y", "text")])
    th.update([("y", "text")])
    assert list(rt.keys()) == list(th.keys()) == ["a", "b", "z", "c", "y"]
    _same_keys(rt, th)
    _same_repr(rt, th)
    assert isinstance(rt["b"], nn.Parameter) and "z" in rt and "q" not in rt
    assert [k for k, _ in rt.items()] == list(rt) == list(reversed(list(reversed(rt))))
    assert rt.get("q") is None and rt.get("a") is rt["a"]
    popped = rt.pop("z")
    th.pop("z")
    assert popped.shape == (1, 2) and list(rt) == list(th)
    key, _ = rt.popitem()
    assert key == th.popitem()[0] == "y"
    del rt["a"]
    del th["a"]
    _same_keys(rt, th)
    merged = rt | nn.ParameterDict({"d": rustorch.ones(1)})
    assert list(merged) == ["b", "c", "d"] and list(rt) == ["b", "c"]
    copied = rt.copy()
    assert copied["b"] is rt["b"]
    assert rt.setdefault("e", rustorch.ones(2)).shape == (2,) and "e" in rt
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rt["nope"]
    with pytest.raises(TypeError, match="not a string"):
        rt[0] = rustorch.ones(1)
    with pytest.raises(ValueError, match="has length 3"):
        rt.update([("a", 1, 2)])
    with pytest.raises(RuntimeError, match="should not be called"):
        rt(rustorch.zeros(1))
    rt.clear()
    assert len(rt) == 0 and list(rt.state_dict()) == []


def test_buffer_assignment_registers_a_buffer():
    class Rt(nn.Module):
        def __init__(self):
            super().__init__()
            self.kept = nn.Buffer(rustorch.ones(2))
            self.dropped = nn.Buffer(rustorch.zeros(3), persistent=False)
            self.plain = rustorch.ones(1)

    class Th(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.kept = torch.nn.Buffer(torch.ones(2))
            self.dropped = torch.nn.Buffer(torch.zeros(3), persistent=False)
            self.plain = torch.ones(1)

    rt, th = Rt(), Th()
    assert list(rt.state_dict()) == list(th.state_dict()) == ["kept"]
    assert [n for n, _ in rt.named_buffers()] == [n for n, _ in th.named_buffers()] == ["kept", "dropped"]
    assert isinstance(rt.kept, nn.Buffer) and not rt.kept.requires_grad
    assert nn.Buffer(rustorch.ones(2, requires_grad=True)).requires_grad
    rt.kept = rustorch.full((2,), 5.0)  # a plain tensor replaces the buffer in place
    assert list(rt.state_dict()) == ["kept"] and float(rt.state_dict()["kept"][0]) == 5.0
    rt.to(rustorch.float16)
    assert rt.dropped.dtype == np.float16

    class Early(nn.Module):
        def __init__(self):
            self.x = nn.Buffer(rustorch.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def _linears(nn_module, sizes):
    return [nn_module.Linear(a, b) for a, b in sizes]


def test_module_list_operations_match_torch():
    sizes = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    rt, th = nn.ModuleList(_linears(nn, sizes[:2])), torch.nn.ModuleList(_linears(torch.nn, sizes[:2]))
    rt.extend(_linears(nn, sizes[2:3])), th.extend(_linears(torch.nn, sizes[2:3]))
    rt.insert(1, nn.Linear(*sizes[3])), th.insert(1, torch.nn.Linear(*sizes[3]))
    rt.insert(-1, nn.Linear(*sizes[4])), th.insert(3, torch.nn.Linear(*sizes[4]))
    _same_keys(rt, th)
    _same_repr(rt, th)
    assert rt.pop(0).in_features == th.pop(0).in_features
    del rt[-1]
    del th[-1]
    _same_keys(rt, th)
    del rt[::2]
    del th[::2]
    _same_keys(rt, th)
    _same_repr(rt, th)
    assert isinstance(rt[0:1], nn.ModuleList) and len(rt[0:1]) == 1
    combined = rt + nn.ModuleList([nn.ReLU(), nn.ReLU()])
    t_combined = th + torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU()])
    _same_keys(combined, t_combined)
    _same_repr(combined, t_combined)
    rt[0] = nn.Tanh()
    assert isinstance(rt[0], nn.Tanh)
    with pytest.raises(IndexError, match="out of range"):
        rt[len(rt)]
    with pytest.raises(TypeError, match="iterable"):
        rt.extend(nn.ReLU())
    assert repr(nn.ModuleList()) == "ModuleList()"


def test_module_dict_and_sequential_operations():
    rt = nn.ModuleDict([("b", nn.ReLU()), ("a", nn.Linear(2, 2))])
    th = torch.nn.ModuleDict([("b", torch.nn.ReLU()), ("a", torch.nn.Linear(2, 2))])
    rt.update({"c": nn.Linear(2, 1)}), th.update({"c": torch.nn.Linear(2, 1)})
    _same_keys(rt, th)
    _same_repr(rt, th)
    assert isinstance(rt.pop("a"), nn.Linear) and list(rt) == ["b", "c"]
    del rt["b"]
    assert list(rt.keys()) == ["c"]
    rt.clear()
    assert len(rt) == 0

    seq = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3))
    t_seq = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3))
    seq.insert(0, nn.Identity()), t_seq.insert(0, torch.nn.Identity())
    del seq[1]
    del t_seq[1]
    seq.pop(-1), t_seq.pop(-1)
    seq.extend([nn.Tanh()]), t_seq.extend([torch.nn.Tanh()])
    _same_keys(seq, t_seq)
    _same_repr(seq, t_seq)
    _same_repr(seq + seq, t_seq + t_seq)
    _same_repr(seq * 2, t_seq * 2)
    with pytest.raises(ValueError, match="Sequential"):
        seq + nn.ModuleList()
    with pytest.raises(IndexError):
        seq[5]
