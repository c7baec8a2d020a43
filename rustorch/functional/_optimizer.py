"""Types and machinery shared by the functional optimizers (Adam, AdamW, SGD).

An optimizer is a pair of pure functions, :class:`Optimizer` ``(init, update)``:
``init(params) -> state`` and ``update(grads, state, params, has_grad=None) -> (new_params,
new_state)``. Unlike Optax, ``update`` returns the new parameters rather than an increment to
add: PyTorch writes them with its own operation order (AdamW's ``param * (1 - lr * wd)`` before
``addcdiv``), which adding one increment afterwards would round differently.

Two PyTorch behaviours shape this module:

* Hyperparameters a training loop changes (``group['lr'] = ...``) live in the state as float32
  scalar arrays, so changing them never recompiles a jitted step. Only structural options
  (amsgrad, nesterov, maximize, whether SGD keeps momentum buffers) are static.
* ``optimizer.step()`` skips a parameter whose ``p.grad is None``: its value, moments, momentum
  buffer and step count stay exactly as they were. ``update`` takes a ``has_grad`` pytree of
  booleans for that (a ``None`` gradient leaf means the same); Python booleans skip statically,
  traced boolean scalars select with ``jnp.where``.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer


class Optimizer(NamedTuple):
    """A functional optimizer: the pure pair ``(init, update)``.

    ``init(params) -> state`` builds the state for a parameter pytree. ``update(grads, state,
    params, has_grad=None) -> (new_params, new_state)`` performs one ``optimizer.step()``;
    ``grads`` has the structure of ``params`` (a ``None`` leaf means "no gradient"), and
    ``has_grad`` is ``None`` (every leaf has a gradient) or a pytree of booleans with that
    structure. Both functions are jit-safe, and the state's shapes and dtypes never change, so
    ``jax.jit(opt.update)`` compiles once.
    """

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


def with_hyperparams(state, **changes):
    """A copy of an optimizer ``state`` with some hyperparameters replaced.

    The functional counterpart of ``group['lr'] = x`` in PyTorch: values are validated like the
    optimizer's constructor validates them and stored as float32 scalar arrays, so a jitted
    ``update`` does not recompile. Accepted names: ``lr``, ``betas``, ``eps``, ``weight_decay``
    for Adam/AdamW states; ``lr``, ``momentum``, ``dampening``, ``weight_decay`` for SGD states.
    Values may be Python numbers or float32 scalar arrays (traced ones are stored unchecked).

    Raises:
        TypeError: for an unknown name, or a state that has no hyperparameters.
        ValueError: for an out-of-range value (PyTorch's messages, e.g. "Invalid learning rate").
    """
    method = getattr(state, "with_hyperparams", None)
    if method is None:
        raise TypeError(
            f"with_hyperparams: expected an optimizer state (AdamState or SGDState), got "
            f"{type(state).__name__}"
        )
    return method(**changes)


def is_real_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def scalar_hyperparameter(op: str, name: str, value, valid: Callable[[float], bool], message: str):
    """``value`` as a float32 scalar array (never weakly typed), validated when concrete.

    ``valid`` is PyTorch's constructor check on the Python value and ``message`` its error text
    (``{value}`` is filled in). A traced value cannot be checked and is only cast.
    """
    if isinstance(value, Tracer):
        if value.shape != ():
            raise TypeError(f"{op}: {name} must be a scalar, got an array of shape {value.shape}")
        return value.astype(jnp.float32)
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if np.shape(value) != ():
            raise TypeError(
                f"{op}: {name} must be a scalar, got an array of shape {np.shape(value)}"
            )
        if not jnp.issubdtype(value.dtype, jnp.floating) and not jnp.issubdtype(
            value.dtype, jnp.integer
        ):
            raise TypeError(f"{op}: {name} must be a real number, got dtype {value.dtype}")
        number = float(value)
    elif is_real_number(value):
        number = float(value)
    else:
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    if not valid(number):
        raise ValueError(f"{op}: " + message.format(value=value))
    return jnp.asarray(number, dtype=jnp.float32)


def complement_hyperparameter(op: str, name: str, value, valid, message: str):
    """``1 - value`` rounded once to float32, as PyTorch's kernels receive it.

    PyTorch computes ``1 - beta`` (and ``1 - dampening``) in double precision before the kernel
    rounds it to float32. Storing ``float32(beta)`` instead would make ``1 - beta`` wrong by up to
    ``6e-8 / (1 - beta)`` relative: 1.3e-5 for ``beta2 = 0.999``, visible in every moment update
    and bias correction. A traced value is complemented in float32.
    """
    if isinstance(value, Tracer):
        return 1 - scalar_hyperparameter(op, name, value, valid, message)
    scalar_hyperparameter(op, name, value, valid, message)
    return jnp.asarray(1.0 - float(value), dtype=jnp.float32)


def check_betas(op: str, betas) -> tuple[Any, Any]:
    """Split ``betas`` into two values, or raise a ``TypeError`` that shows the expected form."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{op}: betas must be a pair (beta1, beta2), got {betas!r}")
    return betas[0], betas[1]


def check_flag(op: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_float_params(op: str, params) -> None:
    """Raise ``TypeError`` unless every parameter leaf is a floating (or complex) array."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or not (
            jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.complexfloating)
        ):
            raise TypeError(
                f"{op}: every parameter must be a floating-point array, but the leaf at "
                f"{jax.tree_util.keystr(path) or '<root>'} is {dtype or type(leaf).__name__}; "
                "keep integer buffers out of the parameter pytree"
            )


def leaves_like(op: str, treedef, tree, what: str) -> list:
    """The leaves of ``tree`` at the positions of ``treedef``'s leaves (``None`` kept)."""
    try:
        return treedef.flatten_up_to(tree)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{op}: {what} must have the structure of params ({treedef}), but: {err}"
        ) from None


def _mask_leaf(op: str, flag, path: str):
    if isinstance(flag, (bool, np.bool_)):
        return bool(flag)
    if isinstance(flag, (jax.Array, np.ndarray)) and flag.shape == () and flag.dtype == jnp.bool_:
        return flag
    raise TypeError(
        f"{op}: has_grad leaves must be Python bools or boolean scalar arrays, got {flag!r} "
        f"at {path}"
    )


class LeafPlan(NamedTuple):
    """An update's arguments flattened in the parameters' leaf order, validated."""

    treedef: Any
    params: list
    grads: list  # None where the gradient is absent
    masks: list  # True, False (static) or a boolean scalar array (traced) per leaf
    states: list  # per state tree: its leaves, or None for an absent tree


def plan_leaves(op: str, params, grads, has_grad, states: Sequence[Any], state_names: Sequence[str]) -> LeafPlan:
    """Flatten and validate ``update``'s arguments before any arithmetic runs.

    ``grads``, ``has_grad`` and every state tree must have the structure of ``params``; each
    present gradient must match its parameter's shape and dtype. ``states`` entries may be
    ``None`` (an optional state, such as amsgrad's ``max_exp_avg_sq``).
    """
    pairs, treedef = jax.tree_util.tree_flatten_with_path(params)
    paths = [jax.tree_util.keystr(path) or "<root>" for path, _ in pairs]
    param_leaves = [leaf for _, leaf in pairs]
    grad_leaves = leaves_like(op, treedef, grads, "grads")
    for p, g, path in zip(param_leaves, grad_leaves, paths):
        if g is not None and (g.shape != p.shape or g.dtype != p.dtype):
            raise ValueError(
                f"{op}: the gradient at {path} has shape {g.shape} and dtype {g.dtype}, but its "
                f"parameter has shape {p.shape} and dtype {p.dtype}; pass grads with the "
                "parameters' shapes and dtypes"
            )
    if has_grad is None:
        masks = [True] * len(param_leaves)
    else:
        masks = [
            _mask_leaf(op, flag, path)
            for flag, path in zip(leaves_like(op, treedef, has_grad, "has_grad"), paths)
        ]
    masks = [False if g is None else m for g, m in zip(grad_leaves, masks)]
    state_leaves = [
        None if tree is None else leaves_like(op, treedef, tree, f"state.{name}")
        for tree, name in zip(states, state_names)
    ]
    return LeafPlan(treedef, param_leaves, grad_leaves, masks, state_leaves)


def apply_leaves(plan: LeafPlan, leaf_update: Callable[..., tuple]) -> tuple[Any, list[Any]]:
    """Run ``leaf_update(index, param, grad, *leaf_states) -> (param, *leaf_states)`` per leaf.

    A leaf without a gradient (mask False) keeps its param and every state leaf untouched
    without computing anything; with a traced mask the results are selected with ``jnp.where``.
    Returns ``(new_params, [new_state_tree or None, ...])``.
    """
    new_params = []
    new_states = [None if leaves is None else [] for leaves in plan.states]
    for i, (p, g, mask) in enumerate(zip(plan.params, plan.grads, plan.masks)):
        olds = [None if leaves is None else leaves[i] for leaves in plan.states]
        if mask is False:
            results = (p, *olds)
        else:
            results = leaf_update(i, p, g, *olds)
            if mask is not True:
                results = tuple(
                    None if new is None else jnp.where(mask, new, old)
                    for new, old in zip(results, (p, *olds))
                )
        new_params.append(results[0])
        for store, value in zip(new_states, results[1:]):
            if store is not None:
                store.append(value)
    unflatten = plan.treedef.unflatten
    return unflatten(new_params), [None if s is None else unflatten(s) for s in new_states]


def compute_dtype(dtype):
    """PyTorch's ``opmath`` type: reduced-precision floats compute in float32."""
    dtype = jnp.dtype(dtype)
    if dtype in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16)):
        return jnp.dtype(jnp.float32)
    return dtype
