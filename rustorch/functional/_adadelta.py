"""Adadelta as a pure function, step for step ``torch.optim.adadelta._single_tensor_adadelta``.

PyTorch's step for one parameter with a gradient::

    step += 1
    grad = -grad if maximize
    if weight_decay != 0: grad = grad + weight_decay * param
    square_avg = square_avg * rho + (1 - rho) * grad * grad
    std = sqrt(square_avg + eps)
    delta = sqrt(acc_delta + eps) / std * grad
    acc_delta = acc_delta * rho + (1 - rho) * delta * delta
    param = param - lr * delta
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from ._optimizer import (
    EPS,
    LR,
    STEP,
    WEIGHT_DECAY,
    Hyper,
    Optimizer,
    check_flag,
    hyperparams_type,
    make_optimizer,
    precision,
    state_with_hyperparams,
    zeros_field,
)

AdadeltaHyperparams = hyperparams_type(
    "AdadeltaHyperparams",
    (
        LR,
        Hyper("rho", lambda v: 0.0 <= v <= 1.0, "Invalid rho value: {value} (expected 0 <= rho <= 1)",
              (("rho", False), ("one_minus_rho", True))),
        EPS,
        WEIGHT_DECAY,
    ),
    "Adadelta's hyperparameters as float32 scalar arrays (``rho`` also as ``1 - rho``).",
    __name__,
)


class AdadeltaState(NamedTuple):
    """State of :func:`adadelta`: PyTorch's ``step``, ``square_avg`` and ``acc_delta``."""

    hyperparams: Any
    step: Any
    square_avg: Any
    acc_delta: Any

    with_hyperparams = state_with_hyperparams


def _leaf(p, g, hp, step, square_avg, acc_delta, *, maximize):
    dtype = p.dtype
    ct, rnd = precision(dtype)
    lr, rho, one_minus_rho, eps, wd = (h.astype(ct) for h in hp)
    p, g, square_avg, acc_delta = (x.astype(ct) for x in (p, g, square_avg, acc_delta))
    step = step + 1
    if maximize:
        g = -g
    g = jnp.where(wd != 0, rnd(g + rnd(wd) * p), g)
    square_avg = rnd(rnd(square_avg * rho) + (one_minus_rho * g) * g)
    std = rnd(jnp.sqrt(rnd(square_avg + eps)))
    delta = rnd(jnp.sqrt(rnd(acc_delta + eps)))
    delta = rnd(rnd(delta / std) * g)
    acc_delta = rnd(rnd(acc_delta * rho) + (one_minus_rho * delta) * delta)
    p = rnd(p + rnd(-lr) * delta)
    return p.astype(dtype), step, square_avg.astype(dtype), acc_delta.astype(dtype)


def adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize: bool = False) -> Optimizer:
    """``torch.optim.Adadelta`` as a functional :class:`Optimizer` (see the module docstring).

    Args:
        lr: scales the update (default 1.0); lives in the state, like every number here.
        rho: decay of the running averages (default 0.9).
        eps: added inside both square roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
        maximize: maximise the objective (default False); static.

    Returns:
        ``Optimizer(init, update)`` with ``init(params) -> AdadeltaState``.

    Raises:
        ValueError: PyTorch's constructor checks ("Invalid learning rate", "Invalid rho value",
            "Invalid epsilon value", "Invalid weight_decay value").
        TypeError: non-numeric hyperparameters or non-bool flags.
    """
    op = "adadelta"
    hp = AdadeltaHyperparams.create(op, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
    maximize = check_flag(op, "maximize", maximize)

    def leaf(p, g, hp, step, square_avg, acc_delta):
        return _leaf(p, g, hp, step, square_avg, acc_delta, maximize=maximize)

    fields = [STEP, zeros_field("square_avg"), zeros_field("acc_delta")]
    return make_optimizer(op, AdadeltaState, hp, fields, leaf)
