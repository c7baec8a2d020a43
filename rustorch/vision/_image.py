"""Image kinds that the vision code accepts, and the optional Pillow dependency.

Three kinds of image go through transforms, as in torchvision:
- a PIL image (when Pillow is installed), what the datasets return by default;
- a numpy array ``[H, W]`` or ``[H, W, C]`` (a "numpy image"), what the datasets return under
  ``set_image_backend('numpy')`` or without Pillow; transforms treat it as the PIL image it
  stands for, and ``ToTensor`` accepts it as torchvision's does;
- a tensor ``[..., C, H, W]``: a rustorch tensor, a JAX array, or a ``HostArray`` (the host copy
  of a tensor inside a loader fetch).
"""
from __future__ import annotations

import numpy as np

from rustorch.utils.data._convert import HostArray, to_tensor

try:
    from PIL import Image
except ImportError:  # Pillow is optional
    Image = None

_backend = "PIL" if Image is not None else "numpy"


def has_pil() -> bool:
    return Image is not None


def require_pil(what: str) -> None:
    """Raise ``ImportError`` naming ``what`` when Pillow is missing."""
    if Image is None:
        raise ImportError(f"{what} needs Pillow, which is not installed: pip install pillow "
                          "(or use numpy images: rustorch.vision.set_image_backend('numpy'))")


def get_image_backend() -> str:
    """The kind of image the datasets return: ``'PIL'`` or ``'numpy'``
    (``torchvision.get_image_backend``)."""
    return _backend


def set_image_backend(backend: str) -> None:
    """Choose what the datasets return: ``'PIL'`` images (default when Pillow is installed, as
    torchvision) or ``'numpy'`` uint8 arrays ``[H, W]``/``[H, W, C]`` (default without Pillow).

    Raises ``ValueError`` for another name and ``ImportError`` for ``'PIL'`` without Pillow.
    """
    global _backend
    if backend not in ("PIL", "numpy"):
        raise ValueError(f"Invalid image backend {backend!r}. Options are 'PIL' and 'numpy'")
    if backend == "PIL":
        require_pil("the 'PIL' image backend")
    _backend = backend


def is_pil(img) -> bool:
    return Image is not None and isinstance(img, Image.Image)


def is_tensor(img) -> bool:
    """A tensor image: rustorch tensor, JAX array or HostArray (a plain numpy array is an image)."""
    if isinstance(img, HostArray):
        return True
    if isinstance(img, np.ndarray):
        return False
    return hasattr(img, "__array__") and hasattr(img, "shape") and hasattr(img, "dtype")


def is_numpy_image(img) -> bool:
    return isinstance(img, np.ndarray) and not isinstance(img, HostArray) and img.ndim in (2, 3)


def check_image(img, op: str) -> str:
    """The kind of ``img``: ``'pil'``, ``'numpy'`` or ``'tensor'``; ``TypeError`` otherwise."""
    if is_pil(img):
        return "pil"
    if is_tensor(img):
        if len(img.shape) < 2:
            raise ValueError(f"{op}: expected a tensor image [..., H, W], got shape {tuple(img.shape)}")
        return "tensor"
    if is_numpy_image(img):
        return "numpy"
    raise TypeError(f"{op}: img should be a PIL Image, a numpy image [H, W(, C)] or a tensor "
                    f"[..., C, H, W]. Got {type(img).__name__}"
                    + (f" of shape {img.shape}" if isinstance(img, np.ndarray) else ""))


def tensor_array(img) -> np.ndarray:
    """A tensor image's values as a plain numpy array ``[..., C, H, W]``."""
    a = np.asarray(img)
    return a.view(np.ndarray) if isinstance(a, HostArray) else a


def as_tensor(array: np.ndarray):
    """A result of a tensor op: a HostArray in host mode, else a rustorch tensor."""
    return to_tensor(np.ascontiguousarray(array))


def from_array(array: np.ndarray):
    """A dataset item from uint8 ``[H, W]`` (mode ``L``) or ``[H, W, 3]`` (mode ``RGB``) pixels,
    per the image backend."""
    if _backend == "PIL":
        return Image.fromarray(np.ascontiguousarray(array))
    return array
