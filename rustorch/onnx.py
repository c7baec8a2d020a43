"""``rustorch.onnx``: the ``torch.onnx`` namespace, so programs that import it run.

rustorch compiles models with XLA and has no ONNX exporter: :func:`export` raises
``NotImplementedError`` saying so. To deploy a rustorch model, save its ``state_dict`` (PyTorch's
``.pth`` format, readable by ``torch.load``) and export from PyTorch, or export the compiled
function itself with ``jax.export`` (StableHLO) through :func:`rustorch.functional_model`.
"""
from __future__ import annotations

from typing import Any


def export(model: Any, args: Any, f: Any = None, *rest: Any, **kwargs: Any) -> None:
    """Not available: rustorch has no ONNX exporter (see the module's documentation)."""
    raise NotImplementedError(
        "rustorch.onnx.export: rustorch has no ONNX exporter. Save model.state_dict() with "
        "rustorch.save (PyTorch's .pth format) and export from PyTorch, or export the compiled "
        "function with jax.export via rustorch.functional_model(model)."
    )


def is_in_onnx_export() -> bool:
    """Always False: no ONNX export ever runs in rustorch."""
    return False
