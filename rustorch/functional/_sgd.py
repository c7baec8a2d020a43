"""SGD as a pure function, step for step ``torch.optim.sgd._single_tensor_sgd``.

PyTorch's step for one parameter with a gradient::

    grad = -grad if maximize
    if weight_decay != 0: grad = grad + weight_decay * param
    if momentum != 0:
        if no buffer yet: buf = grad                      # first step: no dampening
        else:             buf = buf * momentum + (1 - dampening) * grad
        grad = grad + momentum * buf if nesterov else buf
    param = param - lr * grad

Whether momentum buffers exist at all is static (``momentum=0`` at construction means none);
with buffers, a momentum later set to 0 through the state behaves as PyTorch's
``group['momentum'] = 0``: plain SGD, and the buffers are left as they are.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.core import Tracer

from ._optimizer import (
    Optimizer,
    apply_leaves,
    check_flag,
    check_float_params,
    complement_hyperparameter,
    compute_dtype,
    is_real_number,
    plan_leaves,
    scalar_hyperparameter,
)

_LR = (lambda v: not v < 0.0, "Invalid learning rate: {value} (expected lr >= 0)")
_MOMENTUM = (lambda v: not v < 0.0, "Invalid momentum value: {value} (expected momentum >= 0)")
_DAMPENING = (lambda v: True, "")
_WD = (lambda v: not v < 0.0, "Invalid weight_decay value: {value} (expected weight_decay >= 0)")


class SGDHyperparams(NamedTuple):
    """SGD hyperparameters as float32 scalar arrays (changing them never recompiles).

    ``one_minus_dampening`` holds ``1 - dampening`` rounded once from double precision, the
    value PyTorch's kernel receives; read :attr:`dampening`, and set it with
    :func:`with_hyperparams`. ``state.hyperparams._replace(lr=jnp.float32(x))`` is fine for
    ``lr``, ``momentum`` and ``weight_decay``.
    """

    lr: Any
    momentum: Any
    one_minus_dampening: Any
    weight_decay: Any

    @property
    def dampening(self):
        """``dampening`` as a float32 scalar."""
        return 1 - self.one_minus_dampening

    @classmethod
    def create(cls, op: str, lr, momentum, dampening, weight_decay) -> "SGDHyperparams":
        """Validate as ``torch.optim.SGD.__init__`` does and convert to float32 scalars.

        Raises:
            ValueError: "Invalid learning rate", "Invalid momentum value", "Invalid
                weight_decay value".
            TypeError: for non-numeric values.
        """
        return cls(
            lr=scalar_hyperparameter(op, "lr", lr, *_LR),
            momentum=scalar_hyperparameter(op, "momentum", momentum, *_MOMENTUM),
            one_minus_dampening=complement_hyperparameter(op, "dampening", dampening, *_DAMPENING),
            weight_decay=scalar_hyperparameter(op, "weight_decay", weight_decay, *_WD),
        )

    def set(self, op: str = "with_hyperparams", **changes) -> "SGDHyperparams":
        """A validated copy with some of ``lr``, ``momentum``, ``dampening``, ``weight_decay`` replaced."""
        unknown = set(changes) - {"lr", "momentum", "dampening", "weight_decay"}
        if unknown:
            raise TypeError(
                f"{op}: unknown SGD hyperparameter(s) {sorted(unknown)}; expected lr, momentum, "
                "dampening or weight_decay"
            )
        new = self
        if "lr" in changes:
            new = new._replace(lr=scalar_hyperparameter(op, "lr", changes["lr"], *_LR))
        if "momentum" in changes:
            new = new._replace(
                momentum=scalar_hyperparameter(op, "momentum", changes["momentum"], *_MOMENTUM)
            )
        if "dampening" in changes:
            new = new._replace(
                one_minus_dampening=complement_hyperparameter(
                    op, "dampening", changes["dampening"], *_DAMPENING
                )
            )
        if "weight_decay" in changes:
            new = new._replace(
                weight_decay=scalar_hyperparameter(op, "weight_decay", changes["weight_decay"], *_WD)
            )
        return new


class SGDState(NamedTuple):
    """State of :func:`sgd`: PyTorch's per-parameter ``state['momentum_buffer']``.

    ``momentum_buffer`` (the buffers) and ``has_momentum_buffer`` (one boolean scalar per
    parameter: PyTorch's ``buf is not None``, so a parameter's first step with a gradient
    initialises its buffer to the gradient) are pytrees with the structure of the parameters,
    or both ``None`` for an optimizer built with ``momentum=0``.
    """

    hyperparams: SGDHyperparams
    momentum_buffer: Any
    has_momentum_buffer: Any

    def with_hyperparams(self, **changes) -> "SGDState":
        """A copy with hyperparameters replaced; see :func:`with_hyperparams`.

        Raises:
            ValueError: for a non-zero momentum on a state without momentum buffers.
        """
        if self.momentum_buffer is None and "momentum" in changes:
            value = changes["momentum"]
            if not is_real_number(value) or value != 0:
                raise ValueError(
                    "with_hyperparams: this SGD state has no momentum buffers (the optimizer was "
                    "built with momentum=0), so momentum must stay 0; build the optimizer with "
                    "sgd(..., momentum=m) for some m > 0 to use momentum"
                )
        return self._replace(hyperparams=self.hyperparams.set(**changes))


def _sgd_leaf(p, g, buf, has_buf, hp: SGDHyperparams, *, use_momentum, nesterov, maximize):
    dtype = p.dtype
    ct = compute_dtype(dtype)
    if ct == dtype:
        def rnd(x):
            return x
    else:
        # PyTorch stores every intermediate tensor in the parameter's dtype, and ``add`` rounds
        # its ``alpha`` to that dtype too; round where it does.
        def rnd(x):
            return x.astype(dtype).astype(ct)

    p, g = p.astype(ct), g.astype(ct)
    lr, momentum, one_minus_dampening, wd = (h.astype(ct) for h in hp)
    if maximize:
        g = -g
    g = jnp.where(wd != 0, rnd(g + rnd(wd) * p), g)
    if use_momentum:
        buf_ct = buf.astype(ct)
        moved = rnd(rnd(buf_ct * momentum) + rnd(one_minus_dampening) * g)
        new_buf = jnp.where(has_buf, moved, g)
        direction = rnd(g + rnd(momentum) * new_buf) if nesterov else new_buf
        active = momentum != 0
        g = jnp.where(active, direction, g)
        buf = jnp.where(active, new_buf, buf_ct).astype(dtype)
        has_buf = jnp.logical_or(has_buf, active)
    p = rnd(p + rnd(-lr) * g)
    return p.astype(dtype), buf, has_buf


def sgd(
    lr=1e-3,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> Optimizer:
    """``torch.optim.SGD`` as a functional :class:`Optimizer`.

    Follows ``_single_tensor_sgd`` (see the module docstring): L2 weight decay added to the
    gradient, a momentum buffer initialised to the (decayed) gradient on its first step and
    then ``buf * momentum + (1 - dampening) * grad``, optional Nesterov look-ahead. Parameters
    without a gradient (``has_grad`` False or a ``None`` gradient) keep their value and buffer,
    as PyTorch skips ``p.grad is None``. Complex parameters use complex arithmetic, as PyTorch.
    For bfloat16/float16 parameters the arithmetic runs in float32 and is rounded to the
    parameter dtype wherever PyTorch stores an intermediate tensor.

    Args:
        lr: learning rate (default 1e-3, PyTorch 2.x's default); lives in the state.
        momentum: momentum factor (default 0); lives in the state, but ``momentum=0`` here
            means the state holds no buffers at all.
        dampening: dampening for momentum (default 0); lives in the state.
        weight_decay: L2 penalty (default 0); lives in the state.
        nesterov: Nesterov momentum (default False); static.
        maximize: maximise the objective (default False); static.

    Returns:
        ``Optimizer(init, update)``; ``init(params) -> SGDState`` and
        ``update(grads, state, params, has_grad=None) -> (new_params, new_state)``.

    Raises:
        ValueError: PyTorch's constructor checks: "Invalid learning rate", "Invalid momentum
            value", "Invalid weight_decay value", and "Nesterov momentum requires a momentum
            and zero dampening".
        TypeError: for non-numeric hyperparameters or non-bool flags.
    """
    op = "sgd"
    hyperparams = SGDHyperparams.create(op, lr, momentum, dampening, weight_decay)
    nesterov = check_flag(op, "nesterov", nesterov)
    maximize = check_flag(op, "maximize", maximize)
    if isinstance(hyperparams.momentum, Tracer):
        raise TypeError(
            f"{op}: momentum must be a concrete number at construction, because it decides "
            "whether the state holds momentum buffers; change it later with with_hyperparams"
        )
    momentum_value = float(hyperparams.momentum)
    dampening_value = float(dampening) if is_real_number(dampening) else float(hyperparams.dampening)
    if nesterov and (momentum_value <= 0 or dampening_value != 0):
        raise ValueError(
            f"{op}: Nesterov momentum requires a momentum and zero dampening, got "
            f"momentum={momentum}, dampening={dampening}; set momentum > 0 and dampening=0, or "
            "nesterov=False"
        )
    use_momentum = momentum_value != 0

    def init(params) -> SGDState:
        check_float_params(op, params)
        if not use_momentum:
            return SGDState(hyperparams=hyperparams, momentum_buffer=None, has_momentum_buffer=None)
        return SGDState(
            hyperparams=hyperparams,
            momentum_buffer=jax.tree_util.tree_map(jnp.zeros_like, params),
            has_momentum_buffer=jax.tree_util.tree_map(lambda _: jnp.zeros((), jnp.bool_), params),
        )

    def update(grads, state: SGDState, params, has_grad=None):
        if not isinstance(state, SGDState):
            raise TypeError(f"{op}: expected an SGDState from sgd(...).init, got {type(state).__name__}")
        if use_momentum and state.momentum_buffer is None:
            raise ValueError(
                f"{op}: this optimizer uses momentum but the state has no momentum buffers; "
                "create the state with this optimizer's init"
            )
        if not use_momentum and state.momentum_buffer is not None:
            raise ValueError(
                f"{op}: this optimizer has no momentum but the state has momentum buffers; "
                "create the state with this optimizer's init"
            )
        hp = state.hyperparams

        def leaf(_, p, g, buf, has_buf):
            return _sgd_leaf(
                p, g, buf, has_buf, hp,
                use_momentum=use_momentum, nesterov=nesterov, maximize=maximize,
            )

        buffers = (state.momentum_buffer, state.has_momentum_buffer) if use_momentum else (None, None)
        plan = plan_leaves(
            op, params, grads, has_grad, buffers, ("momentum_buffer", "has_momentum_buffer")
        )
        new_params, (momentum_buffer, has_momentum_buffer) = apply_leaves(plan, leaf)
        if not use_momentum:
            momentum_buffer, has_momentum_buffer = state.momentum_buffer, state.has_momentum_buffer
        return new_params, SGDState(
            hyperparams=hp, momentum_buffer=momentum_buffer, has_momentum_buffer=has_momentum_buffer
        )

    return Optimizer(init=init, update=update)
