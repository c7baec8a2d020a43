"""rustorch.stateful: the PyTorch-style facade over :mod:`rustorch.functional`."""
from ._graph import (
    clear_cache,
    compile_count,
    enable_grad,
    evaluation_count,
    explain_recompiles,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from ._random import Generator, initial_seed, manual_seed
from ._variable import Tensor, Variable, tensor
