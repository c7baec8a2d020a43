"""Python numbers and slice starts are program inputs: loops that change them replay one
program (counted by rustorch and by JAX's own compile events); promotion stays PyTorch's."""
import logging
import time
import warnings

import numpy as np
import pytest
import torch

import rustorch
from rustorch import nn
from tests.facade.engine_utils import backend_compiles, no_jax_compiles
from tests.torch_compare import assert_close


def test_moving_slice_start_replays_one_program(rng):
    """word_language_model's get_batch: source[i:i + bptt] with i moving every step."""
    data = rng.standard_normal((200, 3), dtype=np.float32)
    source, reference = rustorch.tensor(data), torch.from_numpy(data)
    layer = nn.Linear(3, 2)
    outs = []
    for step, i in enumerate(range(0, 150, 35)):
        if step == 2:
            counts = (rustorch.compile_count(), backend_compiles())
        batch = source[i:i + 35]
        target = source[i + 1:i + 1 + 35, 0]
        loss = ((layer(batch)[:, 0] - target) ** 2).mean()
        loss.backward()
        outs.append(np.asarray(batch))
        np.testing.assert_array_equal(outs[-1], reference[i:i + 35].numpy())
    assert (rustorch.compile_count(), backend_compiles()) == counts


def test_int_index_that_moves_replays_one_program(rng):
    data = rng.standard_normal((10, 4), dtype=np.float32)
    x = rustorch.tensor(data)
    float(x[0].sum())
    float(x[0, 1:3].sum())
    with no_jax_compiles(), rustorch.forbid_recompiles():
        for i in range(1, 10):
            assert_close(float(x[i].sum()), data[i].sum())
            assert_close(float(x[-i, 1:3].sum()), data[-i, 1:3].sum())


def test_changing_python_float_replays_one_program(rng):
    """loss * scale with a scale that changes every step (loss scaling, schedules)."""
    layer = nn.Linear(3, 1)
    x = rustorch.tensor(rng.standard_normal((4, 3), dtype=np.float32))
    for warm in (0.5, 0.25):  # the second step also compiles the eager .grad accumulation
        (layer(x).mean() * warm + 1).backward()
    with no_jax_compiles(), rustorch.forbid_recompiles():
        for step in range(1, 6):
            scale = 1.0 / (step + 1.7)
            loss = layer(x).mean() * scale + step  # a float and an int, both changing
            loss.backward()
            assert loss.dtype == np.float32


def test_setitem_loop_over_200_elements(rng):
    values = rng.standard_normal(200).astype(np.float32)
    y = rustorch.zeros(200)
    started = time.perf_counter()
    before = backend_compiles()
    for idx in range(200):
        y[idx] = float(values[idx])
    result = np.asarray(y)
    elapsed = time.perf_counter() - started
    reference = torch.zeros(200)
    for idx in range(200):
        reference[idx] = float(values[idx])
    np.testing.assert_array_equal(result, reference.numpy())
    assert backend_compiles() - before <= 1, backend_compiles() - before
    y2 = rustorch.zeros(200)
    with no_jax_compiles():
        for idx in range(200):
            y2[idx] = float(values[idx])
        np.testing.assert_array_equal(np.asarray(y2), result)
    assert elapsed < 10  # 201 compiles took 5.7 s on an idle machine; one is well under that


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("scalar", [2.5, 3, -1.25])
def test_python_scalar_promotion_is_torch_s(dtype, scalar):
    data = np.array([1, -2, 3], dtype=dtype)
    rt, th = rustorch.tensor(data), torch.tensor(data)
    for op in (lambda a: a * scalar, lambda a: scalar - a, lambda a: a + scalar, lambda a: a / scalar,
               lambda a: a > scalar):
        got, expected = op(rt), op(th)
        assert np.dtype(got.dtype) == np.dtype(str(expected.dtype).replace("torch.", "")), (got.dtype, expected.dtype)
        assert_close(np.asarray(got).astype(np.float64), expected.double())


def test_explain_recompiles_names_a_static_value_that_changes(rng, caplog):
    x = rustorch.tensor(rng.standard_normal((20,), dtype=np.float32))
    float(x[0:3].sum())
    rustorch.explain_recompiles(True)
    try:
        with caplog.at_level(logging.WARNING, logger="rustorch"):
            float(x[0:5].sum())  # a slice length decides a shape: static
    finally:
        rustorch.explain_recompiles(False)
    assert any("static arguments" in r.message and "5" in r.message for r in caplog.records)


def test_recompile_warning_names_the_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(21, 32):
            float((rustorch.ones(n) * 2.0).sum())  # the input shape changes every call
    found = [w for w in caught if issubclass(w.category, rustorch.stateful._graph.RecompileWarning)]
    assert len(found) == 1
    assert found[0].filename == __file__ and "programs of the same ops" in str(found[0].message)
    assert "test_engine_scalars.py" in str(found[0].message)


def test_random_batches_drawn_every_step_replay_one_program():
    """regression's get_batch: torch.randn every step; each draw differs, the sequence is the
    seed's, and the training step is compiled once."""
    model = nn.Linear(4, 1)
    draws = []
    for seed in (7, 7, 8):
        rustorch.manual_seed(seed)
        for step in range(4):
            if (seed, step) == (7, 2):
                counts = (rustorch.compile_count(), backend_compiles())
            x = rustorch.randn(8, 4)
            model(x).pow(2).mean().backward()
            draws.append(np.asarray(x))
    assert (rustorch.compile_count(), backend_compiles()) == counts
    assert not np.array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(np.stack(draws[:4]), np.stack(draws[4:8]))
    assert not np.array_equal(draws[0], draws[8])
