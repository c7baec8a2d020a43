"""``rustorch.nn.functional``'s activations with PyTorch's ``inplace=`` arguments and in-place
variants (``relu_``, ``elu_``, ...), the random activations (``rrelu``, the alpha dropouts), and
the sampling and patch ops (``grid_sample``, ``affine_grid``, ``unfold``, ``fold``,
``channel_shuffle``, ``upsample_nearest``, ``upsample_bilinear``), recorded on Variables.

``inplace=True`` and the ``*_`` variants write the result into the input Variable (its version
is bumped, as PyTorch's in-place ops do: a leaf that requires grad is refused, and a backward
that needs the overwritten value raises).
"""
from __future__ import annotations

import warnings

import jax

from .. import functional as _F
from ..functional import _activations_more as _A
from ..functional import _grid as _G
from . import _random
from ._nn_functional_cnn import interpolate
from ._variable import Variable, apply


def _record(op, input, inplace, *arrays, **static):
    """``op(input, *arrays, **static)``, written into ``input`` when ``inplace``."""
    if inplace:
        input._begin_write()
        return input._write(apply(op, input, *arrays, **static))
    return apply(op, input, *arrays, **static)


# ------------------------------------------------------------------ activations with inplace=

def relu(input: Variable, inplace: bool = False) -> Variable:
    """``torch.nn.functional.relu``: ``max(0, x)`` (see :func:`rustorch.functional.relu`)."""
    return _record(_F.relu, input, inplace)


def relu_(input: Variable) -> Variable:
    """In-place :func:`relu`."""
    return relu(input, inplace=True)


def elu(input: Variable, alpha: float = 1.0, inplace: bool = False) -> Variable:
    """``torch.nn.functional.elu`` (see :func:`rustorch.functional.elu`)."""
    return _record(_F.elu, input, inplace, alpha=alpha)


def elu_(input: Variable, alpha: float = 1.0) -> Variable:
    """In-place :func:`elu`."""
    return elu(input, alpha, inplace=True)


def leaky_relu(input: Variable, negative_slope: float = 0.01, inplace: bool = False) -> Variable:
    """``torch.nn.functional.leaky_relu`` (see :func:`rustorch.functional.leaky_relu`)."""
    return _record(_F.leaky_relu, input, inplace, negative_slope=negative_slope)


def leaky_relu_(input: Variable, negative_slope: float = 0.01) -> Variable:
    """In-place :func:`leaky_relu`."""
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh(input: Variable, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Variable:
    """``torch.nn.functional.hardtanh`` (see :func:`rustorch.functional.hardtanh`)."""
    return _record(_F.hardtanh, input, inplace, min_val=min_val, max_val=max_val)


def hardtanh_(input: Variable, min_val: float = -1.0, max_val: float = 1.0) -> Variable:
    """In-place :func:`hardtanh`."""
    return hardtanh(input, min_val, max_val, inplace=True)


def _elementwise(fn):
    def wrapper(input: Variable, inplace: bool = False) -> Variable:
        return _record(fn, input, inplace)

    wrapper.__name__ = wrapper.__qualname__ = fn.__name__
    wrapper.__doc__ = (f"``torch.nn.functional.{fn.__name__}`` (see :func:`rustorch.functional.{fn.__name__}`); "
                       "``inplace=True`` writes the result into ``input``.")
    return wrapper


relu6 = _elementwise(_F.relu6)
silu = _elementwise(_F.silu)
mish = _elementwise(_F.mish)
hardswish = _elementwise(_F.hardswish)
hardsigmoid = _elementwise(_F.hardsigmoid)
selu = _elementwise(_A.selu)


def selu_(input: Variable) -> Variable:
    """In-place :func:`selu`."""
    return selu(input, inplace=True)


def celu(input: Variable, alpha: float = 1.0, inplace: bool = False) -> Variable:
    """``torch.nn.functional.celu`` (see :func:`rustorch.functional.celu`)."""
    return _record(_A.celu, input, inplace, alpha=alpha)


def celu_(input: Variable, alpha: float = 1.0) -> Variable:
    """In-place :func:`celu`."""
    return celu(input, alpha, inplace=True)


def threshold(input: Variable, threshold: float, value: float, inplace: bool = False) -> Variable:
    """``torch.nn.functional.threshold``: ``x if x > threshold else value``."""
    return _record(_A.threshold, input, inplace, threshold=threshold, value=value)


def threshold_(input: Variable, threshold: float, value: float) -> Variable:
    """In-place :func:`threshold`."""
    return _record(_A.threshold, input, True, threshold=threshold, value=value)


# ------------------------------------------------------------------------- plain activations

def glu(input: Variable, dim: int = -1) -> Variable:
    """``torch.nn.functional.glu``: ``a * sigmoid(b)`` over the halves of ``dim``."""
    return apply(_A.glu, input, dim=dim)


def hardshrink(input: Variable, lambd: float = 0.5) -> Variable:
    """``torch.nn.functional.hardshrink``: ``x if |x| > lambd else 0``."""
    return apply(_A.hardshrink, input, lambd=lambd)


def softshrink(input: Variable, lambd: float = 0.5) -> Variable:
    """``torch.nn.functional.softshrink``: ``x -+ lambd`` outside ``[-lambd, lambd]``, else 0."""
    return apply(_A.softshrink, input, lambd=lambd)


def softsign(input: Variable) -> Variable:
    """``torch.nn.functional.softsign``: ``x / (1 + |x|)``."""
    return apply(_A.softsign, input)


def tanhshrink(input: Variable) -> Variable:
    """``torch.nn.functional.tanhshrink``: ``x - tanh(x)``."""
    return apply(_A.tanhshrink, input)


def logsigmoid(input: Variable) -> Variable:
    """``torch.nn.functional.logsigmoid``: ``log(sigmoid(x))``, finite for large ``|x|``."""
    return apply(_A.logsigmoid, input)


def softmin(input: Variable, dim=None, _stacklevel: int = 3, dtype=None) -> Variable:
    """``torch.nn.functional.softmin``: ``softmax(-x, dim)``; without ``dim`` PyTorch's deprecated
    implicit choice (with its warning)."""
    if dim is None:
        dim = _A._implicit_softmax_dim("softmin", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return apply(_A.softmin, input, dim=dim)


# ------------------------------------------------------------------------ random activations

def _rrelu_train(x, key, counter, *, lower, upper):
    return _A.rrelu(x, lower, upper, True, key=jax.random.fold_in(key, counter))


def rrelu(input: Variable, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Variable:
    """``torch.nn.functional.rrelu``: in training each non-positive element is scaled by its own
    slope drawn from ``U(lower, upper)`` (from the default generator, inside the compiled
    program); otherwise by ``(lower + upper) / 2``."""
    _A._check_rrelu_bounds(lower, upper)
    if not training:
        return _record(_A.rrelu, input, inplace, lower=lower, upper=upper)
    generator = _random.default_generator
    return _record(_rrelu_train, input, inplace, generator.key, generator.next_counter(),
                   lower=float(lower), upper=float(upper))


def rrelu_(input: Variable, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Variable:
    """In-place :func:`rrelu`."""
    return rrelu(input, lower, upper, training, inplace=True)


def _alpha_dropout_op(x, key, counter, *, p, feature):
    fn = _A.feature_alpha_dropout if feature else _A.alpha_dropout
    return fn(x, p, True, key=jax.random.fold_in(key, counter))


def record_alpha_dropout(input: Variable, p: float, training: bool, inplace: bool, feature: bool) -> Variable:
    """Alpha dropout of ``input`` with a mask from the default generator (identity unless training)."""
    if feature and input.ndim < 2:
        raise RuntimeError(f"feature_alpha_dropout: Feature dropout requires at least 2 dimensions in the input, "
                           f"got shape {tuple(input.shape)}")
    if not training or p == 0:
        return input
    generator = _random.default_generator
    return _record(_alpha_dropout_op, input, inplace, generator.key, generator.next_counter(), p=float(p),
                   feature=feature)


def alpha_dropout(input: Variable, p: float = 0.5, training: bool = False, inplace: bool = False) -> Variable:
    """``torch.nn.functional.alpha_dropout`` (see :func:`rustorch.functional.alpha_dropout`);
    the mask comes from the default generator. The identity unless ``training``."""
    _F._checks.check_probability("alpha_dropout", p)
    return record_alpha_dropout(input, p, training, inplace, feature=False)


def feature_alpha_dropout(input: Variable, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Variable:
    """``torch.nn.functional.feature_alpha_dropout``: :func:`alpha_dropout` of whole
    ``[N, C]`` feature maps."""
    _F._checks.check_probability("feature_alpha_dropout", p)
    return record_alpha_dropout(input, p, training, inplace, feature=True)


# ------------------------------------------------------------------- sampling and patch ops

def channel_shuffle(input: Variable, groups: int) -> Variable:
    """``torch.nn.functional.channel_shuffle`` (see :func:`rustorch.functional.channel_shuffle`)."""
    return apply(_G.channel_shuffle, input, groups=groups)


def _static(value):
    return tuple(value) if isinstance(value, list) else value


def unfold(input: Variable, kernel_size, dilation=1, padding=0, stride=1) -> Variable:
    """``torch.nn.functional.unfold`` (im2col; see :func:`rustorch.functional.unfold`)."""
    return apply(_G.unfold, input, kernel_size=_static(kernel_size), dilation=_static(dilation),
                 padding=_static(padding), stride=_static(stride))


def fold(input: Variable, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Variable:
    """``torch.nn.functional.fold`` (col2im; see :func:`rustorch.functional.fold`)."""
    return apply(_G.fold, input, output_size=_static(output_size), kernel_size=_static(kernel_size),
                 dilation=_static(dilation), padding=_static(padding), stride=_static(stride))


def _align_corners(align_corners):
    if align_corners is None:
        warnings.warn(_G._ALIGN_WARNING, UserWarning, stacklevel=3)
        return False
    return bool(align_corners)


def affine_grid(theta: Variable, size, align_corners=None) -> Variable:
    """``torch.nn.functional.affine_grid`` (see :func:`rustorch.functional.affine_grid`)."""
    size = tuple(int(s) for s in size)
    align_corners = _align_corners(align_corners)
    if align_corners and len(size) > 2 and min(size[2:]) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", UserWarning, stacklevel=2)
    return apply(_G.affine_grid_checked, theta, size=size, align_corners=align_corners)


def grid_sample(input: Variable, grid: Variable, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners=None) -> Variable:
    """``torch.nn.functional.grid_sample`` (see :func:`rustorch.functional.grid_sample`); gradients
    flow to ``input`` and ``grid``."""
    _G.check_grid_sample_modes(mode, padding_mode)
    return apply(_G.grid_sample, input, grid, mode=mode, padding_mode=padding_mode,
                 align_corners=_align_corners(align_corners))


def upsample_nearest(input: Variable, size=None, scale_factor=None) -> Variable:
    """``torch.nn.functional.upsample_nearest`` (deprecated in PyTorch, with its warning):
    ``interpolate(input, size, scale_factor, mode='nearest')``."""
    warnings.warn("nn.functional.upsample_nearest is deprecated. Use nn.functional.interpolate instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Variable, size=None, scale_factor=None) -> Variable:
    """``torch.nn.functional.upsample_bilinear`` (deprecated in PyTorch, with its warning):
    ``interpolate(input, size, scale_factor, mode='bilinear', align_corners=True)``."""
    warnings.warn("nn.functional.upsample_bilinear is deprecated. Use nn.functional.interpolate instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
