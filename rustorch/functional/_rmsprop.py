"""RMSprop as a pure function, step for step ``torch.optim.rmsprop._single_tensor_rmsprop``.

PyTorch's step for one parameter with a gradient::

    grad = -grad if maximize
    step += 1
    if weight_decay != 0: grad = grad + weight_decay * param
    square_avg = square_avg * alpha + (1 - alpha) * grad * grad
    if centered:
        grad_avg.lerp_(grad, 1 - alpha)
        avg = sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = sqrt(square_avg)
    avg = avg + eps
    if momentum > 0:
        buf = buf * momentum + grad / avg
        param = param - lr * buf
    else:
        param = param - lr * grad / avg

Whether momentum buffers and ``grad_avg`` exist is static (``momentum > 0`` and ``centered`` at
construction), as in PyTorch, whose state holds them from the first step on.
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
    Hyper,
    Optimizer,
    check_flag,
    is_real_number,
    lerp,
    make_optimizer,
    precision,
    zeros_field,
    hyperparams_type,
)

RMSpropHyperparams = hyperparams_type(
    "RMSpropHyperparams",
    (
        LR,
        Hyper("alpha", NONNEGATIVE, "Invalid alpha value: {value} (expected alpha >= 0)",
              (("alpha", False), ("one_minus_alpha", True))),
        EPS,
        WEIGHT_DECAY,
        Hyper("momentum", NONNEGATIVE, "Invalid momentum value: {value} (expected momentum >= 0)",
              (("momentum", False),)),
    ),
    "RMSprop's hyperparameters as float32 scalar arrays (``alpha`` also as ``1 - alpha``).",
    __name__,
)


class RMSpropState(NamedTuple):
    """State of :func:`rmsprop`: PyTorch's ``state[p]`` entries as pytrees shaped like the
    parameters (``step`` one float32 scalar per parameter). ``momentum_buffer`` is ``None``
    unless built with ``momentum > 0``, ``grad_avg`` unless ``centered``."""

    hyperparams: Any
    step: Any
    square_avg: Any
    momentum_buffer: Any
    grad_avg: Any

    def with_hyperparams(self, **changes) -> "RMSpropState":
        """A copy with hyperparameters replaced; see :func:`with_hyperparams`.

        Raises:
            ValueError: a non-zero momentum on a state without momentum buffers.
        """
        if self.momentum_buffer is None and "momentum" in changes:
            value = changes["momentum"]
            if not is_real_number(value) or value != 0:
                raise ValueError(
                    "with_hyperparams: this RMSprop state has no momentum buffers (built with "
                    "momentum=0), so momentum must stay 0; build it with rmsprop(..., momentum=m)"
                )
        return self._replace(hyperparams=self.hyperparams.set(**changes))


def _leaf(p, g, hp, step, square_avg, buf=None, grad_avg=None, *, maximize, use_momentum, centered):
    dtype = p.dtype
    ct, rnd = precision(dtype)
    lr, alpha, one_minus_alpha, eps, wd, momentum = (h.astype(ct) for h in hp)
    p, g, square_avg = p.astype(ct), g.astype(ct), square_avg.astype(ct)
    if maximize:
        g = -g
    step = step + 1
    g = jnp.where(wd != 0, rnd(g + rnd(wd) * p), g)
    square_avg = rnd(rnd(square_avg * alpha) + (one_minus_alpha * g) * g)
    if centered:
        grad_avg = rnd(lerp(grad_avg.astype(ct), g, one_minus_alpha))
        avg = rnd(jnp.sqrt(rnd(square_avg + (-grad_avg) * grad_avg)))
    else:
        avg = rnd(jnp.sqrt(square_avg))
    avg = rnd(avg + eps)
    plain = rnd(p + ((-lr) * g) / avg)
    if use_momentum:
        moved = rnd(rnd(buf.astype(ct) * momentum) + g / avg)
        active = momentum > 0
        p = jnp.where(active, rnd(p + rnd(-lr) * moved), plain)
        buf = jnp.where(active, moved, buf.astype(ct)).astype(dtype)
    else:
        p = plain
    out = [p.astype(dtype), step, square_avg.astype(dtype)]
    if use_momentum:
        out.append(buf)
    if centered:
        out.append(grad_avg.astype(dtype))
    return tuple(out)


def rmsprop(
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0.0,
    momentum=0.0,
    centered: bool = False,
    maximize: bool = False,
) -> Optimizer:
    """``torch.optim.RMSprop`` as a functional :class:`Optimizer` (see the module docstring).

    Args:
        lr: learning rate (default 1e-2); lives in the state, like every number here.
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0); ``momentum=0`` here means no buffers at all.
        centered: normalise by the estimated gradient variance (default False); static.
        maximize: maximise the objective (default False); static.

    Returns:
        ``Optimizer(init, update)`` with ``init(params) -> RMSpropState``.

    Raises:
        ValueError: PyTorch's constructor checks ("Invalid learning rate", "Invalid epsilon
            value", "Invalid momentum value", "Invalid weight_decay value", "Invalid alpha value").
        TypeError: non-numeric hyperparameters or non-bool flags.
    """
    op = "rmsprop"
    hp = RMSpropHyperparams.create(op, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                   momentum=momentum)
    centered = check_flag(op, "centered", centered)
    maximize = check_flag(op, "maximize", maximize)
    use_momentum = float(hp.momentum) > 0
    fields = [STEP, zeros_field("square_avg")]
    if use_momentum:
        fields.append(zeros_field("momentum_buffer"))
    if centered:
        fields.append(zeros_field("grad_avg"))

    def leaf(p, g, hp, step, square_avg, *rest):
        buf = rest[0] if use_momentum else None
        grad_avg = rest[-1] if centered else None
        return _leaf(p, g, hp, step, square_avg, buf, grad_avg, maximize=maximize,
                     use_momentum=use_momentum, centered=centered)

    return make_optimizer(op, RMSpropState, hp, fields, leaf)
