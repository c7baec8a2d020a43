"""``rustorch.backends``: PyTorch's backend switches, as XLA reads them.

``cudnn.benchmark``, ``cudnn.deterministic``, ``cudnn.enabled`` and the TF32 flags are settings
programs assign; rustorch keeps them so that reading them back works, and documents what XLA does
instead (see each module). ``mps.is_available()`` is False: JAX has no MPS backend.
"""
from . import cpu, cuda, cudnn, mps

__all__ = ["cpu", "cuda", "cudnn", "mps"]
