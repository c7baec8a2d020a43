"""grid_sample, affine_grid, unfold, fold, channel_shuffle and interpolate's area,
nearest-exact and antialias modes against torch: outputs and gradients (input and grid) on
random configurations, and PyTorch's errors."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_compare import assert_close, to_torch

import rustorch.functional as F


def _check(ours, theirs, arrays, rng, rtol=1e-5, atol_scale=1e-6):
    tensors = [to_torch(a, requires_grad=True) for a in arrays]
    expected = theirs(*tensors)
    cotangent = rng.standard_normal(expected.shape).astype(np.float32)
    expected.backward(to_torch(cotangent))

    out, vjp = jax.vjp(ours, *[jnp.asarray(a) for a in arrays])
    grads = vjp(jnp.asarray(cotangent))
    assert_close(out, expected, rtol, atol_scale, err_msg="output")
    for k, (grad, t) in enumerate(zip(grads, tensors)):
        assert_close(grad, t.grad, rtol, atol_scale, err_msg=f"gradient {k}")


# ------------------------------------------------------------------------------- grid_sample

@pytest.mark.parametrize("mode,padding_mode", list(itertools.product(("bilinear", "nearest", "bicubic"),
                                                                      ("zeros", "border", "reflection"))))
def test_grid_sample_2d_matches_torch(mode, padding_mode):
    rng = np.random.default_rng(len(mode) * 7 + len(padding_mode))
    for align_corners in (False, True):  # one shape: eager JAX reuses the compiled ops
        x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
        # Beyond [-1, 1] too, so that the padding modes matter (reflection over several periods).
        grid = rng.uniform(-2.5, 2.5, (2, 3, 2, 2)).astype(np.float32)
        _check(lambda a, g: F.grid_sample(a, g, mode, padding_mode, align_corners),
               lambda a, g: TF.grid_sample(a, g, mode, padding_mode, align_corners), (x, grid), rng, rtol=2e-5,
               atol_scale=4e-6)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_3d_matches_torch(mode):
    rng = np.random.default_rng(7)
    for padding_mode, align_corners in (("zeros", False), ("border", True), ("reflection", False)):
        x = rng.standard_normal((2, 2, 3, 4, 3)).astype(np.float32)
        grid = rng.uniform(-1.6, 1.6, (2, 2, 1, 2, 3)).astype(np.float32)
        _check(lambda a, g: F.grid_sample(a, g, mode, padding_mode, align_corners),
               lambda a, g: TF.grid_sample(a, g, mode, padding_mode, align_corners), (x, grid), rng, rtol=2e-5,
               atol_scale=4e-6)


def test_grid_sample_identity_grid_reproduces_the_input(rng):
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    theta = np.tile(np.eye(2, 3, dtype=np.float32), (2, 1, 1))
    for align_corners in (False, True):
        grid = F.affine_grid(jnp.asarray(theta), (2, 3, 5, 6), align_corners)
        for mode in ("bilinear", "nearest", "bicubic"):
            out = F.grid_sample(jnp.asarray(x), grid, mode, "zeros", align_corners)
            np.testing.assert_allclose(np.asarray(out), x, rtol=1e-5, atol=1e-5)


def test_grid_sample_errors():
    x, grid = jnp.zeros((1, 2, 3, 4)), jnp.zeros((1, 2, 2, 2))
    with pytest.raises(ValueError, match="expected mode to be"):
        F.grid_sample(x, grid, "area", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode to be"):
        F.grid_sample(x, grid, padding_mode="circular", align_corners=False)
    with pytest.raises(ValueError, match="size 2 in last dimension"):
        F.grid_sample(x, jnp.zeros((1, 2, 2, 3)), align_corners=False)
    with pytest.raises(ValueError, match="same batch size"):
        F.grid_sample(x, jnp.zeros((2, 2, 2, 2)), align_corners=False)
    with pytest.raises(ValueError, match="bicubic interpolation only supports 4D"):
        F.grid_sample(jnp.zeros((1, 2, 3, 4, 5)), jnp.zeros((1, 2, 2, 2, 3)), "bicubic", align_corners=False)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, grid)


# ------------------------------------------------------------------------------- affine_grid

def test_affine_grid_matches_torch(rng):
    for dims, align_corners in ((2, False), (2, True), (3, False)):
        n = 2
        size = (n, 3) + tuple(int(s) for s in rng.integers(2, 7, dims))
        theta = rng.standard_normal((n, dims, dims + 1)).astype(np.float32)
        _check(lambda t: F.affine_grid(t, size, align_corners), lambda t: TF.affine_grid(t, size, align_corners),
               (theta,), rng)


def test_spatial_transformer_matches_torch(rng):
    """affine_grid then grid_sample, differentiated with respect to theta and the input."""
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    theta = (np.eye(2, 3) + 0.3 * rng.standard_normal((2, 2, 3))).astype(np.float32)
    _check(lambda a, t: F.grid_sample(a, F.affine_grid(t, (2, 3, 4, 4), False), align_corners=False),
           lambda a, t: TF.grid_sample(a, TF.affine_grid(t, (2, 3, 4, 4), False), align_corners=False),
           (x, theta), rng, rtol=2e-5)


def test_affine_grid_errors():
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(jnp.zeros((2, 3, 4)), (2, 3, 4, 5), False)
    with pytest.raises(ValueError, match="Nx3x4"):
        F.affine_grid(jnp.zeros((2, 2, 3)), (2, 3, 4, 5, 6), False)
    with pytest.raises(ValueError, match="non-zero, positive output size"):
        F.affine_grid(jnp.zeros((2, 2, 3)), (2, 3, 0, 5), False)
    with pytest.raises(ValueError, match="4D and 5D sizes"):
        F.affine_grid(jnp.zeros((2, 2, 3)), (2, 3, 5), False)
    with pytest.warns(UserWarning, match="unit-size grids"):
        F.affine_grid(jnp.zeros((2, 2, 3)), (2, 3, 1, 5), True)


# --------------------------------------------------------------------------- unfold and fold

def _geometry(rng):
    pick = lambda low, high: int(rng.integers(low, high)) if rng.random() < 0.5 else \
        tuple(int(v) for v in rng.integers(low, high, 2))
    return pick(1, 4), pick(1, 3), pick(0, 3), pick(1, 4)


def test_unfold_and_fold_match_torch(rng):
    done = 0
    while done < 2:
        kernel, dilation, padding, stride = _geometry(rng)
        x = rng.standard_normal((int(rng.integers(1, 3)), int(rng.integers(1, 4)), 7, 8)).astype(np.float32)
        try:
            cols = TF.unfold(torch.tensor(x), kernel, dilation, padding, stride)
        except RuntimeError:
            continue  # no block fits; the error is tested below
        _check(lambda a: F.unfold(a, kernel, dilation, padding, stride),
               lambda a: TF.unfold(a, kernel, dilation, padding, stride), (x,), rng)
        _check(lambda a: F.unfold(a, kernel, dilation, padding, stride),
               lambda a: TF.unfold(a, kernel, dilation, padding, stride), (x[0],), rng)
        blocks = rng.standard_normal(tuple(cols.shape)).astype(np.float32)
        _check(lambda b: F.fold(b, (7, 8), kernel, dilation, padding, stride),
               lambda b: TF.fold(b, (7, 8), kernel, dilation, padding, stride), (blocks,), rng)
        _check(lambda b: F.fold(b, [7, 8], kernel, dilation, padding, stride),
               lambda b: TF.fold(b, [7, 8], kernel, dilation, padding, stride), (blocks[0],), rng)
        done += 1


def test_unfold_and_fold_errors():
    with pytest.raises(ValueError, match="3D or 4D"):
        F.unfold(jnp.zeros((2, 3, 4)[:2]), 2)
    with pytest.raises(ValueError, match="must be at least one"):
        F.unfold(jnp.zeros((1, 2, 3, 3)), 4)
    with pytest.raises(ValueError, match="divisible by the product of kernel_size"):
        F.fold(jnp.zeros((1, 7, 4)), (3, 3), 2)
    with pytest.raises(ValueError, match="calculated number of sliding blocks 2 \\* 2 = 4"):
        F.fold(jnp.zeros((1, 8, 5)), (3, 3), 2)
    with pytest.raises(ValueError, match="2D or 3D"):
        F.fold(jnp.zeros((1, 8, 5, 2)), (3, 3), 2)


def test_channel_shuffle_matches_torch(rng):
    for shape, groups in (((2, 6, 3, 2), 3), ((1, 8, 5), 2), ((2, 4, 2, 2, 2), 4), ((3, 5, 2), 1)):
        x = rng.standard_normal(shape).astype(np.float32)
        _check(lambda a: F.channel_shuffle(a, groups), lambda a: TF.channel_shuffle(a, groups), (x,), rng)
    with pytest.raises(ValueError, match="divisible by groups"):
        F.channel_shuffle(jnp.zeros((1, 3, 2)), 2)
    with pytest.raises(ValueError, match="must be positive"):
        F.channel_shuffle(jnp.zeros((1, 4, 2)), 0)
    with pytest.raises(ValueError, match="> 2 dims"):
        F.channel_shuffle(jnp.zeros((4, 2)), 2)


# ------------------------------------------------------------------ interpolate: new modes

def _interpolate_case(rng, dims, mode):
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) + tuple(int(s) for s in rng.integers(2, 9, dims))
    if rng.random() < 0.5:
        size = tuple(int(s) for s in rng.integers(1, 12, dims))
        return shape, dict(size=size if dims > 1 or rng.random() < 0.5 else size[0])
    factor = float(rng.choice([0.5, 0.77, 1.5, 2.0, 2.7, 3.0])) if rng.random() < 0.6 else \
        tuple(float(f) for f in rng.choice([0.5, 1.5, 2.0, 3.3], dims))
    kwargs = dict(scale_factor=factor)
    if mode != "area" and rng.random() < 0.3:
        kwargs["recompute_scale_factor"] = True
    return shape, kwargs


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("mode", ["area", "nearest-exact", "nearest"])
def test_interpolate_index_modes_match_torch(mode, dims):
    rng = np.random.default_rng(dims * 10 + len(mode))
    for _ in range(3):
        shape, kwargs = _interpolate_case(rng, dims, mode)
        x = rng.standard_normal(shape).astype(np.float32)
        _check(lambda a: F.interpolate(a, mode=mode, **kwargs), lambda a: TF.interpolate(a, mode=mode, **kwargs),
               (x,), rng)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_interpolate_antialias_matches_torch(mode):
    rng = np.random.default_rng(len(mode))
    done = 0
    while done < 4:
        shape, kwargs = _interpolate_case(rng, 2, mode)
        kwargs["align_corners"] = [None, False, True][done % 3]
        if TF.interpolate(torch.zeros(shape), mode=mode, **kwargs).shape[-1] == 1:
            # PyTorch's CPU kernel repeats the first row when the output is one column wide
            # (torch 2.13: interpolate(x[7x1], size=(3, 1), antialias=True) is constant).
            continue
        done += 1
        x = rng.standard_normal(shape).astype(np.float32)
        _check(lambda a: F.interpolate(a, mode=mode, antialias=True, **kwargs),
               lambda a: TF.interpolate(a, mode=mode, antialias=True, **kwargs), (x,), rng, rtol=2e-5)


def test_interpolate_errors():
    x = jnp.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        F.interpolate(jnp.zeros((1, 2, 4)), scale_factor=2, mode="linear", antialias=True)
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        F.interpolate(x, scale_factor=2, mode="nearest", antialias=True)
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful"):
        F.interpolate(x, size=3, recompute_scale_factor=True)
    for mode in ("area", "nearest-exact"):
        with pytest.raises(ValueError, match="align_corners option can only be set"):
            F.interpolate(x, size=3, mode=mode, align_corners=False)
