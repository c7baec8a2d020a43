"""Adam and AdamW as pure functions, step for step ``torch.optim.adam._single_tensor_adam``.

PyTorch's step for one parameter with a gradient (``decoupled`` is AdamW)::

    grad = -grad if maximize
    step += 1
    if weight_decay != 0:
        if decoupled: param *= 1 - lr * weight_decay
        else:         grad = grad + weight_decay * param
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * grad * grad
    bias_correction1 = 1 - beta1 ** step;  step_size = lr / bias_correction1
    bias_correction2_sqrt = sqrt(1 - beta2 ** step)
    if amsgrad: max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)       # uncorrected
    denom = sqrt(max_exp_avg_sq if amsgrad else exp_avg_sq) / bias_correction2_sqrt + eps
    param = param + (-step_size * exp_avg) / denom

PyTorch evaluates the bias corrections in Python double precision. Here they are float32:
``1 - beta ** step`` is computed as ``-expm1(step * log1p(-(1 - beta)))`` from the stored
``1 - beta``, which keeps them within a few float32 ulps of PyTorch's rounded doubles (the naive
float32 power loses up to ``1e-5`` relative for ``beta2 = 0.999``).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._optimizer import (
    Optimizer,
    apply_leaves,
    check_betas,
    check_flag,
    check_float_params,
    complement_hyperparameter,
    compute_dtype,
    from_real as _from_real,
    lerp as _lerp,
    one_minus_power,
    plan_leaves,
    scalar_hyperparameter,
    to_real as _to_real,
)

_LR = (lambda v: 0.0 <= v, "Invalid learning rate: {value} (expected lr >= 0)")
_EPS = (lambda v: 0.0 <= v, "Invalid epsilon value: {value} (expected eps >= 0)")
_BETA0 = (lambda v: 0.0 <= v < 1.0, "Invalid beta parameter at index 0: {value} (expected 0 <= beta1 < 1)")
_BETA1 = (lambda v: 0.0 <= v < 1.0, "Invalid beta parameter at index 1: {value} (expected 0 <= beta2 < 1)")
_WD = (lambda v: 0.0 <= v, "Invalid weight_decay value: {value} (expected weight_decay >= 0)")


class AdamHyperparams(NamedTuple):
    """Adam/AdamW hyperparameters as float32 scalar arrays (changing them never recompiles).

    ``one_minus_beta1`` and ``one_minus_beta2`` hold ``1 - beta`` rounded once from double
    precision, which is the value PyTorch's kernels receive (see ``complement_hyperparameter``);
    read the betas through :attr:`betas`, and set them with :func:`with_hyperparams`.
    ``state.hyperparams._replace(lr=jnp.float32(x))`` is fine for ``lr``, ``eps`` and
    ``weight_decay``.
    """

    lr: Any
    one_minus_beta1: Any
    one_minus_beta2: Any
    eps: Any
    weight_decay: Any

    @property
    def betas(self):
        """``(beta1, beta2)`` as float32 scalars."""
        return (1 - self.one_minus_beta1, 1 - self.one_minus_beta2)

    @classmethod
    def create(cls, op: str, lr, betas, eps, weight_decay) -> "AdamHyperparams":
        """Validate as ``torch.optim.Adam.__init__`` does and convert to float32 scalars.

        Raises:
            ValueError: "Invalid learning rate", "Invalid epsilon value", "Invalid beta
                parameter at index 0/1", "Invalid weight_decay value".
            TypeError: for non-numeric values or betas that are not a pair.
        """
        beta1, beta2 = check_betas(op, betas)
        return cls(
            lr=scalar_hyperparameter(op, "lr", lr, *_LR),
            one_minus_beta1=complement_hyperparameter(op, "betas[0]", beta1, *_BETA0),
            one_minus_beta2=complement_hyperparameter(op, "betas[1]", beta2, *_BETA1),
            eps=scalar_hyperparameter(op, "eps", eps, *_EPS),
            weight_decay=scalar_hyperparameter(op, "weight_decay", weight_decay, *_WD),
        )

    def set(self, op: str = "with_hyperparams", **changes) -> "AdamHyperparams":
        """A validated copy with some of ``lr``, ``betas``, ``eps``, ``weight_decay`` replaced."""
        unknown = set(changes) - {"lr", "betas", "eps", "weight_decay"}
        if unknown:
            raise TypeError(
                f"{op}: unknown Adam hyperparameter(s) {sorted(unknown)}; expected lr, betas, "
                "eps or weight_decay"
            )
        new = self
        if "lr" in changes:
            new = new._replace(lr=scalar_hyperparameter(op, "lr", changes["lr"], *_LR))
        if "betas" in changes:
            beta1, beta2 = check_betas(op, changes["betas"])
            new = new._replace(
                one_minus_beta1=complement_hyperparameter(op, "betas[0]", beta1, *_BETA0),
                one_minus_beta2=complement_hyperparameter(op, "betas[1]", beta2, *_BETA1),
            )
        if "eps" in changes:
            new = new._replace(eps=scalar_hyperparameter(op, "eps", changes["eps"], *_EPS))
        if "weight_decay" in changes:
            new = new._replace(
                weight_decay=scalar_hyperparameter(op, "weight_decay", changes["weight_decay"], *_WD)
            )
        return new


class AdamState(NamedTuple):
    """State of :func:`adam` / :func:`adamw`: PyTorch's per-parameter ``optimizer.state``.

    ``step``, ``exp_avg``, ``exp_avg_sq`` and ``max_exp_avg_sq`` are pytrees with the structure
    of the parameters. ``step`` holds one float32 scalar per parameter (PyTorch's ``state['step']``),
    because a parameter without a gradient does not advance. ``max_exp_avg_sq`` is ``None``
    unless ``amsgrad=True``.
    """

    hyperparams: AdamHyperparams
    step: Any
    exp_avg: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any

    def with_hyperparams(self, **changes) -> "AdamState":
        """A copy with hyperparameters replaced; see :func:`with_hyperparams`."""
        return self._replace(hyperparams=self.hyperparams.set(**changes))


def _bias_corrections(hp: AdamHyperparams, steps):
    """``step_size = lr / (1 - beta1**step)`` and ``sqrt(1 - beta2**step)`` for a vector of steps.

    ``1 - beta**step`` is ``-expm1(step * log1p(-(1 - beta)))``, accurate to a few float32 ulps
    of PyTorch's double-precision value (a float32 power would lose up to 1e-5 relative).
    """
    bc1 = one_minus_power(hp.one_minus_beta1, steps)
    bc2 = one_minus_power(hp.one_minus_beta2, steps)
    return hp.lr / bc1, jnp.sqrt(bc2)


def _adam_real_leaf(p, g, m, v, vmax, hp, step_size, bc2_sqrt, *, amsgrad, maximize, decoupled):
    dtype = p.dtype
    ct = compute_dtype(dtype)
    if ct == dtype:
        def rnd(x):
            return x
    else:
        # PyTorch stores every in-place result in the parameter's dtype, and ``add`` rounds its
        # scalar operand to that dtype too; round where it does.
        def rnd(x):
            return x.astype(dtype).astype(ct)

    p, g, m, v = (x.astype(ct) for x in (p, g, m, v))
    lr, c1, c2, eps, wd = (h.astype(ct) for h in hp)
    step_size, bc2_sqrt = step_size.astype(ct), bc2_sqrt.astype(ct)
    if maximize:
        g = -g
    if decoupled:
        p = jnp.where(wd != 0, rnd(p * (1 - lr * wd)), p)
    else:
        g = jnp.where(wd != 0, rnd(g + rnd(wd) * p), g)
    m = rnd(_lerp(m, g, c1))
    v = rnd(rnd(v * (1 - c2)) + (c2 * g) * g)
    if amsgrad:
        vmax = jnp.maximum(vmax.astype(ct), v)
        second = vmax
    else:
        second = v
    denom = rnd(rnd(rnd(jnp.sqrt(second)) / bc2_sqrt) + rnd(eps))
    p = rnd(p + ((-step_size) * m) / denom)
    return (
        p.astype(dtype),
        m.astype(dtype),
        v.astype(dtype),
        None if vmax is None else vmax.astype(dtype),
    )


def _make_adam(op: str, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled) -> Optimizer:
    hyperparams = AdamHyperparams.create(op, lr, betas, eps, weight_decay)
    amsgrad = check_flag(op, "amsgrad", amsgrad)
    maximize = check_flag(op, "maximize", maximize)

    def init(params) -> AdamState:
        check_float_params(op, params)
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return AdamState(
            hyperparams=hyperparams,
            step=jax.tree_util.tree_map(lambda _: jnp.zeros((), jnp.float32), params),
            exp_avg=zeros,
            exp_avg_sq=jax.tree_util.tree_map(jnp.zeros_like, params),
            max_exp_avg_sq=jax.tree_util.tree_map(jnp.zeros_like, params) if amsgrad else None,
        )

    def update(grads, state: AdamState, params, has_grad=None):
        if not isinstance(state, AdamState):
            raise TypeError(f"{op}: expected an AdamState from {op}(...).init, got {type(state).__name__}")
        if amsgrad and state.max_exp_avg_sq is None:
            raise ValueError(
                f"{op}: this optimizer has amsgrad=True but the state has no max_exp_avg_sq; "
                "create the state with this optimizer's init"
            )
        hp = state.hyperparams
        plan = plan_leaves(
            op,
            params,
            grads,
            has_grad,
            (state.step, state.exp_avg, state.exp_avg_sq, state.max_exp_avg_sq if amsgrad else None),
            ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
        )
        steps = plan.states[0]
        # One vector op for every leaf's bias corrections keeps the compiled program small.
        next_steps = jnp.stack(steps) + 1 if steps else jnp.zeros((0,), jnp.float32)
        step_sizes, bc2_sqrts = _bias_corrections(hp, next_steps)

        def leaf(i, p, g, step, m, v, vmax):
            kwargs = dict(amsgrad=amsgrad, maximize=maximize, decoupled=decoupled)
            scalars = (hp, step_sizes[i], bc2_sqrts[i])
            if not jnp.iscomplexobj(p):
                p, m, v, vmax = _adam_real_leaf(p, g, m, v, vmax, *scalars, **kwargs)
                return p, next_steps[i], m, v, vmax
            p, m, v, vmax = _adam_real_leaf(
                _to_real(p), _to_real(g), _to_real(m), _to_real(v),
                None if vmax is None else _to_real(vmax), *scalars, **kwargs,
            )
            dtype = g.dtype
            return (
                _from_real(p, dtype), next_steps[i], _from_real(m, dtype), _from_real(v, dtype),
                None if vmax is None else _from_real(vmax, dtype),
            )

        new_params, (step, exp_avg, exp_avg_sq, max_exp_avg_sq) = apply_leaves(plan, leaf)
        return new_params, AdamState(
            hyperparams=hp,
            step=step,
            exp_avg=exp_avg,
            exp_avg_sq=exp_avg_sq,
            max_exp_avg_sq=max_exp_avg_sq if amsgrad else state.max_exp_avg_sq,
        )

    return Optimizer(init=init, update=update)


def adam(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad: bool = False,
    maximize: bool = False,
) -> Optimizer:
    """``torch.optim.Adam`` as a functional :class:`Optimizer` (coupled L2 weight decay).

    Follows ``_single_tensor_adam`` (see the module docstring): ``weight_decay * param`` is
    added to the gradient, ``exp_avg`` moves by ``lerp``, amsgrad keeps the running max of the
    *uncorrected* second moment. Parameters without a gradient (``has_grad`` False or a ``None``
    gradient) are skipped entirely, as PyTorch skips ``p.grad is None``. Complex parameters are
    updated through their real view, as PyTorch does. For bfloat16/float16 parameters the
    arithmetic runs in float32 and is rounded to the parameter dtype wherever PyTorch stores an
    intermediate tensor.

    Args:
        lr: learning rate (default 1e-3); lives in the state.
        betas: ``(beta1, beta2)`` (default ``(0.9, 0.999)``); live in the state.
        eps: added to the denominator (default 1e-8); lives in the state.
        weight_decay: L2 penalty (default 0); lives in the state.
        amsgrad: use the AMSGrad variant (default False); static.
        maximize: maximise the objective (default False); static.

    Returns:
        ``Optimizer(init, update)``; ``init(params) -> AdamState`` and
        ``update(grads, state, params, has_grad=None) -> (new_params, new_state)``.

    Raises:
        ValueError: PyTorch's constructor checks: "Invalid learning rate", "Invalid epsilon
            value", "Invalid beta parameter at index 0/1", "Invalid weight_decay value".
        TypeError: for non-numeric hyperparameters or non-bool flags.
    """
    return _make_adam("adam", lr, betas, eps, weight_decay, amsgrad, maximize, decoupled=False)


def adamw(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
) -> Optimizer:
    """``torch.optim.AdamW`` as a functional :class:`Optimizer` (decoupled weight decay).

    Identical to :func:`adam` except that, when ``weight_decay != 0``, the parameter is first
    scaled by ``1 - lr * weight_decay`` and the gradient is left alone; the default
    ``weight_decay`` is 1e-2. Arguments, state, return value and errors as :func:`adam`.
    """
    return _make_adam("adamw", lr, betas, eps, weight_decay, amsgrad, maximize, decoupled=True)
