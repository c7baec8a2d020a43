"""``rustorch.accelerator``: PyTorch's device-agnostic accelerator queries.

The accelerator is JAX's GPU (named ``cuda``, as PyTorch names it) when this process has one;
otherwise there is none, and PyTorch programs fall back to ``device('cpu')``.
"""
from __future__ import annotations

from typing import Optional

from . import _device, cuda


def is_available() -> bool:
    """Whether an accelerator (a JAX GPU) is present."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> Optional[_device.device]:
    """``device(type='cuda')`` when a GPU is present, else None, as PyTorch."""
    return _device.device("cuda") if cuda.is_available() else None


def device_count() -> int:
    """How many accelerator devices there are (0 without a GPU)."""
    return cuda.device_count()


def current_device_index() -> int:
    """The index of the current accelerator device (0).

    Raises:
        RuntimeError: no accelerator.
    """
    return cuda.current_device()


current_device_idx = current_device_index


def synchronize(device=None) -> None:
    """Wait for dispatched work (see :func:`rustorch.cuda.synchronize`)."""
    cuda.synchronize(device)
