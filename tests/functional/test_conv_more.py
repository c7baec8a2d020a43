"""conv1d/conv3d, transposed convolutions and grouped/depthwise convolutions against torch:
outputs and input, weight and bias gradients over random configurations."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F


def _ints(rng, low, high, n):
    return tuple(int(v) for v in rng.integers(low, high, size=n))


def _conv_config(index, n):
    rng = np.random.default_rng(1000 * n + index)
    groups = (1, 2, 3, 1)[index % 4]
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kernel, dilation = _ints(rng, 1, 4, n), _ints(rng, 1, 3, n)
    same = index % 5 == 3
    stride = (1,) * n if same else _ints(rng, 1, 3, n)
    padding = "same" if same else _ints(rng, 0, 3, n)
    spatial = tuple(d * (k - 1) + 1 + int(rng.integers(0, 4)) for k, d in zip(kernel, dilation))
    batch = () if index % 3 == 1 else (2,)
    return dict(x=batch + (c_in,) + spatial, w=(c_out, c_in // groups) + kernel, bias=index % 4 != 2,
                kwargs=dict(stride=stride, padding=padding, dilation=dilation, groups=groups))


def _transpose_config(index, n):
    rng = np.random.default_rng(2000 * n + index)
    groups = (1, 2, 1, 3)[index % 4]
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kernel, dilation, stride = _ints(rng, 1, 4, n), _ints(rng, 1, 3, n), _ints(rng, 1, 4, n)
    spatial = _ints(rng, 2, 6, n)
    # padding up to where the output keeps at least one element
    padding = tuple(int(rng.integers(0, min(3, ((size - 1) * s + d * (k - 1)) // 2) + 1))
                    for size, k, s, d in zip(spatial, kernel, stride, dilation))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    batch = () if index % 3 == 1 else (2,)
    return dict(x=batch + (c_in,) + spatial, w=(c_in, c_out // groups) + kernel, bias=index % 4 != 2,
                kwargs=dict(stride=stride, padding=padding, output_padding=output_padding,
                            groups=groups, dilation=dilation))


def _check(ours, theirs, cfg, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(cfg["x"]).astype(np.float32)
    w = rng.standard_normal(cfg["w"]).astype(np.float32)
    transposed = "transpose" in ours.__name__
    out_channels = cfg["w"][1] * cfg["kwargs"]["groups"] if transposed else cfg["w"][0]
    b = rng.standard_normal(out_channels).astype(np.float32) if cfg["bias"] else None
    arrays = [x, w] + ([b] if b is not None else [])
    tensors = [to_torch(a, True) for a in arrays]
    with warnings.catch_warnings():
        # torch notes that 'same' with an even kernel copies the input; irrelevant here.
        warnings.simplefilter("ignore", UserWarning)
        expected = theirs(*tensors, **cfg["kwargs"]) if b is not None else theirs(*tensors, None, **cfg["kwargs"])
    cot = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))

    @jax.jit
    def run(args, cot):
        out, vjp = jax.vjp(lambda *a: ours(*a, **cfg["kwargs"]) if len(a) == 3 else ours(*a, None, **cfg["kwargs"]), *args)
        return out, vjp(cot)

    out, grads = run(tuple(jnp.asarray(a) for a in arrays), jnp.asarray(cot))
    assert_close(out, expected, err_msg=f"output {cfg}")
    for name, g, t in zip(("input", "weight", "bias"), grads, tensors):
        assert_close(g, t.grad, err_msg=f"grad {name} {cfg}")


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("index", range(6))
def test_conv_nd_matches_torch(n, index):
    _check(getattr(F, f"conv{n}d"), getattr(TF, f"conv{n}d"), _conv_config(index, n), index)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("index", range(6))
def test_conv_transpose_nd_matches_torch(n, index):
    _check(getattr(F, f"conv_transpose{n}d"), getattr(TF, f"conv_transpose{n}d"), _transpose_config(index, n), index)


@pytest.mark.parametrize("shape,groups,out_channels,stride,dilation", [
    ((2, 6, 7, 9), 6, 6, 1, 1),       # depthwise
    ((2, 4, 9, 8), 4, 8, 2, 1),       # depthwise, channel multiplier 2, strided
    ((1, 8, 8, 8), 4, 8, 1, 2),       # 2 channels per group, dilated
    ((2, 12, 6, 6), 3, 6, 2, 1),      # 4 in, 2 out per group
])
def test_grouped_and_depthwise_conv2d_match_torch(shape, groups, out_channels, stride, dilation):
    cfg = dict(x=shape, w=(out_channels, shape[1] // groups, 3, 3), bias=True,
               kwargs=dict(stride=stride, padding=1, dilation=dilation, groups=groups))
    _check(F.conv2d, TF.conv2d, cfg, 7)


def test_grouped_conv2d_channels_last_matches_nchw():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 6, 6)).astype(np.float32)
    w = rng.standard_normal((8, 2, 3, 3)).astype(np.float32)
    nchw = F.conv2d(jnp.asarray(x), jnp.asarray(w), padding=1, groups=4)
    nhwc = F.conv2d(jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(w), padding=1, groups=4, layout="NHWC")
    assert_close(jnp.transpose(nhwc, (0, 3, 1, 2)), np.asarray(nchw))


def test_conv_transpose_errors():
    x = jnp.zeros((1, 2, 4, 4))
    w = jnp.zeros((2, 3, 3, 3))
    with pytest.raises(ValueError, match="output padding must be smaller"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="expected input of shape"):
        F.conv_transpose2d(jnp.zeros((1, 3, 4, 4)), w)
    with pytest.raises(ValueError, match="expected input to be 3-D or 4-D"):
        F.conv_transpose2d(jnp.zeros((2, 4, 4)).reshape(1, 1, 2, 4, 4), w)
    with pytest.raises(ValueError, match="expected weight to be 3-D"):
        F.conv1d(jnp.zeros((1, 2, 5)), w)


def test_output_padding_from_output_size():
    from rustorch.functional._conv import conv_transpose_output_padding
    # torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1): input 4 -> 7 or 8.
    assert conv_transpose_output_padding("t", (4, 4), (8, 7), (3, 3), (2, 2), (1, 1), (1, 1)) == (1, 0)
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        conv_transpose_output_padding("t", (4, 4), (9, 7), (3, 3), (2, 2), (1, 1), (1, 1))
