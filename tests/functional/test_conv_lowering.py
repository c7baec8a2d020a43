"""The CPU convolution's per-shape lowerings against torch: every lowering of each piece
(forward, input gradient, weight gradient), forced on random shapes, strides, paddings and
dilations, and the plan chosen by shape, including the small-map cases that pick GEMMs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F
from rustorch import _config
from rustorch.functional import _conv_lowering

PATHS = {
    "gemm": dict(forward="gemm", input_grad="col2im", weight_grad="gemm"),
    "xla": dict(forward="xla", input_grad="xla", weight_grad="xla"),
    "planned": {},
}


def _random_config(index):
    rng = np.random.default_rng(1000 + index)
    c_in, c_out = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    kernel = tuple(int(k) for k in rng.integers(1, 6, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    padding = tuple(int(p) for p in rng.integers(0, 3, size=2))
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    spatial = tuple(int(max(1, e - 2 * p) + rng.integers(0, 7)) for e, p in zip(effective, padding))
    batch = int(rng.integers(1, 4))
    return (batch, c_in) + spatial, (c_out, c_in) + kernel, dict(stride=stride, padding=padding, dilation=dilation)


CONFIGS = [_random_config(i) for i in range(6)]


def _check(x_shape, w_shape, kwargs, seed, channels_last=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    xt, wt, bt = to_torch(x, True), to_torch(w, True), to_torch(b, True)
    expected = TF.conv2d(xt, wt, bt, **kwargs)
    cot = rng.standard_normal(tuple(expected.shape)).astype(np.float32)
    expected.backward(to_torch(cot))
    if channels_last:
        def conv(x, w, b):
            nhwc = F.conv2d(jnp.transpose(x, (0, 2, 3, 1)), w, b, **kwargs, layout="NHWC")
            return jnp.transpose(nhwc, (0, 3, 1, 2))
    else:
        def conv(x, w, b):
            return F.conv2d(x, w, b, **kwargs)
    # A fresh function per call: the forced lowering is read when the program is traced.
    out, grads = jax.jit(lambda a, c: (lambda o, v: (o, v(c)))(*jax.vjp(conv, *a)))(
        tuple(jnp.asarray(a) for a in (x, w, b)), jnp.asarray(cot))
    assert_close(out, expected, err_msg=f"output {x_shape} {w_shape} {kwargs}")
    for name, g, t in zip(("input", "weight", "bias"), grads, (xt, wt, bt)):
        assert_close(g, t.grad, err_msg=f"{name} gradient {x_shape} {w_shape} {kwargs}")


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_each_lowering_matches_torch(monkeypatch, path, index):
    monkeypatch.setattr(_config, "CONV_LOWERING_FORCE", PATHS[path])
    x_shape, w_shape, kwargs = CONFIGS[index]
    _check(x_shape, w_shape, kwargs, seed=index, channels_last=index % 2 == 1)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((3, 24, 2, 2), (20, 24, 3, 3), dict(padding=1)),  # 2x2 maps: GEMM forward, col2im
        ((2, 16, 4, 4), (24, 16, 3, 3), dict(stride=2, padding=1)),  # strided, small map
        ((2, 16, 4, 5), (8, 16, 1, 1), dict(stride=2)),  # 1x1 strided downsample
        ((2, 3, 23, 23), (8, 3, 7, 7), dict(stride=2, padding=3)),  # stem: XLA weight gradient
        ((2, 64, 9, 8), (4, 64, 3, 3), dict(padding=1)),  # many channels, larger map
    ],
)
def test_planned_lowering_on_network_shapes_matches_torch(x_shape, w_shape, kwargs):
    _check(x_shape, w_shape, kwargs, seed=sum(x_shape), channels_last=True)


def test_plan_picks_gemms_on_small_maps_and_xla_on_large_ones(monkeypatch):
    # The plan for YNNPACK's convolution kernels (jaxlib's default).
    monkeypatch.setattr(_config, "EIGEN_CONVOLUTIONS", False)
    # NHWC input shape, HWIO weight shape, output size.
    assert _conv_lowering._plan((16, 2, 2, 512), (3, 3, 512, 512), (2, 2)) == ("gemm", "col2im", "gemm")
    assert _conv_lowering._plan((16, 4, 4, 256), (3, 3, 256, 256), (4, 4)) == ("xla", "col2im", "gemm")
    assert _conv_lowering._plan((16, 16, 16, 64), (3, 3, 64, 64), (16, 16)) == ("xla", "xla", "xla")
    assert _conv_lowering._plan((256, 14, 14, 32), (3, 3, 32, 64), (14, 14)) == ("xla", "xla", "gemm")
    assert _conv_lowering._plan((16, 64, 64, 3), (7, 7, 3, 64), (32, 32)) == ("xla", "xla", "xla")


def test_plan_for_xla_own_convolution_kernels(monkeypatch):
    """With XLA's own (Eigen) kernels the weight gradient is always XLA's, the column-gradient
    input gradient pays only on maps of at most 16 positions."""
    monkeypatch.setattr(_config, "EIGEN_CONVOLUTIONS", True)
    assert _conv_lowering._plan((16, 2, 2, 512), (3, 3, 512, 512), (2, 2)) == ("gemm", "col2im", "xla")
    assert _conv_lowering._plan((16, 4, 4, 256), (3, 3, 256, 256), (4, 4)) == ("xla", "col2im", "xla")
    assert _conv_lowering._plan((128, 8, 8, 64), (3, 3, 64, 64), (8, 8)) == ("xla", "xla", "xla")
    assert _conv_lowering._plan((256, 14, 14, 32), (3, 3, 32, 64), (14, 14)) == ("xla", "xla", "xla")
