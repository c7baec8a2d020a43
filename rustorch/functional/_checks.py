"""Argument checks shared by the functional ops.

Every check raises at trace time (shapes and dtypes are static under ``jax.jit``), names the
operation, says what it expected and what it got, and where it can, how to fix it.
"""
from __future__ import annotations

import numbers
from typing import Literal, Sequence


def check_ndim(op: str, name: str, x, allowed: Sequence[int], layout: str = "") -> None:
    """Raise ``ValueError`` unless ``x.ndim`` is one of ``allowed``."""
    if x.ndim not in allowed:
        want = " or ".join(f"{n}-D" for n in allowed)
        hint = f" ({layout})" if layout else ""
        raise ValueError(
            f"{op}: expected {name} to be {want}{hint}, got {x.ndim}-D input of shape {tuple(x.shape)}"
        )


def pair(op: str, name: str, value) -> tuple[int, int]:
    """Normalise an int or a pair of ints to a pair, as PyTorch's ``_pair`` does."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def check_reduction(op: str, reduction: str) -> None:
    """Raise ``ValueError`` for a reduction other than 'none', 'mean' or 'sum'."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def check_probability(op: str, p) -> None:
    """Raise ``ValueError`` unless ``0 <= p <= 1`` (PyTorch's dropout rule)."""
    if not (isinstance(p, numbers.Real) and not isinstance(p, bool)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability has to be between 0 and 1, but got {p!r}")


Layout = Literal["NCHW", "NHWC"]
"""The activation layouts of the image ops: PyTorch's channels-first ``[N, C, *]`` (named by its
4-D form; every op's default) and channels-last ``[N, *, C]``."""


def is_channels_last(op: str, layout) -> bool:
    """``layout`` (``'NCHW'`` or ``'NHWC'``) as a flag: True for ``'NHWC'``; raise ``ValueError``
    for anything else."""
    if layout == "NCHW":
        return False
    if layout == "NHWC":
        return True
    raise ValueError(
        f"{op}: layout must be 'NCHW' (channels first, PyTorch's layout) or 'NHWC' (channels "
        f"last), got {layout!r}"
    )
