"""rustorch: PyTorch's API and numerics, compiled by JAX/XLA."""
from . import functional

__version__ = "0.1.0"
