"""Losses against torch.nn.functional on random configurations: outputs and gradients.

Each configuration runs as one jitted forward+backward program (compiles dominate the run
time); ``test_eager_equals_jit`` checks the eager path separately.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from rustorch.functional import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
)
from tests.torch_compare import assert_close, to_torch

REDUCTIONS = ("none", "mean", "sum")


def _jax_value_and_grads(fn, args, cot_seed=0):
    """Jitted forward and VJP of ``fn`` w.r.t. every array in ``args``, with a random
    cotangent; returns (output, grads, cotangent)."""
    @jax.jit
    def run(args, cot):
        out, vjp = jax.vjp(fn, *args)
        return out, vjp(cot)

    shape = jax.eval_shape(fn, *args).shape
    cot = np.random.default_rng(cot_seed).standard_normal(shape).astype(np.float32)
    out, grads = run(tuple(jnp.asarray(a) for a in args), jnp.asarray(cot))
    return out, grads, cot


def _torch_value_and_grads(fn, args, cot):
    targs = [to_torch(a, True) for a in args]
    out = fn(*targs)
    out.backward(to_torch(cot))
    return out, [t.grad for t in targs]


def _class_case(seed):
    """A random class-index configuration; ``seed`` also picks the shape layout."""
    rng = np.random.default_rng(seed)
    C = int(rng.integers(2, 6))
    N = int(rng.integers(1, 5))
    spatial = tuple(int(d) for d in rng.integers(2, 4, size=seed % 4))
    shape = (C,) if seed % 5 == 4 else (N, C) + spatial
    class_dim = 0 if len(shape) == 1 else 1
    target_shape = shape[:class_dim] + shape[class_dim + 1:]
    x = (rng.standard_normal(shape) * rng.uniform(0.5, 4)).astype(np.float32)
    target = rng.integers(0, C, size=target_shape)
    ignore_index = [-100, -100, -1, int(rng.integers(0, C))][seed % 4]
    if ignore_index < 0:
        hits = rng.random(target_shape) < 0.3
        target = np.where(hits, ignore_index, target)
    dtype = [np.int32, np.int16, np.int64][seed % 3]
    if ignore_index >= 0 and seed % 3 == 0:
        dtype = np.uint8
    weight = rng.uniform(0.2, 2, C).astype(np.float32) if seed % 2 else None
    return dict(
        x=x, target=np.asarray(target, dtype), weight=weight, ignore_index=ignore_index,
        reduction=REDUCTIONS[seed % 3], label_smoothing=[0.0, 0.1, 0.37, 1.0][(seed // 2) % 4],
    )


@pytest.mark.parametrize("seed", range(12))
def test_cross_entropy_class_indices_match_torch(seed):
    case = _class_case(seed)
    kw = dict(ignore_index=case["ignore_index"], reduction=case["reduction"],
              label_smoothing=case["label_smoothing"])
    target, weight = case["target"], case["weight"]
    out, (gx,), cot = _jax_value_and_grads(
        lambda x: cross_entropy(x, target, None if weight is None else jnp.asarray(weight), **kw),
        (case["x"],), seed)
    tw = None if weight is None else to_torch(weight)
    expected, (tgx,) = _torch_value_and_grads(
        lambda x: TF.cross_entropy(x, to_torch(target, dtype=torch.long), tw, **kw),
        (case["x"],), cot)
    msg = f"case {seed}: shape {case['x'].shape} weight {weight is not None} {kw}"
    assert_close(out, expected, err_msg=msg)
    assert_close(gx, tgx, err_msg=msg)


@pytest.mark.parametrize("seed", range(12, 16))
def test_nll_loss_matches_torch(seed):
    case = _class_case(seed)
    kw = dict(ignore_index=case["ignore_index"], reduction=case["reduction"])
    logp = np.asarray(jax.nn.log_softmax(case["x"], axis=0 if case["x"].ndim == 1 else 1))
    target, weight = case["target"], case["weight"]
    out, (gx,), cot = _jax_value_and_grads(
        lambda x: nll_loss(x, target, None if weight is None else jnp.asarray(weight), **kw),
        (logp,), seed)
    tw = None if weight is None else to_torch(weight)
    expected, (tgx,) = _torch_value_and_grads(
        lambda x: TF.nll_loss(x, to_torch(target, dtype=torch.long), tw, **kw), (logp,), cot)
    msg = f"case {seed}: shape {logp.shape} weight {weight is not None} {kw}"
    assert_close(out, expected, err_msg=msg)
    assert_close(gx, tgx, err_msg=msg)


@pytest.mark.parametrize("seed", range(6))
def test_cross_entropy_probability_targets_match_torch(seed):
    rng = np.random.default_rng(100 + seed)
    C = int(rng.integers(2, 6))
    shape = (C,) if seed == 3 else (int(rng.integers(1, 4)), C) + (2,) * (seed % 3)
    class_dim = 0 if len(shape) == 1 else 1
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    if seed % 2:  # one-hot
        labels = rng.integers(0, C, np.delete(shape, class_dim))
        t = np.moveaxis(np.eye(C, dtype=np.float32)[labels], -1, class_dim)
    else:
        t = np.asarray(jax.nn.softmax(rng.standard_normal(shape) * 2, axis=class_dim), np.float32)
    weight = rng.uniform(0.2, 2, C).astype(np.float32) if seed % 4 in (1, 2) else None
    kw = dict(reduction=REDUCTIONS[seed % 3], label_smoothing=[0.0, 0.25, 1.0, 0.05][seed % 4])
    out, (gx, gt), cot = _jax_value_and_grads(
        lambda x, t: cross_entropy(x, t, None if weight is None else jnp.asarray(weight), **kw),
        (x, t), seed)
    tw = None if weight is None else to_torch(weight)
    expected, (tgx, tgt) = _torch_value_and_grads(
        lambda x, t: TF.cross_entropy(x, t, tw, **kw), (x, t), cot)
    msg = f"case {seed}: shape {shape} weight {weight is not None} {kw}"
    assert_close(out, expected, err_msg=msg)
    assert_close(gx, tgx, err_msg=msg + " grad input")
    assert_close(gt, tgt, err_msg=msg + " grad target")


@pytest.mark.parametrize("label_smoothing, weighted", [(0.0, False), (0.2, True)])
def test_all_ignored_mean_is_nan_with_zero_gradients_like_torch(label_smoothing, weighted):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    target = np.full(3, -100, np.int32)
    weight = rng.uniform(0.5, 1.5, 4).astype(np.float32) if weighted else None
    tx = to_torch(x, True)
    expected = TF.cross_entropy(tx, to_torch(target, dtype=torch.long),
                                None if weight is None else to_torch(weight),
                                label_smoothing=label_smoothing)
    expected.backward()
    value, grad = jax.jit(jax.value_and_grad(
        lambda x: cross_entropy(x, target, None if weight is None else jnp.asarray(weight),
                                label_smoothing=label_smoothing)))(jnp.asarray(x))
    assert np.isnan(float(value)) and torch.isnan(expected)
    np.testing.assert_array_equal(grad, tx.grad.numpy())
    np.testing.assert_array_equal(grad, np.zeros_like(x))


def test_empty_batch_mean_is_nan_like_torch():
    x = np.zeros((0, 4), np.float32)
    assert torch.isnan(TF.cross_entropy(to_torch(x), torch.zeros(0, dtype=torch.long)))
    assert torch.isnan(TF.cross_entropy(to_torch(x), to_torch(x)))
    assert np.isnan(float(cross_entropy(x, np.zeros(0, np.int32))))
    assert np.isnan(float(cross_entropy(x, x)))


@pytest.mark.parametrize("fn, torch_fn, reduction", [
    (mse_loss, TF.mse_loss, "none"), (mse_loss, TF.mse_loss, "mean"),
    (l1_loss, TF.l1_loss, "none"), (l1_loss, TF.l1_loss, "sum"),
])
def test_regression_losses_match_torch(fn, torch_fn, reduction):
    rng = np.random.default_rng(len(reduction))
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    t = rng.standard_normal((3, 4, 2)).astype(np.float32)
    t[0, :2] = x[0, :2]  # exact ties: PyTorch's gradient of |d| at 0 is 0
    out, (gx, gt), cot = _jax_value_and_grads(
        lambda x, t: fn(x, t, reduction=reduction), (x, t))
    expected, (tgx, tgt) = _torch_value_and_grads(
        lambda x, t: torch_fn(x, t, reduction=reduction), (x, t), cot)
    assert_close(out, expected)
    assert_close(gx, tgx)
    assert_close(gt, tgt)


@pytest.mark.parametrize("seed", range(4))
def test_binary_cross_entropy_with_logits_matches_torch(seed):
    rng = np.random.default_rng(200 + seed)
    shape = (4, 3) if seed < 3 else (2, 3, 5)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    x.flat[0] = 0.0  # log_sigmoid's kink-free gradient at 0
    t = rng.uniform(0, 1, shape).astype(np.float32)
    if seed == 1:
        t = (t > 0.5).astype(np.float32)
    weight = rng.uniform(0.2, 2, shape[-1:] if seed % 2 else shape).astype(np.float32)
    pos_weight = rng.uniform(0.2, 3, shape[-1]).astype(np.float32)
    use_w, use_pw = seed in (1, 2, 3), seed in (0, 2, 3)
    kw = dict(reduction=REDUCTIONS[seed % 3])
    out, (gx, gt), cot = _jax_value_and_grads(
        lambda x, t: binary_cross_entropy_with_logits(
            x, t, jnp.asarray(weight) if use_w else None,
            pos_weight=jnp.asarray(pos_weight) if use_pw else None, **kw),
        (x, t), seed)
    expected, (tgx, tgt) = _torch_value_and_grads(
        lambda x, t: TF.binary_cross_entropy_with_logits(
            x, t, to_torch(weight) if use_w else None,
            pos_weight=to_torch(pos_weight) if use_pw else None, **kw),
        (x, t), cot)
    assert_close(out, expected)
    assert_close(gx, tgx)
    assert_close(gt, tgt)


def test_eager_equals_jit():
    case = _class_case(3)  # 5-D input, class weights, label smoothing, in-range ignore_index
    kw = dict(weight=jnp.asarray(case["weight"]), ignore_index=case["ignore_index"],
              reduction=case["reduction"], label_smoothing=case["label_smoothing"])
    eager = cross_entropy(case["x"], case["target"], **kw)
    jitted = jax.jit(lambda x, t: cross_entropy(x, t, **kw))(case["x"], case["target"])
    assert_close(eager, jitted)


def test_vmap_over_leading_axis_equals_loop():
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((3, 5, 4, 2)).astype(np.float32)
    ts = rng.integers(0, 4, (3, 5, 2)).astype(np.int32)
    ts[0, 0, 0] = -100
    weight = jnp.asarray(rng.uniform(0.5, 2, 4), jnp.float32)
    single = jax.jit(lambda x, t: cross_entropy(x, t, weight, label_smoothing=0.1))
    batched = jax.jit(jax.vmap(lambda x, t: cross_entropy(x, t, weight, label_smoothing=0.1)))
    out = batched(xs, ts)
    assert out.shape == (3,)
    for i in range(3):
        assert_close(out[i], single(xs[i], ts[i]))


def test_out_of_range_target_raises_eagerly_and_gives_nan_under_jit():
    x = np.zeros((3, 4), np.float32)
    bad = np.array([0, 4, 1], np.int32)
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        TF.cross_entropy(to_torch(x), torch.tensor([0, 5, 1]))
    with pytest.raises(IndexError, match=r"cross_entropy: Target 4 is out of bounds.*\[0, 4\)"):
        cross_entropy(x, bad)
    with pytest.raises(IndexError, match=r"nll_loss: Target -3 is out of bounds"):
        nll_loss(x, np.array([0, -3, 1], np.int32))
    with pytest.raises(IndexError, match="out of bounds"):
        cross_entropy(x, bad, label_smoothing=0.3)
    jitted = jax.jit(lambda x, t: cross_entropy(x, t, reduction="none"))(x, bad)
    assert np.isnan(np.asarray(jitted)[1]) and not np.isnan(np.asarray(jitted)[[0, 2]]).any()
    # An out-of-range ignore_index is fine: it is never gathered.
    assert np.isfinite(float(cross_entropy(x, np.array([0, 7, 1], np.int32), ignore_index=7)))


def test_bad_arguments_raise():
    x = np.zeros((3, 4), np.float32)
    t = np.array([0, 1, 2], np.int32)
    with pytest.raises(ValueError, match="cross_entropy: reduction must be 'none', 'mean' or 'sum', got 'avg'"):
        cross_entropy(x, t, reduction="avg")
    for fn in (nll_loss, mse_loss, l1_loss, binary_cross_entropy_with_logits):
        with pytest.raises(ValueError, match="reduction must be"):
            fn(x, t if fn is nll_loss else x, reduction="elementwise_mean")
    with pytest.raises(ValueError, match=r"label_smoothing must be between 0.0 and 1.0. Got: 1.5"):
        cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing must be between"):
        cross_entropy(x, t, label_smoothing=-0.1)
    with pytest.raises(TypeError, match="Expected floating point type for target with class probabilities, got int32"):
        cross_entropy(x, np.zeros((3, 4), np.int32))
    with pytest.raises(ValueError, match="ignore_index is not supported for floating point target"):
        cross_entropy(x, x, ignore_index=0)
    with pytest.raises(TypeError, match="class-index targets must have an integer dtype, got float32"):
        cross_entropy(x, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="integer dtype, got bool"):
        cross_entropy(x, np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"expected class-index target of shape \(3,\).*got \(2,\)"):
        cross_entropy(x, t[:2])
    with pytest.raises(ValueError, match=r"expected class-index target of shape \(3, 5\)"):
        nll_loss(np.zeros((3, 4, 5), np.float32), t)
    with pytest.raises(ValueError, match=r"weight tensor should be defined either for all 4 classes"):
        cross_entropy(x, t, weight=jnp.ones(3))
    with pytest.raises(TypeError, match="weight has dtype bfloat16 but input has dtype float32"):
        cross_entropy(x, t, weight=jnp.ones(4, jnp.bfloat16))
    with pytest.raises(TypeError, match="target has dtype float16"):
        cross_entropy(x, np.zeros((3, 4), np.float16))
    with pytest.raises(TypeError, match="expected input to be a floating-point array, got dtype int32"):
        cross_entropy(np.zeros((3, 4), np.int32), t)
    with pytest.raises(ValueError, match="got a 0-D input"):
        cross_entropy(np.float32(1.0), np.int32(0))
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        cross_entropy(x, t, ignore_index=1.0)
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(3, 1\) must equal input shape \(3, 4\)"):
        mse_loss(x, np.zeros((3, 1), np.float32))
    with pytest.raises(ValueError, match=r"l1_loss: target shape \(4,\)"):
        l1_loss(x, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="mse_loss: expected target to be a floating-point array"):
        mse_loss(x, np.zeros((3, 4), np.int32))
    with pytest.raises(ValueError, match=r"Target size \(3,\) must be the same as input size \(3, 4\)"):
        binary_cross_entropy_with_logits(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) must broadcast to the input shape"):
        binary_cross_entropy_with_logits(x, x, pos_weight=jnp.ones(3))
    with pytest.raises(ValueError, match=r"weight of shape \(2, 3, 4\) must broadcast"):
        binary_cross_entropy_with_logits(x, x, weight=jnp.ones((2, 3, 4)))
