"""1-D pooling, adaptive max pooling, padding and interpolation (pure functions) against torch:
random configurations, outputs and input gradients, ties and NaNs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F


def _compare(ours, theirs, x, seed=0):
    t = to_torch(x, True)
    expected = theirs(t)
    cot = np.random.default_rng(seed).standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))

    @jax.jit
    def forward_and_vjp(a, c):
        out, vjp = jax.vjp(ours, a)
        return out, vjp(c)[0]

    out, grad = forward_and_vjp(jnp.asarray(x), jnp.asarray(cot))
    assert_close(out, expected, err_msg="output")
    assert_close(grad, t.grad, err_msg="input gradient")


def _pool1d_config(index):
    rng = np.random.default_rng(index)
    k = int(rng.integers(1, 5))
    stride = int(rng.integers(1, 4))
    padding = int(rng.integers(0, k // 2 + 1))
    dilation = int(rng.integers(1, 3))
    ceil_mode = bool(index % 2)
    length = dilation * (k - 1) + 1 + int(rng.integers(0, 6))
    shape = (2, 3, length) if index % 3 else (3, length)
    return k, stride, padding, dilation, ceil_mode, shape


@pytest.mark.parametrize("index", range(8))
def test_max_and_avg_pool1d_match_torch(index):
    k, stride, padding, dilation, ceil_mode, shape = _pool1d_config(index)
    x = np.random.default_rng(50 + index).standard_normal(shape).astype(np.float32)
    x[..., 1] = x[..., 0]  # a tie
    _compare(lambda a: F.max_pool1d(a, k, stride, padding, dilation, ceil_mode),
             lambda t: TF.max_pool1d(t, k, stride, padding, dilation, ceil_mode), x, index)
    include = index % 4 < 2
    _compare(lambda a: F.avg_pool1d(a, k, stride, padding, ceil_mode, include),
             lambda t: TF.avg_pool1d(t, k, stride, padding, ceil_mode, include), x, index)


@pytest.mark.parametrize("shape,out", [((2, 3, 7, 5), (3, 2)), ((3, 9, 4), (4, 6)), ((1, 2, 5, 5), (5, 1)),
                                       ((2, 2, 6, 6), (None, 4))])
def test_adaptive_max_pool2d_matches_torch(shape, out):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    x[..., 0, 1] = x[..., 0, 0]  # ties go to the first maximum in scan order
    _compare(lambda a: F.adaptive_max_pool2d(a, out), lambda t: TF.adaptive_max_pool2d(t, out), x)


@pytest.mark.parametrize("length,out", [(9, 4), (4, 7), (6, 3)])
def test_adaptive_pool1d_matches_torch(length, out):
    x = np.random.default_rng(length).standard_normal((2, 3, length)).astype(np.float32)
    _compare(lambda a: F.adaptive_max_pool1d(a, out), lambda t: TF.adaptive_max_pool1d(t, out), x)
    _compare(lambda a: F.adaptive_avg_pool1d(a, out), lambda t: TF.adaptive_avg_pool1d(t, out), x)


def test_adaptive_max_pool_nan_propagates():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    out = np.asarray(F.adaptive_max_pool2d(jnp.asarray(x), 2))
    expected = TF.adaptive_max_pool2d(torch.from_numpy(x), 2).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(out[~np.isnan(out)], expected[~np.isnan(expected)])


@pytest.mark.parametrize("mode,pad,shape", [
    ("constant", (1, 2, -1, 0), (2, 3, 4)), ("reflect", (2, 1), (2, 5)), ("reflect", (1, 2, 3, 0), (1, 2, 4, 5)),
    ("replicate", (2, 0, 1, 3, 1, 1), (1, 1, 2, 3, 2)), ("circular", (2, 3, 1, 0), (2, 2, 3, 4)),
])
def test_pad_matches_torch(mode, pad, shape):
    x = np.random.default_rng(len(pad)).standard_normal(shape).astype(np.float32)
    _compare(lambda a: F.pad(a, pad, mode), lambda t: TF.pad(t, pad, mode), x)


@pytest.mark.parametrize("kwargs,shape", [
    (dict(scale_factor=3, mode="nearest"), (1, 2, 3, 4)),
    (dict(size=(5, 2), mode="nearest"), (2, 1, 4, 7)),
    (dict(scale_factor=0.75, mode="bilinear"), (1, 2, 8, 6)),
    (dict(size=(6, 9), mode="bilinear", align_corners=True), (2, 2, 4, 5)),
    (dict(scale_factor=(1.7, 2.2), mode="bicubic"), (1, 1, 5, 4)),
    (dict(size=9, mode="bicubic", align_corners=True), (1, 2, 4, 4)),
    (dict(scale_factor=2.5, mode="linear", recompute_scale_factor=True), (2, 2, 5)),
    (dict(size=(3, 4, 5), mode="trilinear"), (1, 2, 2, 3, 4)),
    (dict(scale_factor=2, mode="nearest"), (1, 2, 2, 2, 3)),
])
def test_interpolate_matches_torch(kwargs, shape):
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    _compare(lambda a: F.interpolate(a, **kwargs), lambda t: TF.interpolate(t, **kwargs), x)


def test_pixel_shuffle_round_trip_matches_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 18, 4, 5)).astype(np.float32)
    _compare(lambda a: F.pixel_shuffle(a, 3), lambda t: TF.pixel_shuffle(t, 3), x)
    y = np.random.default_rng(1).standard_normal((2, 3, 6, 4)).astype(np.float32)
    _compare(lambda a: F.pixel_unshuffle(a, 2), lambda t: TF.pixel_unshuffle(t, 2), y)
    with pytest.raises(ValueError, match="divisible by the square"):
        F.pixel_shuffle(jnp.zeros((1, 3, 2, 2)), 2)


def test_pooling_errors():
    with pytest.raises(ValueError, match="expected input to be 2-D or 3-D"):
        F.max_pool1d(jnp.zeros((1, 1, 2, 2)), 2)
    with pytest.raises(ValueError, match="pad should be at most half"):
        F.max_pool1d(jnp.zeros((1, 1, 6)), 2, padding=2)
    with pytest.raises(TypeError, match="output_size"):
        F.adaptive_max_pool2d(jnp.zeros((1, 1, 4, 4)), (2, 2, 2))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                              count_include_pad=False)])
def test_avg_pool2d_channels_last_matches_nchw(kwargs):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype(np.float32)
    nchw = F.avg_pool2d(jnp.asarray(x), **kwargs)
    nhwc = F.avg_pool2d(jnp.asarray(x.transpose(0, 2, 3, 1)), **kwargs, layout="NHWC")
    assert_close(jnp.transpose(nhwc, (0, 3, 1, 2)), np.asarray(nchw))
    adaptive = F.adaptive_avg_pool2d(jnp.asarray(x.transpose(0, 2, 3, 1)), (3, 4), layout="NHWC")
    assert_close(jnp.transpose(adaptive, (0, 3, 1, 2)), np.asarray(F.adaptive_avg_pool2d(jnp.asarray(x), (3, 4))))
