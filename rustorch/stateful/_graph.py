"""Record, then replay: the engine under the PyTorch-style facade.

Operations on :class:`~rustorch.stateful.Variable` do not compute anything. Each one records a
:class:`Node` (a pure function from ``rustorch.functional`` or ``jax.numpy``, its static keyword
arguments, and its inputs), and shape inference gives the output's shape and dtype at once.
Values are produced only when something needs them (``backward()``, ``item()``, ``numpy()``,
printing, ``if``). :func:`evaluate` then runs five steps, each a small function:

``plan`` (walk the graph from what is asked for) -> ``key`` (a typed :class:`ProgramKey` of the
graph's structure) -> ``compile`` (``jax.jit``, with ``jax.vjp`` for a backward pass; cached in
an LRU of :data:`PROGRAM_CACHE_SIZE` programs) -> ``run`` -> ``write back`` (cache values on
their nodes, hand them to the Variables, free what backward consumed, cut finished graphs).

Design rules, each against a trap that JAX libraries before us fell into:

* Leaf arrays (batches, parameters, buffers, PRNG keys and counters) and Python numbers used as
  operands are *arguments* of the program, never constants baked into it: a parameter update,
  a learning-rate-like float or a moving slice start never forces a recompile. Only values
  that decide a shape are static.
* A node stores its inputs as they were when it was recorded (a snapshot), so an optimizer
  step between a forward pass and its ``item()`` cannot change the recorded result.
* Graph ownership: ``backward()`` differentiates the graph of its root and frees exactly the
  nodes it differentiated through. Forward-only work the program had to do (a ``detach()``ed
  input, the pending BatchNorm update of another graph) is computed and cached, never freed.
* Effects belong to the graph that recorded them: a node's state outputs (BatchNorm running
  statistics, :func:`register_effect`) are computed whenever that node is in a program, and
  otherwise when their Variable is read. Nothing is drained from a global list, so two graphs
  (or two threads) never pull each other into a program.
* In-place operations are functional updates of the Variable; a value overwritten after a
  node saved it for backward raises PyTorch's "modified by an inplace operation" error.
* Bounded growth: a node whose values are all known and that can no longer be differentiated
  drops its inputs; a pending graph older than :data:`MAX_PENDING_AGE` evaluations (or deeper
  than :data:`MAX_PENDING_DEPTH` ops) is evaluated when it is extended.
* Compilations are counted and explained (:mod:`rustorch.stateful._recompiles`).
"""
from __future__ import annotations

import collections
import functools
import itertools
import sys
import threading
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _config
from . import _channels_last
from ._recompiles import (  # noqa: F401  (re-exported: the public diagnostics)
    RecompileError,
    RecompileWarning,
    compile_count,
    count_compile,
    evaluation_count,
    explain_recompiles,
    forbid_recompiles,
)
from . import _recompiles

PROGRAM_CACHE_SIZE = _config.program_cache_size()
"""Compiled programs kept (least recently used dropped first); ``RUSTORCH_PROGRAM_CACHE_SIZE``."""

SHAPE_CACHE_SIZE = 8192
"""Shape-inference results kept before the cache is emptied."""

MAX_PENDING_AGE = 16
"""Evaluations a pending value may outlive before extending it evaluates it."""

MAX_PENDING_DEPTH = 10000
"""Pending ops in a chain before extending it evaluates it."""

MAX_FUSED_UPDATE_DEPTH = 8
"""Pending ops behind a leaf's in-place update (an optimizer step, ``p.add_`` under no_grad)
beyond which the update is computed before the leaf is used, rather than in the program that
uses it: a loop of updates with no program in between stays a chain of short programs."""


class Aval(NamedTuple):
    """The abstract value of an array: its shape and dtype (weakly typed for Python numbers)."""

    shape: tuple
    dtype: np.dtype
    weak_type: bool = False


class Leaf:
    """A recorded input that is a concrete value: an array, or a Python number (weakly typed).

    ``var`` is set only when the gradient must flow back to that Variable; ``source`` is the
    Variable the value was read from and ``version`` its in-place version at that moment.

    A *bound* leaf (``pending`` is a ``(Node, output)`` pair, ``array`` None) is a leaf Variable
    whose value is still to be computed by a recorded no-grad node: a parameter right after
    ``optimizer.step()`` (or ``p.add_(...)`` under ``no_grad``). A program that differentiates
    through it computes the producer first and differentiates with respect to its output, so
    the update and the next forward and backward pass run as one program.
    """

    __slots__ = ("array", "var", "aval", "source", "version", "pending")

    def __init__(self, array, var=None, aval=None, source=None, version=0, pending=None):
        self.array = array
        self.var = var
        self.aval = aval if aval is not None else Aval(tuple(array.shape), array.dtype)
        self.source = source
        self.version = version
        self.pending = pending

    def resolve(self) -> bool:
        """A bound leaf whose producer has run becomes an ordinary leaf; returns whether the
        value is known now."""
        pending = self.pending
        if pending is None:
            return True
        node, index = pending
        if node.values is None or node.values[index] is None:
            return False
        self.array = node.values[index]
        self.pending = None
        return True


_WEAK_FLOAT = np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
_WEAK_INT = np.dtype(jax.dtypes.canonicalize_dtype(np.int64))
_INT32 = np.iinfo(np.int32)


def scalar_leaf(value):
    """A Python float or int as a weakly typed program input (float32 tensor * 0.5 stays
    float32, as in PyTorch); ints outside int32 stay constants."""
    if isinstance(value, float):
        return Leaf(value, aval=Aval((), _WEAK_FLOAT, True))
    if _WEAK_INT == np.int32 and not _INT32.min <= value <= _INT32.max:
        return value
    return Leaf(value, aval=Aval((), _WEAK_INT, True))


_serials = itertools.count()


def mark_overwritten(node, index) -> None:
    """Output ``index`` of ``node`` is being overwritten in place: nodes recorded until now
    read the old value (the writer, recorded next, is not affected)."""
    if node.dirty is None:
        node.dirty = {}
    node.dirty.setdefault(index, next(_serials))


class Node:
    """One recorded operation: ``op(*inputs, **static)``.

    ``inputs`` holds, per positional argument, a :class:`Leaf`, an ``(Node, output_index)``
    pair or a constant (None, a bool). ``values`` caches outputs once computed; ``outputs``
    holds weak references to the Variables that carry each output. ``state`` lists outputs
    that are module state (never differentiated, always computed with the node); ``checks``
    holds ``(check node, exception type, message)`` error flags evaluated with the node;
    ``dirty`` maps outputs overwritten in place to when (nodes recorded before read the old
    value); ``serial`` orders nodes by recording; ``born``/``depth`` the age and length of the
    pending chain it ends; ``followers`` holds weak references to pending aliases of its outputs
    (``detach()``, ``.data``), computed whenever this node is; ``donate`` lists the positions of
    inputs whose arrays the node replaces (an optimizer step's old parameters and state), in
    the order of the outputs that replace them: a program may reuse their memory for those
    outputs when nothing else holds them.
    """

    __slots__ = (
        "op", "static", "inputs", "avals", "multi", "requires_grad", "values", "outputs",
        "freed", "state", "checks", "dirty", "born", "depth", "serial", "followers", "donate",
        "__weakref__",
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
        self.state = ()
        self.checks = None
        self.dirty = None
        self.followers = None
        self.donate = ()
        self.serial = next(_serials)
        born = _recompiles.stats.evaluations
        depth = 0
        for value in inputs:
            if type(value) is tuple:
                parent, index = value
                if parent.values is None or parent.values[index] is None:
                    if parent.born < born:
                        born = parent.born
                    if parent.depth > depth:
                        depth = parent.depth
        self.born = born
        self.depth = depth + 1

    def overdue(self) -> bool:
        """Whether this node ends a pending chain that must be evaluated now (bounded growth)."""
        return (self.depth > MAX_PENDING_DEPTH
                or _recompiles.stats.evaluations - self.born > MAX_PENDING_AGE)


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
            specs.append(jax.ShapeDtypeStruct(signature.shape, signature.dtype, weak_type=signature.weak_type))
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
    if len(_shape_cache) >= SHAPE_CACHE_SIZE:
        _shape_cache.clear()
    _shape_cache[key] = result
    return result


# ------------------------------------------------------------- effects, checks, saved values

def register_effect(var) -> None:
    """Mark ``var`` (a pending output, e.g. an updated BatchNorm buffer) as state of the node
    that records it: never differentiated, and computed whenever that node runs, even when
    no Variable holds it any more (it is also computed when read)."""
    node = var._node
    var.requires_grad = False
    if node is not None and var._index not in node.state:
        node.state = node.state + (var._index,)


def attach_check(var, check_var, exception: type, message: str) -> None:
    """Evaluate ``check_var`` (a pending bool scalar, True when the input is invalid) whenever
    ``var``'s node runs; a True flag raises ``exception(message)`` at the next evaluation or
    value read of this thread."""
    node = var._node
    node.checks = (node.checks or ()) + ((check_var._node, check_var._index, exception, message),)


_SAVES: dict = {}


def register_saved(op, *, inputs, outputs: bool) -> None:
    """Declare which values ``op``'s backward reads, as PyTorch's autograd saves them (default:
    all its inputs): ``inputs`` is True, False or the positions of the saved inputs;
    ``outputs`` whether it reads its outputs. Overwriting a saved value in place before
    ``backward()`` raises."""
    _SAVES[op] = (inputs, outputs)


class _ThreadState(threading.local):
    def __init__(self):
        self.pending_checks = []
        self.pending_leaves = []


_thread = _ThreadState()


def pending_leaves() -> list:
    """This thread's leaf Variables with a pending in-place update (weak references)."""
    return _thread.pending_leaves


def raise_pending_errors() -> None:
    """Raise the first failed check of an earlier program run in this thread."""
    checks = _thread.pending_checks
    if not checks:
        return
    _thread.pending_checks = []
    for flag, exception, message in checks:
        if bool(np.asarray(flag)):
            raise exception(message)


def _version_of(var) -> int:
    box = var._version
    return 0 if box is None else box[0]


def _modified_error(node, what) -> RuntimeError:
    name = getattr(node.op, "__name__", repr(node.op))
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {what} needed by {name} was changed after {name} recorded it. Hint: make a "
        "copy (x = x.clone() or an out-of-place op such as x = x + y) before modifying it."
    )


def _check_versions(node) -> None:
    saves_inputs, saves_outputs = _SAVES.get(node.op, (True, False))
    if saves_outputs and node.dirty:
        raise _modified_error(node, f"its output of shape {node.avals[min(node.dirty)].shape}")
    serial = node.serial
    if not saves_inputs:
        return
    for position, value in enumerate(node.inputs):
        if saves_inputs is not True and position not in saves_inputs:
            continue
        if isinstance(value, Leaf):
            if value.source is not None and _version_of(value.source) != value.version:
                raise _modified_error(
                    node, f"a tensor of shape {value.aval.shape} (at version "
                          f"{_version_of(value.source)}, expected version {value.version})")
        elif type(value) is tuple:
            parent, index = value
            if parent.dirty and parent.dirty.get(index, -1) > serial:
                raise _modified_error(node, f"a tensor of shape {parent.avals[index].shape}")


# ------------------------------------------------------------------------- compile cache

class ProgramCache:
    """Compiled programs by :class:`ProgramKey`, least recently used dropped beyond ``size``."""

    def __init__(self, size: int):
        self.size = size
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            program = self._entries.get(key)
            if program is not None:
                self._entries.move_to_end(key)
            return program

    def put(self, key, program) -> None:
        with self._lock:
            self._entries[key] = program
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_programs = ProgramCache(PROGRAM_CACHE_SIZE)
_stats = _recompiles.stats  # the engine counters (compiles, evaluations, explain switch)


def clear_cache() -> None:
    """Drop every cached program (compile_count keeps counting)."""
    _programs.clear()
    _shape_cache.clear()
    _recompiles.forget()


def program_cache_size() -> int:
    """How many compiled programs the cache holds now (at most :data:`PROGRAM_CACHE_SIZE`)."""
    return len(_programs)


# ------------------------------------------------------------------------ the program key

LEAF, NODE, CONST, BOUND = "leaf", "node", "const", "bound"


class Arg(NamedTuple):
    """One argument of a recorded op inside a program."""

    kind: str        # LEAF (a program input), NODE (an earlier op's output), CONST, or BOUND
                     # (an earlier op's output that backward treats as the leaf ``value``)
    index: int       # the leaf's position, or the producing op's position
    output: int      # NODE, BOUND: which output of the producing op
    value: Any       # CONST: the value; BOUND: the position of the leaf that takes the gradient
    stop: bool       # NODE: the edge carries no gradient (lax.stop_gradient in a backward)


class OpSpec(NamedTuple):
    op: Callable
    static: tuple
    args: tuple      # of Arg
    multi: bool


class LeafSpec(NamedTuple):
    shape: tuple
    dtype: np.dtype
    weak_type: bool


class ProgramKey(NamedTuple):
    """Everything a compiled program depends on; equal keys replay one program."""

    ops: tuple             # of OpSpec, in evaluation order
    leaves: tuple          # of LeafSpec
    outputs: tuple         # of (op position, output index)
    grad_root: Any         # (op position, output index) differentiated, or None
    diff_leaves: tuple     # leaf positions that receive gradients
    with_cotangent: bool   # the backward takes the output gradient as an argument
    channels_last: bool    # the CPU layout pass (see _channels_last)
    spmd: Any = None       # the key of a multi-process plan from ``spmd_hook`` (None: this process alone)
    donated: tuple = ()    # leaf positions passed as donated buffers (see Node.donate)


class BackwardTwiceError(RuntimeError):
    """``backward()`` reached a graph already freed by an earlier ``backward()`` (PyTorch's
    "Trying to backward through the graph a second time")."""


_inexact_dtypes: dict = {}


def _inexact(dtype) -> bool:
    """Whether gradients flow through values of ``dtype`` (cached: jnp.issubdtype is slow)."""
    known = _inexact_dtypes.get(dtype)
    if known is None:
        known = _inexact_dtypes[dtype] = bool(jnp.issubdtype(dtype, jnp.inexact))
    return known


def _carries_grad(node, index) -> bool:
    return node.requires_grad and index not in node.state and _inexact(node.avals[index].dtype)


def _cached(node, index) -> bool:
    return node.values is not None and node.values[index] is not None


# --------------------------------------------------------------------------------- plan

class Plan:
    """What one program computes: ops in order, their leaves, outputs and gradient targets."""

    def __init__(self, need_grad: bool, diff: dict):
        self.need_grad = need_grad
        self.diff = diff              # id(node) -> node, for the nodes backward goes through
        self.order: list = []
        self.position: dict = {}
        self.ops: list = []
        self.leaves: list = []
        self.leaf_specs: list = []
        self.leaf_vars: list = []
        self._leaf_index: dict = {}
        self.outputs: list = []
        self.checks: list = []        # (output slot, exception, message)
        self.donatable: list = []     # leaf positions read only by a node that replaces them
        self.root = None

    def leaf(self, array, aval, var) -> Arg:
        # The same array can back a Variable that wants a gradient and one that must not get
        # it (x and x.detach() share x's array): they are separate leaves of the program.
        # Python numbers are never shared: equal numbers are often one object (small ints),
        # and sharing them would make the program depend on which values happen to coincide.
        key = (id(array), None if var is None else id(var))
        position = None if isinstance(array, (int, float)) else self._leaf_index.get(key)
        if position is None:
            position = len(self.leaves)
            self._leaf_index[key] = position
            self.leaves.append(array)
            self.leaf_specs.append(LeafSpec(aval.shape, aval.dtype, aval.weak_type))
            self.leaf_vars.append(var)
        return Arg(LEAF, position, 0, None, False)

    def bound(self, producer, index, aval, var) -> Arg:
        """Output ``index`` of ``producer`` (planned already) used as the leaf ``var``: the
        program computes it and backward differentiates with respect to it. The program
        input at that leaf's position is None (see :func:`compile_program`)."""
        key = ("bound", id(producer), index, id(var))
        position = self._leaf_index.get(key)
        if position is None:
            position = len(self.leaves)
            self._leaf_index[key] = position
            self.leaves.append(None)
            self.leaf_specs.append(LeafSpec(aval.shape, aval.dtype, aval.weak_type))
            self.leaf_vars.append(var)
        return Arg(BOUND, self.position[id(producer)], index, position, False)


def _differentiated(root) -> dict:
    """The nodes ``backward()`` from ``root`` goes through (edges that carry gradient);
    raises if one was freed or had a saved value overwritten in place."""
    diff = {id(root): root}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.freed:
            raise BackwardTwiceError(
                "Trying to backward through the graph a second time (or to use values of a graph "
                "that was freed by backward()). Specify retain_graph=True on the first backward() "
                "call if you need to backward through the graph again."
            )
        _check_versions(node)
        for value in node.inputs:
            if type(value) is tuple:
                parent, index = value
                if id(parent) not in diff and _carries_grad(parent, index):
                    diff[id(parent)] = parent
                    stack.append(parent)
    return diff


def _expand(p: Plan, stack: list, diff: dict, need_grad: bool, needs_node) -> None:
    """Depth-first: append every op ``stack``'s nodes need to ``p``, inputs before users."""
    while stack:
        node, expanded = stack.pop()
        nid = id(node)
        if nid in p.position:
            continue
        if not expanded:
            stack.append((node, True))
            for value in node.inputs:
                if type(value) is tuple:
                    if id(value[0]) not in p.position and needs_node(*value):
                        stack.append((value[0], False))
                elif isinstance(value, Leaf) and not value.resolve() and id(value.pending[0]) not in p.position:
                    stack.append((value.pending[0], False))
            if node.checks:
                stack.extend((check[0], False) for check in node.checks)
            continue
        is_diff = nid in diff
        args = []
        for position, value in enumerate(node.inputs):
            if isinstance(value, Leaf):
                if value.pending is None:
                    args.append(p.leaf(value.array, value.aval, value.var if is_diff else None))
                else:  # a bound leaf: its producer runs in this program
                    producer, index = value.pending
                    if is_diff and value.var is not None:
                        args.append(p.bound(producer, index, value.aval, value.var))
                    else:
                        args.append(Arg(NODE, p.position[id(producer)], index, None, need_grad))
            elif type(value) is tuple:
                parent, index = value
                if needs_node(parent, index):
                    carries = is_diff and id(parent) in diff and _carries_grad(parent, index)
                    args.append(Arg(NODE, p.position[id(parent)], index, None, need_grad and not carries))
                else:
                    args.append(p.leaf(parent.values[index], parent.avals[index], None))
            else:
                args.append(Arg(CONST, 0, 0, value, False))
        if node.donate and not is_diff:
            # In the order of the outputs that replace them: JAX gives each output the first
            # unused donated buffer of its shape and dtype.
            p.donatable.extend(args[i].index for i in node.donate if args[i].kind == LEAF)
        p.position[nid] = len(p.order)
        p.order.append(node)
        p.ops.append(OpSpec(node.op, node.static, tuple(args), node.multi))


def plan(targets, grad_root=None) -> Plan | None:
    """Walk the graph from ``targets`` (and ``grad_root``): every op to run, in order."""
    need_grad = grad_root is not None
    diff = _differentiated(grad_root._node) if need_grad else {}
    p = Plan(need_grad, diff)
    roots = [v._node for v in targets if v._value is None and v._node is not None]
    if need_grad:
        roots.append(grad_root._node)
    if not roots:
        return None

    def needs_node(parent, index):
        return id(parent) in diff or not _cached(parent, index)

    stack = [(node, False) for node in roots]
    while stack:
        _expand(p, stack, diff, need_grad, needs_node)
        # Pending aliases of a computed value (``h = h.detach()`` between steps) are computed
        # with it: otherwise the next step would recompute the dropped original, and a chain of
        # windows would grow into ever longer programs.
        stack = [(var._node, False) for node in p.order if node.followers
                 for var in (ref() for ref in node.followers)
                 if var is not None and var._value is None and var._node is not None
                 and id(var._node) not in p.position]

    # Outputs: what was asked for, every value a live Variable still lacks, and state.
    wanted = {(id(v._node), v._index) for v in targets if v._value is None and v._node is not None}
    for n, node in enumerate(p.order):
        for i, ref in enumerate(node.outputs):
            if (id(node), i) in wanted:
                p.outputs.append((n, i))
            elif not _cached(node, i):
                var = ref() if ref is not None else None
                if (var is not None and var._value is None) or i in node.state:
                    p.outputs.append((n, i))
        if node.checks:
            for check_node, index, exception, message in node.checks:
                p.checks.append((len(p.outputs), exception, message))
                p.outputs.append((p.position[id(check_node)], index))
    if need_grad:
        p.root = (p.position[id(grad_root._node)], grad_root._index)
    return p


def key_of(p: Plan, with_cotangent: bool) -> ProgramKey:
    diff_leaves = ()
    if p.need_grad:
        diff_leaves = tuple(
            i for i, var in enumerate(p.leaf_vars)
            if var is not None and _inexact(p.leaf_specs[i].dtype)
        )
    donated = tuple(i for i in dict.fromkeys(p.donatable) if i not in diff_leaves) if DONATE else ()
    return ProgramKey(tuple(p.ops), tuple(p.leaf_specs), tuple(p.outputs), p.root, diff_leaves,
                      with_cotangent, _config.use_channels_last_pass(), donated=donated)


# ------------------------------------------------------------------------------ compile

def _stop(value):
    if isinstance(value, _channels_last.ChannelsLast):
        return _channels_last.ChannelsLast(lax.stop_gradient(value.array))
    return lax.stop_gradient(value)


def _interpret(ops, leaf_values, channels_last=False):
    """Run the recorded ops on concrete or traced leaf values; returns per-op outputs. With
    ``channels_last`` (CPU programs), 4-D activations may be held as
    :class:`_channels_last.ChannelsLast` between ops that have a channels-last form; read
    outputs through ``_channels_last.as_nchw``."""
    results = []
    for spec in ops:
        args = []
        for arg in spec.args:
            if arg.kind == LEAF:
                args.append(leaf_values[arg.index])
            elif arg.kind == NODE:
                value = results[arg.index][arg.output]
                args.append(_stop(value) if arg.stop else value)
            elif arg.kind == BOUND:
                # The computed value, plus the differentiated leaf (zeros) that takes its gradient.
                value = _channels_last.as_nchw(results[arg.index][arg.output])
                args.append(lax.stop_gradient(value) + leaf_values[arg.value])
            else:
                args.append(arg.value)
        static = dict(spec.static)
        out = _channels_last.run(spec.op, args, static) if channels_last else spec.op(*args, **static)
        results.append(tuple(out) if spec.multi else (out,))
    return results


def compile_program(key: ProgramKey, wrap=None):
    """One pure function of the leaves, jitted; traced exactly once per cache key. ``wrap``
    (from a :data:`spmd_hook` plan) transforms the function before ``jax.jit``."""

    def read(results, n, i):
        return _channels_last.as_nchw(results[n][i])

    def forward_only(leaves):
        count_compile()
        results = _interpret(key.ops, leaves, key.channels_last)
        return tuple(read(results, n, i) for n, i in key.outputs)

    def forward_backward(leaves, cotangent):
        count_compile()

        def f(diff_values):
            merged = list(leaves)
            for position, value in zip(key.diff_leaves, diff_values):
                merged[position] = value
            results = _interpret(key.ops, merged, key.channels_last)
            return read(results, *key.grad_root), tuple(read(results, n, i) for n, i in key.outputs)

        # Bound leaves (see Plan.bound) come in as None: their values are computed inside the
        # program, and the gradient is taken with respect to an added zero.
        diff_values = tuple(
            jnp.zeros(key.leaves[p].shape, key.leaves[p].dtype) if leaves[p] is None else leaves[p]
            for p in key.diff_leaves)
        root_value, vjp_fn, outs = jax.vjp(f, diff_values, has_aux=True)
        if cotangent is None:
            cotangent = jnp.ones_like(root_value)
        (grads,) = vjp_fn(cotangent)
        return outs, grads

    wrap = wrap or (lambda fn: fn)
    if key.grad_root is None:
        fn = forward_only
    elif key.with_cotangent:
        fn = forward_backward
    else:
        def fn(leaves):
            return forward_backward(leaves, None)
    if not key.donated:
        return jax.jit(wrap(fn))

    def with_donated(leaves, donated, *rest):
        # The donated arrays travel as a separate argument (buffers XLA may reuse for outputs).
        leaves = list(leaves)
        for position, value in zip(key.donated, donated):
            leaves[position] = value
        return fn(tuple(leaves), *rest)

    return jax.jit(wrap(with_donated), donate_argnums=(1,))


# The one hook of the engine for multi-process execution. ``rustorch.distributed`` sets it while
# a process group is active: ``spmd_hook(ops, leaves, leaf_vars, diff_leaves)`` returns None (the
# program runs on this process alone) or a plan with ``key`` (part of the program key),
# ``wrap(fn)`` (makes the per-process function an SPMD program over the process mesh, e.g.
# averaging the gradients DistributedDataParallel owns) and ``runner(program)`` (the callable
# that moves leaves to global arrays and results back to local ones around ``program``).
spmd_hook = None


def _program(key: ProgramKey, spmd=None):
    program = _programs.get(key)
    if program is None:
        _recompiles.note_compile(key)
        program = compile_program(key, wrap=None if spmd is None else spmd.wrap)
        if spmd is not None:
            program = spmd.runner(program)
        _programs.put(key, program)
    return program


DONATE = _config.donate_replaced_buffers()
"""Let programs reuse the memory of the arrays an optimizer step replaces (``RUSTORCH_DONATE=0``
turns it off)."""

# References to a donation candidate when nothing outside the engine holds it: the recorded
# Leaf, the local name in _donated_args and getrefcount's argument.
_EXCLUSIVE_REFS = 3


def _donated_args(leaves: list, positions: tuple):
    """The leaves without the donated positions, and the arrays to donate there. An array
    that something else still holds (a state dict taken before the step, a pending graph
    recorded on the old weights) is copied first: the program stays the same, and what
    the caller holds stays valid."""
    donated = []
    for position in positions:
        array = leaves[position]
        leaves[position] = None
        if not (isinstance(array, jax.Array) and sys.getrefcount(array) <= _EXCLUSIVE_REFS):
            array = jnp.array(array, copy=True)
        donated.append(array)
        del array
    return tuple(leaves), tuple(donated)


def run(program, key: ProgramKey, p: Plan, cotangent=None):
    """Run a compiled program on the leaf values ``p.leaves`` (donated where ``key`` says):
    ``(outputs, leaf gradients)``."""
    args = _donated_args(p.leaves, key.donated) if key.donated else (tuple(p.leaves),)
    if key.grad_root is None:
        return program(*args), ()
    if key.with_cotangent:
        return program(*args, cotangent)
    return program(*args)


# ---------------------------------------------------------------------------- write back

def settle(var, value) -> None:
    """Give a pending Variable its computed value; drop the graph it no longer needs."""
    var._value = value
    if var._pending_leaf:
        var._node = None
        var._pending_leaf = False
    elif not var.requires_grad:
        var._node = None  # buffers and no-grad results never need their graph again


def _write_back(p: Plan, targets, outs, retain_graph: bool) -> None:
    for (n, i), value in zip(p.outputs, outs):
        node = p.order[n]
        if node.values is None:
            node.values = [None] * len(node.avals)
        node.values[i] = value
        ref = node.outputs[i]
        var = ref() if ref is not None else None
        if var is not None and var._value is None and var._node is node and var._index == i:
            settle(var, value)
    for var in targets:
        if var._value is None and var._node is not None and _cached(var._node, var._index):
            settle(var, var._node.values[var._index])
    for slot, exception, message in p.checks:
        flag = outs[slot]
        if not isinstance(flag, jax.core.Tracer):
            _thread.pending_checks.append((flag, exception, message))
    if p.need_grad and not retain_graph:
        for node in p.diff.values():
            node.freed = True
    _settle_pending_leaves()
    _cut(p.order)


def _settle_pending_leaves() -> None:
    """Give this thread's pending leaves (parameters after an optimizer step) the values a
    program just computed, which drops their reference to the producing node."""
    refs = _thread.pending_leaves
    if not refs:
        return
    keep = []
    for ref in refs:
        var = ref()
        if var is None or not var._pending_leaf:
            continue
        if _cached(var._node, var._index):
            settle(var, var._node.values[var._index])
        else:
            keep.append(ref)
    _thread.pending_leaves = keep


def _cut(order) -> None:
    """Mark freed the nodes no gradient can pass through any more (every gradient path ends
    in a freed node), then let go of the inputs of nodes that will never run again: every
    output is known and they are freed or need no grad. ``order`` is topological, so a chain
    like ``running = running + loss`` is released link by link."""
    for node in order:
        if node.requires_grad and not node.freed:
            alive = False
            for value in node.inputs:
                if isinstance(value, Leaf):
                    alive = value.var is not None
                elif type(value) is tuple:
                    parent, index = value
                    alive = _carries_grad(parent, index) and not parent.freed
                if alive:
                    break
            if not alive:
                node.freed = True
        if (node.freed or not node.requires_grad) and node.values is not None and all(
                v is not None for v in node.values):
            node.inputs = ()
            node.checks = None


# ------------------------------------------------------------------------------ evaluate

def evaluate(targets, grad_root=None, cotangent=None, retain_graph=False):
    """Compute ``targets`` (pending Variables) and, when ``grad_root`` is given, the gradient
    of ``grad_root`` with respect to every leaf Variable that requires one, in one program.
    Returns a list of ``(leaf Variable, gradient array)`` pairs (empty when forward-only).
    """
    raise_pending_errors()
    _recompiles.stats.evaluations += 1
    if grad_root is not None and grad_root._node is None:
        raise RuntimeError("backward() on a Variable with no recorded graph")
    p = plan(targets, grad_root)
    if p is None:
        return []
    key = key_of(p, cotangent is not None)
    spmd = spmd_hook(key.ops, p.leaves, p.leaf_vars, key.diff_leaves) if spmd_hook is not None else None
    if spmd is not None:
        key = key._replace(spmd=spmd.key, donated=())
    outs, grad_arrays = run(_program(key, spmd), key, p, cotangent)
    _write_back(p, targets, outs, retain_graph)
    grads: dict = {}  # id(Variable) -> (Variable, gradient)
    for position, grad in zip(key.diff_leaves, grad_arrays):
        var = p.leaf_vars[position]
        previous = grads.get(id(var))
        grads[id(var)] = (var, grad if previous is None else previous[1] + grad)
    return list(grads.values())


def materialize(*variables) -> None:
    """Compute every pending Variable among ``variables`` in one program (with this thread's
    pending in-place updates of leaf Variables when one of them is asked for)."""
    pending = []
    for v in variables:
        if v._value is None:
            if _cached(v._node, v._index):
                settle(v, v._node.values[v._index])
            else:
                pending.append(v)
    if any(v._pending_leaf for v in pending):
        leaves = [ref() for ref in _thread.pending_leaves]
        _thread.pending_leaves = []
        known = {id(v) for v in pending}
        pending.extend(v for v in leaves if v is not None and v._value is None and id(v) not in known)
    if pending:
        evaluate(pending)
