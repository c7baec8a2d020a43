"""batch_norm and BatchNormState against torch.nn.BatchNorm{1,2,3}d and F.batch_norm.

Most comparisons run through ``jax.jit`` (one compile per configuration keeps the file fast);
``test_eager_equals_jit`` checks that the eager path gives the same numbers.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from rustorch.functional import BatchNormState, batch_norm
from tests.torch_compare import assert_close, to_torch

TORCH_BN = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d,
            5: torch.nn.BatchNorm3d}
BN = jax.jit(batch_norm, static_argnames=("training", "momentum", "eps"))


def _input(rng, shape):
    # Per-channel offsets and scales make the mean/variance cancellation realistic.
    C = shape[1]
    bshape = (1, C) + (1,) * (len(shape) - 2)
    offset = rng.uniform(-4, 4, C).reshape(bshape)
    scale = rng.uniform(0.2, 3, C).reshape(bshape)
    return (rng.standard_normal(shape) * scale + offset).astype(np.float32)


def _torch_module(shape, momentum, affine, track, rng):
    module = TORCH_BN[len(shape)](shape[1], eps=1e-5, momentum=momentum, affine=affine,
                                  track_running_stats=track)
    if affine:
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(rng.standard_normal(shape[1]).astype(np.float32)))
            module.bias.copy_(torch.from_numpy(rng.standard_normal(shape[1]).astype(np.float32)))
    return module


def _params(module):
    if module.weight is None:
        return None, None
    return jnp.asarray(module.weight.detach().numpy()), jnp.asarray(module.bias.detach().numpy())


@pytest.mark.parametrize("shape, affine, momentum", [
    ((6, 3), True, None),
    ((5, 4, 7), False, "random"),
    ((3, 2, 5, 6), True, None),
])
def test_training_steps_then_eval_match_torch(shape, affine, momentum):
    rng = np.random.default_rng(len(shape))
    if momentum == "random":
        momentum = float(rng.uniform(0.01, 0.9))
    module = _torch_module(shape, momentum, affine, True, rng)
    weight, bias = _params(module)
    state = BatchNormState.create(shape[1])
    module.train()
    for i in range(6):
        x = _input(rng, shape)
        expected = module(torch.from_numpy(x))
        out, state = BN(x, weight, bias, state, training=True, momentum=momentum)
        msg = f"step {i} momentum {momentum}"
        assert_close(out, expected, err_msg=msg)
        assert_close(state.running_mean, module.running_mean, err_msg=msg)
        assert_close(state.running_var, module.running_var, err_msg=msg)
        assert int(state.num_batches_tracked) == int(module.num_batches_tracked) == i + 1
        assert state.num_batches_tracked.dtype == jnp.int32
    module.eval()
    x = _input(rng, shape)
    out, eval_state = BN(x, weight, bias, state, training=False, momentum=momentum)
    assert_close(out, module(torch.from_numpy(x)))
    for a, b in zip(eval_state, state):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape, training", [((6, 3), True), ((2, 3, 3, 4, 2), False)])
def test_no_running_stats_uses_batch_stats_in_both_modes(shape, training):
    rng = np.random.default_rng(len(shape))
    module = _torch_module(shape, 0.1, True, False, rng)
    module.train(training)
    weight, bias = _params(module)
    x = _input(rng, shape)
    out, new_state = BN(x, weight, bias, None, training=training)
    assert new_state is None
    assert_close(out, module(torch.from_numpy(x)))


@pytest.mark.parametrize("shape, training, affine", [
    ((6, 3), True, True),
    ((5, 4, 7), False, True),
    ((3, 2, 5, 6), True, False),
    ((2, 3, 3, 4, 2), True, True),
])
def test_gradients_match_torch_autograd(shape, training, affine):
    rng = np.random.default_rng(sum(shape))
    C = shape[1]
    x = _input(rng, shape)
    cot = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(C).astype(np.float32)
    b = rng.standard_normal(C).astype(np.float32)
    rm = rng.standard_normal(C).astype(np.float32)
    rv = rng.uniform(0.5, 2, C).astype(np.float32)
    state = BatchNormState(jnp.asarray(rm), jnp.asarray(rv), jnp.asarray(3, jnp.int32))

    @jax.jit
    def grads(x, w, b, cot):
        def f(x, w, b):
            return batch_norm(x, w if affine else None, b if affine else None, state,
                              training=training, momentum=0.3)[0]
        out, vjp = jax.vjp(f, x, w, b)
        return (out,) + vjp(cot)

    out, gx, gw, gb = grads(x, w, b, cot)

    tx, tw, tb = to_torch(x, True), to_torch(w, True), to_torch(b, True)
    expected = torch.nn.functional.batch_norm(
        tx, to_torch(rm), to_torch(rv), tw if affine else None, tb if affine else None,
        training=training, momentum=0.3, eps=1e-5)
    expected.backward(to_torch(cot))
    assert_close(out, expected)
    assert_close(gx, tx.grad, err_msg="grad input")
    if affine:
        assert_close(gw, tw.grad, err_msg="grad weight")
        assert_close(gb, tb.grad, err_msg="grad bias")
    else:
        assert not np.any(np.asarray(gw)) and not np.any(np.asarray(gb))


def test_eager_equals_jit():
    rng = np.random.default_rng(11)
    x = _input(rng, (4, 3, 5))
    w, b = jnp.asarray(rng.standard_normal(3), jnp.float32), jnp.zeros(3, jnp.float32)
    state = BatchNormState.create(3)._replace(num_batches_tracked=jnp.asarray(2, jnp.int32))
    eager_out, eager_state = batch_norm(x, w, b, state, training=True, momentum=None)
    jit_out, jit_state = BN(x, w, b, state, training=True, momentum=None)
    assert_close(eager_out, jit_out)
    for a, e in zip(jit_state, eager_state):
        assert_close(a, e)


def test_running_stats_carry_no_gradient():
    rng = np.random.default_rng(5)
    x = jnp.asarray(_input(rng, (4, 3, 5)))
    state = BatchNormState.create(3)

    def stats(x):
        new = batch_norm(x, None, None, state, training=True)[1]
        return jnp.sum(new.running_mean) + jnp.sum(new.running_var)

    assert not np.any(np.asarray(jax.jit(jax.grad(stats))(x)))


def test_traced_momentum_is_jit_safe():
    rng = np.random.default_rng(9)
    x = _input(rng, (5, 3))
    state = BatchNormState(jnp.asarray(rng.standard_normal(3), jnp.float32),
                           jnp.asarray(rng.uniform(0.5, 2, 3), jnp.float32),
                           jnp.asarray(4, jnp.int32))
    step = jax.jit(lambda x, m: batch_norm(x, None, None, state, training=True, momentum=m)[1])
    new = step(x, jnp.asarray(0.37, jnp.float32))
    assert_close(new.running_mean, 0.37 * x.mean(axis=0) + 0.63 * np.asarray(state.running_mean))
    assert_close(new.running_var,
                 0.37 * x.var(axis=0, ddof=1) + 0.63 * np.asarray(state.running_var))
    assert int(new.num_batches_tracked) == 5


def test_vmap_over_independent_batches_equals_loop():
    rng = np.random.default_rng(7)
    xs = jnp.asarray(np.stack([_input(rng, (4, 2, 5)) for _ in range(3)]))
    w = jnp.asarray(rng.standard_normal(2).astype(np.float32))
    b = jnp.asarray(rng.standard_normal(2).astype(np.float32))
    states = jax.vmap(lambda _: BatchNormState.create(2))(jnp.arange(3))
    f = jax.jit(lambda x, s: batch_norm(x, w, b, s, training=True, momentum=0.2))
    outs, new_states = jax.jit(jax.vmap(f))(xs, states)
    for i in range(3):
        out, st = f(xs[i], BatchNormState.create(2))
        assert_close(outs[i], out)
        assert_close(new_states.running_mean[i], st.running_mean)
        assert_close(new_states.running_var[i], st.running_var)
        assert int(new_states.num_batches_tracked[i]) == 1


def test_state_is_a_pytree_and_create_defaults():
    state = BatchNormState.create(4)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    assert len(leaves) == 3
    assert isinstance(jax.tree_util.tree_unflatten(treedef, leaves), BatchNormState)
    np.testing.assert_array_equal(state.running_mean, np.zeros(4, np.float32))
    np.testing.assert_array_equal(state.running_var, np.ones(4, np.float32))
    assert state.num_batches_tracked.shape == () and int(state.num_batches_tracked) == 0
    assert state.num_batches_tracked.dtype == jnp.int32
    assert BatchNormState.create(2, jnp.bfloat16).running_var.dtype == jnp.bfloat16


def test_half_precision_input_keeps_dtype_and_float32_stats():
    rng = np.random.default_rng(8)
    x16 = jnp.asarray(_input(rng, (6, 3, 4)), jnp.bfloat16)
    out, new = BN(x16, None, None, BatchNormState.create(3), training=True)
    assert out.dtype == jnp.bfloat16 and new.running_mean.dtype == jnp.float32
    # Statistics come from the float32 values; only the output is rounded to bfloat16.
    x = np.asarray(x16.astype(jnp.float32))
    mean, var = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
    assert_close(out.astype(jnp.float32), (x - mean) / np.sqrt(var + 1e-5), rtol=8e-3,
                 atol_scale=8e-3)
    assert_close(new.running_var, 0.9 + 0.1 * x.var(axis=(0, 2), ddof=1))


def test_one_value_per_channel_raises_like_torch():
    x = np.ones((1, 3), np.float32)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.functional.batch_norm(torch.from_numpy(x), None, None, training=True)
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when "
                                         r"training, got input size \(1, 3\)"):
        batch_norm(x, None, None, BatchNormState.create(3), training=True)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        batch_norm(np.ones((1, 3, 1, 1), np.float32), None, None, None, training=False)
    # Eval mode with running statistics needs no batch statistics.
    out, _ = BN(x, None, None, BatchNormState.create(3), training=False)
    assert_close(out, x / np.sqrt(1 + 1e-5))


def test_bad_arguments_raise():
    x = np.ones((4, 3, 2), np.float32)
    with pytest.raises(ValueError, match=r"weight should be 1-D with 3 elements.*got shape \(4,\)"):
        batch_norm(x, jnp.ones(4), None, None, training=True)
    with pytest.raises(ValueError, match=r"bias should be 1-D with 3 elements"):
        batch_norm(x, None, jnp.ones((3, 1)), None, training=True)
    with pytest.raises(ValueError, match=r"running_mean should be 1-D with 3 elements.*\(5,\)"):
        batch_norm(x, None, None, BatchNormState.create(5), training=False)
    with pytest.raises(ValueError, match="at least 2 dims"):
        batch_norm(np.ones(3, np.float32), None, None, None, training=True)
    with pytest.raises(TypeError, match="input must be a floating-point array"):
        batch_norm(np.ones((4, 3), np.int32), None, None, None, training=True)
    with pytest.raises(TypeError, match="momentum must be a float"):
        batch_norm(x, None, None, BatchNormState.create(3), training=True, momentum="0.1")
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        BatchNormState.create(0)
    with pytest.raises(TypeError, match="floating dtype"):
        BatchNormState.create(3, jnp.int32)
