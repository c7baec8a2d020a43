"""Adamax as a pure function, step for step ``torch.optim.adamax._single_tensor_adamax``.

PyTorch's step for one parameter with a gradient::

    grad = -grad if maximize
    step += 1
    if weight_decay != 0: grad = grad + weight_decay * param
    exp_avg.lerp_(grad, 1 - beta1)
    exp_inf = maximum(exp_inf * beta2, abs(grad) + eps)
    param = param - lr / (1 - beta1 ** step) * exp_avg / exp_inf
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from ._optimizer import (
    BETA1,
    BETA2,
    EPS,
    LR,
    STEP,
    WEIGHT_DECAY,
    Optimizer,
    check_flag,
    hyperparams_type,
    lerp,
    make_optimizer,
    one_minus_power,
    precision,
    state_with_hyperparams,
    zeros_field,
)

AdamaxHyperparams = hyperparams_type(
    "AdamaxHyperparams", (LR, BETA1, BETA2, EPS, WEIGHT_DECAY),
    "Adamax's hyperparameters as float32 scalar arrays (each beta also as ``1 - beta``).",
    __name__,
)


class AdamaxState(NamedTuple):
    """State of :func:`adamax`: PyTorch's ``step``, ``exp_avg`` and ``exp_inf``."""

    hyperparams: Any
    step: Any
    exp_avg: Any
    exp_inf: Any

    with_hyperparams = state_with_hyperparams


def _leaf(p, g, hp, step, exp_avg, exp_inf, *, maximize):
    dtype = p.dtype
    ct, rnd = precision(dtype)
    lr, _, one_minus_beta1, beta2, _, eps, wd = (h.astype(ct) for h in hp)
    p, g, exp_avg, exp_inf = (x.astype(ct) for x in (p, g, exp_avg, exp_inf))
    if maximize:
        g = -g
    step = step + 1
    g = jnp.where(wd != 0, rnd(g + rnd(wd) * p), g)
    exp_avg = rnd(lerp(exp_avg, g, one_minus_beta1))
    exp_inf = jnp.maximum(rnd(exp_inf * beta2), rnd(jnp.abs(g) + eps))
    clr = (hp.lr / one_minus_power(hp.one_minus_beta1, step)).astype(ct)
    p = rnd(p + ((-clr) * exp_avg) / exp_inf)
    return p.astype(dtype), step, exp_avg.astype(dtype), exp_inf.astype(dtype)


def adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize: bool = False) -> Optimizer:
    """``torch.optim.Adamax`` as a functional :class:`Optimizer` (see the module docstring).

    Args:
        lr: learning rate (default 2e-3); lives in the state, like every number here.
        betas: ``(beta1, beta2)`` (default ``(0.9, 0.999)``).
        eps: added to ``abs(grad)`` (default 1e-8).
        weight_decay: L2 penalty (default 0).
        maximize: maximise the objective (default False); static.

    Returns:
        ``Optimizer(init, update)`` with ``init(params) -> AdamaxState``.

    Raises:
        ValueError: PyTorch's constructor checks ("Invalid learning rate", "Invalid epsilon
            value", "Invalid beta parameter at index 0/1", "Invalid weight_decay value").
        TypeError: non-numeric hyperparameters or non-bool flags.
    """
    op = "adamax"
    hp = AdamaxHyperparams.create(op, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    maximize = check_flag(op, "maximize", maximize)

    def leaf(p, g, hp, step, exp_avg, exp_inf):
        return _leaf(p, g, hp, step, exp_avg, exp_inf, maximize=maximize)

    fields = [STEP, zeros_field("exp_avg"), zeros_field("exp_inf")]
    return make_optimizer(op, AdamaxState, hp, fields, leaf)
