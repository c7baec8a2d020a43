"""conv2d against torch.nn.functional.conv2d: outputs, gradients, jit, vmap and errors."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F


def _random_config(index):
    """Configuration ``index`` of the sweep: padding kind, batching and groups cycle so that a
    short sweep covers every kind; sizes, strides and dilations are random."""
    rng = np.random.default_rng(index)
    groups = (1, 2, 1, 3)[index % 4]
    c_in = groups * int(rng.integers(1, 3))
    c_out = groups * int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 5, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    kind = ("int", "pair", "same", "valid", "same", "int")[index % 6]
    stride = (1, 1) if kind == "same" else tuple(int(s) for s in rng.integers(1, 4, size=2))
    if kind == "int":
        padding = int(rng.integers(0, 3))
    elif kind == "pair":
        padding = tuple(int(p) for p in rng.integers(0, 3, size=2))
    else:
        padding = kind
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    spatial = tuple(int(e + rng.integers(0, 5)) for e in effective)
    batch = () if index % 3 == 1 else (int(rng.integers(1, 3)),)
    return dict(
        x_shape=batch + (c_in,) + spatial,
        w_shape=(c_out, c_in // groups) + kernel,
        bias=index % 5 != 2,
        kwargs=dict(stride=stride, padding=padding, dilation=dilation, groups=groups),
    )


CONFIGS = [_random_config(i) for i in range(10)]


def _case_arrays(index, cfg):
    rng = np.random.default_rng(100 + index)
    x = rng.standard_normal(cfg["x_shape"]).astype(np.float32)
    w = rng.standard_normal(cfg["w_shape"]).astype(np.float32)
    b = rng.standard_normal(cfg["w_shape"][0]).astype(np.float32) if cfg["bias"] else None
    return x, w, b


@pytest.mark.parametrize("index", range(len(CONFIGS)), ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_conv2d_matches_torch_forward_and_grads(index):
    cfg = CONFIGS[index]
    kwargs = cfg["kwargs"]
    x, w, b = _case_arrays(index, cfg)
    xt, wt = to_torch(x, True), to_torch(w, True)
    bt = to_torch(b, True) if b is not None else None
    with warnings.catch_warnings():
        # torch notes that 'same' with an even kernel copies the input; irrelevant here.
        warnings.simplefilter("ignore", UserWarning)
        expected = TF.conv2d(xt, wt, bt, **kwargs)
    cot = np.random.default_rng(200 + index).standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))
    expected_grads = [xt.grad, wt.grad] + ([bt.grad] if bt is not None else [])

    @jax.jit
    def forward_and_vjp(args, cot):
        out, vjp = jax.vjp(lambda *a: F.conv2d(*a, **kwargs), *args)
        return out, vjp(cot)

    args = tuple(jnp.asarray(a) for a in ((x, w) if b is None else (x, w, b)))
    out, grads = forward_and_vjp(args, jnp.asarray(cot))
    assert_close(out, expected, err_msg=f"output {cfg}")
    for name, g, eg in zip(("input", "weight", "bias"), grads, expected_grads):
        assert_close(g, eg, err_msg=f"grad {name} {cfg}")


@pytest.mark.parametrize("chunk_images", [1, 2, 4, 6])
@pytest.mark.parametrize(
    "c_in, kwargs",
    [
        (1, dict(padding=1)),
        (3, dict(stride=2, padding=(0, 2))),
        (16, dict(stride=(2, 1), padding=2, dilation=2)),
    ],
)
def test_conv2d_weight_gradient_in_batch_chunks_matches_torch(monkeypatch, c_in, kwargs, chunk_images):
    # The CPU lowering computes the forward pass and the weight gradient over cache-sized chunks
    # of the batch (the largest divisor of the batch that fits): chunks of 1, 2 and 3 (for a
    # budget of 4) of 6 images and the whole batch must all equal torch.
    from rustorch.functional import _conv_lowering

    rng = np.random.default_rng(c_in)
    x = rng.standard_normal((6, c_in, 11, 9)).astype(np.float32)
    w = rng.standard_normal((4, c_in, 3, 3)).astype(np.float32)
    xt, wt = to_torch(x, True), to_torch(w, True)
    expected = TF.conv2d(xt, wt, **kwargs)
    out_positions = expected.shape[2] * expected.shape[3]
    monkeypatch.setattr(_conv_lowering, "_CHUNK_BYTES", chunk_images * out_positions * 9 * c_in * 4)
    cot = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))
    out, vjp = jax.vjp(lambda x, w: F.conv2d(x, w, **kwargs), jnp.asarray(x), jnp.asarray(w))
    grad_x, grad_w = vjp(jnp.asarray(cot))
    assert_close(out, expected)
    assert_close(grad_x, xt.grad)
    assert_close(grad_w, wt.grad)


def test_conv2d_eager_equals_jit():
    cfg = CONFIGS[0]
    x, w, b = (None if a is None else jnp.asarray(a) for a in _case_arrays(0, cfg))
    args = (x, w) if b is None else (x, w, b)
    eager = F.conv2d(*args, **cfg["kwargs"])
    jitted = jax.jit(lambda *a: F.conv2d(*a, **cfg["kwargs"]))(*args)
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))


def test_conv2d_same_even_kernel_pads_bottom_right():
    # An even kernel with 'same' needs an odd total padding; PyTorch puts the extra row/column
    # at the end. Checked against an explicit asymmetric pad so a symmetric split cannot pass.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 1, 5, 6)).astype(np.float32)
    w = rng.standard_normal((1, 1, 2, 4)).astype(np.float32)
    out = F.conv2d(jnp.asarray(x), jnp.asarray(w), padding="same")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert_close(out, TF.conv2d(to_torch(x), to_torch(w), padding="same"))
    manual = TF.conv2d(TF.pad(to_torch(x), (1, 2, 0, 1)), to_torch(w))
    assert_close(out, manual)


def test_conv2d_vmap_over_unbatched_equals_batched():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((5, 4, 9, 8)).astype(np.float32))
    w = jnp.asarray(rng.standard_normal((6, 2, 3, 3)).astype(np.float32))
    b = jnp.asarray(rng.standard_normal(6).astype(np.float32))
    kwargs = dict(stride=2, padding=(1, 2), dilation=(1, 2), groups=2)

    @jax.jit
    def both(x, w, b):
        mapped = jax.vmap(lambda xi: F.conv2d(xi, w, b, **kwargs))(x)
        # vmap over a stack of weights as well: one convolution per weight.
        per_weight = jax.vmap(lambda wi: F.conv2d(x, wi, b, **kwargs))(jnp.stack([w, 2.0 * w]))
        return mapped, per_weight, F.conv2d(x, w, b, **kwargs), F.conv2d(x, 2.0 * w, b, **kwargs)

    mapped, per_weight, batched, doubled = both(x, w, b)
    assert_close(mapped, batched, rtol=1e-6)
    assert_close(per_weight[0], batched, rtol=1e-6)
    assert_close(per_weight[1], doubled, rtol=1e-6)


def test_sweep_covers_every_padding_kind_groups_and_unbatched():
    paddings = [c["kwargs"]["padding"] for c in CONFIGS]
    kinds = {p if isinstance(p, str) else type(p).__name__ for p in paddings}
    assert kinds == {"same", "valid", "int", "tuple"}
    assert any(len(c["x_shape"]) == 3 for c in CONFIGS)
    assert any(c["kwargs"]["groups"] > 1 for c in CONFIGS)
    assert any(c["kwargs"]["dilation"] != (1, 1) for c in CONFIGS)
    assert any(c["kwargs"]["padding"] == "same" and c["w_shape"][2] % 2 == 0 for c in CONFIGS)


def _arrays(*shapes, dtype=jnp.float32):
    return [jnp.zeros(s, dtype) for s in shapes]


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, error, match",
    [
        ((4, 5), (6, 4, 3, 3), {}, ValueError, r"conv2d: expected input to be 3-D or 4-D.*got 2-D"),
        ((1, 4, 5, 5), (6, 4, 3), {}, ValueError, r"expected weight to be 4-D"),
        ((2, 4, 5, 5), (6, 3, 3, 3), {}, ValueError, r"to have 3 channels.*got 4 channels"),
        ((2, 4, 5, 5), (5, 2, 3, 3), {"groups": 2}, ValueError, r"divisible by 2.*\(5, 2, 3, 3\)"),
        ((2, 4, 5, 5), (6, 4, 7, 3), {}, ValueError, r"padded input size.*\(5 x 5\).*\(7 x 3\).*can't be greater"),
        ((2, 4, 5, 5), (6, 4, 3, 3), {"dilation": 3}, ValueError, r"Kernel size: \(7 x 7\)"),
        ((2, 4, 5, 5), (6, 4, 3, 3), {"padding": "same", "stride": 2}, ValueError, r"'same' is not supported for strided"),
        ((2, 4, 5, 5), (6, 4, 3, 3), {"padding": "full"}, ValueError, r"invalid padding string 'full'"),
        ((2, 4, 5, 5), (6, 4, 3, 3), {"padding": -1}, ValueError, r"padding must be >= 0"),
        ((2, 4, 5, 5), (6, 4, 3, 3), {"stride": (1, 0)}, ValueError, r"stride must be positive"),
        ((2, 4, 5, 5), (6, 4, 3, 3), {"groups": 0}, ValueError, r"groups must be positive"),
        ((2, 4, 5, 5), (6, 4, 3, 3), {"stride": 1.5}, TypeError, r"stride must be an int or a pair"),
    ],
)
def test_conv2d_errors(x_shape, w_shape, kwargs, error, match):
    x, w = _arrays(x_shape, w_shape)
    with pytest.raises(error, match=match):
        F.conv2d(x, w, **kwargs)
    if error is ValueError:
        # PyTorch rejects the same arguments (with RuntimeError).
        with pytest.raises(RuntimeError):
            TF.conv2d(torch.zeros(x_shape), torch.zeros(w_shape), **kwargs)


def test_conv2d_bias_and_dtype_errors():
    x, w = _arrays((2, 4, 5, 5), (6, 4, 3, 3))
    with pytest.raises(ValueError, match=r"expected bias to be 1-D with 6 elements.*\(5,\)"):
        F.conv2d(x, w, jnp.zeros(5, jnp.float32))
    with pytest.raises(TypeError, match=r"input dtype float32 and weight dtype int32"):
        F.conv2d(x, w.astype(jnp.int32))
    with pytest.raises(TypeError, match=r"floating-point dtype, got int32"):
        F.conv2d(x.astype(jnp.int32), w.astype(jnp.int32))
    with pytest.raises(TypeError, match=r"bias dtype float16"):
        F.conv2d(x, w, jnp.zeros(6, jnp.float16))


def test_conv2d_errors_raise_under_jit():
    x, w = _arrays((2, 4, 5, 5), (6, 3, 3, 3))
    with pytest.raises(ValueError, match="channels"):
        jax.jit(F.conv2d)(x, w)


def test_conv2d_second_order_grad_matches_torch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)

    def loss(w_):
        return jnp.sum(F.conv2d(jnp.asarray(x), w_, padding=1) ** 2)

    hvp = jax.jit(jax.grad(lambda w_: jnp.sum(jax.grad(loss)(w_))))(jnp.asarray(w))
    wt = to_torch(w, True)
    (g,) = torch.autograd.grad((TF.conv2d(to_torch(x), wt, padding=1) ** 2).sum(), wt, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), wt)
    assert_close(hvp, h)
