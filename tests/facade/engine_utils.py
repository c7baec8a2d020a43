"""Helpers of the engine tests: XLA compilations counted by JAX itself, twin models."""
import contextlib

import numpy as np
import torch
from jax import monitoring

_events = []
monitoring.register_event_duration_secs_listener(
    lambda name, duration, **kwargs: _events.append(name) if name == "/jax/core/compile/backend_compile_duration" else None
)


def backend_compiles() -> int:
    """XLA backend compilations so far, as JAX's monitoring events report them."""
    return len(_events)


@contextlib.contextmanager
def no_jax_compiles():
    """Fail if JAX compiles anything inside (any program, not only the facade's)."""
    before = backend_compiles()
    yield
    assert backend_compiles() == before, f"{backend_compiles() - before} XLA compilations"


def torch_copy(rt_module, th_module):
    """Copy rustorch parameters/buffers into the torch twin (same state_dict names)."""
    state = rt_module.state_dict()
    with torch.no_grad():
        for name, value in th_module.state_dict().items():
            value.copy_(torch.from_numpy(np.array(state[name])).to(value.dtype))
    return th_module
