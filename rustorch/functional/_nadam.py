"""NAdam as a pure function, step for step ``torch.optim.nadam._single_tensor_nadam``.

PyTorch's step for one parameter with a gradient::

    grad = -grad if maximize
    step += 1
    bias_correction2 = 1 - beta2 ** step
    if weight_decay != 0:
        if decoupled_weight_decay: param *= 1 - lr * weight_decay
        else:                      grad = grad + weight_decay * param
    mu      = beta1 * (1 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    mu_product *= mu
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * grad * grad
    denom = sqrt(exp_avg_sq / bias_correction2) + eps
    param += -lr * (1 - mu) / (1 - mu_product) * grad / denom
    param += -lr * mu_next / (1 - mu_product * mu_next) * exp_avg / denom

``mu_product`` is a float32 scalar per parameter in the state, as in PyTorch.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from ._optimizer import (
    BETA1,
    BETA2,
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
    lerp,
    make_optimizer,
    one_minus_power,
    precision,
    state_with_hyperparams,
    zeros_field,
)

NAdamHyperparams = hyperparams_type(
    "NAdamHyperparams",
    (LR, BETA1, BETA2, EPS, WEIGHT_DECAY,
     Hyper("momentum_decay", NONNEGATIVE,
           "Invalid momentum_decay value: {value} (expected momentum_decay >= 0)",
           (("momentum_decay", False),))),
    "NAdam's hyperparameters as float32 scalar arrays (each beta also as ``1 - beta``).",
    __name__,
)


class NAdamState(NamedTuple):
    """State of :func:`nadam`: PyTorch's ``step``, ``mu_product`` (float32 scalars per
    parameter), ``exp_avg`` and ``exp_avg_sq``."""

    hyperparams: Any
    step: Any
    mu_product: Any
    exp_avg: Any
    exp_avg_sq: Any

    with_hyperparams = state_with_hyperparams


def _leaf(p, g, hp, step, mu_product, exp_avg, exp_avg_sq, *, maximize, decoupled):
    dtype = p.dtype
    ct, rnd = precision(dtype)
    lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, wd, momentum_decay = hp
    p, g, exp_avg, exp_avg_sq = (x.astype(ct) for x in (p, g, exp_avg, exp_avg_sq))
    if maximize:
        g = -g
    step = step + 1
    bias_correction2 = one_minus_power(one_minus_beta2, step).astype(ct)
    if decoupled:
        p = jnp.where(wd != 0, rnd(p * (1 - lr * wd).astype(ct)), p)
    else:
        g = jnp.where(wd != 0, rnd(g + rnd(wd.astype(ct)) * p), g)
    decay = jnp.log(jnp.float32(0.96)) * momentum_decay
    mu = beta1 * (1 - 0.5 * jnp.exp(step * decay))
    mu_next = beta1 * (1 - 0.5 * jnp.exp((step + 1) * decay))
    mu_product = mu_product * mu
    exp_avg = rnd(lerp(exp_avg, g, one_minus_beta1.astype(ct)))
    exp_avg_sq = rnd(rnd(exp_avg_sq * beta2.astype(ct)) + (one_minus_beta2.astype(ct) * g) * g)
    denom = rnd(rnd(jnp.sqrt(rnd(exp_avg_sq / bias_correction2))) + eps.astype(ct))
    grad_coef = (-lr * (1 - mu) / (1 - mu_product)).astype(ct)
    avg_coef = ((-lr * mu_next) / (1 - mu_product * mu_next)).astype(ct)
    p = rnd(p + (grad_coef * g) / denom)
    p = rnd(p + (avg_coef * exp_avg) / denom)
    return p.astype(dtype), step, mu_product, exp_avg.astype(dtype), exp_avg_sq.astype(dtype)


def nadam(
    lr=2e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    momentum_decay=4e-3,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> Optimizer:
    """``torch.optim.NAdam`` as a functional :class:`Optimizer` (see the module docstring).

    Args:
        lr: learning rate (default 2e-3); lives in the state, like every number here.
        betas: ``(beta1, beta2)`` (default ``(0.9, 0.999)``).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay (default 0).
        momentum_decay: the ``psi`` of the momentum schedule (default 4e-3).
        decoupled_weight_decay: decay the parameter as AdamW does (default False); static.
        maximize: maximise the objective (default False); static.

    Returns:
        ``Optimizer(init, update)`` with ``init(params) -> NAdamState``.

    Raises:
        ValueError: PyTorch's constructor checks ("Invalid learning rate", "Invalid epsilon
            value", "Invalid beta parameter at index 0/1", "Invalid weight_decay value",
            "Invalid momentum_decay value").
        TypeError: non-numeric hyperparameters or non-bool flags.
    """
    op = "nadam"
    hp = NAdamHyperparams.create(op, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                 momentum_decay=momentum_decay)
    decoupled = check_flag(op, "decoupled_weight_decay", decoupled_weight_decay)
    maximize = check_flag(op, "maximize", maximize)

    def leaf(p, g, hp, *state):
        return _leaf(p, g, hp, *state, maximize=maximize, decoupled=decoupled)

    fields = [STEP, Field("mu_product", lambda p: jnp.ones((), jnp.float32), scalar=True),
              zeros_field("exp_avg"), zeros_field("exp_avg_sq")]
    return make_optimizer(op, NAdamState, hp, fields, leaf)
