"""Activation checkpointing, as ``torch.utils.checkpoint.checkpoint``: the recorded sub-graph
of a function is rematerialised in the backward pass (``jax.checkpoint``) instead of keeping
its intermediate activations.

The function is recorded once per call on placeholder inputs; the nodes that depend on the
placeholders become one op of the outer graph, whose static description (ops, static
arguments, wiring, shapes) is hashable and the same on every step, so the training step still
compiles once. Parameters and other values the function reads from outside (buffers, dropout
keys, activations computed earlier) become inputs of that op, so their gradients flow as
usual. Side effects inside (BatchNorm running statistics) become extra outputs of the op and
the module buffers are re-pointed to them, so they are updated once per call, as without the
checkpoint. (PyTorch's checkpoint runs the function's forward again in the backward pass, which
updates BatchNorm running statistics a second time; that double update is not reproduced.)
"""
from __future__ import annotations

import weakref

import jax
import jax.numpy as jnp

from ..stateful import _graph
from ..stateful._variable import Variable, apply

__all__ = ["checkpoint"]

_placeholder_arrays: dict = {}


def _placeholder(var: Variable) -> Variable:
    key = (var.shape, var.dtype)
    array = _placeholder_arrays.get(key)
    if array is None:
        array = _placeholder_arrays[key] = jnp.zeros(var.shape, var.dtype)
    return Variable._wrap(array, requires_grad=jnp.issubdtype(var.dtype, jnp.inexact))


def _interpret(structure, arrays):
    """Evaluate the recorded sub-graph ``structure`` on its input ``arrays``."""
    nodes, outputs = structure
    values = []
    for op, static, multi, specs in nodes:
        args = []
        for spec in specs:
            kind = spec[0]
            if kind == "in":
                args.append(arrays[spec[1]])
            elif kind == "node":
                out = values[spec[1]]
                args.append(out[spec[2]] if spec[3] else out)
            else:
                args.append(spec[1])
        values.append(op(*args, **dict(static)))
    results = []
    for j, index, multi in outputs:
        results.append(values[j][index] if multi else values[j])
    return tuple(results)


def _run_checkpointed(*arrays, structure):
    return jax.checkpoint(lambda *a: _interpret(structure, a))(*arrays)


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default",
               debug=False, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)`` with its activations recomputed in the backward pass, as
    ``torch.utils.checkpoint.checkpoint``. Values and gradients equal the plain call's.

    ``use_reentrant`` (True or False) selects between two PyTorch implementations that compute
    the same values; here there is one. Variable arguments in ``args`` are the checkpoint's
    inputs; other arguments (and ``kwargs``) are passed through unchanged. ``function`` must
    return a Variable or a tuple of Variables.

    Raises:
        TypeError: ``function`` returns something other than Variables.
    """
    positions = [i for i, a in enumerate(args) if isinstance(a, Variable)]
    if not _graph.is_grad_enabled() or not positions:
        return function(*args, **kwargs)
    placeholders = {i: _placeholder(args[i]) for i in positions}
    call_args = [placeholders.get(i, a) for i, a in enumerate(args)]
    result = function(*call_args, **kwargs)
    single = isinstance(result, Variable)
    outs = [result] if single else list(result) if isinstance(result, (tuple, list)) else None
    if outs is None or not all(isinstance(o, Variable) for o in outs):
        raise TypeError(f"checkpoint: the function must return a Variable or a tuple of Variables, got {type(result).__name__}")

    placeholder_ids = {id(p): k for k, p in enumerate(placeholders[i] for i in positions)}
    inputs: list = [args[i] for i in positions]  # outer inputs of the checkpoint op, in order
    leaf_inputs: dict = {}  # id(Leaf or (node, index)) -> position in inputs
    depends: dict = {}  # node -> whether it reads a placeholder
    order: list = []

    def reads_placeholder(node) -> bool:
        if node in depends:
            return depends[node]
        result = False
        for value in node.inputs:
            if isinstance(value, _graph.Leaf) and value.var is not None and id(value.var) in placeholder_ids:
                result = True
            elif isinstance(value, tuple) and reads_placeholder(value[0]):
                result = True
        depends[node] = result
        if result:
            order.append(node)
        return result

    for var in outs:
        if var._node is None or not reads_placeholder(var._node):
            raise ValueError("checkpoint: every output must be computed from the checkpoint's tensor arguments")
    index_of = {node: j for j, node in enumerate(order)}
    # Module state recorded inside (BatchNorm running statistics): outputs a node marks as state.
    new_effects = []
    for node in order:
        for index in node.state:
            ref = node.outputs[index]
            var = ref() if ref is not None else None
            if var is not None and var._node is node:
                new_effects.append(var)

    def input_spec(value):
        if isinstance(value, _graph.Leaf):
            if value.var is not None and id(value.var) in placeholder_ids:
                return ("in", placeholder_ids[id(value.var)])
            key = ("leaf", id(value))
            if key not in leaf_inputs:
                leaf_inputs[key] = len(inputs)
                inputs.append(value.var if value.var is not None else value.array)
            return ("in", leaf_inputs[key])
        if isinstance(value, tuple):
            node, index = value
            if depends.get(node):
                return ("node", index_of[node], index, node.multi)
            key = ("node", id(node), index)
            if key not in leaf_inputs:
                leaf_inputs[key] = len(inputs)
                outer = Variable.__new__(Variable)
                outer._init_pending(node, index, node.avals[index], node.requires_grad)
                inputs.append(outer)
            return ("in", leaf_inputs[key])
        return ("const", value)

    nodes = tuple((node.op, node.static, node.multi, tuple(input_spec(v) for v in node.inputs)) for node in order)
    wanted = outs + new_effects
    outputs = tuple((index_of[v._node], v._index, v._node.multi) for v in wanted)
    recorded = apply(_run_checkpointed, *inputs, structure=(nodes, outputs))
    recorded = recorded if isinstance(recorded, tuple) else (recorded,)
    # Re-point the side effects (running statistics) at the checkpoint op's outputs.
    for var, new in zip(new_effects, recorded[len(outs):]):
        var._init_pending(new._node, new._index, new._aval, False)
        new._node.outputs[new._index] = weakref.ref(var)
        _graph.register_effect(var)
    results = recorded[:len(outs)]
    return results[0] if single else type(result)(results) if isinstance(result, tuple) else list(results)
