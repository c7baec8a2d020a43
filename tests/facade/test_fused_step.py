"""``optimizer.step()`` recorded into the next program: whole trajectories against torch.optim
with the update fused into the next forward and backward pass (only the loss is read between
steps), and with every kind of read, write and option change between steps that makes the
update run elsewhere; plus the count of XLA programs run and compiled per steady-state step.

torch runs with ``foreach=False``, its single-tensor implementation, the one rustorch follows.
"""
import contextlib
from unittest import mock

import jax
import numpy as np
import pytest
import torch
from jax._src import dispatch, monitoring, pjit
from jax._src.interpreters import pxla

import rustorch
from rustorch.stateful import _graph
from tests.facade.facade_utils import assert_params, copy_weights
from tests.torch_compare import assert_close, to_torch


def _twin_models():
    """An MLP whose middle layer is used twice (a parameter shared between two uses)."""
    def build(nn):
        shared = nn.Linear(8, 8)
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), shared, nn.Tanh(), shared, nn.Tanh(), nn.Linear(8, 3))

    rt, th = build(rustorch.nn), build(torch.nn)
    copy_weights(rt, th)
    return rt, th


def _batch(rng):
    return rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)


def _losses(rt, th, x_np, y_np):
    loss = rustorch.nn.functional.mse_loss(rt(rustorch.tensor(x_np)), rustorch.tensor(y_np))
    t_loss = torch.nn.functional.mse_loss(th(to_torch(x_np)), to_torch(y_np))
    return loss, t_loss


def _twin_step(rt, th, rt_opt, th_opt, rng):
    """One training step of both twins on a fresh batch; returns both losses."""
    rt_opt.zero_grad()
    th_opt.zero_grad()
    loss, t_loss = _losses(rt, th, *_batch(rng))
    loss.backward()
    t_loss.backward()
    rt_opt.step()
    th_opt.step()
    return loss, t_loss


def _assert_state(rt_opt, th_opt, rt, th):
    for p, tp in zip(rt.parameters(), th.parameters()):
        state, t_state = rt_opt.state.get(p), th_opt.state.get(tp)
        assert (state is None) == (not t_state)
        for name, value in (t_state or {}).items():
            assert_close(np.asarray(state[name]), value, err_msg=name)


OPTIMIZERS = {
    "adam": (lambda ps: rustorch.optim.Adam(ps, lr=0.01, weight_decay=0.1),
             lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1, foreach=False)),
    "adamw": (lambda ps: rustorch.optim.AdamW(ps, lr=0.01, amsgrad=True),
              lambda ps: torch.optim.AdamW(ps, lr=0.01, amsgrad=True, foreach=False)),
    "sgd_momentum": (lambda ps: rustorch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, foreach=False)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_trajectory_with_lr_changes_and_zero_grad_to_zeros_matches_torch(name):
    """Only the loss is read between steps, so every update runs inside the next step's
    program; lr changes through the group dict and set_lr, zero_grad alternates both ways."""
    make_rt, make_th = OPTIMIZERS[name]
    rt, th = _twin_models()
    rt_opt, th_opt = make_rt(rt.parameters()), make_th(th.parameters())
    rng = np.random.default_rng(0)
    for step in range(12):
        if step == 4:
            rt_opt.param_groups[0]["lr"] = th_opt.param_groups[0]["lr"] = 0.003
        if step == 8:
            rt_opt.set_lr(0.02)
            th_opt.param_groups[0]["lr"] = 0.02
        rt_opt.zero_grad(set_to_none=step % 2 == 0)
        th_opt.zero_grad(set_to_none=step % 2 == 0)
        loss, t_loss = _losses(rt, th, *_batch(rng))
        loss.backward()
        t_loss.backward()
        rt_opt.step()
        th_opt.step()
        assert_close(loss.item(), t_loss.item(), err_msg=f"loss at step {step}")
    assert all(p._pending_leaf for p in rt.parameters())  # the last update has not run yet
    assert_params(rt, th)
    _assert_state(rt_opt, th_opt, rt, th)


def test_scheduler_and_gradient_clipping_between_backward_and_step_match_torch():
    rt, th = _twin_models()
    rt_opt = rustorch.optim.SGD(rt.parameters(), lr=0.1, momentum=0.5)
    th_opt = torch.optim.SGD(th.parameters(), lr=0.1, momentum=0.5, foreach=False)
    rt_sched = rustorch.optim.lr_scheduler.StepLR(rt_opt, step_size=3, gamma=0.5)
    th_sched = torch.optim.lr_scheduler.StepLR(th_opt, step_size=3, gamma=0.5)
    rng = np.random.default_rng(1)
    for step in range(10):
        rt_opt.zero_grad()
        th_opt.zero_grad()
        loss, t_loss = _losses(rt, th, *_batch(rng))
        loss.backward()
        t_loss.backward()
        if step % 2:
            norm = rustorch.nn.utils.clip_grad_norm_(rt.parameters(), 0.5)
            t_norm = torch.nn.utils.clip_grad_norm_(th.parameters(), 0.5)
            assert_close(norm.item(), t_norm.item())
        else:
            rustorch.nn.utils.clip_grad_value_(rt.parameters(), 0.05)
            torch.nn.utils.clip_grad_value_(th.parameters(), 0.05)
        rt_opt.step()
        th_opt.step()
        rt_sched.step()
        th_sched.step()
        assert_close(loss.item(), t_loss.item(), err_msg=f"loss at step {step}")
        assert rt_opt.param_groups[0]["lr"] == pytest.approx(th_opt.param_groups[0]["lr"])
    assert_params(rt, th)
    _assert_state(rt_opt, th_opt, rt, th)


def test_reads_between_steps_see_the_updated_values():
    """``p``, ``p.data``, ``p.grad``, ``optimizer.state`` and a no_grad evaluation read after
    ``step()`` see PyTorch's values, and the trajectory goes on unchanged."""
    rt, th = _twin_models()
    rt_opt = rustorch.optim.Adam(rt.parameters(), lr=0.02)
    th_opt = torch.optim.Adam(th.parameters(), lr=0.02, foreach=False)
    rng = np.random.default_rng(2)
    x_eval = rng.standard_normal((4, 5)).astype(np.float32)
    for step in range(9):
        loss, t_loss = _twin_step(rt, th, rt_opt, th_opt, rng)
        rt_first, th_first = next(rt.parameters()), next(th.parameters())
        kind = step % 5
        if kind == 0:
            assert_close(np.asarray(rt_first.detach()), th_first)
        elif kind == 1:
            assert_close(rt_first.data.numpy(), th_first.data)
            assert_close(np.asarray(rt_first.grad), th_first.grad)
        elif kind == 2:
            with rustorch.no_grad():
                out = rt(rustorch.tensor(x_eval))
            with torch.no_grad():
                t_out = th(to_torch(x_eval))
            assert_close(out.numpy(), t_out)
        elif kind == 3:
            _assert_state(rt_opt, th_opt, rt, th)
        assert_close(loss.item(), t_loss.item(), err_msg=f"loss at step {step}")
    assert_params(rt, th)


def test_two_param_groups_and_two_optimizers_match_torch():
    rt, th = _twin_models()
    rt_layers, th_layers = list(rt), list(th)
    rt_opt = rustorch.optim.Adam([{"params": rt_layers[0].parameters()},
                                  {"params": rt_layers[2].parameters(), "lr": 0.05}], lr=0.01)
    th_opt = torch.optim.Adam([{"params": th_layers[0].parameters()},
                               {"params": th_layers[2].parameters(), "lr": 0.05}], lr=0.01, foreach=False)
    rt_sgd = rustorch.optim.SGD(rt_layers[6].parameters(), lr=0.1, momentum=0.9)
    th_sgd = torch.optim.SGD(th_layers[6].parameters(), lr=0.1, momentum=0.9, foreach=False)
    rng = np.random.default_rng(3)
    for step in range(8):
        for opt in (rt_opt, th_opt, rt_sgd, th_sgd):
            opt.zero_grad()
        loss, t_loss = _losses(rt, th, *_batch(rng))
        loss.backward()
        t_loss.backward()
        if step == 5:
            rt_opt.param_groups[1]["lr"] = th_opt.param_groups[1]["lr"] = 0.001
        for opt in (rt_opt, th_opt, rt_sgd, th_sgd):
            opt.step()
        assert_close(loss.item(), t_loss.item(), err_msg=f"loss at step {step}")
    assert_params(rt, th)
    _assert_state(rt_opt, th_opt, rt, th)


def test_state_dict_round_trip_mid_run_continues_torch_trajectory():
    """Save the model and the optimizer after a pending step, load both into fresh objects
    and go on: the trajectory is torch's uninterrupted one."""
    rt, th = _twin_models()
    rt_opt = rustorch.optim.AdamW(rt.parameters(), lr=0.01)
    th_opt = torch.optim.AdamW(th.parameters(), lr=0.01, foreach=False)
    rng = np.random.default_rng(4)
    for step in range(10):
        if step == 5:
            model_state, opt_state = rt.state_dict(), rt_opt.state_dict()
            rt, _ = _twin_models()
            rt.load_state_dict(model_state)
            rt_opt = rustorch.optim.AdamW(rt.parameters(), lr=0.5)
            rt_opt.load_state_dict(opt_state)
            assert rt_opt.param_groups[0]["lr"] == 0.01
        loss, t_loss = _twin_step(rt, th, rt_opt, th_opt, rng)
        assert_close(loss.item(), t_loss.item(), err_msg=f"loss at step {step}")
    assert_params(rt, th)
    _assert_state(rt_opt, th_opt, rt, th)


def test_steps_without_a_program_between_them_match_torch():
    """Two steps on the same gradients with nothing evaluated between them: the first update
    runs at once when the second is recorded."""
    rt, th = _twin_models()
    rt_opt = rustorch.optim.Adam(rt.parameters(), lr=0.01)
    th_opt = torch.optim.Adam(th.parameters(), lr=0.01, foreach=False)
    loss, t_loss = _losses(rt, th, *_batch(np.random.default_rng(5)))
    loss.backward()
    t_loss.backward()
    for _ in range(3):
        rt_opt.step()
        th_opt.step()
    assert_params(rt, th)
    _assert_state(rt_opt, th_opt, rt, th)


@contextlib.contextmanager
def _count_programs():
    """Every XLA execution (``calls``) and every lowering to a new program (``lowered``) while
    inside. JAX's C++ fast path is turned off so that each execution passes through Python;
    JAX's caches are emptied so that no function keeps a fast path from before."""
    calls, lowered = [], []
    execute = pxla.ExecuteReplicated.__call__

    def counted(self, *args, **kwargs):
        calls.append(self.name)
        return execute(self, *args, **kwargs)

    def on_event(event, duration, **kwargs):
        if event == dispatch.JAXPR_TO_MLIR_MODULE_EVENT:
            lowered.append(event)

    _graph.clear_cache()
    jax.clear_caches()
    monitoring.register_event_duration_secs_listener(on_event)
    try:
        with mock.patch.object(pjit, "_get_fastpath_data", lambda *a, **k: None), \
                mock.patch.object(pxla.ExecuteReplicated, "__call__", counted):
            yield calls, lowered
    finally:
        monitoring.unregister_event_duration_listener(on_event)
        _graph.clear_cache()


@pytest.mark.parametrize("set_to_none", [True, False])
def test_a_steady_training_step_is_one_program_and_compiles_nothing(set_to_none):
    """zero_grad, forward, backward, step, loss.item(): one XLA execution per step after the
    warm-up, with lr changing every step, and no new program (facade or JAX)."""
    rt, _ = _twin_models()
    opt = rustorch.optim.Adam(rt.parameters(), lr=0.01)
    rng = np.random.default_rng(6)
    batches = [tuple(rustorch.tensor(a) for a in _batch(rng)) for _ in range(8)]
    with _count_programs() as (calls, lowered):
        per_step, compiles, lowerings = [], [], []
        for step, (x, y) in enumerate(batches):
            before, compiled, lowered_before = len(calls), rustorch.compile_count(), len(lowered)
            opt.set_lr(0.01 / (step + 1))
            opt.zero_grad(set_to_none=set_to_none)
            loss = rustorch.nn.functional.mse_loss(rt(x), y)
            loss.backward()
            opt.step()
            loss.item()
            per_step.append(len(calls) - before)
            compiles.append(rustorch.compile_count() - compiled)
            lowerings.append(len(lowered) - lowered_before)
    # Step 0 compiles the step program: the optimizer recorded its first update ahead (with
    # nothing to apply), so step 1 replays it. Step 2 with zero_grad to zeros is the first
    # update whose gradients are accumulated onto zeros (one more program); from step 3 on
    # nothing new is compiled.
    assert per_step[3:] == [1] * 5, per_step
    assert compiles[3:] == [0] * 5, compiles
    assert lowerings[3:] == [0] * 5, lowerings
    assert compiles[0] >= 1 and compiles[1] == 0, compiles
    if set_to_none:
        assert compiles[1:] == [0] * 7, compiles


ALL_OPTIMIZERS = [
    lambda ps: rustorch.optim.Adam(ps, lr=0.1, weight_decay=0.1, amsgrad=True),
    lambda ps: rustorch.optim.AdamW(ps, lr=0.1),
    lambda ps: rustorch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
    lambda ps: rustorch.optim.RMSprop(ps, lr=0.1, momentum=0.5, centered=True, weight_decay=0.1),
    lambda ps: rustorch.optim.Adagrad(ps, lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5),
    lambda ps: rustorch.optim.Adadelta(ps, lr=0.5, weight_decay=0.1),
    lambda ps: rustorch.optim.Adamax(ps, lr=0.1, weight_decay=0.1),
    lambda ps: rustorch.optim.NAdam(ps, lr=0.1, weight_decay=0.1, decoupled_weight_decay=True),
    lambda ps: rustorch.optim.RAdam(ps, lr=0.1, weight_decay=0.1),
]


@pytest.mark.parametrize("make", ALL_OPTIMIZERS)
def test_the_first_step_recorded_ahead_changes_no_value_and_no_state(make):
    """An optimizer records its first update ahead (learning rate 0, zero gradients) so that
    the first training step compiles the program the later ones replay: parameters stay
    bit-identical, and the optimizer shows the state PyTorch shows before any step."""
    rt, _ = _twin_models()
    before = [p.detach().numpy().copy() for p in rt.parameters()]
    opt = make(rt.parameters())
    shown = opt.state_dict()["state"]
    opt.zero_grad()
    assert any(p._pending_leaf for p in rt.parameters())
    for p, value in zip(rt.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), value)
    assert not any(p._pending_leaf for p in rt.parameters())
    assert opt.state_dict()["state"].keys() == shown.keys()  # Adagrad's from construction, else none
    assert all(p.grad is None for p in rt.parameters())


def test_evaluations_and_reads_between_steps_add_no_training_program():
    """An evaluation (or a read of a parameter) runs the pending update where it happens; the
    next zero_grad() records a step that changes nothing in its place, so the training step
    that follows is the program every step runs. Values stay torch's."""
    rt, th = _twin_models()
    rt_opt = rustorch.optim.Adam(rt.parameters(), lr=0.01, weight_decay=0.1)
    th_opt = torch.optim.Adam(th.parameters(), lr=0.01, weight_decay=0.1, foreach=False)
    rng = np.random.default_rng(11)
    x_eval = rng.standard_normal((4, 5)).astype(np.float32)

    def epoch(steps):
        for _ in range(steps):
            loss, t_loss = _twin_step(rt, th, rt_opt, th_opt, rng)
            assert_close(loss.item(), t_loss.item())
        with rustorch.no_grad():
            out = rt(rustorch.tensor(x_eval)).numpy()
        assert_close(out, th(to_torch(x_eval)).detach())
        assert_close(next(rt.parameters()).detach().numpy(), next(th.parameters()).detach())

    epoch(2)
    compiled = rustorch.compile_count()
    for steps in (2, 1, 3):
        epoch(steps)
    assert rustorch.compile_count() == compiled
    assert_params(rt, th)
    _assert_state(rt_opt, th_opt, rt, th)


def test_reading_a_parameter_after_step_runs_the_update_once():
    rt, _ = _twin_models()
    opt = rustorch.optim.SGD(rt.parameters(), lr=0.1)
    x, y = (rustorch.tensor(a) for a in _batch(np.random.default_rng(7)))
    rustorch.nn.functional.mse_loss(rt(x), y).backward()
    opt.step()
    first = next(rt.parameters())
    assert first._pending_leaf
    with _count_programs() as (calls, _):
        value = first.detach().numpy()
        rest = [p.detach().numpy() for p in rt.parameters()]
    assert len(calls) == 1, calls  # the update of every parameter, once
    np.testing.assert_array_equal(value, rest[0])
    assert not any(p._pending_leaf for p in rt.parameters())


def test_the_step_program_donates_the_replaced_parameters_and_state():
    rt, _ = _twin_models()
    opt = rustorch.optim.Adam(rt.parameters(), lr=0.01)
    rng = np.random.default_rng(8)
    donated = []
    split = _graph._donated_args

    def spy(leaves, positions):
        kept, arrays = split(leaves, positions)
        donated.append(arrays)
        return kept, arrays

    with mock.patch.object(_graph, "_donated_args", spy):
        for _ in range(4):
            x, y = (rustorch.tensor(a) for a in _batch(rng))
            opt.zero_grad()
            rustorch.nn.functional.mse_loss(rt(x), y).backward()
            opt.step()
    n_params = len(list(rt.parameters()))
    # Every step donates the old parameters and the moments and step counts (the first step
    # those of the update recorded ahead, which change nothing).
    assert [len(arrays) for arrays in donated] == [4 * n_params] * 4
    assert all(array.is_deleted() for arrays in donated for array in arrays)


def test_values_held_across_a_step_are_not_donated():
    """A model or optimizer state dict taken before a step, and a result recorded on the old
    weights, keep their values (the step copies what it would otherwise reuse)."""
    rt, th = _twin_models()
    rt_opt = rustorch.optim.Adam(rt.parameters(), lr=0.05)
    th_opt = torch.optim.Adam(th.parameters(), lr=0.05, foreach=False)
    rng = np.random.default_rng(9)
    x_np, y_np = _batch(rng)
    for step in range(4):
        rt_opt.zero_grad()
        th_opt.zero_grad()
        loss, t_loss = _losses(rt, th, *_batch(rng))
        loss.backward()
        t_loss.backward()
        if step == 2:
            model_state = rt.state_dict()
            opt_state = rt_opt.state_dict()
            old_out = rt(rustorch.tensor(x_np))
            t_old_out = th(to_torch(x_np)).detach().clone()
            t_model_state = {k: v.clone() for k, v in th.state_dict().items()}
        rt_opt.step()
        th_opt.step()
    assert_close(old_out.detach().numpy(), t_old_out)
    for key, value in t_model_state.items():
        assert_close(np.asarray(model_state[key]), value, err_msg=key)
    assert int(np.asarray(opt_state["state"][0]["step"])) == 2
    assert_params(rt, th)


def test_donated_buffers_are_reused_in_place():
    """Each new parameter and state array takes the buffer of the one it replaces: the
    compiled step program copies none of its donated inputs."""
    rt, _ = _twin_models()
    opt = rustorch.optim.Adam(rt.parameters(), lr=0.01, amsgrad=True)
    rng = np.random.default_rng(10)
    texts = []
    run = _graph.run

    def spy(program, key, plan, cotangent=None):
        if key.donated:
            kept = [None if i in key.donated else leaf for i, leaf in enumerate(plan.leaves)]
            donated = [jax.ShapeDtypeStruct(plan.leaves[i].shape, plan.leaves[i].dtype) for i in key.donated]
            texts.append(program.lower(tuple(kept), tuple(donated)).compile().as_text())
        return run(program, key, plan, cotangent)

    with mock.patch.object(_graph, "run", spy):
        for _ in range(3):
            x, y = (rustorch.tensor(a) for a in _batch(rng))
            opt.zero_grad()
            rustorch.nn.functional.mse_loss(rt(x), y).backward()
            opt.step()
    assert len(texts) == 3
    for text in texts:
        assert "copy(%donated" not in text
