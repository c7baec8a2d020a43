"""``rustorch.optim``: PyTorch's optimizers over Variables, each step one recorded pure update.

An optimizer keeps PyTorch's ``param_groups`` (dicts a training loop may edit, e.g.
``group['lr'] = 0.01``) and, per group, the state of a functional optimizer from
:mod:`rustorch.functional`. ``step()`` records the group's functional ``update`` as one node of
the engine's graph (:func:`_optimizer_update`): its outputs become the parameters' new values
(pending in-place updates, see :class:`~rustorch.stateful._graph.Leaf`) and the new optimizer
state. Nothing runs at ``step()``: the update is computed inside the next program that needs a
parameter or the state (the next step's forward and backward pass, an evaluation, a read of
``p``, ``optimizer.state_dict()``), so a training step is one XLA program; the first step
too, because a group's first update is recorded ahead as one that changes nothing
(:meth:`_GroupState.prime`), and the first step compiles the program the later ones replay.
Hyperparameters are float32 arrays inside the state (program inputs), so changing them never
recompiles, and a parameter whose ``grad`` is None is skipped exactly as PyTorch skips it (no
moment decay, no weight decay, no step count).

The update runs at once instead (its own program, as ``jax.jit(update)``) when the group's
previous update has not run yet (a loop of ``step()`` calls with no program in between), for
parameters shared between processes (``share_memory()``: the result is written back at once),
while a multi-process group is active (every rank must run the same programs), and with
``RUSTORCH_FUSED_STEP=0`` in the environment.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config
from .. import functional as F
from . import _autocast, _graph, _shared
from ._variable import Variable, apply, recorded_zeros_like

FUSED_STEP = _config.fused_optimizer_step()
"""Record ``optimizer.step()`` into the next program (default) rather than running it at once;
``RUSTORCH_FUSED_STEP=0`` turns it off (for A/B measurements)."""


def _optimizer_update(*leaves, update, treedef):
    """The recorded op of one ``optimizer.step()`` of a group: ``update(grads, state, params)``
    on the flattened ``(grads, state, params)``; returns the new values of the parameters that
    have a gradient, then the leaves of the new state without its hyperparameters (those stay
    the step's inputs)."""
    grads, state, params = jax.tree_util.tree_unflatten(treedef, leaves)
    new_params, new_state = update(grads, state, params)
    if getattr(new_state, "hyperparams", None) is not None:
        new_state = new_state._replace(hyperparams=None)
    stepped = tuple(value for value, grad in zip(new_params, grads) if grad is not None)
    return stepped + tuple(jax.tree_util.tree_leaves(new_state))


class Optimizer:
    """Base class with PyTorch's interface: ``param_groups``, ``zero_grad``, ``step``,
    ``state_dict``/``load_state_dict``, ``add_param_group``, property ``lr`` and ``set_lr``.

    Args:
        params: an iterable of Variables, or of dicts (parameter groups) each with a
            ``'params'`` entry and optional per-group hyperparameters.
        defaults: the hyperparameters every group starts from.

    Raises:
        ValueError: an empty parameter list, a parameter in two groups, or an invalid
            hyperparameter (PyTorch's messages).
        TypeError: something other than Variables where parameters are expected.
    """

    _hyper_names: tuple = ()
    _structural_names: tuple = ()
    _make = None  # the functional factory, called with the group's ``defaults`` entries

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self._groups_state: list = []
        if isinstance(params, Variable):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                "but got a single Variable; pass model.parameters() or [tensor]"
            )
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of "
                "tensors in sets will change between runs. Please use a list instead."
            )
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)
        self._prime()

    # -------------------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones default)."""
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of "
                "tensors in sets will change between runs. Please use a list instead."
            )
        params = [params] if isinstance(params, Variable) else list(params)
        # ``model.named_parameters()``: (name, tensor) pairs; the names go to 'param_names'.
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            params = [p[1] for p in params]
            group["param_names"] = names
        for p in params:
            if not isinstance(p, Variable):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        functional = self._functional(group)  # validates the hyperparameters
        self.param_groups.append(group)
        self._groups_state.append(_GroupState(functional, self._key(group)))

    def _structure(self, group, group_state=None) -> tuple:
        """The group's options that shape the compiled update and the state (static)."""
        return tuple(group[name] for name in self._structural_names)

    def _key(self, group, group_state=None) -> tuple:
        return (type(self),) + self._structure(group, group_state)

    def _functional(self, group, group_state=None) -> F.Optimizer:
        """The group's functional optimizer (validates its hyperparameters)."""
        return type(self)._make(**{name: group[name] for name in self.defaults if name not in _IMPLEMENTATION})

    # Per-parameter state PyTorch creates on the first step that needs it (SGD's momentum
    # buffer when momentum becomes non-zero); any other state a changed option needs is a
    # KeyError in PyTorch and an error here.
    _lazy_fields: tuple = ()

    def _restructure(self, group, group_state, values) -> None:
        """Follow a change of a structural option (``nesterov``, ``maximize``, ``centered``,
        momentum switched on...) as PyTorch does, which reads them afresh at every step: a new
        compiled update, the existing state carried over. Nothing changes on an error."""
        key = self._key(group, group_state)
        functional = self._functional(group, group_state)
        state = group_state.state
        if state is not None:
            template = functional.init(values)
            fields = {}
            for name in template._fields[1:]:
                new, old = getattr(template, name), getattr(state, name)
                if new is None or old is not None:
                    fields[name] = None if new is None else old
                elif name in self._lazy_fields:
                    fields[name] = new
                else:
                    changed = ", ".join(f"{n}={group[n]!r}" for n in self._structural_names if n in group)
                    raise ValueError(
                        f"{type(self).__name__}: the options {changed} need the per-parameter state "
                        f"{name!r}, which the state built by the earlier steps lacks (PyTorch raises "
                        "KeyError here); set these options before the first step(), or create a new "
                        "optimizer"
                    )
            state = template._replace(**fields)
        group_state.functional = functional
        group_state.structure = key
        group_state.rebuild()
        group_state.state = state
        group_state.hyper_key = None

    def _hyperparams(self, group) -> dict:
        return {name: group[name] for name in self._hyper_names}

    # ------------------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset gradients: to None (the default, as PyTorch) or to zeros (recorded: computed
        with the next program that reads them)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else recorded_zeros_like(p.grad)
        self._prime()

    _records_steps = True  # step() records the functional update (False: an optimizer with its own step)

    def _prime(self) -> None:
        """Where no update of a group is waiting to run (before the first step, or after an
        evaluation or a read of a parameter ran the last one), record one that changes nothing
        (:meth:`_GroupState.prime`), so that the next training step runs the program every
        step runs. Only where the next step can be fused: computed parameters without
        gradients yet, not shared between processes, outside multi-process groups."""
        if not (FUSED_STEP and self._records_steps) or _graph.spmd_hook is not None:
            return
        for group, group_state in zip(self.param_groups, self._groups_state):
            params = group["params"]
            if ("lr" not in group or not any(p.requires_grad for p in params)
                    or any(p.grad is not None or p.numel() == 0 or not p._take_computed() for p in params)
                    or self._key(group, group_state) != group_state.structure
                    or _shared.is_shared(params)):
                continue
            group_state.prime(params, self._hyperparams(group))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss
        when a closure (re-evaluating the model and calling ``backward``) is given."""
        loss = None
        if getattr(self, "_step_tracked", False):
            self._opt_called = True  # read by the schedulers' call-order check
        if closure is not None:
            with _graph.enable_grad():
                loss = closure()
        for group, group_state in zip(self.param_groups, self._groups_state):
            params = group["params"]
            if all(p.grad is None for p in params):
                continue
            shared = _shared.is_shared(params)
            if shared:
                _shared.pull(params)  # a shared module's values as other processes left them
            if self._key(group, group_state) != group_state.structure:
                self._restructure(group, group_state, [p._concrete() for p in params])
            if group_state.state is None:  # (reading it runs a pending update of this group)
                group_state.state = group_state.functional.init([p._concrete() for p in params])
            hyper = self._hyperparams(group)
            hyper_key = tuple(_hashable(v) for v in hyper.values())
            if hyper_key != group_state.hyper_key:
                previous = group_state.hyper_key
                if previous is not None and len(previous) == len(hyper_key):
                    # Only what changed (a scheduler's lr) becomes a new array.
                    hyper = {name: value for (name, value), old in zip(hyper.items(), previous)
                             if _hashable(value) != old}
                group_state.state = F.with_hyperparams(group_state.state, **hyper)
                group_state.hyper_key = hyper_key
            if FUSED_STEP:
                group_state.record(params)
                if shared or _graph.spmd_hook is not None:
                    group_state.run_pending()
            else:
                grads = [None if p.grad is None else p.grad._concrete() for p in params]
                values = [p._concrete() for p in params]
                new_values, group_state.state = group_state.update(grads, group_state.state, values)
                for p, grad, value in zip(params, grads, new_values):
                    if grad is not None:
                        p._assign(value)
            if shared:
                _shared.push(params)
        return loss

    # ------------------------------------------------------------------- learning rate
    @property
    def lr(self) -> float:
        """The learning rate of the first parameter group."""
        return self.param_groups[0]["lr"]

    def set_lr(self, lr: float) -> None:
        """Set the learning rate of every group; the next step uses it without recompiling."""
        probe = dict(self.param_groups[0], lr=lr)
        self._functional(probe)  # validates the value with the constructor's rule
        for group in self.param_groups:
            group["lr"] = lr

    # ---------------------------------------------------------------------------- state
    @property
    def state(self) -> dict:
        """Per-parameter state as PyTorch shows it (``optimizer.state[p]['exp_avg']``);
        parameters that never took a step have none."""
        result = {}
        for group, group_state in zip(self.param_groups, self._groups_state):
            for p, entry in zip(group["params"], self._torch_state(group["params"], group_state)):
                if entry is not None:
                    result[p] = entry
        return result

    def state_dict(self) -> dict:
        """PyTorch's layout: ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}``
        with parameters numbered in group order, so ``torch.optim`` and rustorch can exchange it."""
        state, groups, index = {}, [], 0
        for group, group_state in zip(self.param_groups, self._groups_state):
            ids = []
            for entry in self._torch_state(group["params"], group_state):
                if entry is not None:
                    state[index] = entry
                ids.append(index)
                index += 1
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = ids
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and per-parameter state saved by :meth:`state_dict` (ours or
        ``torch.optim``'s: same layout).

        Everything is checked before anything changes: the group count, each group's size and
        hyperparameters, and every state entry's keys, shapes and dtypes against this
        optimizer's parameters. On an error the optimizer is left exactly as it was.

        Raises:
            ValueError: a mismatch, naming the group or the state entry (``state[3]['exp_avg']``)
                and what was expected.
            TypeError: a state dict that is not PyTorch's layout.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise TypeError(
                f"{name}: expected a dict with the keys 'state' and 'param_groups' (what "
                f"optimizer.state_dict() returns), got "
                f"{sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__}"
            )
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{name}: loaded state dict has a different number of parameter groups "
                f"({len(groups)}) than this optimizer ({len(self.param_groups)})"
            )
        for i, (group, saved) in enumerate(zip(self.param_groups, groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise TypeError(f"{name}: param_groups[{i}] must be a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}: loaded state dict contains a parameter group that doesn't match the "
                    f"size of optimizer's group: param_groups[{i}] has {len(saved['params'])} "
                    f"parameters, this optimizer's has {len(group['params'])}"
                )
        saved_state = {int(k): v for k, v in state_dict["state"].items()}
        referenced = {int(i) for saved in groups for i in saved["params"]}
        stray = sorted(set(saved_state) - referenced)
        if stray:
            raise ValueError(
                f"{name}: state entries {stray} belong to no parameter group's 'params'"
            )
        staged = []
        for i, (group, saved) in enumerate(zip(self.param_groups, groups)):
            new_group = dict(group)
            for key, value in saved.items():
                if key != "params":
                    new_group[key] = tuple(value) if isinstance(value, list) else value
            try:
                functional = self._functional(new_group)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{name}: param_groups[{i}]: {err}") from None
            values = [p._concrete() for p in group["params"]]
            state = functional.init(values)
            entries = []
            for j, index in enumerate(saved["params"]):
                entry = saved_state.get(int(index))
                if entry is not None:
                    entry = self._check_entry(name, int(index), entry, state, j, values[j], new_group)
                entries.append(entry)
            staged.append((new_group, functional, self._loaded_state(state, entries)))
        for group, group_state, (new_group, functional, state) in zip(
            self.param_groups, self._groups_state, staged
        ):
            group.clear()
            group.update(new_group)
            group_state.functional = functional
            group_state.state = state
            group_state.structure = self._key(group, group_state)
            group_state.rebuild()
            group_state.hyper_key = None

    # ------------------------------------------------------- per-parameter state (torch layout)
    def _state_fields(self, state) -> list[str]:
        """The per-parameter fields of a functional state, which are PyTorch's state keys."""
        return [f for f in state._fields if f != "hyperparams" and getattr(state, f) is not None]

    def _entry_present(self, state, i: int, group_state) -> bool:
        return group_state.eager or float(state.step[i]) != 0

    def _torch_state(self, params, group_state) -> list:
        """Per parameter: PyTorch's ``optimizer.state[p]`` dict, or None before its first step."""
        state = group_state.state
        if state is None:
            return [None] * len(params)
        fields = self._state_fields(state)
        return [
            {f: _tensor(getattr(state, f)[i]) for f in fields}
            if self._entry_present(state, i, group_state) else None
            for i in range(len(params))
        ]

    def _expected_keys(self, state) -> set:
        return set(self._state_fields(state))

    def _check_entry(self, name, index, entry, state, j, value, group) -> dict:
        """Validate one saved ``state[index]`` against the fresh functional ``state``'s leaf
        ``j``; returns ``{key: numpy array}``."""
        where = f"{name}: state[{index}]"
        if not isinstance(entry, dict):
            raise TypeError(f"{where} must be a dict of tensors, got {type(entry).__name__}")
        expected = self._expected_keys(state)
        if set(entry) != expected:
            missing, extra = sorted(expected - set(entry)), sorted(set(entry) - expected)
            raise ValueError(
                f"{where} has keys {sorted(entry)}, but {type(self).__name__} with this group's "
                f"options keeps {sorted(expected)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unexpected {extra})" if extra else "")
            )
        checked = {}
        for key, saved in entry.items():
            like = getattr(state, key)[j]
            try:
                array = np.asarray(saved)
            except Exception as err:  # noqa: BLE001  (anything that is not array-like)
                raise TypeError(f"{where}[{key!r}] is not an array: {type(saved).__name__} ({err})") from None
            if array.shape != tuple(like.shape):
                raise ValueError(
                    f"{where}[{key!r}] has shape {array.shape}, expected {tuple(like.shape)}"
                    + (" (a scalar)" if like.shape == () else f" (the shape of parameter {j} of its group)")
                )
            complex_ok = jnp.issubdtype(like.dtype, jnp.complexfloating)
            kind = array.dtype.kind
            if not (kind == "f" or (kind == "c" and complex_ok) or (like.shape == () and kind in "iu"
                                                                        and key == "step")):
                raise ValueError(
                    f"{where}[{key!r}] has dtype {array.dtype}, expected a floating-point array "
                    f"(stored as {like.dtype})"
                )
            checked[key] = array
        return checked

    def _loaded_state(self, state, entries):
        """``state`` with each present entry's arrays put in (cast to the state's dtypes)."""
        columns = {f: list(getattr(state, f)) for f in self._state_fields(state)}
        for i, entry in enumerate(entries):
            if entry is None:
                continue
            for key, array in entry.items():
                columns[key][i] = _array_like(array, columns[key][i])
        return state._replace(**columns)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# PyTorch's implementation selectors. rustorch always runs one compiled update with the
# single-tensor formulas (``foreach=False``), which ``foreach``, ``fused`` and ``capturable``
# only choose among; they are kept in the param groups, as PyTorch keeps them.
_IMPLEMENTATION = ("foreach", "capturable", "differentiable", "fused")


def _implementation(**options) -> dict:
    for name, value in options.items():
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True, False or None, got {value!r}")
    if options.get("differentiable"):
        raise NotImplementedError(
            "differentiable=True (autograd through optimizer.step()) is not supported by rustorch's "
            "optimizers; differentiate through the functional optimizers (rustorch.functional.adam, ...) "
            "with jax.grad instead"
        )
    return options


def _keeps_buffers(group_state) -> bool:
    """Whether a group's existing state holds momentum buffers (SGD, RMSprop)."""
    state = None if group_state is None else group_state.state
    return state is not None and getattr(state, "momentum_buffer", None) is not None


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


class _GroupState:
    """The functional optimizer of one group, its state and its update.

    ``state`` is the functional state with concrete arrays: reading it runs the group's
    pending update, if any (one program). After :meth:`record` the state's arrays are
    pending Variables until a program computes them.
    """

    def __init__(self, functional, structure):
        self.functional = functional
        self.structure = structure
        self._state = None
        self.hyper_key = None
        self.eager = False  # True: PyTorch shows this group's state before the first step
        self.rebuild()

    def rebuild(self):
        # One update per optimizer kind and static options, shared by every instance:
        # hyperparameters live in the state, so a new optimizer (or a reloaded one) with the
        # same options and parameter shapes reuses the compiled program.
        entry = _UPDATES.get(self.structure)
        if entry is None:
            functional_update = self.functional.update

            def counted_update(grads, state, params):
                _graph.count_compile()
                return functional_update(grads, state, params)

            entry = _UPDATES[self.structure] = (functional_update, jax.jit(counted_update))
        self.functional_update, self.update = entry

    @property
    def state(self):
        if self._state is not None and self.pending():
            self.run_pending()
        return self._state

    @state.setter
    def state(self, value):
        self._state = value

    def _pending_leaves(self) -> list:
        return [leaf for leaf in jax.tree_util.tree_leaves(self._state) if isinstance(leaf, Variable)]

    def pending(self) -> bool:
        """Whether the state holds results of a recorded update (computed or not)."""
        return any(isinstance(leaf, Variable) for leaf in jax.tree_util.tree_leaves(self._state))

    def run_pending(self) -> None:
        """Compute the recorded update now (with the parameters it updates); the state holds
        arrays again."""
        leaves = self._pending_leaves()
        if not leaves:
            return
        _graph.materialize(*leaves)
        self._state = jax.tree_util.tree_map(
            lambda leaf: leaf._concrete() if isinstance(leaf, Variable) else leaf, self._state)

    def prime(self, params, hyper: dict) -> None:
        """Record a step that changes no parameter: zero gradients, a fresh state of the same
        structure and a learning rate of 0 (every optimizer moves a parameter by ``lr`` times
        a finite amount). The next forward and backward pass then reads the parameters
        through an update node, as a step that follows ``step()`` does, so both are one
        program: the first training step compiles the program the later steps replay, and
        an evaluation between epochs (which runs the pending update) does not make the next
        step a new program. The state it computes is dropped: the group's state stays as it
        was (none before the first step, as in PyTorch)."""
        state = self._state
        self._state = F.with_hyperparams(self.functional.init([p._concrete() for p in params]),
                                         **dict(hyper, lr=0.0))
        grads = [Variable._wrap(jnp.zeros(p.shape, p.dtype)) if p.requires_grad else None for p in params]
        try:
            self.record(params, grads, new_version=False)
        finally:
            self._state = state

    def record(self, params, grads=None, new_version: bool = True) -> None:
        """Record one step over ``params`` (those with a ``grad``): a node whose outputs become
        the parameters' pending values and the new state. A previous update of this group
        that has not run yet runs first, so updates never pile up into one long program."""
        self.run_pending()
        state = self._state
        grads = [p.grad for p in params] if grads is None else grads
        flat, treedef = jax.tree_util.tree_flatten((grads, state, list(params)))
        hyper = getattr(state, "hyperparams", None)
        inner = state if hyper is None else state._replace(hyperparams=None)
        state_tree = jax.tree_util.tree_structure(inner)
        autocast = _autocast.state.active
        _autocast.state.active = False  # the update computes in the parameters' own dtypes
        try:
            with _graph.no_grad():
                outs = apply(_optimizer_update, *flat, update=self.functional_update, treedef=treedef)
                outs = outs if isinstance(outs, tuple) else (outs,)
                n = sum(g is not None for g in grads)
                if len(outs) != n + state_tree.num_leaves:
                    raise RuntimeError(f"optimizer update returned {len(outs) - n} state arrays, "
                                       f"expected {state_tree.num_leaves}")
                node = outs[0]._node
                # Every output is computed whenever the node runs (engine "state").
                node.state = tuple(range(len(outs)))
                # The old parameters and state are replaced: their memory may hold the new ones
                # (listed in the order of the outputs that replace them).
                hyper_ids = {id(leaf) for leaf in jax.tree_util.tree_leaves(hyper)}
                state_leaves = jax.tree_util.tree_leaves(state)
                node.donate = tuple(
                    [n + len(state_leaves) + i for i, g in enumerate(grads) if g is not None]
                    + [n + i for i, leaf in enumerate(state_leaves) if id(leaf) not in hyper_ids])
                new_state = jax.tree_util.tree_unflatten(state_tree, outs[n:])
                self._state = new_state if hyper is None else new_state._replace(hyperparams=hyper)
                for p, new in zip([p for p, g in zip(params, grads) if g is not None], outs):
                    if new_version:
                        p._begin_write()
                    p._write(new)
        finally:
            _autocast.state.active = autocast


_UPDATES: dict = {}


def _tensor(array, dtype=None):
    value = jnp.asarray(array) if dtype is None else jnp.asarray(array, dtype)
    return Variable._wrap(value)


def _array_like(value, like):
    """A JAX array of ``like``'s dtype from a saved tensor/array/number."""
    # np.array copies: device_put may alias the buffer on CPU, and a torch state dict's arrays
    # keep changing as torch's optimizer steps.
    return jnp.asarray(np.array(value, dtype=like.dtype)).reshape(like.shape)


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam(params, lr=0.001, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0.0, amsgrad=False, *, maximize=False, decoupled_weight_decay=False)``
    (PyTorch's code, not its docstring: ``weight_decay`` adds ``wd * param`` to the gradient,
    or with ``decoupled_weight_decay`` scales the parameter by ``1 - lr * wd`` as AdamW;
    AMSGrad keeps the running max of the uncorrected second moment). See
    :func:`rustorch.functional.adam`.

    Raises:
        ValueError: an invalid hyperparameter, with PyTorch's message.
    """

    _hyper_names = ("lr", "betas", "eps", "weight_decay")
    _structural_names = ("amsgrad", "maximize", "decoupled_weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      **_implementation(foreach=foreach, capturable=capturable,
                                                        differentiable=differentiable, fused=fused)))

    def _functional(self, group, group_state=None):
        make = F.adamw if group["decoupled_weight_decay"] else F.adam
        return make(lr=group["lr"], betas=tuple(group["betas"]), eps=group["eps"],
                    weight_decay=group["weight_decay"], amsgrad=group["amsgrad"], maximize=group["maximize"])


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW(params, lr=0.001, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0.01, amsgrad=False, *, maximize=False)``: decoupled weight decay
    ``param *= 1 - lr * wd`` before the Adam step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 *, maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict) -> None:
        """As :meth:`Optimizer.load_state_dict`; the weight decay stays decoupled, as in PyTorch."""
        super().load_state_dict(state_dict)
        for group, group_state in zip(self.param_groups, self._groups_state):
            if not group["decoupled_weight_decay"]:
                group["decoupled_weight_decay"] = True
                group_state.functional = self._functional(group, group_state)
                group_state.structure = self._key(group, group_state)
                group_state.rebuild()


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD(params, lr=0.001, momentum=0,
    dampening=0, weight_decay=0, nesterov=False, maximize=False)``: the momentum buffer starts
    as the first gradient, ``buf = momentum * buf + (1 - dampening) * grad`` after that, Nesterov
    uses ``grad + momentum * buf``. See :func:`rustorch.functional.sgd`."""

    _hyper_names = ("lr", "momentum", "dampening", "weight_decay")
    _structural_names = ("nesterov", "maximize", "uses_momentum")

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize,
                                      **_implementation(foreach=foreach, differentiable=differentiable,
                                                        fused=fused)))

    _lazy_fields = ("momentum_buffer", "has_momentum_buffer")

    def _structure(self, group, group_state=None):
        # Momentum buffers, once created, stay (PyTorch keeps them when momentum goes to 0 and
        # uses them again when it comes back).
        return (group["nesterov"], group["maximize"], group["momentum"] != 0 or _keeps_buffers(group_state))

    def _functional(self, group, group_state=None):
        momentum = group["momentum"]
        if momentum == 0 and _keeps_buffers(group_state):
            momentum = 1.0  # build with buffers; the group's 0 reaches the state before the step
        return F.sgd(lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                     weight_decay=group["weight_decay"], nesterov=group["nesterov"], maximize=group["maximize"])

    def _state_fields(self, state) -> list[str]:
        return [] if state.momentum_buffer is None else ["momentum_buffer"]

    def _entry_present(self, state, i, group_state) -> bool:
        return state.has_momentum_buffer is not None and bool(state.has_momentum_buffer[i])

    def _loaded_state(self, state, entries):
        state = super()._loaded_state(state, entries)
        if state.has_momentum_buffer is None:
            return state
        flags = [flag if entry is None else jnp.ones((), jnp.bool_)
                 for flag, entry in zip(state.has_momentum_buffer, entries)]
        return state._replace(has_momentum_buffer=flags)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop(params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0,
    momentum=0, centered=False, maximize=False)``. See :func:`rustorch.functional.rmsprop`."""

    _make = staticmethod(F.rmsprop)
    _hyper_names = ("lr", "alpha", "eps", "weight_decay", "momentum")
    _structural_names = ("centered", "maximize", "uses_momentum")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      **_implementation(capturable=capturable, foreach=foreach,
                                                        differentiable=differentiable)))

    def _structure(self, group, group_state=None):
        return (group["centered"], group["maximize"], group["momentum"] > 0 or _keeps_buffers(group_state))

    def _functional(self, group, group_state=None):
        kwargs = {name: group[name] for name in self.defaults if name not in _IMPLEMENTATION}
        if not kwargs["momentum"] > 0 and _keeps_buffers(group_state):
            kwargs["momentum"] = 1.0  # build with buffers; the group's 0 reaches the state before the step
        return F.rmsprop(**kwargs)


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad(params, lr=0.01, lr_decay=0, weight_decay=0,
    initial_accumulator_value=0, eps=1e-10, *, maximize=False)``; as in PyTorch, the state of
    the constructor's parameters exists from construction (``step`` 0, ``sum`` the initial
    accumulator value). See :func:`rustorch.functional.adagrad`."""

    _make = staticmethod(F.adagrad)
    _hyper_names = ("lr", "lr_decay", "weight_decay", "eps")
    _structural_names = ("maximize",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize,
                                      **_implementation(foreach=foreach, differentiable=differentiable,
                                                        fused=fused)))
        for group, group_state in zip(self.param_groups, self._groups_state):
            group_state.state = group_state.functional.init([p._concrete() for p in group["params"]])
            group_state.eager = True

    def _functional(self, group, group_state=None):
        # PyTorch fills ``sum`` from the optimizer's defaults, not the group's.
        return F.adagrad(lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                         initial_accumulator_value=self.defaults["initial_accumulator_value"],
                         eps=group["eps"], maximize=group["maximize"])

    def _structure(self, group, group_state=None):
        return (group["maximize"],)

    def load_state_dict(self, state_dict: dict) -> None:
        """As :meth:`Optimizer.load_state_dict`."""
        eager = [gs.eager for gs in self._groups_state]
        super().load_state_dict(state_dict)
        for group_state, flag in zip(self._groups_state, eager):
            group_state.eager = flag


class Adadelta(Optimizer):
    """Adadelta, as ``torch.optim.Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0,
    *, maximize=False)``. See :func:`rustorch.functional.adadelta`."""

    _make = staticmethod(F.adadelta)
    _hyper_names = ("lr", "rho", "eps", "weight_decay")
    _structural_names = ("maximize",)

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      **_implementation(foreach=foreach, capturable=capturable,
                                                        differentiable=differentiable)))


class Adamax(Optimizer):
    """Adamax, as ``torch.optim.Adamax(params, lr=0.002, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0, *, maximize=False)``. See :func:`rustorch.functional.adamax`."""

    _make = staticmethod(F.adamax)
    _hyper_names = ("lr", "betas", "eps", "weight_decay")
    _structural_names = ("maximize",)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize,
                                      **_implementation(foreach=foreach, differentiable=differentiable,
                                                        capturable=capturable)))


class NAdam(Optimizer):
    """NAdam, as ``torch.optim.NAdam(params, lr=0.002, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0, momentum_decay=0.004, decoupled_weight_decay=False, *, maximize=False)``.
    See :func:`rustorch.functional.nadam`."""

    _make = staticmethod(F.nadam)
    _hyper_names = ("lr", "betas", "eps", "weight_decay", "momentum_decay")
    _structural_names = ("decoupled_weight_decay", "maximize")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                                      **_implementation(foreach=foreach, capturable=capturable,
                                                        differentiable=differentiable)))


class RAdam(Optimizer):
    """RAdam, as ``torch.optim.RAdam(params, lr=0.001, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0, decoupled_weight_decay=False, *, maximize=False)``.
    See :func:`rustorch.functional.radam`."""

    _make = staticmethod(F.radam)
    _hyper_names = ("lr", "betas", "eps", "weight_decay")
    _structural_names = ("decoupled_weight_decay", "maximize")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                                      **_implementation(foreach=foreach, capturable=capturable,
                                                        differentiable=differentiable)))
