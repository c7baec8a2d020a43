"""``rustorch.cuda``: PyTorch's ``torch.cuda`` queries over JAX's GPU devices.

"CUDA" here means JAX's ``gpu`` platform (a CUDA or ROCm build of jaxlib). Without one,
``is_available()`` is False and ``device_count()`` 0, as on a CPU-only PyTorch.
"""
from __future__ import annotations

from typing import Optional

import jax

from . import _device
from .stateful import _random


def _gpus() -> list:
    return _device._devices("gpu")


def is_available() -> bool:
    """Whether JAX has a GPU backend with at least one device in this process."""
    return bool(_gpus())


def device_count() -> int:
    """How many GPUs JAX sees (0 without a GPU backend)."""
    return len(_gpus())


def current_device() -> int:
    """The index of the current GPU: always 0, JAX's default GPU (there is no ``set_device``
    state; place data with ``device('cuda:N')``).

    Raises:
        RuntimeError: no GPU, as PyTorch's "Found no NVIDIA driver" / "no CUDA GPUs".
    """
    _require("current_device")
    return 0


def get_device_name(device=None) -> str:
    """The GPU's model name (JAX's ``device_kind``, e.g. ``'NVIDIA H100 80GB HBM3'``)."""
    return _device.device(_as_cuda(device)).jax_device().device_kind


def _as_cuda(device) -> "_device.device":
    if device is None:
        return _device.device("cuda", 0)
    if isinstance(device, int) and not isinstance(device, bool):
        return _device.device("cuda", device)
    return _device.device(device)


def _require(what: str) -> None:
    if not is_available():
        raise RuntimeError(
            f"rustorch.cuda.{what}(): JAX found no GPU in this process (devices: {jax.devices()}); "
            "check rustorch.cuda.is_available() first"
        )


def manual_seed(seed: int) -> None:
    """Seed the random streams of GPU ops, as ``torch.cuda.manual_seed``.

    rustorch draws on every device from one generator (JAX keys do not depend on the device),
    so with a GPU present this seeds that generator, as :func:`rustorch.manual_seed`. Without
    a GPU the call is ignored, as PyTorch ignores it when CUDA is unavailable.
    """
    if is_available():
        _random.manual_seed(seed)


def manual_seed_all(seed: int) -> None:
    """Seed the random streams of every GPU (see :func:`manual_seed`)."""
    manual_seed(seed)


def seed() -> None:
    """Seed the GPU streams with a non-deterministic number (ignored without a GPU)."""
    if is_available():
        import secrets

        _random.manual_seed(secrets.randbits(63))


def seed_all() -> None:
    seed()


def synchronize(device=None) -> None:
    """Wait for the work JAX has dispatched, as ``torch.cuda.synchronize``.

    rustorch computes recorded operations when a value is read; this waits for the computations
    already running (``jax.effects_barrier``). To time a step, read a value of it (``.item()``).
    """
    jax.effects_barrier()


def empty_cache() -> None:
    """Release cached compiled programs' memory held by JAX (``jax.clear_caches``)."""
    jax.clear_caches()


def memory_allocated(device=None) -> int:
    """Bytes in use on the GPU, from JAX's allocator statistics (0 when it reports none)."""
    stats = _device.device(_as_cuda(device)).jax_device().memory_stats() or {}
    return int(stats.get("bytes_in_use", 0))


def max_memory_allocated(device=None) -> int:
    """The peak of :func:`memory_allocated`, from JAX's allocator statistics."""
    stats = _device.device(_as_cuda(device)).jax_device().memory_stats() or {}
    return int(stats.get("peak_bytes_in_use", 0))


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """Whether bfloat16 works on the GPU: XLA supports it on every GPU it runs on."""
    return is_available()


def get_device_capability(device=None) -> tuple:
    """``(major, minor)`` compute capability of an NVIDIA GPU, as JAX reports it.

    Raises:
        RuntimeError: no GPU, or a GPU whose JAX device reports no compute capability (ROCm).
    """
    jax_device = _device.device(_as_cuda(device)).jax_device()
    capability: Optional[str] = getattr(jax_device, "compute_capability", None)
    if capability is None:
        raise RuntimeError(f"{jax_device} reports no CUDA compute capability")
    major, minor = capability.split(".")
    return int(major), int(minor)
