"""``torch.backends.cuda``: its ``matmul.allow_tf32`` setting, recorded (XLA's GPU matmul
precision is set with ``jax.default_matmul_precision`` instead)."""
from types import SimpleNamespace

from .. import cuda as _cuda

matmul = SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                         allow_bf16_reduced_precision_reduction=True)


def is_built() -> bool:
    """Whether this process has a GPU backend (a CUDA or ROCm build of jaxlib with a device)."""
    return _cuda.is_available()
