"""RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam (and SGD's options) through the facade
against torch.optim on twin networks: losses and parameters after each of 30 steps and the
per-parameter state at the end, for random configurations; torch-compatible state dicts both
ways; ``load_state_dict`` that validates everything before changing anything; learning-rate
writes through ``param_groups`` that never recompile.
"""
import numpy as np
import pytest
import torch

import rustorch
from tests.facade.facade_utils import assert_params
from tests.facade.test_optim import _assert_state, _batch, _step, _trajectory, _twin_mlp
from tests.torch_compare import assert_close


def _sample(name, rng):
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    lr = float(np.exp(rng.uniform(np.log(1e-3), np.log(3e-2))))
    wd = float(rng.choice([0.0, 0.0, 0.05]))
    betas = (u(0.5, 0.95), u(0.95, 0.9995))
    return {
        "SGD": lambda: dict(lr=lr * 5, momentum=float(rng.choice([0.0, u(0.5, 0.95)])),
                            dampening=float(rng.choice([0.0, u(0, 0.5)])), weight_decay=wd,
                            maximize=bool(rng.random() < 0.3)),
        "RMSprop": lambda: dict(lr=lr / 3, alpha=u(0.8, 0.999), eps=float(rng.choice([1e-8, 1e-4])),
                                weight_decay=wd, momentum=float(rng.choice([0.0, u(0.3, 0.9)])),
                                centered=bool(rng.random() < 0.5), maximize=bool(rng.random() < 0.3)),
        "Adagrad": lambda: dict(lr=lr * 3, lr_decay=float(rng.choice([0.0, 0.05])), weight_decay=wd,
                                initial_accumulator_value=float(rng.choice([0.0, 0.1])),
                                eps=float(rng.choice([1e-10, 1e-6])), maximize=bool(rng.random() < 0.3)),
        "Adadelta": lambda: dict(lr=u(0.5, 1.5), rho=u(0.8, 0.95), eps=float(rng.choice([1e-6, 1e-4])),
                                 weight_decay=wd, maximize=bool(rng.random() < 0.3)),
        "Adamax": lambda: dict(lr=lr, betas=betas, eps=1e-8, weight_decay=wd, maximize=bool(rng.random() < 0.3)),
        "NAdam": lambda: dict(lr=lr, betas=betas, weight_decay=wd, momentum_decay=float(rng.choice([4e-3, 0.02])),
                              decoupled_weight_decay=bool(rng.random() < 0.5), maximize=bool(rng.random() < 0.3)),
        "RAdam": lambda: dict(lr=lr, betas=(betas[0], float(rng.choice([0.9, 0.99, 0.999]))), weight_decay=wd,
                              decoupled_weight_decay=bool(rng.random() < 0.5), maximize=bool(rng.random() < 0.3)),
    }[name]()


NAMES = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]
CASES = [(name, seed) for name in NAMES for seed in range(3)]


@pytest.mark.parametrize("name,seed", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_random_configurations_match_torch(name, seed):
    config = _sample(name, np.random.default_rng(1000 * NAMES.index(name) + seed))
    if name == "SGD" and config["momentum"] and seed % 2:
        config.update(nesterov=True, dampening=0.0)

    def schedule(step, rt_opt, th_opt):
        if step == 12:  # the canonical loop of a hand-written schedule
            for group in rt_opt.param_groups:
                group["lr"] = group["lr"] * 0.5
            for group in th_opt.param_groups:
                group["lr"] = group["lr"] * 0.5

    _trajectory(lambda m: getattr(rustorch.optim, name)(m.parameters(), **config),
                lambda m: getattr(torch.optim, name)(m.parameters(), foreach=False, **config), schedule)


def test_adam_decoupled_weight_decay_is_adamw():
    config = dict(lr=0.01, weight_decay=0.1, amsgrad=True)
    _trajectory(lambda m: rustorch.optim.Adam(m.parameters(), decoupled_weight_decay=True, **config),
                lambda m: torch.optim.AdamW(m.parameters(), foreach=False, **config), steps=10)


@pytest.mark.parametrize("name", NAMES[1:] + ["Adam"])
def test_state_dict_exchanges_with_torch(name):
    """torch's state dict loads into rustorch mid-trajectory and the run continues as torch's;
    rustorch's state dict has torch's layout and values (and Adagrad's state exists from
    construction, as torch's)."""
    config = _sample(name, np.random.default_rng(7)) if name != "Adam" else dict(lr=0.01)
    rt, th = _twin_mlp()
    rt_opt = getattr(rustorch.optim, name)(rt.parameters(), **config)
    th_opt = getattr(torch.optim, name)(th.parameters(), foreach=False, **config)
    assert sorted(rt_opt.state_dict()["state"]) == sorted(th_opt.state_dict()["state"])
    rng = np.random.default_rng(1)
    for _ in range(4):
        _step(rt, th, rt_opt, th_opt, *_batch(rng))
    ours, theirs = rt_opt.state_dict(), th_opt.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for index, entry in theirs["state"].items():
        assert set(ours["state"][index]) == set(entry)
        for key, value in entry.items():
            assert_close(np.asarray(ours["state"][index][key]), value, err_msg=key)
    assert set(ours["param_groups"][0]) == set(theirs["param_groups"][0])
    for key, value in ours["param_groups"][0].items():
        if key not in ("params", "foreach"):  # torch runs with foreach=False here
            assert theirs["param_groups"][0][key] == value, key

    # torch -> rustorch, then both continue
    fresh = getattr(rustorch.optim, name)(rt.parameters(), **config)
    fresh.load_state_dict({"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in theirs["state"].items()},
                           "param_groups": theirs["param_groups"]})
    # rustorch -> torch, continued by a second torch optimizer on a twin copy
    th2 = _twin_mlp()[1]
    th2.load_state_dict(th.state_dict())
    th2_opt = getattr(torch.optim, name)(th2.parameters(), foreach=False, **config)
    th2_opt.load_state_dict({"state": {i: {k: torch.from_numpy(np.array(v)) for k, v in s.items()}
                                       for i, s in ours["state"].items()},
                             "param_groups": ours["param_groups"]})
    for _ in range(4):
        x, y = _batch(rng)
        loss, t_loss = _step(rt, th, fresh, th_opt, x, y)
        assert_close(loss, t_loss)
        assert_params(rt, th)
        th2_opt.zero_grad()
        torch.nn.functional.mse_loss(th2(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        th2_opt.step()
        assert_params(rt, th2)
    _assert_state(fresh, th_opt, rt, th)


def _snapshot(opt):
    sd = opt.state_dict()
    return ([dict(g) for g in sd["param_groups"]],
            {i: {k: np.array(v) for k, v in e.items()} for i, e in sd["state"].items()})


def _assert_unchanged(opt, before):
    groups, state = _snapshot(opt)
    assert groups == before[0]
    assert sorted(state) == sorted(before[1])
    for i, entry in state.items():
        assert sorted(entry) == sorted(before[1][i])
        for k, v in entry.items():
            np.testing.assert_array_equal(v, before[1][i][k])


def test_load_state_dict_validates_everything_and_changes_nothing_on_error():
    rt, th = _twin_mlp()
    opt = rustorch.optim.Adam([{"params": list(rt[0].parameters())}, {"params": list(rt[2].parameters()),
                                                                       "lr": 0.01}], amsgrad=True)
    th_opt = torch.optim.Adam([{"params": list(th[0].parameters())}, {"params": list(th[2].parameters()),
                                                                       "lr": 0.01}], amsgrad=True, foreach=False)
    rng = np.random.default_rng(3)
    for _ in range(2):
        _step(rt, th, opt, th_opt, *_batch(rng))
    good = opt.state_dict()
    good = {"state": {i: {k: np.array(v) for k, v in e.items()} for i, e in good["state"].items()},
            "param_groups": [dict(g, lr=0.123) for g in good["param_groups"]]}
    before = _snapshot(opt)

    def corrupt(edit):
        bad = {"state": {i: dict(e) for i, e in good["state"].items()},
               "param_groups": [dict(g) for g in good["param_groups"]]}
        edit(bad)
        return bad

    cases = [
        (lambda sd: sd["state"][3].update(exp_avg=np.zeros((3, 8), np.float32)), ValueError,
         r"state\[3\]\['exp_avg'\] has shape \(3, 8\), expected \(3,\) \(the shape of parameter 1 of its group\)"),
        (lambda sd: sd["state"][2].pop("max_exp_avg_sq"), ValueError, r"state\[2\] has keys .*missing \['max_exp_avg_sq'\]"),
        (lambda sd: sd["state"][1].update(momentum_buffer=np.zeros(8, np.float32)), ValueError,
         r"state\[1\] has keys .*unexpected \['momentum_buffer'\]"),
        (lambda sd: sd["state"][0].update(exp_avg_sq=np.zeros((8, 5), np.int32)), ValueError,
         r"state\[0\]\['exp_avg_sq'\] has dtype int32"),
        (lambda sd: sd["state"][3].update(step=np.zeros(2, np.float32)), ValueError,
         r"state\[3\]\['step'\] has shape \(2,\), expected \(\) \(a scalar\)"),
        (lambda sd: sd["param_groups"].pop(), ValueError, "different number of parameter groups"),
        (lambda sd: sd["param_groups"][1].update(params=[2]), ValueError, "doesn't match the size"),
        (lambda sd: sd["param_groups"][1].update(lr=-1.0), ValueError, r"param_groups\[1\]: .*Invalid learning rate"),
        (lambda sd: sd["state"].update({9: {}}), ValueError, r"state entries \[9\] belong to no parameter group"),
        (lambda sd: sd.pop("state"), TypeError, "expected a dict with the keys 'state' and 'param_groups'"),
    ]
    for edit, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            opt.load_state_dict(corrupt(edit))
        _assert_unchanged(opt, before)
    # The good one loads and the run continues exactly as torch's (with the new lr in both).
    opt.load_state_dict(good)
    assert [g["lr"] for g in opt.param_groups] == [0.123, 0.123]
    for group in th_opt.param_groups:
        group["lr"] = 0.123
    for _ in range(3):
        _step(rt, th, opt, th_opt, *_batch(rng))
        assert_params(rt, th)


def test_param_group_lr_writes_and_schedulers_never_recompile():
    """``for g in optimizer.param_groups: g['lr'] = x`` every step, a scheduler cycling lr and
    momentum (betas for Adam), and the steps that follow compile nothing new."""
    for make, sched in [
        (lambda ps: rustorch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), True),
        (lambda ps: rustorch.optim.Adam(ps, lr=0.01), True),
        (lambda ps: rustorch.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True), False),
        (lambda ps: rustorch.optim.NAdam(ps), False),
    ]:
        rt, _ = _twin_mlp()
        opt = make(rt.parameters())
        scheduler = (rustorch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=20) if sched
                     else rustorch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5))
        x = rustorch.tensor(np.ones((4, 5), np.float32))

        def train_step(i):
            opt.zero_grad()
            (rt(x) ** 2).mean().backward()
            opt.step()
            scheduler.step()
            for group in opt.param_groups:
                group["lr"] = group["lr"] * (1 + 0.01 * i)

        train_step(0)
        train_step(1)
        before = rustorch.compile_count()
        with rustorch.forbid_recompiles():
            for i in range(2, 8):
                train_step(i)
        assert rustorch.compile_count() == before


def test_add_param_group_and_exports():
    rt, th = _twin_mlp()
    opt = rustorch.optim.RMSprop(rt[0].parameters(), lr=0.01)
    th_opt = torch.optim.RMSprop(th[0].parameters(), lr=0.01, foreach=False)
    opt.add_param_group({"params": rt[2].parameters(), "lr": 0.002, "momentum": 0.9})
    th_opt.add_param_group({"params": th[2].parameters(), "lr": 0.002, "momentum": 0.9})
    assert [sorted(g) for g in opt.param_groups] == [sorted(g) for g in th_opt.param_groups]
    rng = np.random.default_rng(5)
    for _ in range(5):
        _step(rt, th, opt, th_opt, *_batch(rng))
        assert_params(rt, th)
    _assert_state(opt, th_opt, rt, th)
    for name in NAMES + ["Adam", "AdamW"]:
        assert getattr(rustorch, name) is getattr(rustorch.optim, name)
    with pytest.raises(ValueError, match="Invalid alpha value"):
        rustorch.optim.RMSprop(rt.parameters(), alpha=-1.0)
    opt.param_groups[0]["centered"] = True  # after steps: torch raises KeyError 'grad_avg'
    with pytest.raises(ValueError, match="need the per-parameter state 'grad_avg'"):
        _step(rt, th, opt, th_opt, *_batch(rng))


def test_structural_options_change_between_steps_as_in_torch():
    """PyTorch reads every option at every step: SGD's momentum switched on later (buffers
    created then), off and on again (the old buffers reused), nesterov and maximize flipped;
    a OneCycleLR that gives a momentum-less SGD momentum before the first step."""
    def schedule(step, rt_opt, th_opt):
        changes = {4: dict(momentum=0.9), 8: dict(nesterov=True), 12: dict(momentum=0.0, nesterov=False),
                   15: dict(momentum=0.5, maximize=True), 18: dict(maximize=False)}.get(step)
        if changes:
            for opt in (rt_opt, th_opt):
                opt.param_groups[0].update(changes)

    _trajectory(lambda m: rustorch.optim.SGD(m.parameters(), lr=0.05),
                lambda m: torch.optim.SGD(m.parameters(), lr=0.05, foreach=False), schedule, steps=22)

    schedulers = {}

    def one_cycle(step, rt_opt, th_opt):
        if step == 0:
            schedulers["rt"] = rustorch.optim.lr_scheduler.OneCycleLR(rt_opt, max_lr=0.1, total_steps=12)
            schedulers["th"] = torch.optim.lr_scheduler.OneCycleLR(th_opt, max_lr=0.1, total_steps=12)
        else:
            schedulers["rt"].step()
            schedulers["th"].step()

    _trajectory(lambda m: rustorch.optim.SGD(m.parameters(), lr=0.05),
                lambda m: torch.optim.SGD(m.parameters(), lr=0.05, foreach=False), one_cycle, steps=10)


def test_options_torch_cannot_change_mid_run_raise_and_change_nothing():
    rt, th = _twin_mlp()
    opt = rustorch.optim.RMSprop(rt.parameters(), lr=0.01)
    th_opt = torch.optim.RMSprop(th.parameters(), lr=0.01, foreach=False)
    opt.param_groups[0]["centered"] = True  # before the first step: fine, as in torch
    th_opt.param_groups[0]["centered"] = True
    rng = np.random.default_rng(9)
    _step(rt, th, opt, th_opt, *_batch(rng))
    before = _snapshot(opt)
    opt.param_groups[0]["momentum"] = 0.9  # torch: KeyError 'momentum_buffer' at the next step
    with pytest.raises(ValueError, match="need the per-parameter state 'momentum_buffer'"):
        _step(rt, th, opt, th_opt, *_batch(rng))
    opt.param_groups[0]["momentum"] = 0.0
    _assert_unchanged(opt, before)


def test_signatures_named_parameters_and_implementation_options_as_torch():
    import inspect

    for name in NAMES + ["Adam", "AdamW"]:
        ours = [(n, p.kind, p.default) for n, p in inspect.signature(getattr(rustorch.optim, name)).parameters.items()]
        theirs = [(n, p.kind, p.default) for n, p in inspect.signature(getattr(torch.optim, name)).parameters.items()]
        assert ours == theirs, name
    rt, th = _twin_mlp()
    # Positional hyperparameters as torch takes them; named parameters; foreach/fused accepted.
    opt = rustorch.optim.SGD(rt.named_parameters(), 0.05, 0.9, foreach=True, fused=False)
    th_opt = torch.optim.SGD(th.named_parameters(), 0.05, 0.9, foreach=False)
    assert opt.param_groups[0]["param_names"] == th_opt.param_groups[0]["param_names"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    rng = np.random.default_rng(11)
    for _ in range(3):
        _step(rt, th, opt, th_opt, *_batch(rng))
        assert_params(rt, th)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        rustorch.optim.Adam(rt.parameters(), differentiable=True)
    with pytest.raises(TypeError, match="ordered collections"):
        rustorch.optim.Adam(set(rt.parameters()))
    with pytest.raises(ValueError, match="Some param names are missing"):
        rustorch.optim.Adam([("w", rt[0].weight), rt[0].bias])
