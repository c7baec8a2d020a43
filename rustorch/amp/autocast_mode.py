"""``torch.autocast``: mixed precision by PyTorch's per-op cast policy, applied at record time.

Inside ``with rustorch.autocast('cpu'):`` (or a function decorated with it) the facade records
matmuls, linear layers and convolutions in the autocast dtype (bfloat16 on CPU, float16 on CUDA
by default), losses in float32, and everything else in its inputs' dtype; see
:mod:`rustorch.stateful._autocast` for the tables. Parameters stay float32 and receive float32
gradients through the recorded casts. The setting is per thread and per device type, as in
PyTorch; a process records programs for one backend (its GPU, else its CPU), so the autocast
state of that backend's device type is the one that applies.
"""
from __future__ import annotations

import functools
import warnings
from typing import Any, Optional

import numpy as np

from .. import _device
from ..stateful import _autocast

_SUPPORTED = {"cpu": ("bfloat16", "float16"), "cuda": ("bfloat16", "float16")}


def _bfloat16():
    import jax.numpy as jnp

    return np.dtype(jnp.bfloat16)


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast supports ``device_type`` (``'cpu'`` and ``'cuda'``)."""
    return device_type in _SUPPORTED


def get_autocast_dtype(device_type: str) -> np.dtype:
    """The lower-precision dtype autocast uses on ``device_type`` in this thread."""
    _check_device_type(device_type)
    return _autocast.state.settings[device_type][1]


def is_autocast_enabled(device_type: Optional[str] = None) -> bool:
    """Whether autocast is on for ``device_type`` (default ``'cuda'``, as PyTorch) in this thread."""
    device_type = device_type or "cuda"
    _check_device_type(device_type)
    return _autocast.state.settings[device_type][0]


def set_autocast_enabled(device_type: str, enabled: bool) -> None:
    """Turn autocast on or off for ``device_type`` in this thread (``torch.set_autocast_enabled``)."""
    _check_device_type(device_type)
    _autocast.set_setting(device_type, enabled, _autocast.state.settings[device_type][1])


def set_autocast_dtype(device_type: str, dtype) -> None:
    """Set the lower-precision dtype of ``device_type``'s autocast in this thread."""
    _check_device_type(device_type)
    _autocast.set_setting(device_type, _autocast.state.settings[device_type][0], dtype)


def _check_device_type(device_type: str) -> None:
    if device_type not in _SUPPORTED:
        raise RuntimeError(
            f"User specified an unsupported autocast device_type '{device_type}'; rustorch supports "
            "'cpu' and 'cuda'")


def _cuda_available() -> bool:
    return bool(_device._devices("gpu"))


class autocast:
    """``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context
    manager and decorator that records the ops inside with PyTorch's autocast cast policy.

    Args:
        device_type: ``'cpu'`` or ``'cuda'``.
        dtype: the lower-precision dtype (default: bfloat16 on CPU, float16 on CUDA).
        enabled: False leaves (or makes) autocast off inside the region.
        cache_enabled: accepted for PyTorch's signature; every cast is a recorded op and XLA
            merges the casts of one parameter used twice, so there is no cache to switch.

    Raises:
        RuntimeError: a device type other than ``'cpu'``/``'cuda'``.

    Warns (and disables itself, as PyTorch): ``'cuda'`` without a GPU, or a dtype the device
    type does not support.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: Optional[bool] = None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        _check_device_type(device_type)
        self.device = device_type
        self.fast_dtype = np.dtype(dtype) if dtype is not None else (
            _bfloat16() if device_type == "cpu" else np.dtype(np.float16))
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        enabled = bool(enabled)
        if enabled and device_type == "cuda" and not _cuda_available():
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling",
                          stacklevel=2)
            enabled = False
        if enabled and self.fast_dtype.name not in _SUPPORTED[device_type]:
            where = "CPU" if device_type == "cpu" else "CUDA"
            warnings.warn(f"In {where} autocast, but the target dtype is not supported. Disabling autocast.\n"
                          f"{where} Autocast only supports dtype of {', '.join(_SUPPORTED[device_type])} "
                          "currently.", stacklevel=2)
            enabled = False
        self._enabled = enabled
        self._previous: list = []

    def __enter__(self):
        self._previous.append(_autocast.set_setting(self.device, self._enabled, self.fast_dtype))
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any):
        enabled, dtype = self._previous.pop()
        _autocast.set_setting(self.device, enabled, dtype)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return decorate_autocast

    def __repr__(self) -> str:
        return (f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, "
                f"enabled={self._enabled})")
