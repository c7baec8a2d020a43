"""``torch.cpu``: the CPU device module (``rustorch.cpu.amp`` holds the deprecated AMP spellings)."""
from __future__ import annotations

from ..amp import cpu_amp as amp


def is_available() -> bool:
    """Always True: the CPU is always available."""
    return True


def device_count() -> int:
    """1, as ``torch.cpu.device_count()``."""
    return 1


def current_device() -> str:
    """``'cpu'``, as ``torch.cpu.current_device()``."""
    return "cpu"


def synchronize(device=None) -> None:
    """Wait for pending work: JAX dispatches CPU programs asynchronously, so this blocks until
    every computation launched so far has finished."""
    import jax

    (jax.device_put(0.0) + 0).block_until_ready()
    jax.effects_barrier()


__all__ = ["amp", "is_available", "device_count", "current_device", "synchronize"]
