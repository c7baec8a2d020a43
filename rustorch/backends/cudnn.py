"""``torch.backends.cudnn``'s settings.

Under XLA these are recorded, not acted on:

* ``benchmark``: XLA autotunes GPU convolution algorithms by itself when it compiles a program
  (each program is compiled once), whatever the value.
* ``deterministic``: XLA on CPU is deterministic; on a GPU, start the process with
  ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` (XLA reads it when the backend starts).
* ``enabled``: XLA picks cuDNN kernels where it has them; there is no switch to turn them off.
* ``allow_tf32``: JAX has one precision for dots and convolutions, the one
  ``rustorch.set_float32_matmul_precision`` (or ``backends.cuda.matmul.allow_tf32``) sets:
  float32 by default, so GPU convolutions run in float32 where PyTorch's default allows TF32.
  Set ``rustorch.set_float32_matmul_precision('high')`` for TF32 convolutions (and matmuls).
  No effect on CPU (see :mod:`rustorch._precision`).
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
