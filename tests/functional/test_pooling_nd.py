"""The N-d pooling ops (pure functions) against torch on random 1-, 2- and 3-d configurations:
outputs, indices and input gradients of max pooling (with return_indices), average, power-average
and adaptive pooling, and max unpooling; ties and NaNs go where PyTorch sends them."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F


def _tuple_or_int(rng, n, low, high):
    values = tuple(int(v) for v in rng.integers(low, high + 1, n))
    return values if rng.random() < 0.5 else values[0]


def _as_tuple(value, n):
    return (value,) * n if isinstance(value, int) else value


def _config(n, index):
    """A random pooling geometry torch accepts, an input shape, and an input with ties."""
    rng = np.random.default_rng(1000 * n + index)
    while True:
        kernel = _tuple_or_int(rng, n, 1, 3)
        stride = None if rng.random() < 0.3 else _tuple_or_int(rng, n, 1, 3)
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in _as_tuple(kernel, n))
        dilation = _tuple_or_int(rng, n, 1, 2)
        ceil_mode = bool(rng.random() < 0.5)
        shape = ((2, 3) if rng.random() < 0.8 else (3,)) + tuple(int(v) for v in rng.integers(3, 7 if n == 3 else 9, n))
        try:
            TF.__dict__[f"max_pool{n}d"](torch.zeros(shape), kernel, stride, padding, dilation, ceil_mode)
            TF.__dict__[f"avg_pool{n}d"](torch.zeros(shape), kernel, stride, padding, ceil_mode)
        except RuntimeError:
            continue
        x = np.round(rng.standard_normal(shape) * 2).astype(np.float32) / 2  # many ties
        return kernel, stride, padding, dilation, ceil_mode, x, rng


def _vjp(fn, x, cotangent):
    """``fn(x)`` (values, or values and indices) and the input gradient of its values, jitted."""

    def values(a):
        out = fn(a)
        return out[0] if isinstance(out, tuple) else out

    @jax.jit
    def run(a, c):
        _, pullback = jax.vjp(values, a)
        return fn(a), pullback(c)[0]

    return run(jnp.asarray(x), jnp.asarray(cotangent))


def _torch_grad(out, t, cotangent):
    (out * to_torch(cotangent)).sum().backward()
    return t.grad


CASES = [(n, i) for n in (1, 2, 3) for i in range(4)]


@pytest.mark.parametrize("n,index", CASES)
def test_max_pool_values_indices_gradients_and_unpool_match_torch(n, index):
    kernel, stride, padding, dilation, ceil_mode, x, rng = _config(n, index)
    t = to_torch(x, True)
    expected, expected_indices = TF.__dict__[f"max_pool{n}d"](t, kernel, stride, padding, dilation, ceil_mode, True)
    cot = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected_grad = _torch_grad(expected, t, cot)
    fn = F.__dict__[f"max_pool{n}d"]
    (out, indices), grad = _vjp(lambda a: fn(a, kernel, stride, padding, dilation, ceil_mode, True), x, cot)
    assert_close(out, expected, err_msg="output")
    np.testing.assert_array_equal(np.asarray(indices), expected_indices.numpy())
    assert_close(grad, expected_grad, err_msg="input gradient")
    assert indices.dtype == jax.dtypes.canonicalize_dtype(np.int64)
    # Without indices: the same values (the block form where windows tile the input).
    assert_close(fn(jnp.asarray(x), kernel, stride, padding, dilation, ceil_mode), expected)

    # Unpooling the pooled values with their indices (stride >= dilated extent keeps them in range).
    try:
        unpooled = TF.__dict__[f"max_unpool{n}d"](expected.detach().requires_grad_(), expected_indices,
                                                  kernel, stride, padding)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="invalid max index"):
            F.__dict__[f"max_unpool{n}d"](out, indices, kernel, stride, padding)
        return
    source = expected.detach().requires_grad_()
    unpooled = TF.__dict__[f"max_unpool{n}d"](source, expected_indices, kernel, stride, padding)
    ucot = rng.standard_normal(tuple(unpooled.shape)).astype(np.float32)
    unpooled_grad = _torch_grad(unpooled, source, ucot)
    ours, ours_grad = _vjp(lambda a: F.__dict__[f"max_unpool{n}d"](a, indices, kernel, stride, padding),
                           np.asarray(out), ucot)
    assert_close(ours, unpooled, err_msg="unpooled")
    assert_close(ours_grad, unpooled_grad, err_msg="unpool gradient")


@pytest.mark.parametrize("n,index", CASES)
def test_avg_and_lp_pool_match_torch(n, index):
    kernel, stride, padding, _, ceil_mode, x, rng = _config(n, index)
    include = bool(index % 2)
    extra = {} if n == 1 else {"divisor_override": [None, 3][index % 2]}
    t = to_torch(x, True)
    expected = TF.__dict__[f"avg_pool{n}d"](t, kernel, stride, padding, ceil_mode, include, **extra)
    cot = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected_grad = _torch_grad(expected, t, cot)
    out, grad = _vjp(lambda a: F.__dict__[f"avg_pool{n}d"](a, kernel, stride, padding, ceil_mode, include, **extra),
                     x, cot)
    assert_close(out, expected, err_msg="avg output")
    assert_close(grad, expected_grad, err_msg="avg input gradient")

    norm_type = [2, 1, 3.0, 1.5][index]
    k = kernel if n > 1 else _as_tuple(kernel, 1)[0]  # torch's lp_pool1d multiplies by an int kernel
    data = np.abs(x) if norm_type == 1.5 else x
    t = to_torch(data, True)
    expected = TF.__dict__[f"lp_pool{n}d"](t, norm_type, k, stride, ceil_mode)
    cot = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected_grad = _torch_grad(expected, t, cot)
    out, grad = _vjp(lambda a: F.__dict__[f"lp_pool{n}d"](a, norm_type, k, stride, ceil_mode), data, cot)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected.detach().numpy()))
    assert_close(np.nan_to_num(out), np.nan_to_num(expected.detach().numpy()), rtol=2e-5, err_msg="lp output")
    assert_close(np.nan_to_num(grad), np.nan_to_num(expected_grad.numpy()), rtol=2e-5, err_msg="lp gradient")


def test_lp_pool_gradient_is_zero_where_a_window_is_zero():
    x = np.zeros((1, 2, 4, 4), np.float32)
    x[0, 0, :2, :2] = [[1.0, -2.0], [0.5, 3.0]]
    for norm_type in (2, 3.0):
        t = to_torch(x, True)
        TF.lp_pool2d(t, norm_type, 2).sum().backward()
        grad = jax.grad(lambda a: F.lp_pool2d(a, norm_type, 2).sum())(jnp.asarray(x))
        assert np.isfinite(np.asarray(grad)).all()
        assert_close(grad, t.grad)
    assert_close(F.lp_pool1d(jnp.asarray(x[0]), np.inf, 2), TF.lp_pool1d(to_torch(x[0]), np.inf, 2))


ADAPTIVE = [(1, (2, 3, 9), 4), (1, (3, 5), 7), (2, (2, 3, 7, 5), (3, None)), (2, (3, 4, 4), 6),
            (3, (2, 2, 5, 4, 6), (2, 3, None)), (3, (2, 3, 4, 5), 3)]


@pytest.mark.parametrize("n,shape,size", ADAPTIVE)
def test_adaptive_pools_match_torch(n, shape, size):
    rng = np.random.default_rng(len(shape) + n)
    x = np.round(rng.standard_normal(shape) * 2).astype(np.float32) / 2
    x.reshape(-1)[3] = np.nan
    t = to_torch(x, True)
    expected, expected_indices = TF.__dict__[f"adaptive_max_pool{n}d"](t, size, True)
    cot = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected_grad = _torch_grad(expected, t, cot)
    (out, indices), grad = _vjp(lambda a: F.__dict__[f"adaptive_max_pool{n}d"](a, size, True), x, cot)
    np.testing.assert_array_equal(np.asarray(out), expected.detach().numpy())  # NaN in the same places
    np.testing.assert_array_equal(np.asarray(indices), expected_indices.numpy())
    assert_close(grad, expected_grad)
    indices_only = F.__dict__[f"adaptive_max_pool{n}d_with_indices"](jnp.asarray(x), size)[1]
    np.testing.assert_array_equal(np.asarray(indices_only), expected_indices.numpy())

    x = np.nan_to_num(x)
    t = to_torch(x, True)
    expected = TF.__dict__[f"adaptive_avg_pool{n}d"](t, size)
    expected_grad = _torch_grad(expected, t, cot)
    out, grad = _vjp(lambda a: F.__dict__[f"adaptive_avg_pool{n}d"](a, size), x, cot)
    assert_close(out, expected)
    assert_close(grad, expected_grad)


def test_max_pool_indices_follow_torch_on_nans_and_windows_of_minus_infinity():
    x = np.array([[[np.nan, 1.0, np.nan, 2.0, -np.inf, -np.inf, 5.0]]], np.float32)
    expected, expected_indices = TF.max_pool1d(to_torch(x), 3, 2, 1, 1, True, True)
    out, indices = F.max_pool1d(jnp.asarray(x), 3, 2, 1, 1, True, True)
    np.testing.assert_array_equal(np.asarray(out), expected.numpy())
    np.testing.assert_array_equal(np.asarray(indices), expected_indices.numpy())
    # A window of -inf inputs and -inf padding picks (and sends its gradient to) its first input.
    y = np.full((1, 1, 3, 3), -np.inf, np.float32)
    t = to_torch(y, True)
    expected, expected_indices = TF.max_pool2d(t, 2, 1, 1, return_indices=True)
    expected.sum().backward()
    (out, indices), grad = _vjp(lambda a: F.max_pool2d(a, 2, 1, 1, return_indices=True), y, np.ones(expected.shape, np.float32))
    np.testing.assert_array_equal(np.asarray(indices), expected_indices.numpy())
    assert_close(grad, t.grad)


def test_max_pool2d_channels_last_indices_are_the_transposed_nchw_indices():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype(np.float32)
    out, indices = F.max_pool2d(jnp.asarray(x), 3, 2, 1, return_indices=True)
    out_cl, indices_cl = F.max_pool2d(jnp.asarray(x.transpose(0, 2, 3, 1)), 3, 2, 1, return_indices=True,
                                      layout="NHWC")
    np.testing.assert_array_equal(np.asarray(indices_cl).transpose(0, 3, 1, 2), np.asarray(indices))
    np.testing.assert_array_equal(np.asarray(out_cl).transpose(0, 3, 1, 2), np.asarray(out))


def test_max_unpool_repeated_indices_last_write_wins_and_gradient_gathers():
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]], np.float32)
    idx = np.array([[[1, 1, 5, 5]]], np.int64)
    t = to_torch(x, True)
    expected = TF.max_unpool1d(t, torch.from_numpy(idx), 2, output_size=(8,))
    cot = np.arange(8, dtype=np.float32).reshape(1, 1, 8)
    expected_grad = _torch_grad(expected, t, cot)
    out, grad = _vjp(lambda a: F.max_unpool1d(a, jnp.asarray(idx, jnp.int32), 2, output_size=(8,)), x, cot)
    assert_close(out, expected)
    assert_close(grad, expected_grad)


def test_max_unpool_traced_invalid_indices_poison_their_plane():
    x = jnp.ones((1, 2, 2, 2), jnp.float32)
    idx = jnp.asarray(np.array([[[[0, 1], [2, 3]], [[0, 1], [2, 99]]]]), jnp.int32)
    out = jax.jit(lambda a, i: F.max_unpool2d(a, i, 2))(x, idx)
    assert np.isfinite(np.asarray(out[0, 0])).all() and np.isnan(np.asarray(out[0, 1])).all()


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.max_unpool2d(jnp.ones((1, 1, 2, 2)), jnp.full((1, 1, 2, 2), 16), 2), RuntimeError,
     r"Found an invalid max index: 16 \(output volumes are of size 4x4\)"),
    (lambda: F.max_unpool2d(jnp.ones((1, 1, 2, 2)), jnp.zeros((1, 1, 2, 2), jnp.int32), 2, output_size=(9, 9)),
     ValueError, r'invalid output_size "\(9, 9\)" \(dim 0 must be between 2 and 6\)'),
    (lambda: F.max_unpool2d(jnp.ones((1, 1, 2, 2)), jnp.zeros((1, 1, 2, 2), jnp.int32), 2, output_size=(4, 4, 4)),
     ValueError, r"output_size should be a sequence containing 2 or 4 elements, but it has a length of '3'"),
    (lambda: F.max_unpool1d(jnp.ones((1, 1, 2)), jnp.zeros((1, 1, 3), jnp.int32), 2), ValueError,
     r"expected indices of the input's shape"),
    (lambda: F.max_unpool3d(jnp.ones((1, 1, 2, 2, 2)), jnp.zeros((1, 1, 2, 2, 2)), 2), TypeError,
     r"expected integer indices"),
    (lambda: F.max_pool3d(jnp.ones((1, 4, 4)), 2), ValueError, r"expected input to be 4-D or 5-D"),
    (lambda: F.max_pool3d(jnp.ones((1, 1, 4, 4, 4)), (2, 2)), TypeError, r"kernel_size must be an int or a sequence of 3"),
    (lambda: F.avg_pool3d(jnp.ones((1, 1, 4, 4, 4)), 3, padding=2), ValueError, r"avg_pool3d: pad should be at most half"),
    (lambda: F.max_pool3d(jnp.ones((1, 1, 2, 4, 4)), 3), ValueError, r"input size \(1x2x4x4\).*output size \(1x0x1x1\)"),
    (lambda: F.adaptive_max_pool3d(jnp.ones((1, 4, 4, 4)), (2, 2)), TypeError, r"output_size must be an int or 3 ints/None"),
    (lambda: F.adaptive_avg_pool1d(jnp.ones((1, 4)), (None,)), TypeError, r"output_size must be an int or a 1-tuple"),
    (lambda: F.lp_pool2d(jnp.ones((1, 4, 4)), "2", 2), TypeError, r"norm_type must be a real number"),
    (lambda: F.max_pool2d(jnp.ones((1, 4, 4)), 2, return_indices=1), TypeError, r"return_indices must be a bool"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
