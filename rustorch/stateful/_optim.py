"""``rustorch.optim``: PyTorch's optimizers over Variables, each step one jitted pure update.

An optimizer keeps PyTorch's ``param_groups`` (dicts a training loop may edit, e.g.
``group['lr'] = 0.01``) and, per group, the state of a functional optimizer from
:mod:`rustorch.functional`. ``step()`` runs ``jax.jit(update)`` over the group's parameters:
hyperparameters are float32 arrays inside the state, so changing them never recompiles, and a
parameter whose ``grad`` is None is skipped exactly as PyTorch skips it (no moment decay, no
weight decay, no step count).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import functional as F
from . import _graph
from ._variable import Variable


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

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self._groups_state: list = []
        if isinstance(params, Variable):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                "but got a single Variable; pass model.parameters() or [tensor]"
            )
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # -------------------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones default)."""
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Variable) else list(params)
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
        self._groups_state.append(_GroupState(functional, (type(self),) + self._structure(group)))

    def _structure(self, group):
        return tuple(group[name] for name in self._structural_names)

    def _functional(self, group) -> F.Optimizer:
        raise NotImplementedError  # abstract: each optimizer builds its functional counterpart

    def _hyperparams(self, group) -> dict:
        return {name: group[name] for name in self._hyper_names}

    # ------------------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset gradients: to None (the default, as PyTorch) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad = None if set_to_none else Variable._wrap(jnp.zeros_like(p.grad._concrete()))

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()``'s loss
        when a closure (re-evaluating the model and calling ``backward``) is given."""
        loss = None
        if closure is not None:
            with _graph.enable_grad():
                loss = closure()
        for group, group_state in zip(self.param_groups, self._groups_state):
            params = group["params"]
            grads = [None if p.grad is None else p.grad._concrete() for p in params]
            if all(g is None for g in grads):
                continue
            if (type(self),) + self._structure(group) != group_state.structure:
                raise ValueError(
                    f"{type(self).__name__}: {', '.join(self._structural_names)} cannot change after "
                    "construction (they change the compiled update); create a new optimizer instead"
                )
            values = [p._concrete() for p in params]
            if group_state.state is None:
                group_state.state = group_state.functional.init(values)
            hyper = self._hyperparams(group)
            hyper_key = tuple(_hashable(v) for v in hyper.values())
            if hyper_key != group_state.hyper_key:
                group_state.state = F.with_hyperparams(group_state.state, **hyper)
                group_state.hyper_key = hyper_key
            new_values, group_state.state = group_state.update(grads, group_state.state, values)
            for p, grad, value in zip(params, grads, new_values):
                if grad is not None:
                    p._assign(value)
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

    def _torch_state(self, params, group_state) -> list:
        raise NotImplementedError  # abstract: per-parameter state in PyTorch's layout

    def _load_torch_state(self, group_state, values, entries) -> None:
        raise NotImplementedError  # abstract: the inverse of _torch_state

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

        Raises:
            ValueError: the group count or a group's size differs from this optimizer's.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
                )
        saved_state = {int(k): v for k, v in state_dict["state"].items()}
        for group, saved, group_state in zip(self.param_groups, groups, self._groups_state):
            for name, value in saved.items():
                if name != "params":
                    group[name] = tuple(value) if isinstance(value, list) else value
            group_state.functional = self._functional(group)
            group_state.structure = (type(self),) + self._structure(group)
            group_state.rebuild()
            values = [p._concrete() for p in group["params"]]
            group_state.state = group_state.functional.init(values)
            group_state.hyper_key = None
            entries = [saved_state.get(int(i)) for i in saved["params"]]
            self._load_torch_state(group_state, values, entries)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


class _GroupState:
    """The functional optimizer of one group, its state and its jitted update."""

    def __init__(self, functional, structure):
        self.functional = functional
        self.structure = structure
        self.state = None
        self.hyper_key = None
        self.rebuild()

    def rebuild(self):
        # One jitted update per optimizer kind and static options, shared by every instance:
        # hyperparameters live in the state, so a new optimizer (or a reloaded one) with the
        # same options and parameter shapes reuses the compiled program.
        update = _JITTED_UPDATES.get(self.structure)
        if update is None:
            functional_update = self.functional.update

            def counted_update(grads, state, params):
                _graph.count_compile()
                return functional_update(grads, state, params)

            update = _JITTED_UPDATES[self.structure] = jax.jit(counted_update)
        self.update = update


_JITTED_UPDATES: dict = {}


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
    weight_decay=0.0, amsgrad=False, maximize=False)`` (PyTorch's code, not its docstring:
    ``weight_decay`` adds ``wd * param`` to the gradient; AMSGrad keeps the running max of the
    uncorrected second moment). See :func:`rustorch.functional.adam`.

    Raises:
        ValueError: an invalid hyperparameter, with PyTorch's message.
    """

    _hyper_names = ("lr", "betas", "eps", "weight_decay")
    _structural_names = ("amsgrad", "maximize")
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _functional(self, group):
        make = F.adamw if self._decoupled else F.adam
        return make(lr=group["lr"], betas=tuple(group["betas"]), eps=group["eps"],
                    weight_decay=group["weight_decay"], amsgrad=group["amsgrad"], maximize=group["maximize"])

    def _torch_state(self, params, group_state):
        state = group_state.state
        if state is None:
            return [None] * len(params)
        entries = []
        for i, step in enumerate(state.step):
            if float(step) == 0:
                entries.append(None)
                continue
            entry = {"step": _tensor(step, jnp.float32), "exp_avg": _tensor(state.exp_avg[i]),
                     "exp_avg_sq": _tensor(state.exp_avg_sq[i])}
            if state.max_exp_avg_sq is not None:
                entry["max_exp_avg_sq"] = _tensor(state.max_exp_avg_sq[i])
            entries.append(entry)
        return entries

    def _load_torch_state(self, group_state, values, entries):
        state = group_state.state
        fields = {"exp_avg": list(state.exp_avg), "exp_avg_sq": list(state.exp_avg_sq),
                  "step": list(state.step)}
        if state.max_exp_avg_sq is not None:
            fields["max_exp_avg_sq"] = list(state.max_exp_avg_sq)
        for i, entry in enumerate(entries):
            if entry is None:
                continue
            for name, column in fields.items():
                if name in entry:
                    column[i] = _array_like(entry[name], column[i])
        group_state.state = state._replace(**fields)


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW(params, lr=0.001, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0.01, amsgrad=False, maximize=False)``: decoupled weight decay
    ``param *= 1 - lr * wd`` before the Adam step."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD(params, lr=0.001, momentum=0,
    dampening=0, weight_decay=0, nesterov=False, maximize=False)``: the momentum buffer starts
    as the first gradient, ``buf = momentum * buf + (1 - dampening) * grad`` after that, Nesterov
    uses ``grad + momentum * buf``. See :func:`rustorch.functional.sgd`."""

    _hyper_names = ("lr", "momentum", "dampening", "weight_decay")
    _structural_names = ("nesterov", "maximize", "uses_momentum")

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _structure(self, group):
        return (group["nesterov"], group["maximize"], group["momentum"] != 0)

    def _functional(self, group):
        return F.sgd(lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                     weight_decay=group["weight_decay"], nesterov=group["nesterov"], maximize=group["maximize"])

    def _torch_state(self, params, group_state):
        state = group_state.state
        if state is None:
            return [None] * len(params)
        entries = []
        for i, has_buffer in enumerate(state.has_momentum_buffer if state.has_momentum_buffer is not None else []):
            entries.append({"momentum_buffer": _tensor(state.momentum_buffer[i])} if bool(has_buffer) else None)
        if not entries:
            entries = [None] * len(params)
        return entries

    def _load_torch_state(self, group_state, values, entries):
        state = group_state.state
        if state.momentum_buffer is None:
            return
        buffers = list(state.momentum_buffer)
        flags = list(state.has_momentum_buffer)
        for i, entry in enumerate(entries):
            if entry is not None and entry.get("momentum_buffer") is not None:
                buffers[i] = _array_like(entry["momentum_buffer"], buffers[i])
                flags[i] = jnp.ones_like(flags[i])
        group_state.state = state._replace(momentum_buffer=buffers, has_momentum_buffer=flags)
