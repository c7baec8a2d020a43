"""max_pool2d, avg_pool2d and adaptive_avg_pool2d against torch: outputs, gradients, ties,
ceil_mode edge windows, jit, vmap and errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F


def _geometry(rng, index, with_dilation):
    kernel = tuple(int(k) for k in rng.integers(1, 5, size=2))
    if index % 3 == 0:
        stride = None  # PyTorch's default: stride = kernel_size, non-overlapping windows
    else:
        stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2)) if with_dilation and index % 3 == 2 else 1
    ceil_mode = index % 2 == 1
    return kernel, stride, padding, dilation, ceil_mode


def _input_shape(rng, index, kernel, dilation, padding):
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    spatial = tuple(
        int(max(dd * (k - 1) + 1 - 2 * p, 1) + rng.integers(0, 6)) for k, dd, p in zip(kernel, d, padding)
    )
    batch = () if index % 4 == 3 else (int(rng.integers(1, 3)),)
    return batch + (int(rng.integers(1, 4)),) + spatial


def _max_config(index):
    rng = np.random.default_rng(index)
    kernel, stride, padding, dilation, ceil_mode = _geometry(rng, index, with_dilation=True)
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    return _input_shape(rng, index, kernel, dilation, padding), kwargs


def _avg_config(index):
    rng = np.random.default_rng(1000 + index)
    kernel, stride, padding, _, ceil_mode = _geometry(rng, index, with_dilation=False)
    divisor = (None, None, None, int(rng.integers(1, 7)))[index % 4]
    kwargs = dict(
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        ceil_mode=ceil_mode,
        count_include_pad=index % 3 != 1,
        divisor_override=divisor,
    )
    return _input_shape(rng, index, kernel, 1, padding), kwargs


MAX_CONFIGS = [_max_config(i) for i in range(8)]
AVG_CONFIGS = [_avg_config(i) for i in range(8)]
# Edge windows that only ceil_mode creates: the last window hangs past the right padding, and
# (second case) the rule that drops a window starting in the right padding kicks in.
AVG_CONFIGS += [
    ((1, 2, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True, count_include_pad=True)),
    ((1, 2, 6, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)),
    ((1, 2, 6, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((2, 1, 4, 4), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True, count_include_pad=True)),
]
MAX_CONFIGS += [
    ((1, 2, 6, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 1, 4, 4), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True)),
    ((2, 3, 9, 7), dict(kernel_size=2, ceil_mode=True)),
]


def _compare_with_torch(fn, torch_fn, x, kwargs, label):
    xt = to_torch(x, True)
    expected = torch_fn(xt, **kwargs)
    cot = np.random.default_rng(7).standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))

    @jax.jit
    def forward_and_vjp(x, cot):
        out, vjp = jax.vjp(lambda x: fn(x, **kwargs), x)
        return out, vjp(cot)[0]

    out, grad = forward_and_vjp(jnp.asarray(x), jnp.asarray(cot))
    assert_close(out, expected, err_msg=f"output {label} {kwargs}")
    assert_close(grad, xt.grad, err_msg=f"grad {label} {kwargs}")


@pytest.mark.parametrize("index", range(len(MAX_CONFIGS)))
def test_max_pool2d_matches_torch(index):
    shape, kwargs = MAX_CONFIGS[index]
    x = np.random.default_rng(index).standard_normal(shape).astype(np.float32)
    _compare_with_torch(F.max_pool2d, TF.max_pool2d, x, kwargs, f"shape {shape}")


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 3, 9, 7), dict(kernel_size=2, ceil_mode=True)),  # non-overlapping, -inf padded ceil edge
        ((2, 3, 8, 6), dict(kernel_size=2)),  # non-overlapping blocks tiling the input exactly
        ((2, 3, 9, 7), dict(kernel_size=(2, 3))),  # blocks after cropping the floor remainder
        ((2, 3, 8, 7), dict(kernel_size=3, stride=1, padding=1)),  # overlapping windows
        ((2, 3, 8, 7), dict(kernel_size=2, stride=2, dilation=2, ceil_mode=True)),
    ],
)
def test_max_pool2d_ties_route_gradient_like_torch(shape, kwargs):
    # Integer-valued inputs tie inside most windows; torch gives the whole gradient to the
    # first maximum in row-major window order. The cotangent is integer-valued too, so the
    # gradients are exact and must match bit for bit.
    rng = np.random.default_rng(11)
    x = rng.integers(0, 3, size=shape).astype(np.float32)
    xt = to_torch(x, True)
    expected = TF.max_pool2d(xt, **kwargs)
    cot = rng.integers(1, 5, size=tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))

    @jax.jit
    def forward_and_vjp(x, cot):
        out, vjp = jax.vjp(lambda x: F.max_pool2d(x, **kwargs), x)
        return out, vjp(cot)[0]

    out, grad = forward_and_vjp(jnp.asarray(x), jnp.asarray(cot))
    np.testing.assert_array_equal(np.asarray(out), expected.detach().numpy())
    np.testing.assert_array_equal(np.asarray(grad), xt.grad.numpy())


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=1, padding=1),
        dict(kernel_size=2, ceil_mode=True),
        dict(kernel_size=(3, 2), dilation=(1, 2)),
    ],
)
def test_max_pool2d_nan_windows_like_torch(kwargs):
    # A window holding NaN outputs NaN, and torch's kernel (`val > max || isnan(val)`) gives its
    # gradient to the window's last NaN; NaN-free windows keep the first-maximum rule.
    rng = np.random.default_rng(12)
    x = rng.integers(0, 3, size=(2, 2, 7, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = np.nan
    xt = to_torch(x, True)
    expected = TF.max_pool2d(xt, **kwargs)
    cot = rng.integers(1, 5, size=tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))
    out, vjp = jax.vjp(lambda x: F.max_pool2d(x, **kwargs), jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(out), expected.detach().numpy())
    np.testing.assert_array_equal(np.asarray(vjp(jnp.asarray(cot))[0]), xt.grad.numpy())


@pytest.mark.parametrize(
    "kwargs", [dict(kernel_size=3, stride=1, dilation=2, padding=1), dict(kernel_size=2)]
)
def test_max_pool2d_forward_mode_and_second_order(kwargs):
    # Max pooling has custom JVPs (strided taps, and non-overlapping blocks): forward mode must
    # agree with reverse mode, and differentiating the gradient again must match torch's.
    rng = np.random.default_rng(12)
    x = jnp.asarray(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    dx = jnp.asarray(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    ct_shape = TF.max_pool2d(torch.zeros(2, 3, 6, 6), **kwargs).shape
    ct = jnp.asarray(rng.standard_normal(tuple(ct_shape)).astype(np.float32))

    @jax.jit
    def all_modes(x, dx, ct):
        pool = lambda x: F.max_pool2d(x, **kwargs)
        _, tangent = jax.jvp(pool, (x,), (dx,))
        _, vjp = jax.vjp(pool, x)
        hessian_vector = jax.jvp(jax.grad(lambda x: jnp.sum(pool(x) ** 2)), (x,), (dx,))[1]
        return tangent, vjp(ct)[0], hessian_vector

    tangent, cotangent, hessian_vector = all_modes(x, dx, ct)
    # <J dx, ct> == <dx, J^T ct>
    assert_close(jnp.vdot(tangent, ct), jnp.vdot(dx, cotangent), rtol=1e-5)
    xt = to_torch(x, True)
    (g,) = torch.autograd.grad((TF.max_pool2d(xt, **kwargs) ** 2).sum(), xt, create_graph=True)
    (h,) = torch.autograd.grad(g, xt, grad_outputs=to_torch(dx))
    assert_close(hessian_vector, h)


def test_max_pool2d_integer_input():
    x = np.random.default_rng(13).integers(-50, 50, size=(2, 3, 7, 7)).astype(np.int32)
    configs = (dict(kernel_size=2, ceil_mode=True), dict(kernel_size=3, stride=2, padding=1))
    outs = jax.jit(lambda x: [F.max_pool2d(x, **kwargs) for kwargs in configs])(jnp.asarray(x))
    for out, kwargs in zip(outs, configs):
        assert out.dtype == jnp.int32
        expected = TF.max_pool2d(to_torch(x, dtype=torch.int64), **kwargs).numpy()
        np.testing.assert_array_equal(np.asarray(out), expected)


@pytest.mark.parametrize("index", range(len(AVG_CONFIGS)))
def test_avg_pool2d_matches_torch(index):
    shape, kwargs = AVG_CONFIGS[index]
    x = np.random.default_rng(50 + index).standard_normal(shape).astype(np.float32)
    _compare_with_torch(F.avg_pool2d, TF.avg_pool2d, x, kwargs, f"shape {shape}")


ADAPTIVE_CONFIGS = [
    ((2, 3, 7, 9), 3),
    ((2, 3, 8, 6), (4, 3)),  # divisible: the reshape path
    ((3, 5, 7), (None, 4)),  # unbatched, None keeps the input size
    ((1, 2, 5, 5), (8, 9)),  # more outputs than inputs: overlapping windows
    ((2, 2, 6, 7), (1, 1)),
    ((1, 2, 10, 3), (4, None)),
]


@pytest.mark.parametrize("shape, output_size", ADAPTIVE_CONFIGS)
def test_adaptive_avg_pool2d_matches_torch(shape, output_size):
    x = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    _compare_with_torch(
        F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, x, dict(output_size=output_size), f"shape {shape}"
    )


def test_adaptive_avg_pool2d_zero_output_size_is_empty():
    out = F.adaptive_avg_pool2d(jnp.ones((2, 3, 5, 5), jnp.float32), (0, 2))
    assert out.shape == tuple(TF.adaptive_avg_pool2d(torch.ones(2, 3, 5, 5), (0, 2)).shape) == (2, 3, 0, 2)


def test_pools_vmap_over_unbatched_equals_batched():
    x = jnp.asarray(np.random.default_rng(14).standard_normal((4, 3, 9, 8)).astype(np.float32))
    calls = [
        lambda x: F.max_pool2d(x, 2, ceil_mode=True),
        lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
        lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        lambda x: F.adaptive_avg_pool2d(x, (4, 3)),
    ]

    @jax.jit
    def mapped_and_batched(x):
        return [(jax.vmap(call)(x), call(x)) for call in calls]

    for mapped, batched in mapped_and_batched(x):
        assert_close(mapped, batched, rtol=1e-6, atol_scale=0.0)


def test_pools_eager_equal_jit():
    x = jnp.asarray(np.random.default_rng(15).standard_normal((2, 3, 7, 7)).astype(np.float32))
    calls = (lambda x: F.max_pool2d(x, 2), lambda x: F.avg_pool2d(x, 2, ceil_mode=True))
    for call in calls:
        # XLA may fold a division by a constant into a reciprocal multiply: allow 1 ulp.
        assert_close(jax.jit(call)(x), call(x), rtol=1e-6, atol_scale=0.0)


def test_sweeps_cover_paths():
    assert any(kw["stride"] is None and kw["dilation"] == 1 for _, kw in MAX_CONFIGS)
    assert any(kw["stride"] is not None and kw["dilation"] != 1 for _, kw in MAX_CONFIGS)
    assert any(len(shape) == 3 for shape, _ in MAX_CONFIGS)
    assert any(kw["ceil_mode"] and not kw["count_include_pad"] for _, kw in AVG_CONFIGS)
    assert any(kw.get("divisor_override") for _, kw in AVG_CONFIGS)
    assert any(len(shape) == 3 for shape, _ in AVG_CONFIGS)


X = jnp.zeros((2, 3, 5, 5), jnp.float32)


@pytest.mark.parametrize(
    "fn, x, kwargs, error, match",
    [
        (F.max_pool2d, X, dict(kernel_size=3, padding=2), ValueError, r"max_pool2d: pad should be at most half of kernel size.*padding=\(2, 2\).*kernel_size=\(3, 3\)"),
        (F.max_pool2d, X, dict(kernel_size=(4, 2), padding=(2, 2)), ValueError, r"pad should be at most half"),
        (F.max_pool2d, X, dict(kernel_size=7), ValueError, r"input size \(3x5x5\).*output size \(3x0x0\) is too small"),
        (F.max_pool2d, X[0, 0], dict(kernel_size=2), ValueError, r"expected input to be 3-D or 4-D.*got 2-D"),
        (F.max_pool2d, X, dict(kernel_size=0), ValueError, r"kernel_size must be positive"),
        (F.max_pool2d, X, dict(kernel_size=2, stride=0), ValueError, r"stride must be positive"),
        (F.max_pool2d, X, dict(kernel_size=2, dilation=0), ValueError, r"dilation must be positive"),
        (F.max_pool2d, X, dict(kernel_size=2, padding=-1), ValueError, r"padding must be >= 0"),
        (F.max_pool2d, X, dict(kernel_size=2.0), TypeError, r"kernel_size must be an int or a pair"),
        (F.max_pool2d, X, dict(kernel_size=2, ceil_mode=1), TypeError, r"ceil_mode must be a bool"),
        (F.max_pool2d, jnp.zeros((2, 0, 5, 5), jnp.float32), dict(kernel_size=2), ValueError, r"non-zero channel and spatial"),
        (F.avg_pool2d, X, dict(kernel_size=3, padding=2), ValueError, r"avg_pool2d: pad should be at most half"),
        (F.avg_pool2d, X, dict(kernel_size=2, divisor_override=0), ValueError, r"divisor must be not zero"),
        (F.avg_pool2d, X, dict(kernel_size=2, divisor_override=1.5), TypeError, r"divisor_override must be an int"),
        (F.avg_pool2d, X.astype(jnp.int32), dict(kernel_size=2), TypeError, r"floating-point dtype, got int32"),
        (F.avg_pool2d, X, dict(kernel_size=6), ValueError, r"too small"),
        (F.adaptive_avg_pool2d, X, dict(output_size=-1), ValueError, r"output_size must be >= 0"),
        (F.adaptive_avg_pool2d, X, dict(output_size=(2, 2, 2)), TypeError, r"output_size must be an int or a pair"),
        (F.adaptive_avg_pool2d, X, dict(output_size=2.5), TypeError, r"output_size must be an int or a pair"),
        (F.adaptive_avg_pool2d, X, dict(output_size=None), TypeError, r"output_size must be an int or a pair"),
        (F.adaptive_avg_pool2d, X[0, 0], dict(output_size=2), ValueError, r"3-D or 4-D"),
        (F.adaptive_avg_pool2d, jnp.zeros((2, 3, 0, 5), jnp.float32), dict(output_size=2), ValueError, r"non-zero size for non-batch"),
    ],
)
def test_pooling_errors(fn, x, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn(x, **kwargs)
    # Torch rejects the same geometry (it raises RuntimeError for all of these).
    if error is ValueError and x.dtype == jnp.float32:
        torch_fn = {F.max_pool2d: TF.max_pool2d, F.avg_pool2d: TF.avg_pool2d}.get(fn)
        if torch_fn is not None and x.ndim == 4 and x.shape[1] > 0:
            with pytest.raises(RuntimeError):
                torch_fn(to_torch(np.asarray(x)), **kwargs)


def test_pooling_errors_raise_under_jit():
    with pytest.raises(ValueError, match="pad should be at most half"):
        jax.jit(lambda x: F.max_pool2d(x, 2, padding=2))(X)
