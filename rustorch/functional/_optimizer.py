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
    ``update`` does not recompile. Accepted names: the optimizer's numeric constructor
    arguments (``lr``, ``betas``, ``eps``, ``weight_decay``, ``momentum``, ``alpha``, ``rho``,
    ``lr_decay``, ``dampening``, ``momentum_decay``, as the optimizer has them).
    Values may be Python numbers or float32 scalar arrays (traced ones are stored unchecked).

    Raises:
        TypeError: for an unknown name, or a state that has no hyperparameters.
        ValueError: for an out-of-range value (PyTorch's messages, e.g. "Invalid learning rate").
    """
    method = getattr(state, "with_hyperparams", None)
    if method is None:
        raise TypeError(
            f"with_hyperparams: expected an optimizer state (AdamState, SGDState, ...), got "
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
    return _float32_scalar(number)


def _float32_scalar(number: float):
    """A float32 scalar array, put on the device without running an XLA computation (a
    learning rate changed at every step costs a transfer, not a program dispatch)."""
    return jax.device_put(np.float32(number))


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
    return _float32_scalar(1.0 - float(value))


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


# ------------------------------------------------------------------ table-built optimizers
class Hyper(NamedTuple):
    """One constructor hyperparameter of a table-built optimizer.

    ``name`` is the constructor argument (``"betas"`` with ``index`` 0 or 1 for one element
    of the pair), ``valid``/``message`` PyTorch's constructor check, and ``fields`` the
    float32 state fields it fills: ``(field, complement)`` pairs, where a complement field
    holds ``1 - value`` rounded once from double precision (see ``complement_hyperparameter``).
    """

    name: str
    valid: Callable[[float], bool]
    message: str
    fields: tuple
    index: int | None = None


NONNEGATIVE = lambda v: 0.0 <= v  # noqa: E731  (PyTorch's ``not 0.0 <= x`` rejects NaN too)
LR = Hyper("lr", NONNEGATIVE, "Invalid learning rate: {value} (expected lr >= 0)", (("lr", False),))
EPS = Hyper("eps", NONNEGATIVE, "Invalid epsilon value: {value} (expected eps >= 0)", (("eps", False),))
WEIGHT_DECAY = Hyper(
    "weight_decay", NONNEGATIVE,
    "Invalid weight_decay value: {value} (expected weight_decay >= 0)", (("weight_decay", False),),
)
BETA1 = Hyper(
    "betas", lambda v: 0.0 <= v < 1.0,
    "Invalid beta parameter at index 0: {value} (expected 0 <= beta1 < 1)",
    (("beta1", False), ("one_minus_beta1", True)), 0,
)
BETA2 = Hyper(
    "betas", lambda v: 0.0 <= v < 1.0,
    "Invalid beta parameter at index 1: {value} (expected 0 <= beta2 < 1)",
    (("beta2", False), ("one_minus_beta2", True)), 1,
)


def _hyper_fields(op: str, spec: Hyper, value) -> dict:
    label = spec.name if spec.index is None else f"{spec.name}[{spec.index}]"
    return {
        field: (complement_hyperparameter if complement else scalar_hyperparameter)(
            op, label, value, spec.valid, spec.message
        )
        for field, complement in spec.fields
    }


def hyperparams_type(type_name: str, table: Sequence[Hyper], doc: str, module: str) -> type:
    """A ``NamedTuple`` type holding ``table``'s hyperparameters as float32 scalar arrays.

    The type gets ``create(op, **values)`` (validate every constructor value as PyTorch's
    ``__init__`` does) and ``set(op, **changes)`` (a validated copy with some replaced, what
    :func:`with_hyperparams` calls). Values in the state never recompile a jitted update.
    """
    fields = [field for spec in table for field, _ in spec.fields]
    names = tuple(dict.fromkeys(spec.name for spec in table))
    base = NamedTuple(type_name, [(field, Any) for field in fields])

    def split(op, name, value):
        specs = [spec for spec in table if spec.name == name]
        if specs[0].index is None:
            return [(specs[0], value)]
        pair = check_betas(op, value)
        return [(spec, pair[spec.index]) for spec in specs]

    def create(cls, op: str, **values):
        out = {}
        for name in names:
            for spec, value in split(op, name, values[name]):
                out.update(_hyper_fields(op, spec, value))
        return cls(**out)

    def replace(self, op: str = "with_hyperparams", **changes):
        unknown = {*changes} - {*names}
        if unknown:
            raise TypeError(
                f"{op}: unknown {type_name.removesuffix('Hyperparams')} hyperparameter(s) "
                f"{sorted(unknown)}; expected one of {', '.join(names)}"
            )
        out = {}
        for name, value in changes.items():
            for spec, element in split(op, name, value):
                out.update(_hyper_fields(op, spec, element))
        return self._replace(**out)

    return type(type_name, (base,), {
        "__slots__": (), "__doc__": doc, "__module__": module, "names": names,
        "create": classmethod(create), "set": replace,
    })


def state_with_hyperparams(self, **changes):
    """A copy of this state with hyperparameters replaced; see :func:`with_hyperparams`."""
    return self._replace(hyperparams=self.hyperparams.set(**changes))


class Field(NamedTuple):
    """One per-parameter state entry of a table-built optimizer (PyTorch's ``state[p][name]``).

    ``init(param)`` gives its initial value; ``scalar`` entries (``step``, ``mu_product``) are
    one float32 scalar per parameter, the others have the parameter's shape and dtype.
    """

    name: str
    init: Callable[[Any], Any]
    scalar: bool = False


STEP = Field("step", lambda p: jnp.zeros((), jnp.float32), scalar=True)


def zeros_field(name: str) -> Field:
    return Field(name, jnp.zeros_like)


def precision(dtype):
    """``(compute_dtype, rnd)``: the dtype to compute in and a function that rounds a
    computed value to ``dtype`` wherever PyTorch stores an intermediate tensor (the identity
    for float32/float64)."""
    ct = compute_dtype(dtype)
    if ct == jnp.dtype(dtype):
        return ct, lambda x: x
    return ct, lambda x: x.astype(dtype).astype(ct)


def to_real(x):
    """PyTorch's ``view_as_real``: a complex array as ``[..., 2]`` real and imaginary parts."""
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


def from_real(x, dtype):
    return jax.lax.complex(x[..., 0], x[..., 1]).astype(dtype)


def lerp(start, end, weight):
    """ATen's vectorised ``lerp``: the formula switches at ``|weight| = 0.5`` for accuracy."""
    small = jnp.abs(weight) < 0.5
    return jnp.where(small, start, end) + jnp.where(small, weight, weight - 1) * (end - start)


def one_minus_power(one_minus_beta, steps):
    """``1 - beta ** steps`` as ``-expm1(steps * log1p(-(1 - beta)))``: within a few float32
    ulps of PyTorch's double-precision value (a float32 power loses up to 1e-5 relative)."""
    return -jnp.expm1(steps * jnp.log1p(-one_minus_beta))


def make_optimizer(op: str, state_type: type, hyperparams, fields: Sequence[Field], leaf) -> Optimizer:
    """An :class:`Optimizer` from a state type, its per-parameter ``fields`` and one leaf rule.

    ``state_type`` is a NamedTuple ``(hyperparams, <field>...)``; fields not in ``fields``
    (options switched off, such as RMSprop's ``grad_avg`` without ``centered``) stay ``None``.
    ``leaf(p, g, hp, *field_values) -> (p, *field_values)`` is PyTorch's single-tensor step for
    one parameter with a gradient, in real arithmetic: complex parameters, gradients and
    element-wise fields reach it through their real view, as in PyTorch. Parameters without a
    gradient keep their value and state (see :func:`apply_leaves`).
    """
    names = [f.name for f in fields]

    def init(params):
        check_float_params(op, params)
        present = {f.name: jax.tree_util.tree_map(f.init, params) for f in fields}
        absent = {name: None for name in state_type._fields[1:] if name not in present}
        return state_type(hyperparams=hyperparams, **present, **absent)

    def update(grads, state, params, has_grad=None):
        if not isinstance(state, state_type):
            raise TypeError(
                f"{op}: expected a {state_type.__name__} from {op}(...).init, got {type(state).__name__}"
            )
        for name in state_type._fields[1:]:
            if (getattr(state, name) is None) != (name not in names):
                raise ValueError(
                    f"{op}: this optimizer's options {'need' if name in names else 'exclude'} "
                    f"state.{name}, but the state {'lacks' if name in names else 'has'} it; create "
                    "the state with this optimizer's init"
                )
        hp = state.hyperparams
        plan = plan_leaves(op, params, grads, has_grad, [getattr(state, n) for n in names], names)

        def one(_, p, g, *values):
            if not jnp.iscomplexobj(p):
                return leaf(p, g, hp, *values)
            dtype = p.dtype
            real = [v if f.scalar else to_real(v) for f, v in zip(fields, values)]
            p, *values = leaf(to_real(p), to_real(g), hp, *real)
            return (from_real(p, dtype),
                    *(v if f.scalar else from_real(v, dtype) for f, v in zip(fields, values)))

        new_params, new_fields = apply_leaves(plan, one)
        return new_params, state._replace(**dict(zip(names, new_fields)))

    return Optimizer(init=init, update=update)
