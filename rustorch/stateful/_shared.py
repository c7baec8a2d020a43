"""Parameters shared between processes: ``Module.share_memory()`` for Hogwild-style training.

PyTorch moves a shared module's tensors into shared memory, and every process updates them
in place. rustorch's values are immutable JAX arrays, so a shared module keeps, beside each
parameter and buffer, a block of shared memory (:class:`multiprocessing.shared_memory`)
holding its current value, and synchronises at the two points where PyTorch's processes
meet the shared storage:

* before each forward call of the shared module, every process reads the current values
  (what all processes have written so far), as PyTorch's forward reads the shared tensors;
* ``optimizer.step()`` applies its update to the values as they are in shared memory at that
  moment and writes the result back, as PyTorch's in-place ``p.add_`` does.

The blocks travel with the module when it is pickled to another process (``mp.Process``
arguments, ``mp.spawn``), by name; the process that created them unlinks them when it exits.
As in PyTorch, the processes' updates race (Hogwild): an update made between another
process's read and its write may be lost.
"""
from __future__ import annotations

import atexit
from multiprocessing import shared_memory
from typing import Iterable

import jax.numpy as jnp
import numpy as np

# id(Variable) -> (Variable, SharedBlock) for the shared tensors this process has met.
_REGISTRY: dict = {}


class SharedBlock:
    """A named block of shared memory holding one array's value; pickles by name."""

    def __init__(self, shape, dtype, name=None):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        nbytes = max(1, int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize)
        self._owner = name is None
        self._memory = shared_memory.SharedMemory(name=name, create=name is None, size=nbytes if name is None else 0)
        if self._owner:
            atexit.register(_unlink, self._memory)

    @property
    def array(self) -> np.ndarray:
        """A numpy view of the shared bytes (writes are seen by every process)."""
        count = int(np.prod(self.shape, dtype=np.int64))
        return np.frombuffer(self._memory.buf, dtype=self.dtype, count=count).reshape(self.shape)

    def read(self):
        return jnp.asarray(np.array(self.array))  # a private copy: JAX must not alias shared bytes

    def write(self, value) -> None:
        self.array[...] = np.asarray(value)

    def __reduce__(self):
        return (SharedBlock, (self.shape, self.dtype.str, self._memory.name))


def _unlink(memory) -> None:
    try:
        memory.close()
        memory.unlink()
    except (FileNotFoundError, BufferError):
        pass


def share(module) -> None:
    """Give every parameter and buffer of ``module`` a shared block (kept ones stay) and make
    the module read them before each forward call."""
    blocks = module.__dict__.setdefault("_shared_blocks", {})
    for name, tensor in _named_tensors(module):
        if name not in blocks:
            value = tensor._concrete()
            blocks[name] = SharedBlock(value.shape, value.dtype)
            blocks[name].write(value)
        _REGISTRY[id(tensor)] = (tensor, blocks[name])
    if not module.__dict__.get("_shared_hook"):
        module.register_forward_pre_hook(_read_before_forward)
        module.__dict__["_shared_hook"] = True


def _named_tensors(module):
    yield from module.named_parameters()
    yield from ((name, b) for name, b in module.named_buffers() if b is not None)


def _read_before_forward(module, args):
    """Forward pre-hook of a shared module: load the values all processes have written."""
    blocks = module.__dict__.get("_shared_blocks", {})
    for name, tensor in _named_tensors(module):
        block = blocks.get(name)
        if block is not None:
            _REGISTRY[id(tensor)] = (tensor, block)
            tensor._assign(block.read(), bump_version=False)
    return None


def is_shared(params: Iterable) -> bool:
    """Whether any of ``params`` is shared between processes."""
    return bool(_REGISTRY) and any(
        (entry := _REGISTRY.get(id(p))) is not None and entry[0] is p for p in params)


def pull(params: Iterable) -> None:
    """Load the shared values of those ``params`` that are shared (before an optimizer step)."""
    if _REGISTRY:
        for p in params:
            entry = _REGISTRY.get(id(p))
            if entry is not None and entry[0] is p:
                p._assign(entry[1].read(), bump_version=False)


def push(params: Iterable) -> None:
    """Write the values of those ``params`` that are shared (after an optimizer step)."""
    if _REGISTRY:
        for p in params:
            entry = _REGISTRY.get(id(p))
            if entry is not None and entry[0] is p:
                entry[1].write(p._concrete())
