"""From a facade model to pure JAX and back.

``functional_model(model)`` returns ``(apply_fn, params, buffers)``: two dicts of JAX arrays under
the model's ``state_dict`` names and a pure function that runs the model's ``forward`` on them.
``apply_fn`` composes with ``jax.jit``, ``jax.grad`` and ``jax.vmap`` like any function of
``rustorch.functional``; ``load_functional(model, params, buffers)`` writes trained arrays back.
"""
from __future__ import annotations

from typing import Callable

import jax

from . import _graph, _random
from ._module import Module
from ._variable import Variable


def _unwrap(value):
    if isinstance(value, Variable):
        return value._concrete()
    if isinstance(value, (tuple, list)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _pending(value, found):
    if isinstance(value, Variable):
        found.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _pending(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _pending(v, found)
    return found


def functional_model(model: Module) -> tuple[Callable, dict, dict]:
    """Split ``model`` into a pure function and its arrays.

    Returns:
        ``(apply_fn, params, buffers)`` where ``params`` maps parameter names to JAX arrays,
        ``buffers`` maps buffer names (BatchNorm statistics) to JAX arrays, and
        ``apply_fn(params, buffers, *inputs, training=False, key=None) -> (output, new_buffers)``
        runs ``model.forward`` on JAX arrays. ``training=True`` uses batch statistics (the
        updated ones come back in ``new_buffers``) and, where the model has dropout, needs a
        PRNG ``key``. The model itself is left exactly as it was.

    Raises:
        KeyError: ``apply_fn`` was given dicts that lack one of the model's names.
        ValueError: ``training=True`` without ``key`` for a model that contains Dropout.
    """
    named_params = list(model.named_parameters())
    buffer_owners = [
        (prefix + ("." if prefix else "") + name, module, name)
        for prefix, module in model.named_modules()
        for name, value in module._buffers.items()
        if value is not None
    ]
    _graph.materialize(*(module._buffers[name] for _, module, name in buffer_owners))
    params = {name: p._concrete() for name, p in named_params}
    buffers = {key: module._buffers[name]._concrete() for key, module, name in buffer_owners}
    has_dropout = any(type(m).__name__.startswith("Dropout") for m in model.modules())

    def apply_fn(params, buffers, *inputs, training: bool = False, key=None):
        if training and has_dropout and key is None:
            raise ValueError("apply_fn: training=True with Dropout layers needs key= (a jax.random key)")
        saved_params = [(p, p._value, p._node, p._aval) for _, p in named_params]
        saved_buffers = [(module, name, module._buffers[name]) for _, module, name in buffer_owners]
        modes = [(m, m.training) for m in model.modules()]
        generator = _random.default_generator
        saved_generator = (generator._key, generator._counter)
        try:
            for name, p in named_params:
                p._value, p._node = params[name], None
            for key_name, module, name in buffer_owners:
                module._buffers[name] = Variable._wrap(buffers[key_name])
            model.train(training)
            if key is not None:
                generator._key, generator._counter = key, 0
            with _graph.no_grad():
                output = model(*(Variable._wrap(x) if isinstance(x, jax.Array) or hasattr(x, "shape") else x
                                 for x in inputs))
                new_buffers = {key_name: module._buffers[name] for key_name, module, name in buffer_owners}
                _graph.materialize(*_pending(output, []), *new_buffers.values())
            return _unwrap(output), {k: v._concrete() for k, v in new_buffers.items()}
        finally:
            for p, value, node, aval in saved_params:
                p._value, p._node, p._aval = value, node, aval
            for module, name, value in saved_buffers:
                module._buffers[name] = value
            for module, mode in modes:
                object.__setattr__(module, "training", mode)
            generator._key, generator._counter = saved_generator

    return apply_fn, params, buffers


def load_functional(model: Module, params: dict, buffers: dict | None = None) -> Module:
    """Write arrays (e.g. trained by a pure JAX loop over ``functional_model``'s outputs) back
    into ``model``'s parameters and buffers, keeping each Parameter object; returns ``model``.

    Raises:
        RuntimeError: as ``load_state_dict(strict=True)`` for missing, unexpected or mis-shaped names.
    """
    state = dict(params)
    state.update(buffers or {})
    model.load_state_dict(state, strict=buffers is not None)
    return model
