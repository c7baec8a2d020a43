"""``torch.backends.cudnn``'s settings.

Under XLA these are recorded, not acted on:

* ``benchmark``: XLA autotunes GPU convolution algorithms by itself when it compiles a program
  (each program is compiled once), whatever the value.
* ``deterministic``: XLA on CPU is deterministic; on a GPU, start the process with
  ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` (XLA reads it when the backend starts).
* ``enabled``: XLA picks cuDNN kernels where it has them; there is no switch to turn them off.
* ``allow_tf32``: XLA's default GPU matmul/conv precision; change it with
  ``jax.default_matmul_precision``.
"""
from __future__ import annotations

from .. import cuda as _cuda

benchmark: bool = False
deterministic: bool = False
enabled: bool = True
allow_tf32: bool = True


def is_available() -> bool:
    """Whether a GPU is present (XLA's GPU backend uses cuDNN)."""
    return _cuda.is_available()


def version():
    """None: JAX does not expose the cuDNN version it links (PyTorch returns None without cuDNN)."""
    return None
