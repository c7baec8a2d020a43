"""Record, then replay: the engine under the PyTorch-style facade.

Operations on :class:`~rustorch.stateful.Variable` do not compute anything. Each one records a
:class:`Node` (a pure function from ``rustorch.functional`` or ``jax.numpy``, its static keyword
arguments, and its inputs), and shape inference gives the output's shape and dtype at once.
Values are produced only when something needs them (``backward()``, ``item()``, ``numpy()``,
printing, ``if``): :func:`evaluate` then walks the recorded graph, turns it into one pure function
of its leaf arrays, and runs that function through ``jax.jit`` (with ``jax.vjp`` for a backward
pass). The compiled program is cached under a key made of the graph's *structure* (ops, static
arguments, how nodes connect, leaf shapes and dtypes, which leaves need gradients), so every
step of a training loop after the first runs one cached XLA program.

Design rules, each against a trap that JAX libraries before us fell into:

* Leaf arrays (batches, parameters, buffers, PRNG keys and counters) are *arguments* of the
  program, never constants baked into it; a parameter update never forces a recompile.
* A node stores its inputs' arrays as they were when it was recorded (a snapshot), so an
  optimizer step between a forward pass and its ``item()`` cannot change the recorded result.
* Side effects (BatchNorm running statistics) are pending Variables registered with
  :func:`register_effect`; every evaluation computes all pending effects in the same program.
* Every Variable still referenced by the user when a graph runs gets its value from the same
  program, so ``output.argmax(1)`` after ``loss.backward()`` costs no second forward pass.
* Compilations are counted (:func:`compile_count`) and, with :func:`explain_recompiles`,
  every cache miss reports which part of the key changed.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import weakref
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _channels_last

logger = logging.getLogger("rustorch")


class Aval(NamedTuple):
    """The abstract value of an array: its shape and dtype."""

    shape: tuple
    dtype: np.dtype


class Leaf:
    """A recorded input that is a concrete array, and the Variable that wants its gradient."""

    __slots__ = ("array", "var", "aval")

    def __init__(self, array, var=None, aval=None):
        self.array = array
        self.var = var  # set only when the gradient must flow back to this Variable
        self.aval = aval if aval is not None else Aval(tuple(array.shape), array.dtype)


class Node:
    """One recorded operation: ``op(*inputs, **static)``.

    ``inputs`` holds, per positional argument, a :class:`Leaf`, an ``(Node, output_index)``
    pair, ``None`` or a Python scalar. ``values`` caches outputs once computed; ``outputs`` holds
    weak references to the Variables that carry each output, which is how an evaluation knows
    which intermediate values the user still holds.
    """

    __slots__ = (
        "op", "static", "inputs", "avals", "multi", "requires_grad",
        "values", "outputs", "freed", "__weakref__",
    )

    def __init__(self, op, static, inputs, avals, multi, requires_grad):
        self.op = op
        self.static = static
        self.inputs = inputs
        self.avals = avals
        self.multi = multi
        self.requires_grad = requires_grad
        self.values = None
        self.outputs = [None] * len(avals)
        self.freed = False


# ----------------------------------------------------------------------------- grad mode

class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Whether new operations record the information needed for ``backward()``."""
    return _grad_mode.enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn gradient recording on or off for this thread (``torch.set_grad_enabled``)."""
    _grad_mode.enabled = bool(mode)


class no_grad:
    """Context manager and decorator that disables gradient recording, as ``torch.no_grad``.

    Operations inside produce Variables with ``requires_grad=False``; their graphs are
    evaluated forward-only.
    """

    def __enter__(self):
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = False
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self._previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager that re-enables gradient recording inside :class:`no_grad`."""

    def __enter__(self):
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = True
        return self


# ------------------------------------------------------------------------ shape inference

_shape_cache: dict = {}


def _input_signature(value):
    if isinstance(value, Leaf):
        return value.aval
    if isinstance(value, tuple):
        node, index = value
        return node.avals[index]
    return ("const", type(value), value)


def infer_avals(op, static, inputs) -> tuple[tuple[Aval, ...], bool]:
    """Output shapes/dtypes of ``op`` on ``inputs``, cached per op signature.

    Errors that the op raises on bad shapes (the functional layer's ``ValueError``s) surface
    here, at record time, in the user's own line of code.
    """
    key = (op, static, tuple(_input_signature(v) for v in inputs))
    hit = _shape_cache.get(key)
    if hit is not None:
        return hit
    specs = []
    for value in inputs:
        signature = _input_signature(value)
        if isinstance(signature, Aval):
            specs.append(jax.ShapeDtypeStruct(signature.shape, signature.dtype))
        else:
            specs.append(value)
    array_positions = [i for i, s in enumerate(specs) if isinstance(s, jax.ShapeDtypeStruct)]

    def call(*arrays):
        args = list(specs)
        for position, array in zip(array_positions, arrays):
            args[position] = array
        return op(*args, **dict(static))

    out = jax.eval_shape(call, *[specs[i] for i in array_positions])
    multi = isinstance(out, (tuple, list))
    outs = tuple(out) if multi else (out,)
    for o in outs:
        if not isinstance(o, jax.ShapeDtypeStruct):
            raise TypeError(f"{op!r} returned {type(o).__name__}; recorded ops must return arrays")
    result = (tuple(Aval(tuple(o.shape), o.dtype) for o in outs), multi)
    _shape_cache[key] = result
    return result


# --------------------------------------------------------------------------- side effects

_pending_effects: list = []


def register_effect(var) -> None:
    """Make sure ``var`` (a pending Variable, e.g. an updated BatchNorm buffer) is computed by
    the next evaluation, whether or not the evaluated value depends on it."""
    _pending_effects.append(weakref.ref(var))


# ------------------------------------------------------------------------- compile cache

class _Stats:
    compiles = 0
    evaluations = 0
    explain = os.environ.get("RUSTORCH_EXPLAIN_RECOMPILES", "") not in ("", "0")
    forbidden = 0


_stats = _Stats()
_programs: dict = {}
_recent_keys: list = []


def compile_count() -> int:
    """How many XLA programs the facade has traced and compiled in this process.

    In a steady training loop this stops growing after the first step (or the first step
    of each new batch shape, and the first evaluation in eval mode).
    """
    return _stats.compiles


def count_compile() -> None:
    """Called at trace time by every jitted function of the facade (programs, optimizer steps)."""
    if _stats.forbidden:
        raise RecompileError(
            "rustorch: a new XLA program is being compiled inside forbid_recompiles(); "
            "run with rustorch.explain_recompiles() to see which part of the cache key changed"
        )
    _stats.compiles += 1


class RecompileError(RuntimeError):
    """Raised when a compilation happens inside :class:`forbid_recompiles`."""


class forbid_recompiles:
    """Context manager that raises :class:`RecompileError` if anything compiles inside it.

    Wrap the steady-state part of a training loop (after the first step) to turn a silent
    slowdown (a cache key that changes every step) into an error at the line that caused it.
    """

    def __enter__(self):
        _stats.forbidden += 1
        return self

    def __exit__(self, *exc):
        _stats.forbidden -= 1
        return False


def evaluation_count() -> int:
    """How many graph evaluations (program runs) the facade has made in this process."""
    return _stats.evaluations


def explain_recompiles(enabled: bool = True) -> None:
    """Log (logger ``'rustorch'``, level WARNING) why each compilation happened.

    Each cache miss is compared with the closest earlier key and the first differences are
    named: an op or its static arguments, a leaf's shape or dtype, which leaves need
    gradients. Also settable with the environment variable ``RUSTORCH_EXPLAIN_RECOMPILES=1``.
    """
    _stats.explain = bool(enabled)


def clear_cache() -> None:
    """Drop every cached program (compile_count keeps counting)."""
    _programs.clear()
    _recent_keys.clear()
    _shape_cache.clear()


def _describe_difference(new_key, old_key) -> str:
    new_nodes, new_leaves, new_rest = new_key[0], new_key[1], new_key[2:]
    old_nodes, old_leaves, old_rest = old_key[0], old_key[1], old_key[2:]
    reasons = []
    if len(new_nodes) != len(old_nodes):
        reasons.append(f"the graph has {len(new_nodes)} ops, the cached one {len(old_nodes)}")
    for i, (a, b) in enumerate(zip(new_nodes, old_nodes)):
        if a != b:
            name_a = getattr(a[0], "__name__", repr(a[0]))
            name_b = getattr(b[0], "__name__", repr(b[0]))
            if a[0] is not b[0]:
                reasons.append(f"op {i} is {name_a}, was {name_b}")
            elif a[1] != b[1]:
                reasons.append(f"op {i} ({name_a}) static arguments {dict(a[1])} were {dict(b[1])}")
            else:
                constants = [(x[1], y[1]) for x, y in zip(a[2], b[2]) if x != y and x[0] == 2 and y[0] == 2]
                if constants:
                    reasons.append(
                        f"op {i} ({name_a}) has the Python constant {constants[0][0]!r}, was {constants[0][1]!r} "
                        "(Python numbers are compiled into the program: pass a rustorch tensor for a value "
                        "that changes every step)"
                    )
                else:
                    reasons.append(f"op {i} ({name_a}) inputs are wired differently")
            break
    if len(new_leaves) != len(old_leaves):
        reasons.append(f"{len(new_leaves)} leaf arrays, were {len(old_leaves)}")
    for i, (a, b) in enumerate(zip(new_leaves, old_leaves)):
        if a != b:
            reasons.append(f"leaf {i} is {a}, was {b}")
            break
    if new_rest[-1] != old_rest[-1]:
        reasons.append(f"the channels-last layout pass is {'on' if new_rest[-1] else 'off'} ({_channels_last.ENV_SWITCH})")
    elif new_rest != old_rest:
        reasons.append("a different set of outputs or gradient targets was requested")
    return "; ".join(reasons) or "no earlier program to compare with"


def _explain(key) -> None:
    number = _stats.compiles + 1  # the trace that follows is the one counted
    if not _recent_keys:
        logger.warning("rustorch compile #%d: first program", number)
        return

    def distance(old):
        differing_ops = sum(a != b for a, b in zip(old[0], key[0]))
        differing_leaves = sum(a != b for a, b in zip(old[1], key[1]))
        return (abs(len(old[0]) - len(key[0])), differing_ops + differing_leaves, abs(len(old[1]) - len(key[1])))

    closest = min(_recent_keys, key=distance)
    logger.warning("rustorch compile #%d: cache miss because %s", number, _describe_difference(key, closest))


# ---------------------------------------------------------------------------- evaluation

def _interpret(structure, leaf_values, channels_last=False):
    """Run the recorded ops on concrete or traced leaf values; returns per-node outputs. With
    ``channels_last`` (CPU programs), 4-D activations may be held as
    :class:`_channels_last.ChannelsLast` between ops that have a channels-last form; read
    outputs through ``_channels_last.as_nchw``."""
    results = []
    for op, static, codes, multi in structure:
        args = []
        for code in codes:
            kind = code[0]
            if kind == 0:  # leaf
                args.append(leaf_values[code[1]])
            elif kind == 1:  # node output
                args.append(results[code[1]][code[2]])
            else:  # constant
                args.append(code[1])
        if channels_last:
            out = _channels_last.run(op, args, dict(static))
        else:
            out = op(*args, **dict(static))
        results.append(tuple(out) if multi else (out,))
    return results


def _build_program(structure, outputs, diff_positions, root, with_cotangent, channels_last, wrap=None):
    """One pure function of the leaves, jitted; traced exactly once per cache key. ``wrap``
    (from a :data:`spmd_hook` plan) transforms the function before ``jax.jit``."""

    def read(results, n, i):
        return _channels_last.as_nchw(results[n][i])

    def forward_only(leaves):
        count_compile()
        results = _interpret(structure, leaves, channels_last)
        return tuple(read(results, n, i) for n, i in outputs)

    def forward_backward(leaves, cotangent):
        count_compile()

        def f(diff_leaves):
            merged = list(leaves)
            for position, value in zip(diff_positions, diff_leaves):
                merged[position] = value
            results = _interpret(structure, merged, channels_last)
            return read(results, *root), tuple(read(results, n, i) for n, i in outputs)

        diff_leaves = tuple(leaves[p] for p in diff_positions)
        root_value, vjp_fn, outs = jax.vjp(f, diff_leaves, has_aux=True)
        if cotangent is None:
            cotangent = jnp.ones_like(root_value)
        (grads,) = vjp_fn(cotangent)
        return outs, grads

    wrap = wrap or (lambda fn: fn)
    if root is None:
        return jax.jit(wrap(forward_only))
    if with_cotangent:
        return jax.jit(wrap(forward_backward))
    return jax.jit(wrap(lambda leaves: forward_backward(leaves, None)))


# The one hook of the engine for multi-process execution. ``rustorch.distributed`` sets it while
# a process group is active: ``spmd_hook(structure, leaves, leaf_vars, diff_positions)`` returns
# None (the program runs on this process alone) or a plan with ``key`` (added to the cache key),
# ``wrap(fn)`` (makes the per-process function an SPMD program over the process mesh, e.g.
# averaging the gradients DistributedDataParallel owns) and ``runner(program)`` (the callable
# that moves leaves to global arrays and results back to local ones around ``program``).
spmd_hook = None


class BackwardTwiceError(RuntimeError):
    """``backward()`` reached a graph already freed by an earlier ``backward()`` (PyTorch's
    "Trying to backward through the graph a second time")."""


def evaluate(targets, grad_root=None, cotangent=None, retain_graph=False):
    """Compute ``targets`` (pending Variables), every pending effect, and, when ``grad_root``
    is given, the gradient of ``grad_root`` with respect to every leaf Variable that requires
    one. Returns a list of ``(leaf Variable, gradient array)`` pairs (empty when forward-only).
    """
    _stats.evaluations += 1
    target_ids = {id(v) for v in targets}
    roots = [v for v in targets if v._node is not None and v._value is None]
    if grad_root is not None and grad_root._node is not None and all(v is not grad_root for v in roots):
        roots.append(grad_root)
    live_effects = []
    for ref in _pending_effects:
        var = ref()
        if var is not None and var._value is None and var._node is not None:
            live_effects.append(var)
    _pending_effects.clear()
    roots.extend(live_effects)
    if not roots:
        return []

    need_grad = grad_root is not None
    order: list[Node] = []
    index_of: dict[int, int] = {}
    leaves: list = []
    leaf_index: dict[tuple, int] = {}
    leaf_vars: list = []

    def leaf_code(array, var):
        # The same array can back a Variable that wants a gradient and one that must not get
        # it (x and x.detach() share x's array): they are separate leaves of the program.
        key = (id(array), None if var is None else id(var))
        position = leaf_index.get(key)
        if position is None:
            position = len(leaves)
            leaf_index[key] = position
            leaves.append(array)
            leaf_vars.append(var)
        return (0, position)

    # Iterative post-order DFS; a node whose values are already cached and that no gradient
    # has to pass through is a constant for this program.
    codes_of: dict[int, tuple] = {}

    def cached_constant(node, index):
        if node.values is None or node.values[index] is None:
            return False
        return not (need_grad and node.requires_grad)

    stack = [(v._node, False) for v in roots]
    while stack:
        node, expanded = stack.pop()
        nid = id(node)
        if nid in index_of:
            continue
        if need_grad and node.freed and node.requires_grad:
            raise BackwardTwiceError(
                "Trying to backward through the graph a second time (or to use values of a graph "
                "that was freed by backward()). Specify retain_graph=True on the first backward() "
                "call if you need to backward through the graph again."
            )
        if not expanded:
            stack.append((node, True))
            for value in node.inputs:
                if isinstance(value, tuple) and id(value[0]) not in index_of:
                    parent, out_index = value
                    if not cached_constant(parent, out_index):
                        stack.append((parent, False))
            continue
        codes = []
        for value in node.inputs:
            if isinstance(value, Leaf):
                codes.append(leaf_code(value.array, value.var if need_grad else None))
            elif isinstance(value, tuple):
                parent, out_index = value
                pid = index_of.get(id(parent))
                if pid is not None and not cached_constant(parent, out_index):
                    codes.append((1, pid, out_index))
                else:
                    codes.append(leaf_code(parent.values[out_index], None))
            else:
                codes.append((2, value))
        index_of[nid] = len(order)
        order.append(node)
        codes_of[nid] = tuple(codes)

    # Outputs: every output whose Variable is still alive and has no value yet.
    outputs = []
    output_vars = []
    for n, node in enumerate(order):
        for i, ref in enumerate(node.outputs):
            var = ref() if ref is not None else None
            if var is not None and (var._value is None or id(var) in target_ids):
                outputs.append((n, i))
                output_vars.append(var)

    structure = tuple(
        (node.op, node.static, codes_of[id(node)], node.multi) for node in order
    )
    leaf_avals = tuple(
        (tuple(a.shape), a.dtype, bool(getattr(a, "weak_type", False))) for a in leaves
    )
    root = None
    diff_positions: tuple = ()
    if need_grad:
        if grad_root._node is None:
            raise RuntimeError("backward() on a Variable with no recorded graph")
        root = (index_of[id(grad_root._node)], grad_root._index)
        diff_positions = tuple(
            p for p, var in enumerate(leaf_vars)
            if var is not None and jnp.issubdtype(leaves[p].dtype, jnp.inexact)
        )
    channels_last = _channels_last.enabled()
    key = (structure, leaf_avals, tuple(outputs), root, diff_positions, cotangent is not None, channels_last)
    plan = spmd_hook(structure, leaves, leaf_vars, diff_positions) if spmd_hook is not None else None
    if plan is not None:
        key = key[:-1] + (plan.key, key[-1])  # the layout flag stays last
    program = _programs.get(key)
    if program is None:
        program = _build_program(
            structure, tuple(outputs), diff_positions, root, cotangent is not None, channels_last,
            wrap=None if plan is None else plan.wrap,
        )
        if plan is not None:
            program = plan.runner(program)
        _programs[key] = program
        if _stats.explain:
            _explain(key)
        _recent_keys.append(key)
        del _recent_keys[:-32]

    if root is None:
        outs = program(tuple(leaves))
        grads_arrays = ()
    elif cotangent is not None:
        outs, grads_arrays = program(tuple(leaves), cotangent)
    else:
        outs, grads_arrays = program(tuple(leaves))

    # Write values back: cache them on their nodes, concretise the Variables.
    for (n, i), var, value in zip(outputs, output_vars, outs):
        node = order[n]
        if node.values is None:
            node.values = [None] * len(node.avals)
        node.values[i] = value
        var._value = value
        if not var.requires_grad:
            var._node = None  # buffers and no-grad results never need their graph again
    if need_grad and not retain_graph:
        for node in order:
            node.freed = True

    grads: dict = {}  # id(Variable) -> (Variable, gradient)
    for position, grad in zip(diff_positions, grads_arrays):
        var = leaf_vars[position]
        previous = grads.get(id(var))
        grads[id(var)] = (var, grad if previous is None else previous[1] + grad)
    return list(grads.values())


def materialize(*variables) -> None:
    """Compute every pending Variable among ``variables`` in one program."""
    pending = [v for v in variables if v._value is None]
    if pending:
        evaluate(pending)
