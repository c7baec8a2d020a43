"""``optim.LBFGS`` against ``torch.optim.LBFGS``: the same trajectory from the same start."""
import numpy as np
import pytest
import torch

import rustorch


def _problem(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = np.sin(x @ rng.standard_normal((5, 1))).astype(np.float32)
    w1 = (rng.standard_normal((8, 5)) * 0.5).astype(np.float32)
    b1 = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((1, 8)) * 0.5).astype(np.float32)
    return x, y, [w1, b1, w2]


def _run(lib, x, y, init, steps, **options):
    params = [lib.tensor(v.copy(), requires_grad=True) for v in init]
    x, y = lib.tensor(x), lib.tensor(y)
    optimizer = lib.optim.LBFGS(params, **options)
    losses = []
    for _ in range(steps):
        def closure():
            optimizer.zero_grad()
            hidden = lib.tanh(x @ params[0].t() + params[1])
            loss = ((hidden @ params[2].t() - y) ** 2).mean()
            loss.backward()
            return loss
        losses.append(optimizer.step(closure).item())
    state = optimizer.state[params[0]]
    return ([np.asarray(p.detach().numpy()) for p in params], losses,
            (state["func_evals"], state["n_iter"], len(state["old_dirs"])))


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
