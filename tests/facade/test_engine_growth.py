"""Bounded growth: what a training loop keeps does not pin earlier steps' graphs, pending
chains are evaluated before they grow without bound, and the program cache is an LRU."""
import gc
import warnings

import jax
import numpy as np
import rustorch
from rustorch import nn
from rustorch.stateful import _graph
from tests.facade.engine_utils import backend_compiles
from tests.torch_compare import assert_close


def _live_arrays() -> int:
    gc.collect()
    return len(jax.live_arrays())


def _model():
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def test_running_loss_sum_holds_flat_memory(rng):
    """running = running + loss across steps: PyTorch frees each step's graph after backward."""
    model = _model()
    opt = rustorch.optim.SGD(model.parameters(), lr=0.01)
    criterion = nn.CrossEntropyLoss()
    running, expected, counts = 0.0, 0.0, []
    for step in range(100):
        x = rustorch.tensor(rng.standard_normal((32, 8), dtype=np.float32))
        y = rustorch.tensor(rng.integers(0, 3, 32))
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        running = running + loss
        expected += loss.item()
        if step % 10 == 9:
            counts.append(_live_arrays())
        if step == 39:
            compiles = backend_compiles()
    assert backend_compiles() == compiles  # the periodic evaluation of the sum is one program
    assert running.requires_grad  # as in torch: the sum of losses keeps (freed) history
    assert_close(running.item(), expected, rtol=1e-5)
    settled = counts[2:]
    # Each step adds ~7 arrays (a batch, its targets, parameter snapshots) when graphs are
    # pinned; here the count oscillates within one pending-age window.
    assert max(settled) - min(settled) <= 2 * _graph.MAX_PENDING_AGE, counts
    assert counts[-1] <= counts[2] + _graph.MAX_PENDING_AGE, counts


def test_kept_losses_do_not_pin_batches_or_parameter_snapshots(rng):
    model = _model()
    opt = rustorch.optim.SGD(model.parameters(), lr=0.01)
    criterion = nn.CrossEntropyLoss()
    kept, counts = [], []
    for step in range(40):
        x = rustorch.tensor(rng.standard_normal((16, 8), dtype=np.float32))
        y = rustorch.tensor(rng.integers(0, 3, 16))
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        kept.append(loss)  # the loss value itself is the only array each step adds
        if step in (9, 39):
            counts.append(_live_arrays())
    assert counts[1] - counts[0] <= 30 * 1.5, counts
    assert all(v._node is None or v._node.inputs == () for v in kept[:-1])


def test_a_pending_chain_is_evaluated_before_it_outgrows_its_age(rng):
    """A value extended every step but never read is computed once it outlives
    MAX_PENDING_AGE evaluations, and the steps before it are released."""
    x = rustorch.tensor([1.0, 2.0])
    total = rustorch.zeros(2)
    for step in range(3 * _graph.MAX_PENDING_AGE):
        total = total + x * float(step)
        float(x.sum() * float(step))  # an unrelated evaluation per step
    assert total._node.depth <= _graph.MAX_PENDING_AGE + 2
    steps = 3 * _graph.MAX_PENDING_AGE
    np.testing.assert_allclose(np.asarray(total), np.array([1.0, 2.0]) * sum(range(steps)))


def test_program_cache_is_a_bounded_lru():
    size = _graph._programs.size
    _graph._programs.size = 4
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rustorch.stateful._graph.RecompileWarning)
            for n in range(101, 111):  # shapes no other test compiles
                float(rustorch.ones(n).sum() * 2.0)
                assert _graph.program_cache_size() <= 4
        count = rustorch.compile_count()
        float(rustorch.ones(110).sum() * 2.0)  # the most recent programs are kept
        assert rustorch.compile_count() == count
        float(rustorch.ones(101).sum() * 2.0)  # the oldest was dropped
        assert rustorch.compile_count() == count + 1
    finally:
        _graph._programs.size = size


def test_detached_state_between_windows_does_not_chain_programs(rng):
    """An evaluation loop carrying ``h = h.detach()`` across windows (truncated BPTT under
    no_grad) compiles one program: the detached state is computed with each window's loss, so
    the next window does not recompute the dropped original."""
    rnn, head = nn.LSTM(4, 5), nn.Linear(5, 1)
    data = rustorch.tensor(rng.standard_normal((60, 2, 4), dtype=np.float32))
    h = (rustorch.zeros(1, 2, 5), rustorch.zeros(1, 2, 5))
    compiles = None
    with rustorch.no_grad():
        for window, start in enumerate(range(0, 60, 6)):
            out, h = rnn(data[start:start + 6], h)
            h = tuple(v.detach() for v in h)
            head(out).mean().item()
            if window == 2:
                compiles = backend_compiles()
    assert backend_compiles() == compiles
