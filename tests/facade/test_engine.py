"""The record-and-replay engine: caching, side effects, evaluation order, the functional bridge."""
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import rustorch
from rustorch import nn
from tests.torch_compare import assert_close


def _small_net():
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))


def _batch(rng, n=10):
    return (rustorch.tensor(rng.standard_normal((n, 6), dtype=np.float32)),
            rustorch.tensor(rng.integers(0, 3, n).astype(np.int32)))


def test_operations_record_and_compute_nothing_until_needed(rng):
    x, _ = _batch(rng)
    before = rustorch.evaluation_count()
    y = (x * 2 + 1).relu().sum(dim=1)
    assert y.shape == (10,) and y._value is None
    assert rustorch.evaluation_count() == before
    expected = np.maximum(np.asarray(x) * 2 + 1, 0).sum(1)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-6)
    assert rustorch.evaluation_count() == before + 1


def test_shape_errors_surface_at_record_time(rng):
    x, _ = _batch(rng)
    with pytest.raises(ValueError, match=r"Linear.*expected input with 5 features"):
        nn.Linear(5, 2)(x)


def test_forbid_recompiles_catches_a_changing_cache_key(rng):
    model, criterion = _small_net(), nn.CrossEntropyLoss()
    x, y = _batch(rng)
    criterion(model(x), y).backward()
    with rustorch.forbid_recompiles():
        criterion(model(x), y).backward()  # same structure: no compile
        x_other, y_other = _batch(rng, n=12)
        with pytest.raises(rustorch.RecompileError, match="explain_recompiles"):
            criterion(model(x_other), y_other).backward()


def test_explain_recompiles_names_the_changed_leaf(rng, caplog):
    model, criterion = _small_net(), nn.CrossEntropyLoss()
    x, y = _batch(rng)
    criterion(model(x), y).backward()
    rustorch.explain_recompiles(True)
    try:
        with caplog.at_level(logging.WARNING, logger="rustorch"):
            x2, y2 = _batch(rng, n=7)
            criterion(model(x2), y2).backward()
    finally:
        rustorch.explain_recompiles(False)
    assert any("cache miss because" in r.message and "(7, 6)" in r.message for r in caplog.records)


def test_eval_mode_and_train_mode_are_different_programs(rng):
    model = _small_net()
    x, _ = _batch(rng)
    train_out = np.asarray(model(x).detach())
    model.eval()
    eval_out = np.asarray(model(x).detach())
    assert not np.allclose(train_out, eval_out)


def test_item_then_backward_uses_one_forward_and_updates_statistics_once(rng):
    model, criterion = _small_net(), nn.CrossEntropyLoss()
    x, y = _batch(rng)
    loss = criterion(model(x), y)
    value = loss.item()
    loss.backward()
    assert int(model[1].num_batches_tracked.item()) == 1
    assert loss.item() == value
    assert all(p.grad is not None for p in model.parameters())


def test_statistics_of_a_discarded_forward_are_still_applied(rng):
    model = _small_net()
    x, _ = _batch(rng)
    model(x)  # output dropped, as a PyTorch forward in train mode still updates the buffers
    model(x)
    assert int(model[1].num_batches_tracked.item()) == 2


def test_values_the_user_holds_come_from_the_backward_program(rng):
    model, criterion = _small_net(), nn.CrossEntropyLoss()
    x, y = _batch(rng)
    output = model(x)
    loss = criterion(output, y)
    loss.backward()
    count = rustorch.evaluation_count()
    output.argmax(dim=1).eq(y).sum().item()  # only argmax/eq/sum run; output is already known
    assert output._value is not None
    assert rustorch.evaluation_count() == count + 1


def test_parameter_update_after_forward_does_not_change_the_recorded_value(rng):
    layer = nn.Linear(6, 2)
    x, _ = _batch(rng)
    out = layer(x)
    expected = np.asarray(x) @ np.asarray(layer.weight).T + np.asarray(layer.bias)
    with rustorch.no_grad():
        layer.weight.fill_(0.0)
    assert_close(np.asarray(out.detach()), expected)


def test_dropout_masks_are_reproducible_from_manual_seed(rng):
    x = rustorch.ones(4, 50)
    drop = nn.Dropout(0.5)
    rustorch.manual_seed(3)
    first = np.asarray(drop(x))
    second = np.asarray(drop(x))
    rustorch.manual_seed(3)
    again = np.asarray(drop(x))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)


def test_functional_model_bridge_matches_the_facade_and_composes_with_jax(rng):
    rustorch.manual_seed(0)
    model = _small_net()
    apply_fn, params, buffers = rustorch.functional_model(model)
    x, y = _batch(rng)
    model.eval()
    expected = np.asarray(model(x))
    out, new_buffers = jax.jit(apply_fn)(params, buffers, jnp.asarray(x))
    assert_close(out, expected)
    assert new_buffers.keys() == buffers.keys()
    assert model.training is False  # apply_fn leaves the model as it was

    def loss_fn(p, b, key):
        logits, b = apply_fn(p, b, jnp.asarray(x), training=True, key=key)
        return rustorch.functional.cross_entropy(logits, jnp.asarray(y)), b

    grads, trained = jax.jit(jax.grad(loss_fn, has_aux=True))(params, buffers, jax.random.PRNGKey(0))
    assert set(grads) == set(params)
    assert int(trained["1.num_batches_tracked"]) == 1
    per_sample = jax.vmap(lambda row: apply_fn(params, buffers, row[None])[0][0])(jnp.asarray(x))
    assert_close(per_sample, expected)

    new_params = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)
    rustorch.load_functional(model, new_params, trained)
    np.testing.assert_array_equal(np.asarray(model[0].weight), np.asarray(new_params["0.weight"]))
    assert int(model[1].num_batches_tracked.item()) == 1


def test_bridge_training_without_key_for_dropout_is_an_error(rng):
    apply_fn, params, buffers = rustorch.functional_model(_small_net())
    with pytest.raises(ValueError, match="needs key"):
        apply_fn(params, buffers, jnp.zeros((4, 6)), training=True)


def test_bridge_gradients_equal_torch(rng):
    rustorch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 2))
    apply_fn, params, buffers = rustorch.functional_model(model)
    x = rng.standard_normal((4, 6), dtype=np.float32)
    grads = jax.grad(lambda p: apply_fn(p, buffers, jnp.asarray(x))[0].sum())(params)
    reference = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    reference.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})
    reference(torch.from_numpy(x)).sum().backward()
    for name, p in reference.named_parameters():
        assert_close(grads[name], p.grad)
