"""``rustorch.optim``: PyTorch's optimizers for facade models, and :mod:`.lr_scheduler`."""
from ..stateful._optim import SGD, Adam, AdamW, Optimizer
from ..stateful._optim import Adadelta, Adagrad, Adamax, NAdam, RAdam, RMSprop
from . import lr_scheduler
from ..stateful._lbfgs import LBFGS
