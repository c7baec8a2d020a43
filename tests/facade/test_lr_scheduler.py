"""rustorch.optim.lr_scheduler against torch.optim.lr_scheduler: every scheduler's learning
rates (and cycled momentum / betas) for random configurations over 30 steps, compared for
exact equality (the same float64 formulas), with a checkpoint round trip half-way (a new
optimizer and scheduler, ``load_state_dict`` of both, as a resumed run does) and the
scheduler's ``state_dict`` compared with torch's.
"""
import math
import warnings

import numpy as np
import pytest
import torch

import rustorch
from rustorch.optim import lr_scheduler as rs
from tests.facade.test_optim import _trajectory
from torch.optim import lr_scheduler as ts

STEPS = 30


def _opt(lib, name, groups, **kwargs):
    """An optimizer over ``groups`` parameter groups of fresh parameters (no gradients, so
    ``step()`` changes no values but counts as a step for the schedulers)."""
    if lib is rustorch:
        params = [[rustorch.nn.Parameter(rustorch.ones(2))] for _ in range(groups)]
    else:
        params = [[torch.nn.Parameter(torch.ones(2))] for _ in range(groups)]
    spec = [{"params": ps, "lr": 0.1 * (i + 1)} for i, ps in enumerate(params)]
    return getattr(lib.optim, name)(spec, **kwargs)


def _half(epoch):
    return 0.5 ** (epoch // 3)


def _wave(epoch):
    return 1.0 + 0.1 * math.sin(epoch)


def _cases():
    rng = np.random.default_rng(0)
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    i = lambda a, b: int(rng.integers(a, b))  # noqa: E731
    cases = []
    for _ in range(2):
        cases += [
            ("StepLR", "SGD", lambda m, o, k=dict(step_size=i(1, 7), gamma=u(0.1, 0.9)): m.StepLR(o, **k)),
            ("MultiStepLR", "SGD", lambda m, o, k=dict(milestones=sorted(rng.integers(1, 25, 4).tolist()),
                                                      gamma=u(0.1, 0.9)): m.MultiStepLR(o, **k)),
            ("ExponentialLR", "Adam", lambda m, o, k=dict(gamma=u(0.8, 0.99)): m.ExponentialLR(o, **k)),
            ("CosineAnnealingLR", "SGD", lambda m, o, k=dict(T_max=i(3, 12), eta_min=u(0, 0.01)):
             m.CosineAnnealingLR(o, **k)),
            ("CosineAnnealingWarmRestarts", "SGD", lambda m, o, k=dict(T_0=i(2, 8), T_mult=i(1, 3),
                                                                      eta_min=u(0, 0.01)):
             m.CosineAnnealingWarmRestarts(o, **k)),
            ("LinearLR", "SGD", lambda m, o, k=dict(start_factor=u(0.1, 1.0), end_factor=u(0.0, 1.0),
                                                   total_iters=i(2, 20)): m.LinearLR(o, **k)),
            ("ConstantLR", "RMSprop", lambda m, o, k=dict(factor=u(0.1, 1.0), total_iters=i(1, 20)):
             m.ConstantLR(o, **k)),
            ("PolynomialLR", "SGD", lambda m, o, k=dict(total_iters=i(3, 25), power=u(0.5, 3.0)):
             m.PolynomialLR(o, **k)),
            ("LambdaLR", "SGD", lambda m, o: m.LambdaLR(o, [_half, lambda e: 0.95 ** e])),
            ("MultiplicativeLR", "Adagrad", lambda m, o: m.MultiplicativeLR(o, _wave)),
            ("OneCycleLR", "SGD", lambda m, o, k=dict(max_lr=[u(0.1, 1.0), u(0.1, 1.0)], total_steps=STEPS + 1,
                                                     pct_start=u(0.1, 0.5), anneal_strategy="cos",
                                                     div_factor=u(5, 30)):
             m.OneCycleLR(o, **k)),
            ("OneCycleLR", "Adam", lambda m, o, k=dict(max_lr=u(0.01, 0.1), epochs=3, steps_per_epoch=11,
                                                      anneal_strategy="linear", three_phase=True,
                                                      base_momentum=u(0.7, 0.85), max_momentum=u(0.9, 0.99)):
             m.OneCycleLR(o, **k)),
            ("CyclicLR", "SGD", lambda m, o, k=dict(base_lr=u(0.001, 0.01), max_lr=u(0.05, 0.2),
                                                   step_size_up=i(2, 6), step_size_down=i(2, 6),
                                                   mode=["triangular", "triangular2", "exp_range"][i(0, 3)],
                                                   gamma=u(0.9, 0.99)):
             m.CyclicLR(o, **k)),
            ("SequentialLR", "SGD", lambda m, o, k=i(2, 10): m.SequentialLR(
                o, [m.LinearLR(o, start_factor=0.1, total_iters=k), m.CosineAnnealingLR(o, T_max=12),
                    m.ExponentialLR(o, gamma=0.9)], milestones=[k, k + 12])),
            ("ChainedScheduler", "SGD", lambda m, o, k=u(0.8, 0.99): m.ChainedScheduler(
                [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=k)])),
        ]
    cases.append(("OneCycleLR", "Adam", lambda m, o: m.OneCycleLR(o, max_lr=0.05, total_steps=STEPS + 1,
                                                                  cycle_momentum=False)))
    return cases


CASES = _cases()


def _observe(opt):
    return [(g["lr"], g.get("momentum"), tuple(g["betas"]) if "betas" in g else None) for g in opt.param_groups]


def _comparable(state):
    return {k: (_comparable(v) if isinstance(v, dict) else
                [_comparable(x) if isinstance(x, dict) else x for x in v] if isinstance(v, list) else v)
            for k, v in state.items() if k not in ("_scale_fn_ref",)}


@pytest.mark.parametrize("name,opt_name,make", CASES, ids=[f"{c[0]}-{c[1]}-{n}" for n, c in enumerate(CASES)])
def test_learning_rates_match_torch_with_a_checkpoint_round_trip(name, opt_name, make):
    kwargs = dict(momentum=0.9) if opt_name == "SGD" else {}
    rt_opt, th_opt = _opt(rustorch, opt_name, 2, **kwargs), _opt(torch, opt_name, 2, **kwargs)
    rt_s, th_s = make(rs, rt_opt), make(ts, th_opt)
    assert rt_s.get_last_lr() == th_s.get_last_lr()
    assert _observe(rt_opt) == _observe(th_opt)
    for step in range(STEPS):
        rt_opt.step()
        th_opt.step()
        rt_s.step()
        th_s.step()
        assert rt_s.get_last_lr() == th_s.get_last_lr(), f"step {step}"
        assert _observe(rt_opt) == _observe(th_opt), f"step {step}"
        if step == STEPS // 2:
            assert _comparable(rt_s.state_dict()) == _comparable(th_s.state_dict())
            saved_opt, saved = rt_opt.state_dict(), rt_s.state_dict()
            rt_opt = _opt(rustorch, opt_name, 2, **kwargs)
            rt_s = make(rs, rt_opt)
            rt_opt.load_state_dict(saved_opt)
            rt_s.load_state_dict(saved)
            assert rt_s.get_last_lr() == th_s.get_last_lr()


def _metrics(rng, n):
    """A loss curve with improvements, plateaus and bumps."""
    values, current = [], 1.0
    for _ in range(n):
        move = rng.choice(["better", "same", "tiny", "worse"], p=[0.3, 0.3, 0.2, 0.2])
        current = {"better": current * 0.9, "same": current, "tiny": current * (1 - 1e-6),
                   "worse": current * 1.05}[move]
        values.append(float(current))
    return values


@pytest.mark.parametrize("seed", range(6))
def test_reduce_lr_on_plateau_matches_torch(seed):
    rng = np.random.default_rng(seed)
    kwargs = dict(mode=["min", "max"][seed % 2], factor=float(rng.uniform(0.1, 0.9)), patience=int(rng.integers(0, 4)),
                  threshold=float(rng.choice([1e-4, 1e-2])), threshold_mode=["rel", "abs"][seed // 2 % 2],
                  cooldown=int(rng.integers(0, 3)), min_lr=[0.0, float(rng.uniform(0, 0.05))] if seed > 2 else 0.01,
                  eps=float(rng.choice([1e-8, 1e-3])))
    rt_opt, th_opt = _opt(rustorch, "SGD", 2), _opt(torch, "SGD", 2)
    rt_s, th_s = rs.ReduceLROnPlateau(rt_opt, **kwargs), ts.ReduceLROnPlateau(th_opt, **kwargs)
    metrics = _metrics(rng, 40)
    if kwargs["mode"] == "max":
        metrics = [-m for m in metrics]
    for step, metric in enumerate(metrics):
        rt_opt.step()
        th_opt.step()
        rt_s.step(metric)
        th_s.step(metric)
        assert rt_s.get_last_lr() == th_s.get_last_lr(), f"step {step}"
        if step == 20:
            assert _comparable(rt_s.state_dict()) == _comparable(th_s.state_dict())
            saved = rt_s.state_dict()
            rt_s = rs.ReduceLROnPlateau(rt_opt, **kwargs)
            rt_s.load_state_dict(saved)
    assert min(rt_s.get_last_lr()) < 0.1  # the schedule did reduce


def test_closed_form_step_with_epoch_matches_torch():
    for make in [lambda m, o: m.StepLR(o, 3, 0.5), lambda m, o: m.MultiStepLR(o, [2, 5, 5], 0.3),
                 lambda m, o: m.CosineAnnealingLR(o, 7, 0.001), lambda m, o: m.LinearLR(o, 0.2, 0.9, 6),
                 lambda m, o: m.CosineAnnealingWarmRestarts(o, 3, 2)]:
        rt_opt, th_opt = _opt(rustorch, "SGD", 1), _opt(torch, "SGD", 1)
        rt_s, th_s = make(rs, rt_opt), make(ts, th_opt)
        for epoch in [1, 2, 4, 9, 3, 12]:
            rt_opt.step()
            th_opt.step()
            with warnings.catch_warnings(record=True) as ours:
                warnings.simplefilter("always")
                rt_s.step(epoch)
            with warnings.catch_warnings(record=True) as theirs:
                warnings.simplefilter("always")
                th_s.step(epoch)
            # The deprecation warning, except from CosineAnnealingWarmRestarts (as in torch).
            assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
            assert rt_s.get_last_lr() == th_s.get_last_lr()


def test_warnings_and_errors_match_torch():
    opt = _opt(rustorch, "SGD", 1)
    scheduler = rs.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        scheduler.step()
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        scheduler.get_lr()
    opt = _opt(rustorch, "SGD", 2)
    for make, error, pattern in [
        (lambda: rs.StepLR(object(), 2), TypeError, "is not an Optimizer"),
        (lambda: rs.StepLR(opt, 2, last_epoch=4), KeyError, "initial_lr"),
        (lambda: rs.LambdaLR(opt, [_half]), ValueError, "Expected 2 lr_lambdas, but got 1"),
        (lambda: rs.ConstantLR(opt, factor=1.5), ValueError, "between 0 and 1"),
        (lambda: rs.LinearLR(opt, start_factor=0.0), ValueError, "greater than 0"),
        (lambda: rs.ReduceLROnPlateau(opt, factor=1.0), ValueError, "Factor should be < 1.0"),
        (lambda: rs.ReduceLROnPlateau(opt, mode="up"), ValueError, "mode up is unknown"),
        (lambda: rs.ReduceLROnPlateau(opt, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
        (lambda: rs.OneCycleLR(opt, max_lr=0.1), ValueError, "total_steps OR"),
        (lambda: rs.OneCycleLR(opt, max_lr=[0.1], total_steps=5), ValueError, "same length as optimizer.param_groups"),
        (lambda: rs.OneCycleLR(_opt(rustorch, "Adagrad", 1), max_lr=0.1, total_steps=5), ValueError,
         "must support momentum or beta1"),
        (lambda: rs.CosineAnnealingWarmRestarts(opt, T_0=0), ValueError, "positive integer T_0"),
        (lambda: rs.SequentialLR(opt, [rs.StepLR(opt, 2)], milestones=[3]), ValueError, "one more than"),
        (lambda: rs.ChainedScheduler([rs.ReduceLROnPlateau(opt)]), ValueError, "does not support `ReduceLROnPlateau`"),
    ]:
        with pytest.raises(error, match=pattern):
            make()
    opt = _opt(rustorch, "SGD", 1)
    scheduler = rs.OneCycleLR(opt, max_lr=0.1, total_steps=2)
    for _ in range(2):
        opt.step()
        scheduler.step()
    opt.step()
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total steps is 2"):
        scheduler.step()


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_training_with_one_cycle_matches_torch(name):
    """OneCycleLR cycles lr and momentum (Adam: betas[0]) every step of a real training run;
    parameters and optimizer state follow torch's."""
    config = dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01) if name == "SGD" else dict(lr=0.01)
    schedulers = {}

    def schedule(step, rt_opt, th_opt):
        if step == 0:
            schedulers["rt"] = rs.OneCycleLR(rt_opt, max_lr=0.05, total_steps=25, three_phase=True)
            schedulers["th"] = ts.OneCycleLR(th_opt, max_lr=0.05, total_steps=25, three_phase=True)
        else:
            schedulers["rt"].step()
            schedulers["th"].step()
            assert schedulers["rt"].get_last_lr() == schedulers["th"].get_last_lr()

    _trajectory(lambda m: getattr(rustorch.optim, name)(m.parameters(), **config),
                lambda m: getattr(torch.optim, name)(m.parameters(), foreach=False, **config), schedule, steps=20)


def test_user_written_scheduler_on_the_base_class():
    """A scheduler written against torch's base class (``get_lr`` from ``base_lrs`` and
    ``last_epoch``, the old ``_LRScheduler`` name) runs unchanged."""
    def make(module, opt):
        class Warmup(module._LRScheduler):
            def __init__(self, optimizer, warmup, last_epoch=-1):
                self.warmup = warmup
                super().__init__(optimizer, last_epoch)

            def get_lr(self):
                scale = min(1.0, (self.last_epoch + 1) / self.warmup)
                return [base_lr * scale for base_lr in self.base_lrs]

        return Warmup(opt, 5)

    rt_opt, th_opt = _opt(rustorch, "Adam", 2), _opt(torch, "Adam", 2)
    rt_s, th_s = make(rs, rt_opt), make(ts, th_opt)
    for _ in range(8):
        rt_opt.step()
        th_opt.step()
        rt_s.step()
        th_s.step()
        assert rt_s.get_last_lr() == th_s.get_last_lr()
        assert rt_s.state_dict() == {k: v for k, v in th_s.state_dict().items()}
