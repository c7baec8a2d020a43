"""``torch.backends.cuda``: ``matmul.allow_tf32`` drives JAX's default matmul precision
(``rustorch.set_float32_matmul_precision``; see :mod:`rustorch._precision`, no effect on CPU)."""
from .. import _precision
from .. import cuda as _cuda

matmul = _precision.MatmulSettings()


def is_built() -> bool:
    """Whether this process has a GPU backend (a CUDA or ROCm build of jaxlib with a device)."""
    return _cuda.is_available()
