"""``rustorch.optim``: PyTorch's optimizers for facade models (Adam, AdamW, SGD)."""
from ..stateful._optim import SGD, Adam, AdamW, Optimizer
