"""``make_grid`` and ``save_image`` (``torchvision.utils``), on the host with numpy.

``save_image`` writes through Pillow when it is installed; without it, PNG files are written by
``write_png`` (zlib, no filtering) and other formats are refused.
"""
from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np

from . import _image
from ._image import tensor_array, to_tensor


def _as_array(tensor) -> np.ndarray:
    if isinstance(tensor, (list, tuple)):
        return np.stack([_as_array(t) for t in tensor])
    a = tensor_array(tensor)
    return np.asarray(a)


def _make_grid_array(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
                     value_range=None, scale_each: bool = False, pad_value: float = 0.0) -> np.ndarray:
    t = _as_array(tensor)
    if t.ndim == 2:
        t = t[None]
    if t.ndim == 3:
        if t.shape[0] == 1:
            t = np.concatenate((t, t, t), 0)
        t = t[None]
    if t.ndim != 4:
        raise ValueError(f"make_grid: expected a tensor [B, C, H, W], [C, H, W] or [H, W] (or a list "
                         f"of images), got shape {t.shape}")
    if t.shape[1] == 1:
        t = np.concatenate((t, t, t), 1)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")
        t = t.copy()

        def norm(img):
            low, high = (float(img.min()), float(img.max())) if value_range is None else value_range
            clipped = np.clip(img, low, high)
            dtype = img.dtype.type
            return (clipped - dtype(low)) / dtype(max(high - low, 1e-5))

        if scale_each:
            for k in range(len(t)):
                t[k] = norm(t[k])
        else:
            t = norm(t)
    if t.shape[0] == 1:
        return t[0]
    nmaps = t.shape[0]
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(t.shape[2] + padding), int(t.shape[3] + padding)
    grid = np.full((t.shape[1], height * ymaps + padding, width * xmaps + padding), pad_value, dtype=t.dtype)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid[:, y * height + padding:(y + 1) * height, x * width + padding:(x + 1) * width] = t[k]
            k += 1
    return grid


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, scale_each: bool = False,
              pad_value: float = 0.0):
    """Tile a batch of images into one image (``torchvision.utils.make_grid``).

    Args:
        tensor: ``[B, C, H, W]``, one image ``[C, H, W]``/``[H, W]``, or a list of images
            (rustorch tensors or numpy arrays). One-channel images are repeated to three.
        nrow (int, default 8): images per row.
        padding (int, default 2): pixels between and around the images, set to ``pad_value``.
        normalize (bool): shift and scale to [0, 1] by ``value_range`` (default: the min and
            max of the batch, or of each image with ``scale_each``), clamping first.

    Returns a tensor ``[C, H', W']`` (the single image itself when ``B == 1``).
    """
    return to_tensor(_make_grid_array(tensor, nrow, padding, normalize, value_range, scale_each, pad_value))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(pixels: np.ndarray, fp) -> None:
    """Write uint8 ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``[H, W, 4]`` pixels as a PNG
    (8-bit gray, RGB or RGBA; rows unfiltered, zlib level 6) to a path or binary file."""
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        raise TypeError(f"write_png: pixels must be uint8, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        color = 0
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        color = 2 if a.shape[2] == 3 else 6
    else:
        raise ValueError(f"write_png: expected [H, W] or [H, W, 1|3|4] pixels, got shape {a.shape}")
    h, w = a.shape[:2]
    rows = np.ascontiguousarray(a).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    data = (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw, 6))
            + _png_chunk(b"IEND", b""))
    if hasattr(fp, "write"):
        fp.write(data)
    else:
        with open(fp, "wb") as f:
            f.write(data)


def save_image(tensor, fp, format: str | None = None, **kwargs) -> None:
    """Save ``make_grid(tensor, **kwargs)`` as an image file (``torchvision.utils.save_image``).

    Values are taken in [0, 1]: pixel = ``uint8(clamp(x * 255 + 0.5, 0, 255))``. ``fp`` is a path
    or a binary file; ``format`` overrides the file name's extension. Without Pillow only PNG
    can be written (``ImportError`` otherwise).
    """
    grid = _make_grid_array(tensor, **kwargs)
    scaled = grid * grid.dtype.type(255) + grid.dtype.type(0.5) if grid.dtype.kind == "f" else \
        grid.astype(np.float32) * np.float32(255) + np.float32(0.5)
    pixels = np.clip(scaled, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    if _image.has_pil():
        _image.Image.fromarray(np.ascontiguousarray(pixels)).save(fp, format=format)
        return
    name = fp if isinstance(fp, (str, os.PathLike)) else getattr(fp, "name", "")
    fmt = (format or os.path.splitext(os.fspath(name))[1].lstrip(".") or "png").lower()
    if fmt != "png":
        raise ImportError(f"save_image: writing {fmt!r} files needs Pillow (pip install pillow); "
                          "without it only PNG is written")
    write_png(pixels, fp)
