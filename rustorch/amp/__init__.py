"""``rustorch.amp`` (``torch.amp``): :class:`autocast` and :class:`GradScaler`.

``rustorch.cuda.amp`` and ``rustorch.cpu.amp`` hold PyTorch's older spellings
(``torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)``,
``torch.cuda.amp.GradScaler``), which warn as deprecated, as PyTorch's do.
"""
from __future__ import annotations

import sys
import types
import warnings

from .autocast_mode import (
    autocast,
    get_autocast_dtype,
    is_autocast_available,
    is_autocast_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
)
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "is_autocast_available", "get_autocast_dtype", "is_autocast_enabled",
           "set_autocast_enabled", "set_autocast_dtype"]


def _device_autocast(device_type: str, default_dtype: str):
    import numpy as np

    class _autocast(autocast):
        __doc__ = (f"``torch.{device_type}.amp.autocast(enabled=True, dtype={default_dtype}, cache_enabled=True)``:"
                   f" deprecated alias of ``autocast('{device_type}', ...)``.")

        def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True):
            warnings.warn(f"`torch.{device_type}.amp.autocast(args...)` is deprecated. Please use "
                          f"`torch.amp.autocast('{device_type}', args...)` instead.", FutureWarning, stacklevel=2)
            if dtype is None:
                import jax.numpy as jnp

                dtype = jnp.bfloat16 if default_dtype == "bfloat16" else np.float16
            super().__init__(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    _autocast.__name__ = _autocast.__qualname__ = "autocast"
    return _autocast


def _device_grad_scaler(device_type: str):
    class _GradScaler(GradScaler):
        __doc__ = f"``torch.{device_type}.amp.GradScaler``: deprecated alias of ``GradScaler('{device_type}', ...)``."

        def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                     growth_interval: int = 2000, enabled: bool = True) -> None:
            warnings.warn(f"`torch.{device_type}.amp.GradScaler(args...)` is deprecated. Please use "
                          f"`torch.amp.GradScaler('{device_type}', args...)` instead.", FutureWarning, stacklevel=2)
            super().__init__(device_type, init_scale, growth_factor, backoff_factor, growth_interval, enabled)

    _GradScaler.__name__ = _GradScaler.__qualname__ = "GradScaler"
    return _GradScaler


def _namespace(name: str, **members) -> types.ModuleType:
    module = types.ModuleType(name, f"``{name.replace('rustorch', 'torch')}``: PyTorch's deprecated AMP spellings.")
    module.__dict__.update(members)
    sys.modules[name] = module
    return module


cuda_amp = _namespace("rustorch.cuda.amp", autocast=_device_autocast("cuda", "float16"), GradScaler=_device_grad_scaler("cuda"))
cpu_amp = _namespace("rustorch.cpu.amp", autocast=_device_autocast("cpu", "bfloat16"),
                     GradScaler=_device_grad_scaler("cpu"))
