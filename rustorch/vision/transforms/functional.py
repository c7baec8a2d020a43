"""Image operations (``torchvision.transforms.functional``), on the host with numpy.

Every op accepts a PIL image, a numpy image ``[H, W(, C)]`` or a tensor ``[..., C, H, W]`` (see
``rustorch.vision._image``) and returns the same kind. PIL images go through Pillow exactly as
torchvision sends them (so results match torchvision's PIL path); numpy images and tensors share
one numpy implementation of torchvision's tensor path. A tensor result is a rustorch tensor, or a
host array inside a ``DataLoader`` fetch (the loader converts it once per batch).
"""
from __future__ import annotations

import enum
import math
import numbers
from typing import Sequence

import numpy as np

from .. import _image
from .._image import Image, as_tensor, check_image, tensor_array


class InterpolationMode(enum.Enum):
    """Interpolation modes (``torchvision.transforms.InterpolationMode``)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _pil_interpolation(mode: InterpolationMode):
    table = {
        InterpolationMode.NEAREST: Image.Resampling.NEAREST,
        InterpolationMode.NEAREST_EXACT: Image.Resampling.NEAREST,
        InterpolationMode.BILINEAR: Image.Resampling.BILINEAR,
        InterpolationMode.BICUBIC: Image.Resampling.BICUBIC,
        InterpolationMode.BOX: Image.Resampling.BOX,
        InterpolationMode.HAMMING: Image.Resampling.HAMMING,
        InterpolationMode.LANCZOS: Image.Resampling.LANCZOS,
    }
    return table[mode]


def _interpolation(value) -> InterpolationMode:
    if isinstance(value, InterpolationMode):
        return value
    if isinstance(value, str):
        return InterpolationMode(value)
    if isinstance(value, int) and _image.has_pil():
        inverse = {int(_pil_interpolation(m)): m for m in (InterpolationMode.NEAREST,
                   InterpolationMode.BILINEAR, InterpolationMode.BICUBIC, InterpolationMode.BOX,
                   InterpolationMode.HAMMING, InterpolationMode.LANCZOS)}
        if value in inverse:
            return inverse[value]
    raise TypeError(f"interpolation should be an InterpolationMode, got {value!r}")


# --- numpy images as channel-first arrays --------------------------------------------------

def _chw(img: np.ndarray) -> np.ndarray:
    return img[None] if img.ndim == 2 else img.transpose(2, 0, 1)


def _hwc(chw: np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(chw[0] if like.ndim == 2 else chw.transpose(1, 2, 0))


def _array_op(img, kind: str, fn):
    """Apply ``fn`` (plain numpy ``[..., C, H, W]`` -> same) to a numpy image or a tensor."""
    if kind == "numpy":
        return _hwc(fn(_chw(img)), img)
    return as_tensor(fn(tensor_array(img)))


def get_dimensions(img) -> list[int]:
    """``[channels, height, width]`` of an image."""
    kind = check_image(img, "get_dimensions")
    if kind == "pil":
        return [len(img.getbands()), img.height, img.width]
    if kind == "numpy":
        return [1 if img.ndim == 2 else img.shape[2], img.shape[0], img.shape[1]]
    shape = tuple(img.shape)
    return [1 if len(shape) == 2 else shape[-3], shape[-2], shape[-1]]


def get_image_size(img) -> list[int]:
    """``[width, height]`` of an image."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img) -> int:
    """The number of channels of an image."""
    return get_dimensions(img)[0]


# --- conversions ---------------------------------------------------------------------------

def _pil_array(pic) -> np.ndarray:
    dtypes = {"I": np.int32, "I;16": np.int16, "I;16B": np.int16, "F": np.float32}
    a = np.array(pic, dtypes.get(pic.mode, np.uint8), copy=True)
    if pic.mode == "1":
        a = a * np.uint8(255)
    return a.reshape(pic.height, pic.width, len(pic.getbands()))


def to_tensor(pic):
    """PIL image or numpy ``[H, W(, C)]`` -> tensor ``[C, H, W]``; uint8 becomes float32 in
    ``[0, 1]`` as ``x / 255``, other dtypes are kept (``torchvision...functional.to_tensor``)."""
    if _image.is_pil(pic):
        a = _pil_array(pic)
    elif _image.is_numpy_image(pic):
        a = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        raise TypeError(f"to_tensor: pic should be PIL Image or ndarray [H, W(, C)]. Got "
                        f"{type(pic).__name__}" + (f" of shape {pic.shape}" if hasattr(pic, "shape") else ""))
    chw = a.transpose(2, 0, 1)
    if chw.dtype == np.uint8:
        chw = chw.astype(np.float32) / np.float32(255)
    return as_tensor(chw)


def pil_to_tensor(pic):
    """PIL image (or numpy image) -> tensor ``[C, H, W]`` of the same dtype, unscaled."""
    if _image.is_pil(pic):
        a = _pil_array(pic)
    elif _image.is_numpy_image(pic):
        a = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        raise TypeError(f"pil_to_tensor: pic should be PIL Image. Got {type(pic).__name__}")
    return as_tensor(a.transpose(2, 0, 1))


def to_pil_image(pic, mode: str | None = None):
    """Tensor ``[C, H, W]`` or numpy ``[H, W(, C)]`` -> PIL image; float tensors are scaled by
    255 and truncated to uint8, as torchvision's ``to_pil_image``."""
    _image.require_pil("to_pil_image")
    if _image.is_tensor(pic):
        a = tensor_array(pic)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise ValueError(f"to_pil_image: pic should be 2/3 dimensional. Got {a.ndim} dimensions.")
        if a.dtype.kind == "f" and mode != "F":
            a = (a * 255).astype(np.uint8)
        a = a.transpose(1, 2, 0)
    elif isinstance(pic, np.ndarray):
        a = pic if pic.ndim == 3 else pic[:, :, None]
    else:
        raise TypeError(f"to_pil_image: pic should be Tensor or ndarray. Got {type(pic).__name__}.")
    if a.shape[2] == 1:
        a = a[:, :, 0]
    image = Image.fromarray(np.ascontiguousarray(a))
    return image if mode is None or image.mode == mode else image.convert(mode)


def normalize(tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False):
    """``(tensor - mean[c]) / std[c]`` per channel, in the tensor's float dtype
    (``torchvision...functional.normalize``); ``inplace`` is accepted, tensors being immutable.

    Raises ``TypeError`` for a non-tensor or non-float tensor and ``ValueError`` for fewer than 3
    dimensions or a zero std.
    """
    if not _image.is_tensor(tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor).__name__}")
    a = tensor_array(tensor)
    if a.dtype.kind != "f":
        raise TypeError(f"Input tensor should be a float tensor. Got {a.dtype}.")
    if a.ndim < 3:
        raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got "
                         f"tensor.size() = {tuple(a.shape)}")
    m = np.asarray(mean, dtype=a.dtype).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=a.dtype).reshape(-1, 1, 1)
    if (s == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {a.dtype}, leading to "
                         "division by zero.")
    return as_tensor((a - m) / s)


# --- geometry ------------------------------------------------------------------------------

def hflip(img):
    """Mirror left-right."""
    kind = check_image(img, "hflip")
    if kind == "pil":
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _array_op(img, kind, lambda a: a[..., ::-1])


def vflip(img):
    """Mirror top-bottom."""
    kind = check_image(img, "vflip")
    if kind == "pil":
        return img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return _array_op(img, kind, lambda a: a[..., ::-1, :])


def _padding_ltrb(padding) -> list[int]:
    if isinstance(padding, numbers.Number) and not isinstance(padding, bool):
        if int(padding) != padding:
            raise TypeError(f"Got inappropriate padding arg: {padding!r}")
        p = int(padding)
        return [p, p, p, p]
    if not isinstance(padding, (tuple, list)):
        raise TypeError(f"Got inappropriate padding arg: {padding!r}")
    if len(padding) == 1:
        return [int(padding[0])] * 4
    if len(padding) == 2:
        return [int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])]
    if len(padding) == 4:
        return [int(p) for p in padding]
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} "
                     "element tuple")


_NP_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


def _pad_array(a: np.ndarray, ltrb, fill, mode: str) -> np.ndarray:
    left, top, right, bottom = ltrb
    # Negative padding crops, as torchvision's tensor path.
    h, w = a.shape[-2], a.shape[-1]
    a = a[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
    widths = [(0, 0)] * (a.ndim - 2) + [(max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))]
    if mode == "constant":
        fill_values = np.asarray(0 if fill is None else fill, dtype=np.float64).reshape(-1)
        channels = 1 if a.ndim < 3 else a.shape[-3]
        if fill_values.size not in (1, channels):
            raise ValueError(f"pad: fill has {fill_values.size} values for an image of {channels} channels")
        shape = a.shape[:-2] + (a.shape[-2] + widths[-2][0] + widths[-2][1],
                                a.shape[-1] + widths[-1][0] + widths[-1][1])
        out = np.empty(shape, dtype=a.dtype)
        if fill_values.size == 1:
            out[...] = fill_values[0].astype(a.dtype)
        else:
            out[...] = fill_values.astype(a.dtype)[:, None, None]
        out[..., widths[-2][0]:widths[-2][0] + a.shape[-2], widths[-1][0]:widths[-1][0] + a.shape[-1]] = a
        return out
    return np.pad(a, widths, mode=_NP_PAD_MODES[mode])


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad the borders (``torchvision...functional.pad``).

    Args:
        padding: an int (all sides), ``(left/right, top/bottom)`` or ``(left, top, right,
            bottom)``; negative values crop (tensors and numpy images).
        fill: the constant for ``'constant'``: a number, or one value per channel.
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` (without repeating the edge) or
            ``'symmetric'`` (repeating it).

    Raises ``TypeError``/``ValueError`` for a malformed padding or an unknown mode.
    """
    if padding_mode not in _NP_PAD_MODES:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric, "
                         f"got {padding_mode!r}")
    ltrb = _padding_ltrb(padding)
    kind = check_image(img, "pad")
    if kind == "pil":
        if min(ltrb) < 0:
            raise ValueError("pad: negative padding is not supported for PIL images")
        if padding_mode == "constant" and isinstance(fill, (tuple, list)) and len(fill) == 1:
            fill = fill[0]
        if padding_mode == "constant" and img.mode != "P":
            from PIL import ImageOps
            bands = len(img.getbands())
            if isinstance(fill, (tuple, list)):
                fill_color = tuple(int(f) for f in fill)
            else:  # one number for every band, as torchvision's _parse_fill
                fill_color = tuple([fill] * bands) if bands > 1 else fill
            return ImageOps.expand(img, border=tuple(ltrb), fill=fill_color)
        a = np.asarray(img)
        chw = _chw(a)
        out = _hwc(_pad_array(chw, ltrb, fill, padding_mode), a)
        if img.mode == "P":
            result = Image.frombytes("P", (out.shape[1], out.shape[0]), out.tobytes())
            result.putpalette(img.getpalette())
            return result
        return Image.fromarray(out)
    return _array_op(img, kind, lambda a: _pad_array(a, ltrb, fill, padding_mode))


def crop(img, top: int, left: int, height: int, width: int):
    """The ``height x width`` region at ``(top, left)``; parts outside the image are zeros."""
    kind = check_image(img, "crop")
    if kind == "pil":
        return img.crop((left, top, left + width, top + height))

    def op(a):
        h, w = a.shape[-2], a.shape[-1]
        right, bottom = left + width, top + height
        if left < 0 or top < 0 or right > w or bottom > h:
            ltrb = [max(-left, 0), max(-top, 0), max(right - w, 0), max(bottom - h, 0)]
            inner = a[..., max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
            return _pad_array(inner, ltrb, 0, "constant")
        return a[..., top:bottom, left:right]

    return _array_op(img, kind, op)


def _pair(size, name: str) -> tuple[int, int]:
    if isinstance(size, numbers.Number) and not isinstance(size, bool):
        return int(size), int(size)
    if isinstance(size, (tuple, list)) and len(size) == 1:
        return int(size[0]), int(size[0])
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{name}: please provide only two dimensions (h, w) for size, got {size!r}")


def center_crop(img, output_size):
    """The central ``output_size`` region, zero-padded first where the image is smaller."""
    crop_height, crop_width = _pair(output_size, "center_crop")
    _, image_height, image_width = get_dimensions(img)
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)
        _, image_height, image_width = get_dimensions(img)
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return crop(img, crop_top, crop_left, crop_height, crop_width)


def _resized_size(height: int, width: int, size, max_size) -> list[int]:
    if isinstance(size, numbers.Number) and not isinstance(size, bool):
        size = [int(size)]
    size = list(size)
    if len(size) == 1:
        short, long = (width, height) if width <= height else (height, width)
        requested = size[0]
        new_short, new_long = requested, int(requested * long / short)
        if max_size is not None:
            if max_size <= requested:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested "
                                 f"size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        return [new_long, new_short] if width <= height else [new_short, new_long]
    if len(size) != 2:
        raise ValueError(f"resize: size must be an int or a sequence of 1 or 2 ints, got {size!r}")
    if max_size is not None:
        raise ValueError("max_size should only be passed if size specifies the length of the smaller "
                         f"edge, i.e. size should be an int or a sequence of length 1, got {size}")
    return [int(size[0]), int(size[1])]


def _linear_weights(n_in: int, n_out: int, antialias: bool) -> np.ndarray:
    """``[n_out, n_in]`` weights of PyTorch's bilinear resampling along one axis
    (``align_corners=False``), with the antialiasing triangle filter when downsampling."""
    scale = n_in / n_out
    weights = np.zeros((n_out, n_in), dtype=np.float64)
    if antialias and scale > 1:
        support = scale
        for i in range(n_out):
            center = scale * (i + 0.5)
            lo = max(int(center - support + 0.5), 0)
            hi = min(int(center + support + 0.5), n_in)
            j = np.arange(lo, hi)
            w = np.maximum(0.0, 1.0 - np.abs((j - center + 0.5) / scale))
            total = w.sum()
            weights[i, lo:hi] = w / total if total else w
        return weights
    src = np.maximum(scale * (np.arange(n_out) + 0.5) - 0.5, 0.0)
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    rows = np.arange(n_out)
    np.add.at(weights, (rows, i0), 1.0 - lam)
    np.add.at(weights, (rows, i1), lam)
    return weights


def _resize_array(a: np.ndarray, out_h: int, out_w: int, mode: InterpolationMode,
                  antialias: bool) -> np.ndarray:
    h, w = a.shape[-2], a.shape[-1]
    if mode in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT):
        if mode == InterpolationMode.NEAREST:
            # PyTorch's mode='nearest': floor(dst * scale) in float32.
            f32 = np.float32
            rows = np.arange(out_h, dtype=f32) * (f32(h) / f32(out_h))
            cols = np.arange(out_w, dtype=f32) * (f32(w) / f32(out_w))
            rows = np.minimum(np.floor(rows).astype(np.int64), h - 1)
            cols = np.minimum(np.floor(cols).astype(np.int64), w - 1)
        else:
            rows = np.minimum(np.floor((np.arange(out_h) + 0.5) * (h / out_h)).astype(np.int64), h - 1)
            cols = np.minimum(np.floor((np.arange(out_w) + 0.5) * (w / out_w)).astype(np.int64), w - 1)
        return a[..., rows[:, None], cols[None, :]]
    if mode != InterpolationMode.BILINEAR:
        raise ValueError(f"resize: {mode.value} interpolation of tensors and numpy images is not "
                         "implemented here; use NEAREST or BILINEAR, or a PIL image")
    dtype = a.dtype
    x = a.astype(np.float32)
    wh = _linear_weights(h, out_h, antialias).astype(np.float32)
    ww = _linear_weights(w, out_w, antialias).astype(np.float32)
    x = np.matmul(x, ww.T)
    x = np.matmul(wh, x)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.round(x), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size: int | None = None,
           antialias: bool | None = True):
    """Resize to ``size`` (``torchvision...functional.resize``).

    Args:
        size: ``(h, w)``, or an int (or 1-sequence): the smaller edge becomes ``size`` and the
            other keeps the aspect ratio (``int(size * long / short)``), capped by ``max_size``.
        interpolation: an ``InterpolationMode``; tensors and numpy images support NEAREST,
            NEAREST_EXACT and BILINEAR, PIL images every Pillow filter.
        antialias (default True): tensors and numpy images: when downsampling with BILINEAR,
            average with the triangle filter scaled to the output pixel (PyTorch's
            ``interpolate(..., antialias=True)``, which is Pillow's); PIL always antialiases.

    Bilinear is ``interpolate(mode='bilinear', align_corners=False)``; integer images are
    computed in float32, rounded and clipped.
    """
    mode = _interpolation(interpolation)
    _, h, w = get_dimensions(img)
    out_h, out_w = _resized_size(h, w, size, max_size)
    if [out_h, out_w] == [h, w]:
        return img
    kind = check_image(img, "resize")
    if kind == "pil":
        return img.resize((out_w, out_h), _pil_interpolation(mode))
    return _array_op(img, kind, lambda a: _resize_array(a, out_h, out_w, mode, bool(antialias)))


def resized_crop(img, top: int, left: int, height: int, width: int, size,
                 interpolation=InterpolationMode.BILINEAR, antialias: bool | None = True):
    """``resize(crop(img, top, left, height, width), size)``."""
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


# --- colour --------------------------------------------------------------------------------

def _float_bound(a: np.ndarray) -> float:
    return 1.0 if a.dtype.kind == "f" else float(np.iinfo(a.dtype).max)


def _blend(img1: np.ndarray, img2, ratio: float) -> np.ndarray:
    bound = _float_bound(img1)
    ratio = np.float32(ratio)
    out = ratio * img1.astype(np.float32) + (np.float32(1.0) - ratio) * np.asarray(img2, np.float32)
    out = np.clip(out, 0, bound)
    return out.astype(img1.dtype)


def _gray(a: np.ndarray) -> np.ndarray:
    r, g, b = a[..., 0, :, :], a[..., 1, :, :], a[..., 2, :, :]
    gray = (np.float32(0.2989) * r.astype(np.float32) + np.float32(0.587) * g.astype(np.float32)
            + np.float32(0.114) * b.astype(np.float32))
    return gray.astype(a.dtype)[..., None, :, :]


def _check_rgb(a: np.ndarray, op: str) -> None:
    if a.ndim < 3 or a.shape[-3] not in (1, 3):
        raise TypeError(f"{op}: input image tensor permitted channel values are [1, 3], but found "
                        f"{a.shape[-3] if a.ndim >= 3 else 1}")


def adjust_brightness(img, brightness_factor: float):
    """Multiply the intensities by ``brightness_factor`` (>= 0), clipped to the valid range."""
    if brightness_factor < 0:
        raise ValueError(f"brightness_factor ({brightness_factor}) is not non-negative.")
    kind = check_image(img, "adjust_brightness")
    if kind == "pil":
        from PIL import ImageEnhance
        return ImageEnhance.Brightness(img).enhance(brightness_factor)
    return _array_op(img, kind, lambda a: _blend(a, 0.0, brightness_factor))


def adjust_contrast(img, contrast_factor: float):
    """Blend with the mean of the grayscale image: ``factor * img + (1 - factor) * mean``."""
    if contrast_factor < 0:
        raise ValueError(f"contrast_factor ({contrast_factor}) is not non-negative.")
    kind = check_image(img, "adjust_contrast")
    if kind == "pil":
        from PIL import ImageEnhance
        return ImageEnhance.Contrast(img).enhance(contrast_factor)

    def op(a):
        _check_rgb(a, "adjust_contrast")
        gray = _gray(a) if a.shape[-3] == 3 else a
        mean = np.mean(gray.astype(np.float32), axis=(-3, -2, -1), keepdims=True)
        return _blend(a, mean, contrast_factor)

    return _array_op(img, kind, op)


def adjust_saturation(img, saturation_factor: float):
    """Blend with the grayscale image: 0 gives gray, 1 the original, 2 doubles saturation."""
    if saturation_factor < 0:
        raise ValueError(f"saturation_factor ({saturation_factor}) is not non-negative.")
    kind = check_image(img, "adjust_saturation")
    if kind == "pil":
        from PIL import ImageEnhance
        return ImageEnhance.Color(img).enhance(saturation_factor)

    def op(a):
        _check_rgb(a, "adjust_saturation")
        if a.shape[-3] == 1:
            return a
        return _blend(a, _gray(a), saturation_factor)

    return _array_op(img, kind, op)


def _rgb2hsv(img: np.ndarray) -> np.ndarray:
    r, g, b = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    maxc = img.max(axis=-3)
    minc = img.min(axis=-3)
    eqc = maxc == minc
    cr = maxc - minc
    ones = np.ones_like(maxc)
    s = cr / np.where(eqc, ones, maxc)
    cr_divisor = np.where(eqc, ones, cr)
    rc = (maxc - r) / cr_divisor
    gc = (maxc - g) / cr_divisor
    bc = (maxc - b) / cr_divisor
    f32 = np.float32
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (f32(2.0) + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (f32(4.0) + gc - rc)
    h = hr + hg + hb
    h = np.fmod(h / f32(6.0) + f32(1.0), f32(1.0))
    return np.stack((h, s, maxc), axis=-3)


def _hsv2rgb(img: np.ndarray) -> np.ndarray:
    f32 = np.float32
    h, s, v = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    i = np.floor(h * f32(6.0))
    f = h * f32(6.0) - i
    i = i.astype(np.int32) % 6
    p = np.clip(v * (f32(1.0) - s), 0.0, 1.0)
    q = np.clip(v * (f32(1.0) - s * f), 0.0, 1.0)
    t = np.clip(v * (f32(1.0) - s * (f32(1.0) - f)), 0.0, 1.0)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(h.shape[:-2] + (3,) + h.shape[-2:], dtype=img.dtype)
    for k, (rr, gg, bb) in enumerate(choices):
        mask = i == k
        out[..., 0, :, :] += np.where(mask, rr, f32(0))
        out[..., 1, :, :] += np.where(mask, gg, f32(0))
        out[..., 2, :, :] += np.where(mask, bb, f32(0))
    return out


def adjust_hue(img, hue_factor: float):
    """Shift the hue by ``hue_factor`` in [-0.5, 0.5] (in HSV space, wrapping around)."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    kind = check_image(img, "adjust_hue")
    if kind == "pil":
        if img.mode in {"L", "1", "I", "F"}:
            return img
        h, s, v = img.convert("HSV").split()
        np_h = np.array(h, dtype=np.uint8)
        with np.errstate(over="ignore"):
            np_h += np.array(hue_factor * 255).astype(np.uint8)
        h = Image.fromarray(np_h, "L")
        return Image.merge("HSV", (h, s, v)).convert(img.mode)

    def op(a):
        _check_rgb(a, "adjust_hue")
        if a.shape[-3] == 1:
            return a
        dtype = a.dtype
        x = a.astype(np.float32) / (np.float32(255) if dtype == np.uint8 else np.float32(1))
        hsv = _rgb2hsv(x)
        hsv[..., 0, :, :] = np.mod(hsv[..., 0, :, :] + np.float32(hue_factor), np.float32(1.0))
        rgb = _hsv2rgb(hsv)
        if dtype == np.uint8:
            return (rgb * np.float32(255)).astype(np.uint8)  # convert_image_dtype truncates
        return rgb.astype(dtype)

    return _array_op(img, kind, op)


def rgb_to_grayscale(img, num_output_channels: int = 1):
    """ITU-R 601-2 luma ``0.2989 R + 0.587 G + 0.114 B``, repeated to ``num_output_channels``
    (1 or 3); PIL images use ``convert('L')`` as torchvision does."""
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    kind = check_image(img, "rgb_to_grayscale")
    if kind == "pil":
        gray = img.convert("L")
        return gray if num_output_channels == 1 else Image.merge("RGB", [gray, gray, gray])

    def op(a):
        _check_rgb(a, "rgb_to_grayscale")
        gray = _gray(a) if a.shape[-3] == 3 else a
        return np.repeat(gray, num_output_channels, axis=-3) if num_output_channels == 3 else gray

    return _array_op(img, kind, op)


to_grayscale = rgb_to_grayscale


def rotate(img, angle: float, interpolation=InterpolationMode.NEAREST, expand: bool = False,
           center: Sequence[int] | None = None, fill=None):
    """Rotate by ``angle`` degrees counter-clockwise about ``center`` (default: the image
    centre). PIL images use ``Image.rotate``; tensors and numpy images NEAREST or BILINEAR
    sampling of torchvision's inverse affine map, pixels from outside filled with ``fill``."""
    mode = _interpolation(interpolation)
    kind = check_image(img, "rotate")
    if kind == "pil":
        fill_color = fill
        if isinstance(fill, (list, tuple)):
            fill_color = tuple(int(f) for f in fill) if len(fill) > 1 else int(fill[0])
        return img.rotate(angle, _pil_interpolation(mode), expand, center, fillcolor=fill_color)
    if expand:
        raise ValueError("rotate: expand=True is implemented for PIL images only")
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError("rotate: tensors and numpy images support NEAREST and BILINEAR")
    return _array_op(img, kind, lambda a: _rotate_array(a, angle, mode, center, fill))


def _rotate_array(a: np.ndarray, angle: float, mode: InterpolationMode, center, fill) -> np.ndarray:
    h, w = a.shape[-2], a.shape[-1]
    cx, cy = (0.0, 0.0) if center is None else (center[0] - w * 0.5, center[1] - h * 0.5)
    # torchvision's _get_inverse_affine_matrix(center, -angle, ...) without shear or scale: the
    # source of output pixel (x, y), in coordinates centred on the image.
    rot = math.radians(-angle)
    matrix = [math.cos(rot), math.sin(rot), 0.0, -math.sin(rot), math.cos(rot), 0.0]
    matrix[2] += matrix[0] * (-cx) + matrix[1] * (-cy) + cx
    matrix[5] += matrix[3] * (-cx) + matrix[4] * (-cy) + cy
    ys, xs = np.meshgrid(np.arange(h) + 0.5 - h * 0.5, np.arange(w) + 0.5 - w * 0.5, indexing="ij")
    src_x = matrix[0] * xs + matrix[1] * ys + matrix[2] + w * 0.5 - 0.5
    src_y = matrix[3] * xs + matrix[4] * ys + matrix[5] + h * 0.5 - 0.5
    fill_value = np.zeros(a.shape[-3] if a.ndim >= 3 else 1) if fill is None else \
        np.broadcast_to(np.asarray(fill, np.float64).reshape(-1), (a.shape[-3] if a.ndim >= 3 else 1,))
    x = a.astype(np.float64)
    out = np.empty_like(x)
    if mode == InterpolationMode.NEAREST:
        xi, yi = np.round(src_x).astype(np.int64), np.round(src_y).astype(np.int64)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        sampled = x[..., np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        weight = inside.astype(np.float64)
    else:
        x0, y0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
        fx, fy = src_x - x0, src_y - y0
        sampled = np.zeros_like(x)
        weight = np.zeros((h, w))
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                xi, yi = x0 + dx, y0 + dy
                ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
                wgt = wx * wy * ok
                sampled += x[..., np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)] * wgt
                weight += wgt
    fill_img = fill_value.reshape((-1, 1, 1)) if a.ndim >= 3 else fill_value.reshape((1, 1))
    out = sampled + (1 - weight) * fill_img
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        return np.clip(np.round(out), info.min, info.max).astype(a.dtype)
    return out.astype(a.dtype)


def convert_image_dtype(image, dtype=np.float32):
    """Convert a tensor image's dtype, rescaling values (``torchvision...convert_image_dtype``):
    integers to floats divide by the integer maximum; floats to integers multiply by
    ``max + 1 - 0.001`` and truncate; integers to integers shift by the bit difference."""
    if not _image.is_tensor(image):
        raise TypeError(f"Input img should be Tensor Image. Got {type(image).__name__}")
    a = tensor_array(image)
    target = np.dtype(dtype)
    if a.dtype == target:
        return image
    if a.dtype.kind == "f":
        if target.kind == "f":
            return as_tensor(a.astype(target))
        eps = 1e-3
        top = float(np.iinfo(target).max)
        return as_tensor((a * a.dtype.type(top + 1.0 - eps)).astype(target))
    top_in = float(np.iinfo(a.dtype).max)
    if target.kind == "f":
        return as_tensor(a.astype(target) / target.type(top_in))
    top_out = np.iinfo(target).max
    bits_in, bits_out = int(top_in).bit_length(), int(top_out).bit_length()
    if bits_in > bits_out:
        return as_tensor((a >> (bits_in - bits_out)).astype(target))
    return as_tensor(a.astype(target) << (bits_out - bits_in))


def erase(img, i: int, j: int, h: int, w: int, v, inplace: bool = False):
    """The tensor image with ``[..., i:i+h, j:j+w]`` replaced by ``v`` (broadcast)."""
    if not _image.is_tensor(img):
        raise TypeError(f"img should be Tensor Image. Got {type(img).__name__}")
    a = tensor_array(img).copy()
    a[..., i:i + h, j:j + w] = np.asarray(v, dtype=a.dtype)
    return as_tensor(a)


def _gaussian_kernel1d(size: int, sigma: float) -> np.ndarray:
    half = (size - 1) * 0.5
    x = np.linspace(-half, half, size, dtype=np.float32)
    pdf = np.exp(-0.5 * (x / np.float32(sigma)) ** 2)
    return (pdf / pdf.sum()).astype(np.float32)


def gaussian_blur(img, kernel_size, sigma=None):
    """Blur with a separable Gaussian of odd ``kernel_size`` (int or ``[kx, ky]``) and ``sigma``
    (default ``0.3 * ((k - 1) * 0.5 - 1) + 0.8`` per axis), reflect-padding the borders, as
    torchvision; PIL and numpy images are blurred as uint8 tensors (rounded)."""
    ksize = [int(kernel_size)] * 2 if isinstance(kernel_size, numbers.Number) else [int(k) for k in kernel_size]
    if len(ksize) != 2 or any(k <= 0 or k % 2 == 0 for k in ksize):
        raise ValueError(f"kernel_size should have odd and positive integers. Got {kernel_size}")
    if sigma is None:
        sig = [k * 0.15 + 0.35 for k in ksize]
    else:
        sig = [float(sigma)] * 2 if isinstance(sigma, numbers.Number) else [float(s) for s in sigma]
        if len(sig) == 1:
            sig = sig * 2
    if any(s <= 0 for s in sig):
        raise ValueError(f"sigma should have positive values. Got {sigma}")
    kind = check_image(img, "gaussian_blur")

    def op(a):
        x = a.astype(np.float32)
        kx, ky = _gaussian_kernel1d(ksize[0], sig[0]), _gaussian_kernel1d(ksize[1], sig[1])
        x = _pad_array(x, [ksize[0] // 2, ksize[1] // 2, ksize[0] // 2, ksize[1] // 2], 0, "reflect")
        h, w = x.shape[-2] - ksize[1] + 1, x.shape[-1] - ksize[0] + 1
        rows = sum(kx[k] * x[..., :, k:k + w] for k in range(ksize[0]))
        out = sum(ky[k] * rows[..., k:k + h, :] for k in range(ksize[1]))
        if a.dtype.kind in "iu":
            info = np.iinfo(a.dtype)
            return np.clip(np.round(out), info.min, info.max).astype(a.dtype)
        return out.astype(a.dtype)

    if kind == "pil":
        arr = np.asarray(img)
        return Image.fromarray(_hwc(op(_chw(arr)), arr))
    return _array_op(img, kind, op)
