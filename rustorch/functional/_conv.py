"""1-, 2- and 3-D convolutions and transposed convolutions with PyTorch's layouts and argument
checks: one N-d implementation, thin per-dimension entry points."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .. import _config
from ._checks import Layout, check_ndim, is_channels_last
from ._conv_lowering import conv_cpu_nchw, conv_cpu_nhwc


def int_tuple_at_least(op: str, name: str, value, minimum: int, n: int = 2) -> tuple[int, ...]:
    """An int or an ``n``-sequence of ints as an ``n``-tuple, as PyTorch's ``_ntuple``; raise
    ``TypeError`` for anything else and ``ValueError`` unless every entry is >= ``minimum``.

    Shared by the convolution and pooling ops, whose geometric arguments (kernel size, stride,
    padding, dilation) PyTorch accepts as an int or one int per spatial dimension.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        result = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        result = tuple(int(v) for v in value)
    else:
        what = "a pair" if n == 2 else f"a sequence of {n}"
        raise TypeError(f"{op}: {name} must be an int or {what} ints, got {value!r}")
    if min(result) < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{op}: every entry of {name} must be {bound}, got {name}={value!r}")
    return result


def int_pair_at_least(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    """:func:`int_tuple_at_least` for two spatial dimensions."""
    return int_tuple_at_least(op, name, value, minimum, 2)


def check_floating(op: str, name: str, x) -> None:
    """Raise ``TypeError`` unless ``x`` has a floating-point dtype."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{op}: expected {name} to have a floating-point dtype, got {x.dtype}; "
            f"cast it first, e.g. {name}.astype(jnp.float32)"
        )


def same_padding(kernel, dilation) -> list[tuple[int, int]]:
    """``padding='same'``'s ``(lo, hi)`` per spatial dimension, as PyTorch's
    ``_convolution_mode``: total ``d*(k-1)``, ``lo = total // 2`` and the odd remainder on the
    high (bottom/right) side."""
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return pads


_LAYOUTS = {1: "[N, C, L] or unbatched [C, L]", 2: "[N, C, H, W] or unbatched [C, H, W]",
            3: "[N, C, D, H, W] or unbatched [C, D, H, W]"}
_CHANNELS_LAST_LAYOUTS = {2: "[N, H, W, C] (channels last)"}
_WEIGHT_LAYOUTS = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}


def _check_groups(op, groups):
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups < 1:
        raise ValueError(f"{op}: groups must be positive, got groups={groups}")


def _check_weight_and_bias(op, n, input, weight, bias, groups, transposed):
    """Check ``weight`` (``[C_out, C_in // groups, *k]``, or ``[C_in, C_out // groups, *k]`` when
    ``transposed``) and ``bias`` against the input's channels; return ``C_out``."""
    kernel_layout = _WEIGHT_LAYOUTS[n]
    layout = (f"[in_channels, out_channels // groups, {kernel_layout}]" if transposed
              else f"[out_channels, in_channels // groups, {kernel_layout}]")
    check_ndim(op, "weight", weight, (n + 2,), layout)
    check_floating(op, "input", input)
    if weight.dtype != input.dtype:
        raise TypeError(
            f"{op}: input dtype {input.dtype} and weight dtype {weight.dtype} should be the same; "
            "cast one of them"
        )
    _check_groups(op, groups)
    channels = input.shape[-n - 1]
    if transposed:
        if weight.shape[0] % groups != 0:
            raise ValueError(
                f"{op}: given groups={groups}, expected weight.shape[0] (in_channels) to be "
                f"divisible by {groups}, but got weight of shape {tuple(weight.shape)}"
            )
        if channels != weight.shape[0]:
            raise ValueError(
                f"{op}: given weight of shape {tuple(weight.shape)}, expected input of shape "
                f"{tuple(input.shape)} to have {weight.shape[0]} channels (weight.shape[0]), but "
                f"got {channels} channels instead"
            )
        out_channels = weight.shape[1] * groups
    else:
        out_channels = weight.shape[0]
        if out_channels % groups != 0:
            raise ValueError(
                f"{op}: given groups={groups}, expected weight.shape[0] (out_channels) to be "
                f"divisible by {groups}, but got weight of shape {tuple(weight.shape)}"
            )
        if channels != weight.shape[1] * groups:
            raise ValueError(
                f"{op}: given groups={groups} and weight of shape {tuple(weight.shape)}, expected "
                f"input of shape {tuple(input.shape)} to have {weight.shape[1] * groups} channels "
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
    return out_channels


def _conv_geometry(input, weight, bias, stride, padding, dilation, groups, n=2, op="conv2d"):
    """Validate a convolution call on the ``[N, C, *spatial]`` (or unbatched) shape of
    ``input`` with ``n`` spatial dimensions; return the stride, the per-dimension ``(lo, hi)``
    paddings and the dilation."""
    _check_weight_and_bias(op, n, input, weight, bias, groups, transposed=False)
    stride = int_tuple_at_least(op, "stride", stride, 1, n)
    dilation = int_tuple_at_least(op, "dilation", dilation, 1, n)
    kernel = tuple(weight.shape[2:])

    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * n
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions "
                    f"(got stride={stride}); use an explicit int or tuple padding instead"
                )
            pads = same_padding(kernel, dilation)
        else:
            raise ValueError(
                f"{op}: invalid padding string {padding!r}, should be one of 'valid' or 'same' "
                "(or pass an int or a tuple of ints)"
            )
    else:
        pads = [(p, p) for p in int_tuple_at_least(op, "padding", padding, 0, n)]

    spatial = input.shape[-n:]
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(spatial, pads))
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(e > p for e, p in zip(effective, padded)):
        raise ValueError(
            f"{op}: calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, effective))}) (kernel "
            f"{' x '.join(map(str, kernel))} with dilation {dilation}). Kernel size can't be "
            "greater than actual input size; use a smaller kernel or dilation, or more padding"
        )
    return stride, pads, dilation


def _conv_nd(n, input, weight, bias, stride, padding, dilation, groups, layout="NCHW"):
    """The convolution of every rank and layout: validate on the logical ``[N, C, *spatial]``
    shape, convolve in the input's own layout, add the bias along its channel axis."""
    op = f"conv{n}d"
    channels_last = is_channels_last(op, layout)
    if channels_last:
        check_ndim(op, "input", input, (n + 2,), _CHANNELS_LAST_LAYOUTS[n])
        logical = jax.ShapeDtypeStruct((input.shape[0], input.shape[-1]) + input.shape[1:-1], input.dtype)
    else:
        check_ndim(op, "input", input, (n + 1, n + 2), _LAYOUTS[n])
        logical = input
    stride, pads, dilation = _conv_geometry(logical, weight, bias, stride, padding, dilation, groups, n, op)
    unbatched = input.ndim == n + 1
    out = _convolve(input[None] if unbatched else input, weight, stride, pads, dilation, groups, channels_last)
    if bias is not None:
        out = out + (bias if channels_last else bias.reshape((-1,) + (1,) * n))
    return out[0] if unbatched else out


_CONV_DOC = """{n}-D cross-correlation, ``torch.nn.functional.conv{n}d``.

    ``out[n, o, *p] = bias[o] + sum_{{c in group(o)}} sum_{{t}} weight[o, c, *t]
    * input_padded[n, c, *(s*p + d*t)]`` over the kernel taps ``t`` (PyTorch's convolution is a
    cross-correlation: the kernel is not flipped). Output size per spatial dimension is
    ``floor((L + pad_lo + pad_hi - d*(k-1) - 1) / s) + 1``.

    Args:
      input: ``{layout}`` (an unbatched input gives an unbatched result).
      weight: ``[C_out, C_in // groups, {kernel}]``, same dtype as ``input``.
      bias: optional ``[C_out]``, same dtype. Default ``None``.
      stride: int or one int per spatial dimension, default 1.
      padding: int or one int per spatial dimension of zero padding on both sides, or
        ``'valid'`` (none) or ``'same'`` (output size equals input size; total padding
        ``d*(k-1)`` split with the odd remainder on the high side, as PyTorch does). Default 0.
      dilation: int or one int per spatial dimension, default 1.
      groups: number of blocked channel groups, default 1.{layout_arg}

    All configuration arguments are static Python values, so the function is safe under
    ``jax.jit`` with them closed over or marked static.

    Raises:
      ValueError: wrong rank of ``input``/``weight``/``bias``; ``C_in != weight.shape[1] * groups``;
        ``C_out`` not divisible by ``groups``; a bias of the wrong length; negative padding,
        non-positive stride/dilation/groups; an unknown padding string; ``padding='same'`` with a
        stride other than 1; a (dilated) kernel larger than the padded input.
      TypeError: non-floating or mismatched dtypes, or configuration of the wrong type.
    """


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_nd(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout: Layout = "NCHW"):
    return _conv_nd(2, input, weight, bias, stride, padding, dilation, groups, layout)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_nd(3, input, weight, bias, stride, padding, dilation, groups)


_CONV2D_LAYOUT_ARG = """
      layout: keyword-only, ``'NCHW'`` (default, PyTorch's) or ``'NHWC'``: a channels-last
        ``[N, H, W, C_in]`` input (batched only) and ``[N, H_out, W_out, C_out]`` result, with
        the same values, gradients and errors as ``'NCHW'`` on the transpose; the weight keeps
        its ``[C_out, C_in // groups, kH, kW]`` layout. XLA's CPU convolution works
        channels-last, so a network kept in this layout skips a transpose on each side of every
        convolution."""

for _n, _fn in ((1, conv1d), (2, conv2d), (3, conv3d)):
    _fn.__doc__ = _CONV_DOC.format(n=_n, layout=_LAYOUTS[_n], kernel=_WEIGHT_LAYOUTS[_n],
                                   layout_arg=_CONV2D_LAYOUT_ARG if _n == 2 else "")


def conv_transpose_output_padding(op, input_size, output_size, kernel, stride, padding, dilation):
    """The ``output_padding`` that makes a transposed convolution of spatial size
    ``input_size`` produce ``output_size``, as ``torch.nn.ConvTranspose*d._output_padding``;
    raise ``ValueError`` when ``output_size`` is outside the reachable range."""
    n = len(kernel)
    output_size = tuple(output_size)
    if len(output_size) == n + 2:
        output_size = output_size[2:]
    if len(output_size) != n:
        raise ValueError(
            f"{op}: output_size must have {n} or {n + 2} elements (got {len(output_size)})"
        )
    result = []
    for d in range(n):
        smallest = (input_size[d] - 1) * stride[d] - 2 * padding[d] + dilation[d] * (kernel[d] - 1) + 1
        largest = smallest + stride[d] - 1
        if not smallest <= output_size[d] <= largest:
            raise ValueError(
                f"{op}: requested an output size of {output_size}, but valid sizes range from "
                f"{smallest} to {largest} (for an input of {tuple(input_size)[d]}) in dimension {d}"
            )
        result.append(output_size[d] - smallest)
    return tuple(result)


def _conv_transpose_nd(n, input, weight, bias, stride, padding, output_padding, groups, dilation):
    op = f"conv_transpose{n}d"
    check_ndim(op, "input", input, (n + 1, n + 2), _LAYOUTS[n])
    _check_weight_and_bias(op, n, input, weight, bias, groups, transposed=True)
    stride = int_tuple_at_least(op, "stride", stride, 1, n)
    dilation = int_tuple_at_least(op, "dilation", dilation, 1, n)
    padding = int_tuple_at_least(op, "padding", padding, 0, n)
    output_padding = int_tuple_at_least(op, "output_padding", output_padding, 0, n)
    if any(op_ >= s and op_ >= d for op_, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(
            f"{op}: output padding must be smaller than either stride or dilation, got "
            f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
        )
    kernel = tuple(weight.shape[2:])
    out_size = tuple(
        (size - 1) * s - 2 * p + d * (k - 1) + o + 1
        for size, k, s, p, d, o in zip(input.shape[-n:], kernel, stride, padding, dilation, output_padding)
    )
    if min(out_size) < 1:
        raise ValueError(
            f"{op}: given input of shape {tuple(input.shape)}, the output size {out_size} is too "
            f"small (kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}); "
            "reduce the padding"
        )
    unbatched = input.ndim == n + 1
    x = input[None] if unbatched else input
    # The transposed convolution is the input gradient of a convolution: a convolution of the
    # stride-dilated input with the spatially flipped kernel whose in/out axes swap per group,
    # padded by d*(k-1) - p (low) and d*(k-1) - p + output_padding (high).
    g = groups
    w = weight.reshape((g, weight.shape[0] // g) + weight.shape[1:])
    w = jnp.swapaxes(w, 1, 2).reshape((weight.shape[1] * g, weight.shape[0] // g) + kernel)
    w = jnp.flip(w, axis=tuple(range(2, n + 2)))
    pads = [(d * (k - 1) - p, d * (k - 1) - p + o)
            for k, p, d, o in zip(kernel, padding, dilation, output_padding)]
    spec = "NC" + "DHW"[3 - n:]
    out = lax.conv_general_dilated(
        x, w, window_strides=(1,) * n, padding=pads, lhs_dilation=stride, rhs_dilation=dilation,
        dimension_numbers=(spec, "OI" + spec[2:], spec), feature_group_count=g,
    )
    if bias is not None:
        out = out + bias.reshape((-1,) + (1,) * n)
    return out[0] if unbatched else out


_CONV_TRANSPOSE_DOC = """{n}-D transposed convolution, ``torch.nn.functional.conv_transpose{n}d``
    (the gradient of :func:`conv{n}d` with respect to its input; "deconvolution").

    ``out[n, o, *(s*p + d*t - pad)] += input[n, c, *p] * weight[c, o - g*C_out/G, *t]`` for every
    input position ``p`` and kernel tap ``t`` (``c`` in group ``g``), plus ``bias[o]``. Output size
    per spatial dimension is ``(L - 1)*s - 2*pad + d*(k - 1) + output_padding + 1``.

    Args:
      input: ``{layout}``.
      weight: ``[C_in, C_out // groups, {kernel}]`` (PyTorch's transposed layout).
      bias: optional ``[C_out]``.
      stride, padding, output_padding, dilation: an int or one per spatial dimension (defaults
        1, 0, 0, 1); ``output_padding`` adds rows on the high side and must be smaller than the
        stride or the dilation.
      groups: number of blocked channel groups, default 1.

    Raises:
      ValueError: wrong ranks or channel counts, ``output_padding`` not smaller than stride or
        dilation, negative padding, a non-positive output size.
      TypeError: non-floating or mismatched dtypes, configuration of the wrong type.
    """


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose_nd(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose_nd(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose_nd(3, input, weight, bias, stride, padding, output_padding, groups, dilation)


for _n, _fn in ((1, conv_transpose1d), (2, conv_transpose2d), (3, conv_transpose3d)):
    _fn.__doc__ = _CONV_TRANSPOSE_DOC.format(n=_n, layout=_LAYOUTS[_n], kernel=_WEIGHT_LAYOUTS[_n])


def _convolve(x, weight, stride, pads, dilation, groups, channels_last):
    """The batched convolution of a validated call through the backend's lowering: ``x`` is
    ``[N, C, *spatial]``, or ``[N, *spatial, C]`` with ``channels_last`` (2-D only); the weight
    is ``[O, I, *k]`` either way. On CPU, 1-D convolutions run as 2-D ones of height 1 so that
    they share the 2-D lowering."""
    n = weight.ndim - 2
    if n in (1, 2) and _config.use_cpu_conv_lowering():
        if n == 1:
            out = conv_cpu_nchw(x[:, :, None, :], weight[:, :, None, :], (1,) + tuple(stride),
                                [(0, 0)] + list(pads), (1,) + tuple(dilation), groups)
            return out[:, :, 0, :]
        lowering = conv_cpu_nhwc if channels_last else conv_cpu_nchw
        return lowering(x, weight, stride, pads, dilation, groups)
    spatial = "DHW"[3 - n:]
    activation = "N" + spatial + "C" if channels_last else "NC" + spatial
    spec = (activation, "OI" + spatial, activation)
    return lax.conv_general_dilated(
        x,
        weight,
        window_strides=stride,
        padding=pads,
        rhs_dilation=dilation,
        dimension_numbers=spec,
        feature_group_count=groups,
    )
