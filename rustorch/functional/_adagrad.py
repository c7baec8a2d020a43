"""Adagrad as a pure function, step for step ``torch.optim.adagrad._single_tensor_adagrad``.

PyTorch's step for one parameter with a (dense) gradient::

    step += 1
    grad = -grad if maximize
    if weight_decay != 0: grad = grad + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    sum = sum + grad * grad
    param = param - clr * grad / (sqrt(sum) + eps)

``sum`` starts at ``initial_accumulator_value``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from ._optimizer import (
    EPS,
    LR,
    NONNEGATIVE,
    STEP,
    WEIGHT_DECAY,
    Field,
    Hyper,
    Optimizer,
    check_flag,
    hyperparams_type,
    make_optimizer,
    precision,
    scalar_hyperparameter,
    state_with_hyperparams,
)

AdagradHyperparams = hyperparams_type(
    "AdagradHyperparams",
    (
        LR,
        Hyper("lr_decay", NONNEGATIVE, "Invalid lr_decay value: {value} (expected lr_decay >= 0)",
              (("lr_decay", False),)),
        WEIGHT_DECAY,
        EPS,
    ),
    "Adagrad's hyperparameters as float32 scalar arrays.",
    __name__,
)


class AdagradState(NamedTuple):
    """State of :func:`adagrad`: PyTorch's ``state[p]['step']`` (a float32 scalar per
    parameter) and ``state[p]['sum']`` (shaped like the parameters)."""

    hyperparams: Any
    step: Any
    sum: Any

    with_hyperparams = state_with_hyperparams


def _leaf(p, g, hp, step, total, *, maximize):
    dtype = p.dtype
    ct, rnd = precision(dtype)
    lr, lr_decay, wd, eps = (h.astype(ct) for h in hp)
    p, g, total = p.astype(ct), g.astype(ct), total.astype(ct)
    step = step + 1
    if maximize:
        g = -g
    g = jnp.where(wd != 0, rnd(g + rnd(wd) * p), g)
    clr = lr / (1 + (step.astype(ct) - 1) * lr_decay)
    total = rnd(total + g * g)
    std = rnd(rnd(jnp.sqrt(total)) + eps)
    p = rnd(p + ((-clr) * g) / std)
    return p.astype(dtype), step, total.astype(dtype)


def adagrad(
    lr=1e-2,
    lr_decay=0.0,
    weight_decay=0.0,
    initial_accumulator_value=0.0,
    eps=1e-10,
    maximize: bool = False,
) -> Optimizer:
    """``torch.optim.Adagrad`` as a functional :class:`Optimizer` (see the module docstring).

    Args:
        lr: learning rate (default 1e-2); lives in the state.
        lr_decay: learning-rate decay per step (default 0); lives in the state.
        weight_decay: L2 penalty (default 0); lives in the state.
        initial_accumulator_value: the starting value of ``sum`` (default 0); used by ``init``.
        eps: added to the denominator (default 1e-10); lives in the state.
        maximize: maximise the objective (default False); static.

    Returns:
        ``Optimizer(init, update)`` with ``init(params) -> AdagradState``.

    Raises:
        ValueError: PyTorch's constructor checks ("Invalid learning rate", "Invalid lr_decay
            value", "Invalid weight_decay value", "Invalid initial_accumulator_value value",
            "Invalid epsilon value").
        TypeError: non-numeric hyperparameters or non-bool flags.
    """
    op = "adagrad"
    hp = AdagradHyperparams.create(op, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps)
    initial = float(scalar_hyperparameter(
        op, "initial_accumulator_value", initial_accumulator_value, NONNEGATIVE,
        "Invalid initial_accumulator_value value: {value} (expected >= 0)",
    ))
    maximize = check_flag(op, "maximize", maximize)

    def init_sum(p):
        value = complex(initial, initial) if jnp.iscomplexobj(p) else initial
        return jnp.full_like(p, value)

    def leaf(p, g, hp, step, total):
        return _leaf(p, g, hp, step, total, maximize=maximize)

    return make_optimizer(op, AdagradState, hp, [STEP, Field("sum", init_sum)], leaf)
