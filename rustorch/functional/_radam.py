"""RAdam as a pure function, step for step ``torch.optim.radam._single_tensor_radam``.

PyTorch's step for one parameter with a gradient::

    grad = -grad if maximize
    step += 1
    if weight_decay != 0:
        if decoupled_weight_decay: param *= 1 - lr * weight_decay
        else:                      grad = grad + weight_decay * param
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * grad * grad
    bias_corrected_exp_avg = exp_avg / (1 - beta1 ** step)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2 ** step / (1 - beta2 ** step)
    if rho_t > 5:
        rect = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        adaptive_lr = sqrt(1 - beta2 ** step) / (sqrt(exp_avg_sq) + eps)
        param -= bias_corrected_exp_avg * lr * adaptive_lr * rect
    else:
        param -= bias_corrected_exp_avg * lr

PyTorch evaluates ``rho_t`` in double precision, where the two terms nearly cancel in early
steps (``rho_inf`` is about 2000 for ``beta2 = 0.999`` while ``rho_t`` starts at 1). Here it is
computed in float32 without that cancellation, see :func:`_rho`.
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

RAdamHyperparams = hyperparams_type(
    "RAdamHyperparams", (LR, BETA1, BETA2, EPS, WEIGHT_DECAY),
    "RAdam's hyperparameters as float32 scalar arrays (each beta also as ``1 - beta``).",
    __name__,
)


class RAdamState(NamedTuple):
    """State of :func:`radam`: PyTorch's ``step``, ``exp_avg`` and ``exp_avg_sq``."""

    hyperparams: Any
    step: Any
    exp_avg: Any
    exp_avg_sq: Any

    with_hyperparams = state_with_hyperparams


def _one_minus_bernoulli(x):
    """``1 - x / expm1(x)``, accurate near 0 (its Taylor series there, exact to float32 for
    ``|x| < 1``)."""
    series = x * (0.5 + x * (-1 / 12 + x * x * (1 / 720 + x * x * (-1 / 30240 + x * x / 1209600))))
    safe = jnp.where(jnp.abs(x) < 1, 1.0, x)
    return jnp.where(jnp.abs(x) < 1, series, 1 - safe / jnp.expm1(safe))


def _rho(one_minus_beta2, step):
    """``(rho_inf, rho_t)``. With ``l = -log(beta2)``, ``rho_t = rho_inf - 2 t b^t / (1 - b^t)``
    equals ``(2 / l) * (D(t l) - D(-l)) - 1`` with ``D(x) = 1 - x / expm1(x)``: the two ``D``
    terms have opposite signs, so nothing cancels. For ``t l >= 1`` the direct form is used."""
    rho_inf = 2 / one_minus_beta2 - 1
    ell = -jnp.log1p(-one_minus_beta2)
    stable = (2 / ell) * (_one_minus_bernoulli(step * ell) - _one_minus_bernoulli(-ell)) - 1
    power = jnp.exp(-step * ell)
    direct = rho_inf - 2 * step * power / one_minus_power(one_minus_beta2, step)
    return rho_inf, jnp.where(step * ell < 1, stable, direct)


def _leaf(p, g, hp, step, exp_avg, exp_avg_sq, *, maximize, decoupled):
    dtype = p.dtype
    ct, rnd = precision(dtype)
    lr, _, one_minus_beta1, beta2, one_minus_beta2, eps, wd = hp
    p, g, exp_avg, exp_avg_sq = (x.astype(ct) for x in (p, g, exp_avg, exp_avg_sq))
    if maximize:
        g = -g
    step = step + 1
    if decoupled:
        p = jnp.where(wd != 0, rnd(p * (1 - lr * wd).astype(ct)), p)
    else:
        g = jnp.where(wd != 0, rnd(g + rnd(wd.astype(ct)) * p), g)
    exp_avg = rnd(lerp(exp_avg, g, one_minus_beta1.astype(ct)))
    exp_avg_sq = rnd(rnd(exp_avg_sq * beta2.astype(ct)) + (one_minus_beta2.astype(ct) * g) * g)
    bias_correction1 = one_minus_power(one_minus_beta1, step).astype(ct)
    bias_correction2 = one_minus_power(one_minus_beta2, step)
    corrected = rnd(exp_avg / bias_correction1)
    rho_inf, rho_t = _rho(one_minus_beta2, step)
    rect = jnp.sqrt(
        (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    ).astype(ct)
    plain = rnd(corrected * lr.astype(ct))
    adaptive = rnd(jnp.sqrt(bias_correction2).astype(ct) / rnd(rnd(jnp.sqrt(exp_avg_sq)) + eps.astype(ct)))
    rectified = rnd(rnd(plain * adaptive) * rect)
    p = rnd(p - jnp.where(rho_t > 5, rectified, plain))
    return p.astype(dtype), step, exp_avg.astype(dtype), exp_avg_sq.astype(dtype)


def radam(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> Optimizer:
    """``torch.optim.RAdam`` as a functional :class:`Optimizer` (see the module docstring).

    Args:
        lr: learning rate (default 1e-3); lives in the state, like every number here.
        betas: ``(beta1, beta2)`` (default ``(0.9, 0.999)``).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay (default 0).
        decoupled_weight_decay: decay the parameter as AdamW does (default False); static.
        maximize: maximise the objective (default False); static.

    Returns:
        ``Optimizer(init, update)`` with ``init(params) -> RAdamState``.

    Raises:
        ValueError: PyTorch's constructor checks ("Invalid learning rate", "Invalid epsilon
            value", "Invalid beta parameter at index 0/1", "Invalid weight_decay value").
        TypeError: non-numeric hyperparameters or non-bool flags.
    """
    op = "radam"
    hp = RAdamHyperparams.create(op, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    decoupled = check_flag(op, "decoupled_weight_decay", decoupled_weight_decay)
    maximize = check_flag(op, "maximize", maximize)

    def leaf(p, g, hp, *state):
        return _leaf(p, g, hp, *state, maximize=maximize, decoupled=decoupled)

    fields = [STEP, zeros_field("exp_avg"), zeros_field("exp_avg_sq")]
    return make_optimizer(op, RAdamState, hp, fields, leaf)
