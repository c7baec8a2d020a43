"""Compile diagnostics of the replay engine: counting, forbidding and explaining recompiles.

Every XLA program the facade traces calls :func:`count_compile`. On each cache miss the engine
calls :func:`note_compile` with the new :class:`~rustorch.stateful._graph.ProgramKey`, which

* logs, with :func:`explain_recompiles` on, which part of the key differs from the closest
  earlier key (an op, its static arguments, a leaf's shape, dtype or weak type, the outputs);
* warns once, with a :class:`RecompileWarning` naming the user's line, when the same code
  site (that line and its caller) has compiled :data:`WARN_AFTER` programs of the same ops
  and static arguments: only input shapes or dtypes changed, the sign of a batch shape that
  changes at every call.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import warnings

from .. import _config

logger = logging.getLogger("rustorch")

WARN_AFTER = 8
"""Programs of the same ops compiled from one code site before a RecompileWarning."""

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Stats:
    compiles = 0
    evaluations = 0
    explain = _config.explain_recompiles()
    forbidden = 0


stats = _Stats()
_lock = threading.Lock()
_recent_keys: list = []
_site_programs: dict = {}
_warned_sites: set = set()


class RecompileError(RuntimeError):
    """Raised when a compilation happens inside :class:`forbid_recompiles`."""


class RecompileWarning(UserWarning):
    """One line of user code keeps compiling new programs of the same ops (see
    :func:`rustorch.explain_recompiles` for the value that changes)."""


def compile_count() -> int:
    """How many XLA programs the facade has traced and compiled in this process.

    In a steady training loop this stops growing after the first step (or the first step
    of each new batch shape, and the first evaluation in eval mode).
    """
    return stats.compiles


def count_compile() -> None:
    """Called at trace time by every jitted function of the facade (programs, optimizer steps)."""
    if stats.forbidden:
        raise RecompileError(
            "rustorch: a new XLA program is being compiled inside forbid_recompiles(); "
            "run with rustorch.explain_recompiles() to see which part of the cache key changed"
        )
    with _lock:
        stats.compiles += 1


class forbid_recompiles:
    """Context manager that raises :class:`RecompileError` if anything compiles inside it.

    Wrap the steady-state part of a training loop (after the first step) to turn a silent
    slowdown (a cache key that changes every step) into an error at the line that caused it.
    """

    def __enter__(self):
        stats.forbidden += 1
        return self

    def __exit__(self, *exc):
        stats.forbidden -= 1
        return False


def evaluation_count() -> int:
    """How many graph evaluations (program runs) the facade has made in this process."""
    return stats.evaluations


def explain_recompiles(enabled: bool = True) -> None:
    """Log (logger ``'rustorch'``, level WARNING) why each compilation happened.

    Each cache miss is compared with the closest earlier key and the first differences are
    named: an op or its static arguments (a Python value that decides a shape), a leaf's
    shape, dtype or weak type, which outputs or gradients were requested. Also settable with
    the environment variable ``RUSTORCH_EXPLAIN_RECOMPILES=1``.
    """
    stats.explain = bool(enabled)


def forget() -> None:
    """Drop the remembered keys and per-line counts (with the program cache)."""
    with _lock:
        _recent_keys.clear()
        _site_programs.clear()
        _warned_sites.clear()


def _name(op) -> str:
    return getattr(op, "__name__", repr(op))


def _describe_difference(new, old) -> str:
    reasons = []
    if len(new.ops) != len(old.ops):
        reasons.append(f"the graph has {len(new.ops)} ops, the cached one {len(old.ops)}")
    for i, (a, b) in enumerate(zip(new.ops, old.ops)):
        if a == b:
            continue
        if a.op is not b.op:
            reasons.append(f"op {i} is {_name(a.op)}, was {_name(b.op)}")
        elif a.static != b.static:
            changed = {k: v for k, v in a.static if (k, v) not in b.static}
            was = {k: v for k, v in b.static if (k, v) not in a.static}
            reasons.append(
                f"op {i} ({_name(a.op)}) static arguments {changed} were {was} (values that decide "
                "a shape or an algorithm are compiled into the program)"
            )
        else:
            constants = [(x.value, y.value) for x, y in zip(a.args, b.args)
                         if x != y and x.kind == "const" and y.kind == "const"]
            if constants:
                reasons.append(f"op {i} ({_name(a.op)}) has the constant {constants[0][0]!r}, was {constants[0][1]!r}")
            else:
                reasons.append(f"op {i} ({_name(a.op)}) inputs are wired differently")
        break
    if len(new.leaves) != len(old.leaves):
        reasons.append(f"{len(new.leaves)} leaf arrays, were {len(old.leaves)}")
    for i, (a, b) in enumerate(zip(new.leaves, old.leaves)):
        if a != b:
            reasons.append(f"leaf {i} is {tuple(a)}, was {tuple(b)}")
            break
    if new.channels_last != old.channels_last:
        reasons.append(f"the channels-last layout pass is {'on' if new.channels_last else 'off'}")
    elif (new.outputs, new.grad_root, new.diff_leaves, new.with_cotangent) != (
            old.outputs, old.grad_root, old.diff_leaves, old.with_cotangent):
        reasons.append("a different set of outputs or gradient targets was requested")
    return "; ".join(reasons) or "no earlier program to compare with"


def _distance(old, new):
    differing_ops = sum(a != b for a, b in zip(old.ops, new.ops))
    differing_leaves = sum(a != b for a, b in zip(old.leaves, new.leaves))
    return (abs(len(old.ops) - len(new.ops)), differing_ops + differing_leaves,
            abs(len(old.leaves) - len(new.leaves)))


def _user_site():
    """The code site of an evaluation: ``(filename, line)`` of the innermost frame outside the
    rustorch package, and of its caller (a helper called from many places is many sites)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return ("<unknown>", 0), None
    caller = frame.f_back
    return ((frame.f_code.co_filename, frame.f_lineno),
            None if caller is None else (caller.f_code.co_filename, caller.f_lineno))


def note_compile(key) -> None:
    """Record a cache miss for ``key``: explain it if asked, warn about a recompiling line."""
    with _lock:
        recent = list(_recent_keys)
        _recent_keys.append(key)
        del _recent_keys[:-32]
    if stats.explain:
        number = stats.compiles + 1  # the trace that follows is the one counted
        if not recent:
            logger.warning("rustorch compile #%d: first program", number)
        else:
            closest = min(recent, key=lambda old: _distance(old, key))
            logger.warning("rustorch compile #%d: cache miss because %s", number,
                           _describe_difference(key, closest))
    site, caller = _user_site()
    signature = (site, caller, tuple((op.op, op.static) for op in key.ops))
    with _lock:
        count = _site_programs.get(signature, 0) + 1
        _site_programs[signature] = count
        warn = count >= WARN_AFTER and site not in _warned_sites
        if warn:
            _warned_sites.add(site)
    if warn:
        warnings.warn_explicit(
            RecompileWarning(
                f"rustorch: {count} programs of the same ops were compiled from {site[0]}:{site[1]}; "
                "an input shape or dtype changes at every call there. Run with "
                "rustorch.explain_recompiles() to see which one."
            ),
            RecompileWarning, site[0], site[1],
        )
