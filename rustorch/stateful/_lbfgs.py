"""``rustorch.optim.LBFGS``: PyTorch's L-BFGS (``torch/optim/lbfgs.py``), step for step.

L-BFGS calls its closure several times per ``step`` and decides what to do from the values it
gets back (line search, stopping tests), so it cannot be one compiled update as the other
optimizers are. It runs as PyTorch's does, one vector operation at a time, on the parameters'
flattened JAX arrays: each closure call is one replay of the recorded model (compiled once),
and the direction updates are small eager JAX operations that compile nothing of rustorch's.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import _graph
from ._optim import Optimizer
from ._variable import Variable

# torch's state keys: the counters, then what every iteration leaves (``al``, the two-loop
# recursion's buffer, appears once an iteration used the history).
_COUNTERS = ("func_evals", "n_iter")
_HISTORY = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through ``(x1, f1, g1)`` and ``(x2, f2, g2)``, clamped to
    ``bounds`` (default: the interval between ``x1`` and ``x2``); the midpoint of the bounds
    when the cubic has no real minimiser (torch/optim's ``polyinterp``)."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    # d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2);  d2 = sqrt(d1^2 - g1 g2)
    # min_pos = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = jnp.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Line search along ``d`` for a step ``t`` satisfying the strong Wolfe conditions
    (sufficient decrease ``f(x + t d) <= f + c1 t gtd`` and curvature
    ``|g(x + t d) . d| <= -c2 gtd``): bracketing, then zoom by cubic interpolation, as
    torch/optim's ``lswolfe``. Returns ``(f_new, g_new, t, function evaluations)``."""
    d_norm = jnp.max(jnp.abs(d))
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = jnp.dot(g_new, d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # interpolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = jnp.dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: refine the bracket until a point satisfies the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial point too close to the bracket's ends moves 0.1 of its length inside
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = jnp.dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not satisfied or not lower than the lowest point
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # Wolfe conditions satisfied
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high becomes the new low
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    """L-BFGS, as ``torch.optim.LBFGS`` (heavily inspired by minFunc).

    ``step(closure)`` runs up to ``max_iter`` iterations: the two-loop recursion over the last
    ``history_size`` pairs ``(s, y)`` (steps and gradient changes, kept only when
    ``y . s > 1e-10``) turns the gradient into a direction ``d`` (``H_diag = y.s / y.y``
    scales the initial inverse Hessian); the first step is ``min(1, 1/|g|_1) * lr``, later
    ones ``lr``, or a strong-Wolfe line search with ``line_search_fn='strong_wolfe'``.
    It stops on ``max(|g|) <= tolerance_grad``, ``max(|t d|) <= tolerance_change``, a loss
    change below ``tolerance_change``, or ``max_eval`` closure calls. ``state`` keeps
    PyTorch's entries (``func_evals``, ``n_iter``, ``d``, ``t``, ``old_dirs``,
    ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``, ``al``) under the
    first parameter, and ``state_dict``/``load_state_dict`` exchange it with PyTorch's.

    Args:
        params: the parameters (one group only, as PyTorch).
        lr (float, default 1): the step length.
        max_iter (int, default 20): iterations per ``step``.
        max_eval (int, optional): closure calls per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad (float, default 1e-7), tolerance_change (float, default 1e-9).
        history_size (int, default 100).
        line_search_fn (str, optional): None or ``'strong_wolfe'``.

    Raises:
        ValueError: a negative ``lr``, several parameter groups, or an unknown
            ``line_search_fn`` (PyTorch raises the last only at the first ``step``, as
            ``RuntimeError``; rustorch says so when the optimizer is built).
    """

    _records_steps = False

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: Optional[int] = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: Optional[str] = None) -> None:
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size,
                        line_search_fn=line_search_fn)
        self._functional(defaults)
        self._lbfgs_state: dict = {}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _functional(self, group, group_state=None):
        """Validates ``lr`` and ``line_search_fn`` (constructor, ``set_lr``, ``load_state_dict``);
        L-BFGS has no compiled functional update."""
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe' (only 'strong_wolfe' is "
                             f"supported), got {group['line_search_fn']!r}")
        return None

    # One group, no compiled update: the base class's per-group functional state stays empty.
    def add_param_group(self, param_group: dict) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Variable) else list(params)
        for p in params:
            if not isinstance(p, Variable):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        self.param_groups.append(group)
        self._groups_state.append(None)

    @property
    def state(self) -> dict:
        """PyTorch's view: the global state sits under the first parameter."""
        return {self._params[0]: self._lbfgs_state} if self._lbfgs_state else {}

    def _torch_state(self, params, group_state) -> list:
        """The global state under the first parameter, as torch's ``state_dict`` packs it: JAX
        arrays become rustorch tensors, numbers stay numbers, lists are copies (a later ``step``
        does not change a state dict already taken)."""
        def export(value):
            if isinstance(value, list):
                return [export(v) for v in value]
            return Variable._wrap(value) if isinstance(value, jax.Array) else value

        head = {k: export(v) for k, v in self._lbfgs_state.items()} if self._lbfgs_state else None
        return [head] + [None] * (len(params) - 1)

    # state_dict: the base class's, PyTorch's layout ({'state': {0: {...}}, 'param_groups': [...]}).

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the options and the L-BFGS history saved by :meth:`state_dict` or by
        ``torch.optim.LBFGS.state_dict()`` (tensors as rustorch tensors, numpy arrays or torch
        tensors); the next ``step`` continues the saved run.

        As torch, the saved group's options replace the current ones and every saved tensor is
        cast to the first parameter's dtype. torch checks only the number of groups and their
        sizes; rustorch also checks the options, the state's keys and shapes (flat vectors of
        the parameters' total size, scalars), all before anything changes.

        Raises:
            ValueError: a mismatch, naming the group or the state entry (``state[0]['d']``).
            TypeError: a state dict that is not PyTorch's layout, or a value of the wrong kind.
        """
        name = "LBFGS.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise TypeError(
                f"{name}: expected a dict with the keys 'state' and 'param_groups' (what "
                f"optimizer.state_dict() returns), got "
                f"{sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__}")
        groups = state_dict["param_groups"]
        if len(groups) != 1:
            raise ValueError(f"{name}: loaded state dict has a different number of parameter groups "
                             f"({len(groups)}) than this optimizer (1)")
        saved = groups[0]
        if not isinstance(saved, dict) or "params" not in saved:
            raise TypeError(f"{name}: param_groups[0] must be a dict with a 'params' list")
        if len(saved["params"]) != len(self._params):
            raise ValueError(f"{name}: loaded state dict contains a parameter group that doesn't match the "
                             f"size of optimizer's group: param_groups[0] has {len(saved['params'])} "
                             f"parameters, this optimizer's has {len(self._params)}")
        group = dict(self.param_groups[0])
        group.update((k, v) for k, v in saved.items() if k != "params")
        try:
            self._functional(group)
        except ValueError as err:
            raise ValueError(f"{name}: param_groups[0]: {err}") from None
        first = int(saved["params"][0])
        entries = {int(k): v for k, v in state_dict["state"].items()}
        stray = sorted(set(entries) - {first})
        if stray:
            raise ValueError(f"{name}: state entries {stray} are not the group's first parameter "
                             f"({first}), under which L-BFGS keeps all its state")
        state = self._checked_state(f"{name}: state[{first}]", entries.get(first) or {})
        self.param_groups[0].clear()
        self.param_groups[0].update(group)
        self._lbfgs_state = state

    def _checked_state(self, where: str, entry: Any) -> dict:
        """A saved state entry as ``step`` keeps it: JAX arrays of the first parameter's dtype
        (fresh copies), Python numbers where torch has them, new lists."""
        if not isinstance(entry, dict):
            raise TypeError(f"{where} must be a dict, got {type(entry).__name__}")
        if not entry:
            return {}
        required = set(_COUNTERS) | (set(_HISTORY) if entry.get("n_iter") else set())
        missing = sorted(required - set(entry))
        extra = sorted(set(entry) - set(_COUNTERS) - set(_HISTORY) - {"al"})
        if missing or extra:
            raise ValueError(f"{where} has keys {sorted(entry)}, but LBFGS keeps {list(_COUNTERS)}, and "
                             f"{list(_HISTORY)} (and 'al') after an iteration"
                             + (f" (missing {missing})" if missing else "")
                             + (f" (unexpected {extra})" if extra else ""))
        size = sum(p.numel() for p in self._params)
        dtype = self._params[0].dtype

        def array(key, value, shape):
            if shape == () and isinstance(value, (int, float)):
                return value  # torch keeps a Python number (t = lr, H_diag = 1)
            try:
                value = np.array(value)
            except Exception as err:  # noqa: BLE001  (anything that is not array-like)
                raise TypeError(f"{where}[{key}] is not an array: {type(value).__name__} ({err})") from None
            if value.shape != shape:
                raise ValueError(f"{where}[{key}] has shape {value.shape}, expected {shape}"
                                 + (" (a scalar)" if shape == () else " (the parameters' total size, flat)"))
            if value.dtype.kind != "f":
                raise ValueError(f"{where}[{key}] has dtype {value.dtype}, expected a floating-point array")
            return jnp.asarray(value.astype(dtype if jnp.issubdtype(dtype, jnp.floating) else value.dtype))

        def arrays(key, values, shape):
            if not isinstance(values, (list, tuple)):
                raise TypeError(f"{where}[{key!r}] must be a list, got {type(values).__name__}")
            return [None if v is None and key == "al" else array(f"{key!r}][{i}", v, shape)
                    for i, v in enumerate(values)]

        state = {}
        for key, value in entry.items():
            if key in _COUNTERS:
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise TypeError(f"{where}[{key!r}] must be an int, got {type(value).__name__}")
                state[key] = int(value)
            elif key == "prev_loss":
                state[key] = float(value)
            elif key in ("d", "prev_flat_grad"):
                state[key] = array(repr(key), value, (size,))
            elif key in ("t", "H_diag"):
                state[key] = array(repr(key), value, ())
            else:
                state[key] = arrays(key, value, (size,) if key in ("old_dirs", "old_stps") else ())
        if "d" in state and not len(state["old_dirs"]) == len(state["old_stps"]) == len(state["ro"]):
            raise ValueError(f"{where}: 'old_dirs', 'old_stps' and 'ro' have different lengths "
                             f"({len(state['old_dirs'])}, {len(state['old_stps'])}, {len(state['ro'])})")
        return state

    # ------------------------------------------------------------------ flat views
    def _gather_flat_grad(self):
        return jnp.concatenate([
            jnp.zeros(p.numel(), p.dtype) if p.grad is None else jnp.ravel(p.grad._concrete())
            for p in self._params
        ])

    def _add_grad(self, step_size, update) -> None:
        offset = 0
        for p in self._params:
            numel = p.numel()
            value = p._concrete()
            p._assign(value + (step_size * update[offset:offset + numel]).reshape(value.shape).astype(value.dtype))
            offset += numel

    def _clone_param(self) -> list:
        return [p._concrete() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, value in zip(self._params, params_data):
            p._assign(value)

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ------------------------------------------------------------------------ step
    def step(self, closure: Callable):
        """One L-BFGS optimisation step (up to ``max_iter`` iterations); ``closure`` zeroes the
        gradients, recomputes the loss, calls ``backward()`` and returns the loss. Returns the
        first loss the closure gave.

        Raises:
            TypeError: no closure (L-BFGS re-evaluates the model several times per step).
        """
        if closure is None or not callable(closure):
            raise TypeError("LBFGS.step(closure): L-BFGS needs a closure that re-evaluates the model, calls "
                            "backward() and returns the loss")
        if getattr(self, "_step_tracked", False):
            self._opt_called = True

        def evaluate():
            with _graph.enable_grad():
                return closure()

        group = self.param_groups[0]
        lr = group["lr"] if isinstance(group["lr"], (int, float)) else float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]
        if line_search_fn not in (None, "strong_wolfe"):
            raise RuntimeError("only 'strong_wolfe' is supported")

        state = self._lbfgs_state
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with _graph.no_grad():
            orig_loss = evaluate()
            loss = float(orig_loss)
            current_evals = 1
            state["func_evals"] += 1
            flat_grad = self._gather_flat_grad()
            opt_cond = jnp.max(jnp.abs(flat_grad)) <= tolerance_grad
            if opt_cond:
                return orig_loss

            d, t = state.get("d"), state.get("t")
            old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
            H_diag = state.get("H_diag")
            prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1

                # direction
                if state["n_iter"] == 1:
                    d = -flat_grad
                    old_dirs, old_stps, ro = [], [], []
                    H_diag = 1
                else:
                    y = flat_grad - prev_flat_grad
                    s = d * t
                    ys = jnp.dot(y, s)
                    if ys > 1e-10:
                        if len(old_dirs) == history_size:
                            old_dirs.pop(0)
                            old_stps.pop(0)
                            ro.pop(0)
                        old_dirs.append(y)
                        old_stps.append(s)
                        ro.append(1.0 / ys)
                        H_diag = ys / jnp.dot(y, y)
                    num_old = len(old_dirs)
                    if "al" not in state:
                        state["al"] = [None] * history_size
                    al = state["al"]
                    q = -flat_grad
                    for i in range(num_old - 1, -1, -1):
                        al[i] = jnp.dot(old_stps[i], q) * ro[i]
                        q = q + old_dirs[i] * -al[i]
                    r = q * H_diag
                    for i in range(num_old):
                        be_i = jnp.dot(old_dirs[i], r) * ro[i]
                        r = r + old_stps[i] * (al[i] - be_i)
                    d = r

                prev_flat_grad = flat_grad
                prev_loss = loss

                # step length
                if state["n_iter"] == 1:
                    t = min(1.0, 1.0 / jnp.sum(jnp.abs(flat_grad))) * lr
                else:
                    t = lr
                gtd = jnp.dot(flat_grad, d)
                if gtd > -tolerance_change:
                    break

                ls_func_evals = 0
                if line_search_fn is not None:
                    x_init = self._clone_param()

                    def obj_func(x, t, d):
                        return self._directional_evaluate(evaluate, x, t, d)

                    loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                        obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals)
                    self._add_grad(t, d)
                    opt_cond = jnp.max(jnp.abs(flat_grad)) <= tolerance_grad
                else:
                    self._add_grad(t, d)
                    if n_iter != max_iter:
                        # re-evaluate only when another iteration follows
                        loss = float(evaluate())
                        flat_grad = self._gather_flat_grad()
                        opt_cond = jnp.max(jnp.abs(flat_grad)) <= tolerance_grad
                        ls_func_evals = 1

                current_evals += ls_func_evals
                state["func_evals"] += ls_func_evals

                if n_iter == max_iter:
                    break
                if current_evals >= max_eval:
                    break
                if opt_cond:
                    break
                if jnp.max(jnp.abs(d * t)) <= tolerance_change:
                    break
                if abs(loss - prev_loss) < tolerance_change:
                    break

            state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                         prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
