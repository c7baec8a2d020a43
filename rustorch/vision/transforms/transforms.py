"""Transform classes (``torchvision.transforms``): callables over PIL images, numpy images and
tensors, thin over ``functional``.

Random transforms draw from ``rustorch.utils.data._worker.worker_rng()``: in a ``DataLoader``
worker a generator seeded with the worker's seed, in the main process one that
``rustorch.manual_seed`` resets. The draws are numpy's, so the random choices differ from
torchvision's for the same seed; their distributions are the same.

Every class here sets ``host_safe``: inside a loader fetch it runs on host arrays (see
``rustorch.utils.data._convert``). ``Lambda`` does not, so its function receives real tensors
except in worker processes. ``Compose`` runs each stretch of rustorch transforms on host arrays
and converts once at its end, so a chain called from user code costs one host-to-device
transfer, not one per transform.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import numpy as np

from rustorch.utils.data._convert import host_arrays, host_mode, is_host_safe, tensors_from_host
from rustorch.utils.data._worker import worker_rng

from . import functional as F
from .functional import InterpolationMode, _interpolation, _pair


class _Transform:
    host_safe = True

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose(_Transform):
    """Apply ``transforms`` in order (``torchvision.transforms.Compose``)."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")

    @property
    def host_safe(self) -> bool:
        return all(is_host_safe(t) for t in self.transforms)

    def __call__(self, img):
        if host_mode():
            for t in self.transforms:
                img = t(img)
            return img
        # Each run of rustorch transforms works on host arrays and hands a tensor on: one
        # transfer per run instead of one per transform. Other callables see real tensors.
        i, n = 0, len(self.transforms)
        while i < n:
            if not is_host_safe(self.transforms[i]):
                img = self.transforms[i](img)
                i += 1
                continue
            with host_arrays():
                while i < n and is_host_safe(self.transforms[i]):
                    img = self.transforms[i](img)
                    i += 1
            img = tensors_from_host(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class ToTensor(_Transform):
    """PIL image or numpy ``[H, W(, C)]`` -> float32 tensor ``[C, H, W]`` in [0, 1] (uint8 / 255)."""

    def __call__(self, pic):
        return F.to_tensor(pic)

    def __repr__(self) -> str:
        return "ToTensor()"


class PILToTensor(_Transform):
    """PIL image -> tensor ``[C, H, W]`` of the image's dtype, unscaled."""

    def __call__(self, pic):
        return F.pil_to_tensor(pic)

    def __repr__(self) -> str:
        return "PILToTensor()"


class ToPILImage(_Transform):
    """Tensor or numpy image -> PIL image (float tensors scaled by 255)."""

    def __init__(self, mode: str | None = None) -> None:
        self.mode = mode

    def __call__(self, pic):
        return F.to_pil_image(pic, self.mode)


class Normalize(_Transform):
    """``(x - mean[c]) / std[c]`` per channel of a float tensor (``transforms.Normalize``)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        return F.normalize(tensor, self.mean, self.std, self.inplace)


class Lambda:
    """Apply a user function (``transforms.Lambda``). Not host-safe: the function receives real
    tensors, except in ``DataLoader`` worker processes (host arrays there)."""

    host_safe = False

    def __init__(self, lambd: Callable) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"


def _check_size(size, name: str) -> tuple[int, int]:
    if isinstance(size, numbers.Number) and not isinstance(size, bool):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) in (1, 2):
        return _pair(size, name)
    raise ValueError(f"{name}: please provide only two dimensions (h, w) for size, got {size!r}")


class Resize(_Transform):
    """Resize (``transforms.Resize``); see ``functional.resize`` for ``size`` and antialiasing."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size: int | None = None,
                 antialias: bool | None = True) -> None:
        if not (isinstance(size, int) or (isinstance(size, Sequence) and len(size) in (1, 2))):
            raise TypeError(f"Size should be int or sequence of length 1 or 2. Got {size!r}")
        self.size = size
        self.interpolation = _interpolation(interpolation)
        self.max_size = max_size
        self.antialias = antialias

    def __call__(self, img):
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)


class CenterCrop(_Transform):
    """The central ``size`` region (``transforms.CenterCrop``), zero-padded if larger."""

    def __init__(self, size) -> None:
        self.size = _check_size(size, "CenterCrop")

    def __call__(self, img):
        return F.center_crop(img, self.size)


class Pad(_Transform):
    """Pad the borders (``transforms.Pad``); see ``functional.pad``."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant") -> None:
        F._padding_ltrb(padding)
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img):
        return F.pad(img, self.padding, self.fill, self.padding_mode)


class RandomCrop(_Transform):
    """A random ``size`` crop, after optional padding (``transforms.RandomCrop``).

    Args:
        size: ``(h, w)`` or an int.
        padding: padded first (see ``functional.pad``).
        pad_if_needed: where the image is narrower (shorter) than ``size``, pad both sides by
            the shortfall first, as torchvision, so the crop fits.
        fill, padding_mode: as ``functional.pad``.

    Raises ``ValueError`` when the (padded) image is smaller than ``size``.
    """

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant") -> None:
        self.size = _check_size(size, "RandomCrop")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img, output_size) -> tuple[int, int, int, int]:
        _, h, w = F.get_dimensions(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        rng = worker_rng()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return i, j, th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, height, width = F.get_dimensions(img)
        if self.pad_if_needed and width < self.size[1]:
            img = F.pad(img, [self.size[1] - width, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and height < self.size[0]:
            img = F.pad(img, [0, self.size[0] - height], self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)
        return F.crop(img, i, j, h, w)


class RandomHorizontalFlip(_Transform):
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img):
        return F.hflip(img) if worker_rng().random() < self.p else img


class RandomVerticalFlip(_Transform):
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img):
        return F.vflip(img) if worker_rng().random() < self.p else img


class RandomResizedCrop(_Transform):
    """A crop of random area fraction in ``scale`` and aspect ratio in ``ratio`` (log-uniform),
    resized to ``size`` (``transforms.RandomResizedCrop``); after 10 failed draws, the central
    crop of the ratio closest to the image's."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias: bool | None = True) -> None:
        self.size = _check_size(size, "RandomResizedCrop")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError("RandomResizedCrop: scale and ratio should be of kind (min, max)")
        self.scale = scale
        self.ratio = ratio
        self.interpolation = _interpolation(interpolation)
        self.antialias = antialias

    @staticmethod
    def get_params(img, scale, ratio) -> tuple[int, int, int, int]:
        _, height, width = F.get_dimensions(img)
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        rng = worker_rng()
        for _ in range(10):
            target_area = area * rng.uniform(scale[0], scale[1])
            aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            w = int(round(math.sqrt(target_area * aspect_ratio)))
            h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                i = int(rng.integers(0, height - h + 1))
                j = int(rng.integers(0, width - w + 1))
                return i, j, h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w = width
            h = int(round(w / min(ratio)))
        elif in_ratio > max(ratio):
            h = height
            w = int(round(h * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img):
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return F.resized_crop(img, i, j, h, w, self.size, self.interpolation, self.antialias)


def _jitter_range(value, name: str, center: float = 1.0, bound=(0, float("inf")),
                  clip_first_on_zero: bool = True):
    if value is None:
        return None
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be non negative.")
        value = [center - float(value), center + float(value)]
        if clip_first_on_zero:
            value[0] = max(value[0], 0.0)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        value = [float(value[0]), float(value[1])]
    else:
        raise TypeError(f"{name} should be a single number or a list/tuple with length 2.")
    if not bound[0] <= value[0] <= value[1] <= bound[1]:
        raise ValueError(f"{name} values should be between {bound}, but got {value}.")
    if value[0] == value[1] == center:
        return None
    return tuple(value)


class ColorJitter(_Transform):
    """Random brightness, contrast, saturation and hue changes, applied in a random order
    (``transforms.ColorJitter``). A number ``b`` means a factor in ``[max(0, 1-b), 1+b]``
    (hue: a shift in ``[-h, h]``, ``h <= 0.5``); a pair gives the range itself."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0) -> None:
        self.brightness = _jitter_range(brightness, "brightness")
        self.contrast = _jitter_range(contrast, "contrast")
        self.saturation = _jitter_range(saturation, "saturation")
        self.hue = _jitter_range(hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False)

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        rng = worker_rng()
        order = rng.permutation(4)
        draw = [None if r is None else float(rng.uniform(r[0], r[1]))
                for r in (brightness, contrast, saturation, hue)]
        return (order, *draw)

    def __call__(self, img):
        order, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        for k in order:
            if k == 0 and b is not None:
                img = F.adjust_brightness(img, b)
            elif k == 1 and c is not None:
                img = F.adjust_contrast(img, c)
            elif k == 2 and s is not None:
                img = F.adjust_saturation(img, s)
            elif k == 3 and h is not None:
                img = F.adjust_hue(img, h)
        return img


class Grayscale(_Transform):
    """Convert to grayscale with 1 or 3 output channels (``transforms.Grayscale``)."""

    def __init__(self, num_output_channels: int = 1) -> None:
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        return F.rgb_to_grayscale(img, self.num_output_channels)


class RandomGrayscale(_Transform):
    """Grayscale (keeping the channel count) with probability ``p``."""

    def __init__(self, p: float = 0.1) -> None:
        self.p = p

    def __call__(self, img):
        channels = F.get_image_num_channels(img)
        return F.rgb_to_grayscale(img, channels) if worker_rng().random() < self.p else img


class RandomRotation(_Transform):
    """Rotate by an angle uniform in ``degrees`` (a number ``d`` means ``(-d, d)``)."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand: bool = False,
                 center=None, fill=0) -> None:
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError("If degrees is a single number, it must be positive.")
            degrees = (-float(degrees), float(degrees))
        elif not (isinstance(degrees, Sequence) and len(degrees) == 2):
            raise ValueError("If degrees is a sequence, it must be of len 2.")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation = _interpolation(interpolation)
        self.expand = expand
        self.center = center
        self.fill = fill

    @staticmethod
    def get_params(degrees) -> float:
        return float(worker_rng().uniform(degrees[0], degrees[1]))

    def __call__(self, img):
        angle = self.get_params(self.degrees)
        return F.rotate(img, angle, self.interpolation, self.expand, self.center, self.fill)


class RandomApply(_Transform):
    """Apply all ``transforms`` with probability ``p``, else none."""

    def __init__(self, transforms: Sequence[Callable], p: float = 0.5) -> None:
        self.transforms = list(transforms)
        self.p = p

    @property
    def host_safe(self) -> bool:
        return all(is_host_safe(t) for t in self.transforms)

    def __call__(self, img):
        if worker_rng().random() >= self.p:
            return img
        for t in self.transforms:
            img = t(img)
        return img


class ConvertImageDtype(_Transform):
    """Convert a tensor image to ``dtype``, rescaling (``functional.convert_image_dtype``)."""

    def __init__(self, dtype) -> None:
        self.dtype = dtype

    def __call__(self, image):
        return F.convert_image_dtype(image, self.dtype)


class RandomChoice(_Transform):
    """Apply one of ``transforms``, picked with probabilities ``p`` (default uniform)."""

    def __init__(self, transforms: Sequence[Callable], p: Sequence[float] | None = None) -> None:
        if p is not None and len(p) != len(transforms):
            raise ValueError(f"Length of p doesn't match the number of transforms: {len(p)} != {len(transforms)}")
        self.transforms = list(transforms)
        self.p = p

    @property
    def host_safe(self) -> bool:
        return all(is_host_safe(t) for t in self.transforms)

    def __call__(self, img):
        weights = None if self.p is None else [w / sum(self.p) for w in self.p]
        k = int(worker_rng().choice(len(self.transforms), p=weights))
        return self.transforms[k](img)


class RandomOrder(_Transform):
    """Apply ``transforms`` in a random order."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    @property
    def host_safe(self) -> bool:
        return all(is_host_safe(t) for t in self.transforms)

    def __call__(self, img):
        for k in worker_rng().permutation(len(self.transforms)):
            img = self.transforms[k](img)
        return img


class RandomErasing(_Transform):
    """With probability ``p``, erase a random rectangle of a tensor image
    (``transforms.RandomErasing``): area fraction in ``scale``, aspect ratio log-uniform in
    ``ratio``, filled with ``value`` (a number, one per channel, or ``'random'`` for normal
    noise); after 10 failed draws the image is left as it is."""

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0,
                 inplace: bool = False) -> None:
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError("Scale and ratio should be of kind (min, max)")
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        if p < 0 or p > 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
        self.inplace = inplace

    @staticmethod
    def get_params(img, scale, ratio, value=None):
        shape = tuple(img.shape)
        img_c, img_h, img_w = shape[-3], shape[-2], shape[-1]
        area = img_h * img_w
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        rng = worker_rng()
        for _ in range(10):
            erase_area = area * rng.uniform(scale[0], scale[1])
            aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            h = int(round(math.sqrt(erase_area * aspect_ratio)))
            w = int(round(math.sqrt(erase_area / aspect_ratio)))
            if not (h < img_h and w < img_w):
                continue
            if value is None:
                v = rng.standard_normal((img_c, h, w)).astype(np.float32)
            else:
                v = np.asarray(value, dtype=np.float32)[:, None, None]
            i = int(rng.integers(0, img_h - h + 1))
            j = int(rng.integers(0, img_w - w + 1))
            return i, j, h, w, v
        return 0, 0, img_h, img_w, None

    def __call__(self, img):
        if worker_rng().random() >= self.p:
            return img
        if isinstance(self.value, numbers.Number):
            value = [float(self.value)]
        elif isinstance(self.value, str):
            value = None
        else:
            value = [float(v) for v in self.value]
        channels = F.get_image_num_channels(img)
        if value is not None and len(value) not in (1, channels):
            raise ValueError("If value is a sequence, it should have either a single value or "
                             f"{channels} (number of input channels)")
        i, j, h, w, v = self.get_params(img, self.scale, self.ratio, value)
        if v is None:
            return img
        return F.erase(img, i, j, h, w, v, self.inplace)


class GaussianBlur(_Transform):
    """Blur with a Gaussian of ``kernel_size`` (an odd int, or ``(kx, ky)``) and a sigma uniform
    in ``sigma`` (a number means that fixed sigma) (``transforms.GaussianBlur``)."""

    def __init__(self, kernel_size, sigma=(0.1, 2.0)) -> None:
        self.kernel_size = _check_size(kernel_size, "GaussianBlur")
        for k in self.kernel_size:
            if k <= 0 or k % 2 == 0:
                raise ValueError("Kernel size value should be an odd and positive number.")
        if isinstance(sigma, numbers.Number):
            if sigma <= 0:
                raise ValueError("If sigma is a single number, it must be positive.")
            sigma = (float(sigma), float(sigma))
        elif not (isinstance(sigma, Sequence) and len(sigma) == 2 and 0 < sigma[0] <= sigma[1]):
            raise ValueError("sigma values should be positive and of the form (min, max).")
        self.sigma = sigma

    @staticmethod
    def get_params(sigma_min: float, sigma_max: float) -> float:
        return float(worker_rng().uniform(sigma_min, sigma_max))

    def __call__(self, img):
        sigma = self.get_params(self.sigma[0], self.sigma[1])
        return F.gaussian_blur(img, list(self.kernel_size), [sigma, sigma])
