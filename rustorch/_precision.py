"""PyTorch's float32 precision switches, mapped onto JAX's default matmul precision.

``rustorch.set_float32_matmul_precision('highest' | 'high' | 'medium')`` sets JAX's
``jax_default_matmul_precision`` to ``'float32'`` / ``'tensorfloat32'`` / ``'bfloat16'``, which
XLA reads when it compiles a program's dots and convolutions on a GPU (TF32 tensor cores for
``'high'``, bfloat16 passes for ``'medium'``). The setting is part of JAX's trace context, so a
program built before a switch is traced and compiled again for the new precision (one program
per precision, each compiled once). ``torch.backends.cuda.matmul.allow_tf32`` reads and writes
the same setting (True is ``'high'``), as in PyTorch.

XLA's CPU backend computes float32 dots and convolutions in float32 whatever the precision:
on CPU these switches change no result, as PyTorch's default CPU matmuls.

PyTorch's defaults are float32 matmuls (``'highest'``) and TF32 convolutions
(``torch.backends.cudnn.allow_tf32 = True``). JAX has a single precision for dots and
convolutions, so rustorch starts from ``'highest'`` for both: ``cudnn.allow_tf32`` is kept
for programs that read it back and does not separate convolutions from matmuls.
"""
from __future__ import annotations

import warnings

import jax

from . import _config

_TO_JAX = {"highest": "float32", "high": "tensorfloat32", "medium": "bfloat16"}
_precision = _config.DEFAULT_FLOAT32_MATMUL_PRECISION


def set_float32_matmul_precision(precision: str) -> None:
    """``torch.set_float32_matmul_precision``: ``'highest'`` (float32), ``'high'`` (TF32 on GPUs
    that have it) or ``'medium'`` (bfloat16 passes). Another value warns and changes nothing,
    as PyTorch. No effect on CPU results (see the module docstring)."""
    global _precision
    if precision not in _TO_JAX:
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "setFloat32MatmulPrecision call has no effect.", stacklevel=2)
        return
    _precision = precision
    jax.config.update("jax_default_matmul_precision", _TO_JAX[precision])


def get_float32_matmul_precision() -> str:
    """``torch.get_float32_matmul_precision``: the current setting (default ``'highest'``)."""
    return _precision


class MatmulSettings:
    """``torch.backends.cuda.matmul``: ``allow_tf32`` is ``get_float32_matmul_precision() !=
    'highest'``; setting it selects ``'high'`` (True) or ``'highest'`` (False), as PyTorch."""

    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self) -> bool:
        return _precision != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        set_float32_matmul_precision("high" if value else "highest")

    def __repr__(self) -> str:
        return f"matmul(allow_tf32={self.allow_tf32})"


def _apply_default() -> None:
    """At import: PyTorch's default float32 matmuls, unless the user already chose a JAX
    default precision (``JAX_DEFAULT_MATMUL_PRECISION`` or ``jax.config``), which then wins
    and is what :func:`get_float32_matmul_precision` reports."""
    global _precision
    current = jax.config.jax_default_matmul_precision
    if current is None:
        jax.config.update("jax_default_matmul_precision", _TO_JAX[_precision])
        return
    for name, jax_name in _TO_JAX.items():
        if str(current).lower() in (jax_name, {"float32": "highest", "bfloat16": "fastest"}.get(jax_name, jax_name)):
            _precision = name
