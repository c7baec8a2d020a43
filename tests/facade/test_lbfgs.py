"""``optim.LBFGS`` against ``torch.optim.LBFGS``: the same trajectory from the same start, and
the same state dict, exchanged both ways."""
import numpy as np
import pytest
import torch

import rustorch
from tests.torch_compare import assert_close


def _problem(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = np.sin(x @ rng.standard_normal((5, 1))).astype(np.float32)
    w1 = (rng.standard_normal((8, 5)) * 0.5).astype(np.float32)
    b1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((1, 8)) * 0.5).astype(np.float32)
    return x, y, [w1, b1, w2]


def _setup(lib, x, y, init, **options):
    """The problem's parameters (copies of ``init``), an LBFGS over them and its closure."""
    params = [lib.tensor(np.array(v), requires_grad=True) for v in init]
    x, y = lib.tensor(x), lib.tensor(y)
    optimizer = lib.optim.LBFGS(params, **options)

    def closure():
        optimizer.zero_grad()
        hidden = lib.tanh(x @ params[0].t() + params[1])
        loss = ((hidden @ params[2].t() - y) ** 2).mean()
        loss.backward()
        return loss
    return params, optimizer, closure


def _values(params):
    return [np.array(p.detach().numpy()) for p in params]


def _counts(optimizer, params):
    state = optimizer.state[params[0]]
    return state["func_evals"], state["n_iter"], len(state["old_dirs"])


def _run(lib, x, y, init, steps, **options):
    params, optimizer, closure = _setup(lib, x, y, init, **options)
    losses = [optimizer.step(closure).item() for _ in range(steps)]
    return _values(params), losses, _counts(optimizer, params)


# Dozens of L-BFGS iterations on a non-convex model amplify float32 rounding: torch's own
# float32 and float64 runs part by ~1e-3 after 60 iterations. The comparisons therefore run a
# few iterations (steps x max_iter), where both libraries must agree to float32 rounding.
@pytest.mark.parametrize("options", [
    dict(lr=0.8, max_iter=4), dict(lr=1, max_iter=4, line_search_fn="strong_wolfe"),
    dict(lr=0.5, max_iter=3, history_size=2), dict(lr=1, max_iter=3, history_size=2, line_search_fn="strong_wolfe"),
    dict(lr=1, max_iter=4, max_eval=5, line_search_fn="strong_wolfe"),
    dict(lr=0.7, max_iter=3, tolerance_change=1e-3),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_lbfgs_follows_torch(options, seed):
    x, y, init = _problem(seed)
    ours, our_losses, our_counts = _run(rustorch, x, y, init, 3, **options)
    theirs, their_losses, their_counts = _run(torch, x, y, init, 3, **options)
    assert our_counts == their_counts
    np.testing.assert_allclose(our_losses, their_losses, rtol=2e-5, atol=1e-7)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)


def test_lbfgs_stops_at_an_optimum_and_checks_its_arguments():
    w = rustorch.zeros(3, requires_grad=True)
    optimizer = rustorch.optim.LBFGS([w])

    def closure():
        optimizer.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == 0.0  # the gradient is zero: no iteration
    assert optimizer.state[w]["n_iter"] == 0
    with pytest.raises(ValueError, match="line_search_fn"):
        rustorch.optim.LBFGS([w], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="Invalid learning rate"):
        rustorch.optim.LBFGS([w], lr=-1)
    with pytest.raises(ValueError, match="parameter groups"):
        rustorch.optim.LBFGS([{"params": [w]}, {"params": [rustorch.zeros(1, requires_grad=True)]}])
    with pytest.raises(TypeError, match="closure"):
        optimizer.step()


# ------------------------------------------------------------------------------ state_dict
STATE_OPTIONS = [
    dict(lr=0.8, max_iter=4), dict(lr=1, max_iter=4, line_search_fn="strong_wolfe"),
    dict(lr=0.5, max_iter=3, history_size=2), dict(lr=1, max_iter=3, history_size=2, line_search_fn="strong_wolfe"),
    dict(lr=1, max_iter=1),  # after one step: t a 0-d tensor, H_diag the int 1, no 'al'
]


def _to_numpy(value):
    """torch's state dict with numpy copies in place of its tensors (torch's optimizer keeps
    changing the tensors its state dict holds)."""
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_numpy(v) for v in value]
    return value


def _assert_same_state(ours, theirs, where="state"):
    """Same structure, torch's Python numbers as Python numbers, tensors as rustorch tensors of
    torch's shapes and values (float32 rounding apart)."""
    if isinstance(theirs, (torch.Tensor, rustorch.Tensor)):
        assert isinstance(ours, rustorch.Tensor), f"{where}: {type(ours).__name__}"
        assert_close(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol_scale=1e-5, err_msg=where)
    elif isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for key in theirs:
            _assert_same_state(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_same_state(a, b, f"{where}[{i}]")
    elif isinstance(theirs, float):
        assert type(ours) is float and ours == pytest.approx(theirs, rel=2e-5), where
    else:
        assert type(ours) is type(theirs) and ours == theirs, where


@pytest.mark.parametrize("options", STATE_OPTIONS)
def test_state_dict_matches_torch(options):
    x, y, init = _problem(0)
    ours, our_opt, our_closure = _setup(rustorch, x, y, init, **options)
    theirs, their_opt, their_closure = _setup(torch, x, y, init, **options)
    _assert_same_state(our_opt.state_dict(), their_opt.state_dict())  # no state before a step
    for _ in range(3):
        our_opt.step(our_closure)
        their_opt.step(their_closure)
        _assert_same_state(our_opt.state_dict(), their_opt.state_dict())


@pytest.mark.parametrize("options", STATE_OPTIONS)
def test_resumed_run_matches_uninterrupted_run_and_torch(options, tmp_path):
    """Save after 2 steps (through rustorch.save/load), resume in a fresh optimizer for 2 more:
    the same parameters as the run that went on, and as torch's."""
    x, y, init = _problem(1)
    params, optimizer, closure = _setup(rustorch, x, y, init, **options)
    for _ in range(2):
        optimizer.step(closure)
    checkpoint = {"params": _values(params), "optimizer": optimizer.state_dict()}
    for _ in range(2):  # the state dict taken above is a snapshot: these steps leave it as it was
        optimizer.step(closure)
    rustorch.save(checkpoint, tmp_path / "lbfgs.pth")
    loaded = rustorch.load(tmp_path / "lbfgs.pth")
    _assert_same_state(loaded["optimizer"], checkpoint["optimizer"])  # numbers stay numbers
    checkpoint = loaded

    resumed, resumed_opt, resumed_closure = _setup(rustorch, x, y, checkpoint["params"])
    resumed_opt.load_state_dict(checkpoint["optimizer"])
    assert resumed_opt.param_groups[0]["history_size"] == options.get("history_size", 100)
    for _ in range(2):
        resumed_opt.step(resumed_closure)
    for a, b in zip(_values(resumed), _values(params)):
        np.testing.assert_array_equal(a, b)
    assert _counts(resumed_opt, resumed) == _counts(optimizer, params)

    theirs, _, their_counts = _run(torch, x, y, init, 4, **options)
    assert _counts(resumed_opt, resumed) == their_counts
    for a, b in zip(_values(resumed), theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("options", STATE_OPTIONS)
def test_torch_state_dict_loads_and_continues_as_torch(options):
    x, y, init = _problem(2)
    theirs, their_opt, their_closure = _setup(torch, x, y, init, **options)
    for _ in range(2):
        their_opt.step(their_closure)
    saved = _to_numpy(their_opt.state_dict())

    ours, our_opt, our_closure = _setup(rustorch, x, y, _values(theirs))  # default options
    our_opt.load_state_dict(saved)
    assert our_opt.param_groups[0] == dict(their_opt.param_groups[0], params=ours)
    _assert_same_state(our_opt.state_dict(), their_opt.state_dict())
    for _ in range(2):
        our_loss, their_loss = our_opt.step(our_closure).item(), their_opt.step(their_closure).item()
        assert our_loss == pytest.approx(their_loss, rel=2e-5)
    assert _counts(our_opt, ours) == _counts(their_opt, theirs)
    for a, b in zip(_values(ours), _values(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)


def test_load_state_dict_checks_the_state_dict_before_changing_anything():
    x, y, init = _problem(0)
    params, optimizer, closure = _setup(rustorch, x, y, init, max_iter=3)
    _, their_opt, their_closure = _setup(torch, x, y, init, max_iter=3)
    optimizer.step(closure)
    their_opt.step(their_closure)
    good = optimizer.state_dict()

    def altered(group=None, **entries):
        return {"state": {0: dict(good["state"][0], **entries)},
                "param_groups": [dict(good["param_groups"][0], **(group or {}))]}

    # A group with the wrong number of parameters: torch's ValueError, with the counts added.
    short = altered({"params": [0, 1]})
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        their_opt.load_state_dict(_to_numpy(short))
    with pytest.raises(ValueError, match=r"doesn't match the size of optimizer's group: param_groups\[0\] "
                                         r"has 2 parameters, this optimizer's has 3"):
        optimizer.load_state_dict(short)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optimizer.load_state_dict({"state": {}, "param_groups": good["param_groups"] * 2})
    with pytest.raises(TypeError, match="'state' and 'param_groups'"):
        optimizer.load_state_dict(good["state"])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optimizer.load_state_dict(altered({"lr": -1.0}))
    with pytest.raises(ValueError, match="line_search_fn"):
        optimizer.load_state_dict(altered({"line_search_fn": "backtracking"}))
    with pytest.raises(ValueError, match=r"state entries \[1\]"):
        optimizer.load_state_dict({"state": {**good["state"], 1: {}}, "param_groups": good["param_groups"]})
    with pytest.raises(ValueError, match=r"state\[0\]\['d'\] has shape \(55,\), expected \(56,\)"):
        optimizer.load_state_dict(altered(d=np.zeros(55, np.float32)))
    with pytest.raises(ValueError, match=r"state\[0\]\['old_dirs'\]\[1\] has shape \(\), expected \(56,\)"):
        optimizer.load_state_dict(altered(old_dirs=[np.zeros(56, np.float32), np.float32(0.0)]))
    with pytest.raises(ValueError, match=r"missing \['prev_flat_grad'\]"):
        optimizer.load_state_dict({"state": {0: {k: v for k, v in good["state"][0].items() if k != "prev_flat_grad"}},
                                   "param_groups": good["param_groups"]})
    with pytest.raises(ValueError, match="different lengths"):
        optimizer.load_state_dict(altered(ro=[]))
    # Nothing changed: the run goes on as torch's.
    _assert_same_state(optimizer.state_dict(), their_opt.state_dict())
    optimizer.step(closure)
    their_opt.step(their_closure)
    _assert_same_state(optimizer.state_dict(), their_opt.state_dict())
