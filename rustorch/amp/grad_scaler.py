"""``torch.amp.GradScaler``: dynamic loss scaling for float16 training, as PyTorch's.

``scale(loss)`` multiplies the loss by the scale, so that small float16 gradients do not flush
to zero; ``unscale_(optimizer)`` divides the optimizer's gradients by it and checks them for
inf/NaN in one reduction over all of them; ``step(optimizer)`` runs ``optimizer.step()`` only
when they were all finite (one host read of that flag per step, as PyTorch's ``.item()``);
``update()`` backs the scale off after an overflow and grows it after ``growth_interval``
steps without one (``torch._amp_update_scale_``). The scale and the growth tracker are kept on
the host: the step already reads the overflow flag there, and a float scale passed to the
program as an argument never recompiles it.
"""
from __future__ import annotations

import warnings
from enum import Enum
from typing import Any, Optional

import jax.numpy as jnp
import numpy as np

from .. import _device
from ..stateful import _graph
from ..stateful._variable import Variable, apply


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _nonfinite(*grads):
    """1.0 when any element of any gradient is inf or NaN, else 0.0 (PyTorch's found_inf)."""
    finite = jnp.stack([jnp.all(jnp.isfinite(g)) for g in grads])
    return jnp.where(jnp.all(finite), jnp.float32(0), jnp.float32(1))


def _unscale(grad, inv_scale):
    return grad * inv_scale.astype(grad.dtype)


class GradScaler:
    """``GradScaler(device='cuda', init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
    growth_interval=2000, enabled=True)``, PyTorch's loss scaler.

    Raises:
        ValueError: ``growth_factor <= 1`` or ``backoff_factor >= 1`` (PyTorch's assertions).
        RuntimeError: ``unscale_``/``step`` called twice before ``update()``, ``step`` with a
            closure, or float16 gradients passed to ``unscale_``.

    Warns (and disables itself, as PyTorch): ``device='cuda'`` without a GPU.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = str(device)
        self._enabled = bool(enabled)
        if self._device == "cuda" and self._enabled and not _device._devices("gpu"):
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                          stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise ValueError("The backoff factor must be < 1.0.")
        self._init_scale = init_scale
        self._scale: Optional[np.float32] = None
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval
        self._init_growth_tracker = 0
        self._growth_tracker: Optional[int] = None
        self._per_optimizer_states: dict = {}

    # ------------------------------------------------------------------------- scaling
    def _lazy_init_scale_growth_tracker(self) -> None:
        self._scale = np.float32(self._init_scale)
        self._growth_tracker = self._init_growth_tracker

    def _optimizer_state(self, optimizer) -> dict:
        return self._per_optimizer_states.setdefault(
            id(optimizer), {"stage": OptState.READY, "found_inf": None})

    def scale(self, outputs):
        """``outputs`` (a tensor, or a list/tuple/dict of them) times the current scale; the
        outputs themselves when the scaler is disabled."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._lazy_init_scale_growth_tracker()
        factor = jnp.asarray(self._scale)

        def apply_scale(value):
            if isinstance(value, Variable):
                # PyTorch's promotion with the float32 0-d scale: a 0-d half loss becomes float32,
                # a half tensor of higher rank stays half.
                if value.ndim == 0 and np.dtype(value.dtype).itemsize < 4:
                    value = value.float()
                return value * Variable._wrap(factor.astype(value.dtype))
            if isinstance(value, (list, tuple)):
                return type(value)(apply_scale(v) for v in value)
            if isinstance(value, dict):
                return {k: apply_scale(v) for k, v in value.items()}
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale (in place) and record whether any is
        inf/NaN, in one program over all of them; ``step`` then skips an overflowing step."""
        if not self._enabled:
            return
        state = self._optimizer_state(optimizer)
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        if self._scale is None:
            raise RuntimeError("Attempted unscale_ but _scale is None.  This may indicate your script "
                               "did not use scaler.scale(loss or outputs) earlier in the iteration.")
        inv_scale = np.float32(np.float64(1.0) / np.float64(self._scale))
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        for grad in grads:
            if np.dtype(grad.dtype) == np.float16:
                raise ValueError("Attempting to unscale FP16 gradients.")
        if grads:
            with _graph.no_grad():
                found = apply(_nonfinite, *grads)
                inv = Variable._wrap(jnp.asarray(inv_scale))
                for grad in grads:
                    grad._write(apply(_unscale, grad, inv))
        else:
            found = Variable._wrap(jnp.float32(0))
        state["found_inf"] = found
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args: Any, **kwargs: Any):
        """``optimizer.step(*args, **kwargs)`` unless the unscaled gradients hold inf/NaN (then
        the step is skipped: parameters and optimizer state stay as they were). Unscales first
        when ``unscale_`` was not called."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        state = self._optimizer_state(optimizer)
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if state["found_inf"] is None:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        result = None
        if not float(state["found_inf"].item()):
            result = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return result

    def update(self, new_scale=None) -> None:
        """Back the scale off (times ``backoff_factor``) if any optimizer step of this iteration
        overflowed, else grow it (times ``growth_factor``) after ``growth_interval`` clean steps;
        or set it to ``new_scale`` (a float or a one-element tensor)."""
        if not self._enabled:
            return
        if self._scale is None:
            raise RuntimeError("Attempted update but _scale is None.  This may indicate your script "
                               "did not use scaler.scale(loss or outputs) earlier in the iteration.")
        if new_scale is not None:
            if isinstance(new_scale, Variable):
                if new_scale.numel() != 1 or new_scale.requires_grad:
                    raise ValueError("new_scale should be a float or a 1-element torch.FloatTensor "
                                     "with requires_grad=False.")
                new_scale = new_scale.item()
            self._scale = np.float32(new_scale)
        else:
            found = [s["found_inf"] for s in self._per_optimizer_states.values() if s["found_inf"] is not None]
            if not found:
                raise AssertionError("No inf checks were recorded prior to update.")
            found_inf = any(float(f.item()) for f in found)
            if found_inf:
                self._scale = np.float32(self._scale * np.float32(self._backoff_factor))
                self._growth_tracker = 0
            else:
                successful = self._growth_tracker + 1
                if successful == self._growth_interval:
                    grown = np.float32(self._scale * np.float32(self._growth_factor))
                    if np.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
                else:
                    self._growth_tracker = successful
        self._per_optimizer_states = {}

    # ------------------------------------------------------------------------ accessors
    def get_scale(self) -> float:
        """The current scale (1.0 when disabled; ``init_scale`` before the first ``scale``)."""
        if not self._enabled:
            return 1.0
        return float(self._init_scale if self._scale is None else self._scale)

    def get_growth_factor(self) -> float:
        """The factor the scale grows by after ``growth_interval`` clean steps."""
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after an overflowing step."""
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        """How many consecutive clean steps grow the scale."""
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker

    def is_enabled(self) -> bool:
        """Whether the scaler scales (False when built with ``enabled=False`` or disabled for
        want of a GPU)."""
        return self._enabled

    def state_dict(self) -> dict:
        """``scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval`` and
        ``_growth_tracker`` (an empty dict when disabled), as PyTorch's."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            RuntimeError: an empty state dict (saved from a disabled scaler).
        """
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = np.float32(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = self._init_growth_tracker

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_per_optimizer_states"] = {}
        return state
