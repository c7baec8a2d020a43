"""Adam, AdamW and SGD through the facade against torch.optim, on twin networks fed the same
data: losses and parameters after every one of 30 steps, per-parameter state at the end, every
option, learning-rate changes mid-run, parameter groups, and torch-compatible state dicts.

torch runs with ``foreach=False``, its single-tensor implementation, the one rustorch follows.
"""
import numpy as np
import pytest
import torch

import rustorch
from tests.facade.facade_utils import assert_params, copy_weights
from tests.torch_compare import assert_close, to_torch

STEPS = 30


def _twin_mlp():
    rt = rustorch.nn.Sequential(rustorch.nn.Linear(5, 8), rustorch.nn.Tanh(), rustorch.nn.Linear(8, 3))
    th = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    copy_weights(rt, th)
    return rt, th


def _batch(rng):
    return rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)


def _step(rt, th, rt_opt, th_opt, x_np, y_np):
    rt_opt.zero_grad()
    th_opt.zero_grad()
    loss = rustorch.nn.functional.mse_loss(rt(rustorch.tensor(x_np)), rustorch.tensor(y_np))
    t_loss = torch.nn.functional.mse_loss(th(to_torch(x_np)), to_torch(y_np))
    loss.backward()
    t_loss.backward()
    rt_opt.step()
    th_opt.step()
    return loss.item(), t_loss.item()


def _assert_state(rt_opt, th_opt, rt, th):
    """Per-parameter optimizer state (moments, step counts, momentum buffers) equals torch's."""
    for p, tp in zip(rt.parameters(), th.parameters()):
        state, t_state = rt_opt.state.get(p), th_opt.state.get(tp)
        assert (state is None) == (not t_state)
        if t_state:
            assert set(state) == set(t_state), f"{set(state)} != {set(t_state)}"
            for name, value in t_state.items():
                assert_close(np.asarray(state[name]), value, err_msg=name)


def _trajectory(make_rt, make_th, schedule=None, steps=STEPS):
    """Run both optimizers ``steps`` times; ``schedule(step, rt_opt, th_opt)`` may change
    hyperparameters before a step."""
    rt, th = _twin_mlp()
    rt_opt, th_opt = make_rt(rt), make_th(th)
    rng = np.random.default_rng(0)
    for step in range(steps):
        if schedule is not None:
            schedule(step, rt_opt, th_opt)
        loss, t_loss = _step(rt, th, rt_opt, th_opt, *_batch(rng))
        assert_close(loss, t_loss, err_msg=f"loss at step {step}")
        assert_params(rt, th)
    _assert_state(rt_opt, th_opt, rt, th)
    return rt, th, rt_opt, th_opt


ADAM_CONFIGS = [
    {},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True},
    {"lr": 0.005, "maximize": True},
    {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.05, "amsgrad": True},
    {"lr": 0.01, "weight_decay": 0.2, "amsgrad": True, "maximize": True},
]


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("config", ADAM_CONFIGS, ids=[str(c) for c in ADAM_CONFIGS])
def test_adam_and_adamw_trajectories_match_torch(cls, config):
    _trajectory(lambda m: getattr(rustorch.optim, cls)(m.parameters(), **config),
                lambda m: getattr(torch.optim, cls)(m.parameters(), foreach=False, **config))


SGD_CONFIGS = [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.02, "momentum": 0.5, "weight_decay": 0.1, "nesterov": True, "maximize": True},
    {"lr": 0.02, "momentum": 0.7, "dampening": 0.2, "weight_decay": 0.01, "maximize": True},
]


@pytest.mark.parametrize("config", SGD_CONFIGS, ids=[str(c) for c in SGD_CONFIGS])
def test_sgd_trajectories_match_torch(config):
    _trajectory(lambda m: rustorch.optim.SGD(m.parameters(), **config),
                lambda m: torch.optim.SGD(m.parameters(), foreach=False, **config))


@pytest.mark.parametrize("cls,config", [("Adam", {"lr": 0.01, "amsgrad": True}), ("AdamW", {"lr": 0.01}),
                                        ("SGD", {"lr": 0.05, "momentum": 0.9})])
def test_learning_rate_changes_mid_trajectory_match_torch(cls, config):
    def schedule(step, rt_opt, th_opt):
        if step == 10:
            rt_opt.set_lr(0.003)
            for group in th_opt.param_groups:
                group["lr"] = 0.003
            assert rt_opt.lr == 0.003
        if step == 20:
            rt_opt.param_groups[0]["lr"] = 0.02
            th_opt.param_groups[0]["lr"] = 0.02
            assert rt_opt.lr == 0.02

    _trajectory(lambda m: getattr(rustorch.optim, cls)(m.parameters(), **config),
                lambda m: getattr(torch.optim, cls)(m.parameters(), foreach=False, **config), schedule)


def test_parameter_groups_with_their_own_options_match_torch():
    def groups(model, extra):
        return [{"params": list(model[0].parameters()), "lr": 0.03, "weight_decay": 0.1, **extra},
                {"params": list(model[2].parameters())}]

    def schedule(step, rt_opt, th_opt):
        if step == 15:  # change one group only
            rt_opt.param_groups[1]["lr"] = 0.001
            th_opt.param_groups[1]["lr"] = 0.001

    _, _, rt_opt, _ = _trajectory(lambda m: rustorch.optim.Adam(groups(m, {}), lr=0.01, amsgrad=True),
                                  lambda m: torch.optim.Adam(groups(m, {}), lr=0.01, amsgrad=True, foreach=False),
                                  schedule)
    assert [g["lr"] for g in rt_opt.param_groups] == [0.03, 0.001]
    assert rt_opt.param_groups[1]["weight_decay"] == 0.0


@pytest.mark.parametrize("cls,config", [("Adam", {"lr": 0.01, "amsgrad": True}),
                                        ("SGD", {"lr": 0.05, "momentum": 0.9})])
def test_state_dict_exchanges_with_torch(cls, config):
    """A trajectory handed over mid-way: torch's optimizer state loaded into a rustorch optimizer
    continues exactly as torch does, and rustorch's state dict has torch's layout."""
    rt, th = _twin_mlp()
    rt_opt = getattr(rustorch.optim, cls)(rt.parameters(), **config)
    th_opt = getattr(torch.optim, cls)(th.parameters(), foreach=False, **config)
    rng = np.random.default_rng(1)
    for _ in range(5):
        _step(rt, th, rt_opt, th_opt, *_batch(rng))
    ours, theirs = rt_opt.state_dict(), th_opt.state_dict()
    assert sorted(ours) == ["param_groups", "state"]
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for index, entry in theirs["state"].items():
        assert set(ours["state"][index]) == set(entry)
        for name, value in entry.items():
            assert_close(np.asarray(ours["state"][index][name]), value, err_msg=name)
    for key, value in theirs["param_groups"][0].items():
        if key not in ("params", "foreach") and key in ours["param_groups"][0]:  # torch: foreach=False
            assert ours["param_groups"][0][key] == (tuple(value) if isinstance(value, list) else value), key

    fresh = getattr(rustorch.optim, cls)(rt.parameters(), **config)
    fresh.load_state_dict({"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in theirs["state"].items()},
                           "param_groups": theirs["param_groups"]})
    for _ in range(5):
        loss, t_loss = _step(rt, th, fresh, th_opt, *_batch(rng))
        assert_close(loss, t_loss)
        assert_params(rt, th)
    _assert_state(fresh, th_opt, rt, th)


def test_parameters_without_grad_are_skipped_like_torch():
    rt, th = _twin_mlp()
    rt_opt = rustorch.optim.Adam(rt.parameters(), lr=0.01, weight_decay=0.1)
    th_opt = torch.optim.Adam(th.parameters(), lr=0.01, weight_decay=0.1, foreach=False)
    rng = np.random.default_rng(2)
    for step in range(6):
        x_np, y_np = _batch(rng)
        rt_opt.zero_grad()
        th_opt.zero_grad()
        # Only the last layer takes part on even steps: the first layer gets no grad at all.
        frozen = step % 2 == 0
        h = rustorch.tensor(np.tanh(x_np @ np.ones((5, 8), np.float32) * 0.1)) if frozen else rt[1](rt[0](
            rustorch.tensor(x_np)))
        t_h = to_torch(np.asarray(h)) if frozen else th[1](th[0](to_torch(x_np)))
        rustorch.nn.functional.mse_loss(rt[2](h), rustorch.tensor(y_np)).backward()
        torch.nn.functional.mse_loss(th[2](t_h), to_torch(y_np)).backward()
        assert (rt[0].weight.grad is None) == frozen == (th[0].weight.grad is None)
        rt_opt.step()
        th_opt.step()
        assert_params(rt, th)
    _assert_state(rt_opt, th_opt, rt, th)
    assert float(rt_opt.state[rt[0].weight]["step"]) == 3.0 and float(rt_opt.state[rt[2].weight]["step"]) == 6.0


def test_zero_grad_and_closure():
    rt, th = _twin_mlp()
    opt = rustorch.optim.SGD(rt.parameters(), lr=0.1)
    x = rustorch.tensor(np.ones((2, 5), np.float32))

    def closure():
        opt.zero_grad()
        loss = rt(x).sum()
        loss.backward()
        return loss

    before = np.asarray(rt[2].bias)
    loss = opt.step(closure)
    assert isinstance(loss, rustorch.Tensor)
    np.testing.assert_allclose(np.asarray(rt[2].bias), before - 0.1 * 2, rtol=1e-6)
    assert all(p.grad is not None for p in rt.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in rt.parameters())
    rt(x).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.asarray(p.grad).any() for p in rt.parameters())


def test_invalid_hyperparameters_raise_torch_errors():
    params = [rustorch.nn.Parameter(rustorch.ones(2))]
    for make, pattern in [
        (lambda: rustorch.optim.Adam(params, lr=-1.0), "Invalid learning rate"),
        (lambda: rustorch.optim.Adam(params, betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
        (lambda: rustorch.optim.Adam(params, betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
        (lambda: rustorch.optim.Adam(params, eps=-1e-8), "Invalid epsilon"),
        (lambda: rustorch.optim.AdamW(params, weight_decay=-0.1), "Invalid weight_decay"),
        (lambda: rustorch.optim.SGD(params, lr=0.1, momentum=-0.5), "Invalid momentum"),
        (lambda: rustorch.optim.SGD(params, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum"),
        (lambda: rustorch.optim.SGD([], lr=0.1), "empty parameter list"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            make()
    with pytest.raises(TypeError, match="iterable"):
        rustorch.optim.Adam(params[0])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        rustorch.optim.Adam(params).set_lr(-0.5)
