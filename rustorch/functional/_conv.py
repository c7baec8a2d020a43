"""2-D convolution with PyTorch's layouts, padding modes and argument checks."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ._checks import check_ndim, pair
from ._conv_lowering import conv_cpu_nchw, conv_cpu_nhwc, use_cpu_lowering

_DIMENSION_NUMBERS = ("NCHW", "OIHW", "NCHW")
_CHANNELS_LAST_DIMENSION_NUMBERS = ("NHWC", "OIHW", "NHWC")
# Benchmarks flip this to compare lowerings in one process; it is read at trace time.
_LOWERING = {"cpu": True}


def int_pair_at_least(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    """``pair(op, name, value)`` and raise ``ValueError`` unless both entries are >= ``minimum``.

    Shared by the convolution and pooling ops, whose geometric arguments (kernel size,
    stride, padding, dilation) PyTorch accepts as an int or a pair of ints.
    """
    result = pair(op, name, value)
    if min(result) < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{op}: every entry of {name} must be {bound}, got {name}={value!r}")
    return result


def check_floating(op: str, name: str, x) -> None:
    """Raise ``TypeError`` unless ``x`` has a floating-point dtype."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{op}: expected {name} to have a floating-point dtype, got {x.dtype}; "
            f"cast it first, e.g. {name}.astype(jnp.float32)"
        )


def _same_padding(kernel: tuple[int, int], dilation: tuple[int, int]) -> list[tuple[int, int]]:
    # PyTorch's _convolution_mode: total = d*(k-1), left = total // 2 and the odd
    # remainder goes to the right/bottom.
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return pads


def _conv_geometry(input, weight, bias, stride, padding, dilation, groups):
    """Validate a conv2d call on the ``[N, C, H, W]`` (or ``[C, H, W]``) shape of ``input``;
    return the stride, the per-dimension ``(lo, hi)`` paddings and the dilation."""
    op = "conv2d"
    check_ndim(op, "weight", weight, (4,), "[out_channels, in_channels // groups, kH, kW]")
    check_floating(op, "input", input)
    if weight.dtype != input.dtype:
        raise TypeError(
            f"{op}: input dtype {input.dtype} and weight dtype {weight.dtype} should be the same; "
            "cast one of them"
        )
    stride = int_pair_at_least(op, "stride", stride, 1)
    dilation = int_pair_at_least(op, "dilation", dilation, 1)
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{op}: groups must be positive, got groups={groups}")

    out_channels, in_per_group = weight.shape[0], weight.shape[1]
    kernel = (weight.shape[2], weight.shape[3])
    channels = input.shape[-3]
    if out_channels % groups != 0:
        raise ValueError(
            f"{op}: given groups={groups}, expected weight.shape[0] (out_channels) to be divisible "
            f"by {groups}, but got weight of shape {tuple(weight.shape)}"
        )
    if channels != in_per_group * groups:
        raise ValueError(
            f"{op}: given groups={groups} and weight of shape {tuple(weight.shape)}, expected input "
            f"of shape {tuple(input.shape)} to have {in_per_group * groups} channels "
            f"(weight.shape[1] * groups), but got {channels} channels instead"
        )
    if bias is not None:
        if bias.ndim != 1 or bias.shape[0] != out_channels:
            raise ValueError(
                f"{op}: given weight of shape {tuple(weight.shape)}, expected bias to be 1-D with "
                f"{out_channels} elements, but got bias of shape {tuple(bias.shape)}"
            )
        if bias.dtype != input.dtype:
            raise TypeError(
                f"{op}: bias dtype {bias.dtype} should equal the input dtype {input.dtype}"
            )

    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0), (0, 0)]
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions "
                    f"(got stride={stride}); use an explicit int or pair padding instead"
                )
            pads = _same_padding(kernel, dilation)
        else:
            raise ValueError(
                f"{op}: invalid padding string {padding!r}, should be one of 'valid' or 'same' "
                "(or pass an int or a pair of ints)"
            )
    else:
        ph, pw = int_pair_at_least(op, "padding", padding, 0)
        pads = [(ph, ph), (pw, pw)]

    spatial = input.shape[-2:]
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(spatial, pads))
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(e > p for e, p in zip(effective, padded)):
        raise ValueError(
            f"{op}: calculated padded input size per channel: ({padded[0]} x {padded[1]}). "
            f"Kernel size: ({effective[0]} x {effective[1]}) (kernel {kernel[0]} x {kernel[1]} with "
            f"dilation {dilation}). Kernel size can't be greater than actual input size; "
            "use a smaller kernel or dilation, or more padding"
        )

    return stride, pads, dilation


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, ``torch.nn.functional.conv2d``.

    ``out[n, o] = bias[o] + sum_{c in group(o)} sum_{i,j} weight[o, c, i, j]
    * input_padded[n, c, s_h*y + d_h*i, s_w*x + d_w*j]`` (PyTorch's convolution is a
    cross-correlation: the kernel is not flipped). Output size per spatial dimension is
    ``floor((L + pad_lo + pad_hi - d*(k-1) - 1) / s) + 1``.

    Args:
      input: ``[N, C_in, H, W]`` or unbatched ``[C_in, H, W]`` (the result is then unbatched too).
      weight: ``[C_out, C_in // groups, kH, kW]`` (OIHW), same dtype as ``input``.
      bias: optional ``[C_out]``, same dtype. Default ``None``.
      stride: int or pair, default 1.
      padding: int or pair of zero paddings applied on both sides, or ``'valid'`` (no padding)
        or ``'same'`` (output size equals input size; total padding ``d*(k-1)`` split with the
        odd remainder on the bottom/right, as PyTorch does). Default 0.
      dilation: int or pair, default 1.
      groups: number of blocked channel groups, default 1.

    All configuration arguments are static Python values, so the function is safe under
    ``jax.jit`` with them closed over or marked static.

    Raises:
      ValueError: wrong rank of ``input``/``weight``/``bias``; ``C_in != weight.shape[1] * groups``;
        ``C_out`` not divisible by ``groups``; a bias of the wrong length; negative padding,
        non-positive stride/dilation/groups; an unknown padding string; ``padding='same'`` with a
        stride other than 1; a (dilated) kernel larger than the padded input.
      TypeError: non-floating or mismatched dtypes, or configuration of the wrong type.
    """
    check_ndim("conv2d", "input", input, (3, 4), "[N, C, H, W] or unbatched [C, H, W]")
    stride, pads, dilation = _conv_geometry(input, weight, bias, stride, padding, dilation, groups)
    unbatched = input.ndim == 3
    out = _convolve(input[None] if unbatched else input, weight, stride, pads, dilation, groups, False)
    if bias is not None:
        out = out + bias[:, None, None]
    return out[0] if unbatched else out


def conv2d_channels_last(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """:func:`conv2d` of a channels-last ``[N, H, W, C_in]`` input, returning ``[N, H_out, W_out,
    C_out]``; the weight stays ``[C_out, C_in // groups, kH, kW]``. The same arguments, errors,
    values and gradients as ``conv2d`` on the ``[N, C, H, W]`` transpose. XLA's CPU convolution
    works channels-last, so a network kept in this layout skips a transpose on each side of
    every convolution."""
    check_ndim("conv2d", "input", input, (4,), "[N, H, W, C] (channels last)")
    logical = jax.ShapeDtypeStruct((input.shape[0], input.shape[3]) + input.shape[1:3], input.dtype)
    stride, pads, dilation = _conv_geometry(logical, weight, bias, stride, padding, dilation, groups)
    out = _convolve(input, weight, stride, pads, dilation, groups, True)
    return out if bias is None else out + bias


def _convolve(x, weight, stride, pads, dilation, groups, channels_last):
    """The batched convolution of a validated call through the backend's lowering: ``x`` is
    NCHW, or NHWC with ``channels_last``; the weight is OIHW either way."""
    if use_cpu_lowering(groups) and _LOWERING["cpu"]:
        lowering = conv_cpu_nhwc if channels_last else conv_cpu_nchw
        return lowering(x, weight, stride, pads, dilation)
    return lax.conv_general_dilated(
        x,
        weight,
        window_strides=stride,
        padding=pads,
        rhs_dilation=dilation,
        dimension_numbers=_CHANNELS_LAST_DIMENSION_NUMBERS if channels_last else _DIMENSION_NUMBERS,
        feature_group_count=groups,
    )
