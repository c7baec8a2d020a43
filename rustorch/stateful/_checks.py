"""Input checks PyTorch makes on values, made by the facade where the value is known.

A recorded op does not compute anything, so a value check cannot run inside it. Each check
here runs when the op is recorded: on the host, at the user's line, when the checked input is
concrete (a batch of targets, an index tensor built from data); otherwise it records a bool
flag that the program computes with the op and that raises at the next evaluation or value
read (as an asynchronous device error would), naming the op.

``RECORD_CHECKS`` maps an op to ``check(inputs, static) -> [(flag Variable, exception type,
message), ...]``; :func:`rustorch.stateful._variable.apply` consults it for every op.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import functional as F
from ..functional import _losses, _pooling


def concrete(value):
    """The value of an input as a numpy array when it is known now, else None."""
    if hasattr(value, "_node"):  # a Variable
        if value._value is None:
            return None
        value = value._value
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    return np.asarray(value)


def _any_target_out_of_range(target, *, num_classes, ignore_index):
    return jnp.any(_losses.target_out_of_range(target, num_classes, ignore_index))


def _class_targets(op_name):
    def check(inputs, static):
        from ._variable import apply

        input, target = inputs[0], inputs[1]
        shape = tuple(getattr(input, "shape", ()))
        if not shape or target is None or tuple(getattr(target, "shape", ())) == shape:
            return []  # probabilities (or a shape error the op reports itself)
        if np.dtype(target.dtype).kind not in "iu":
            return []
        num_classes = shape[1] if len(shape) >= 2 else shape[0]
        ignore_index = static.get("ignore_index", -100)
        values = concrete(target)
        if values is not None:
            _losses.check_class_targets(op_name, values, num_classes, ignore_index)
            return []
        flag = apply(_any_target_out_of_range, target, num_classes=num_classes, ignore_index=ignore_index)
        message = (f"{op_name}: a class-index target is out of bounds: class indices must lie in "
                   f"[0, {num_classes}) or equal ignore_index={ignore_index}")
        return [(flag, IndexError, message)]

    return check


def _unpool_indices(n):
    """max_unpool{n}d's indices must lie in the output plane (PyTorch: "Found an invalid max
    index")."""
    op = f"max_unpool{n}d"

    def check(inputs, static):
        from ._variable import apply

        input, indices = inputs[0], inputs[1]
        if indices is None or np.dtype(indices.dtype).kind not in "iu":
            return []  # the op reports it
        size = _pooling.unpool_output_size(op, n, tuple(input.shape), static["kernel_size"], static["stride"],
                                           static["padding"], static["output_size"])
        values = concrete(indices)
        if values is not None:
            _pooling.check_unpool_indices(op, values, size)
            return []
        length = int(np.prod(size))
        flag = apply(_pooling.unpool_indices_invalid, indices, length=length)
        message = (f"{op}: Found an invalid max index (output volumes are of size "
                   f"{'x'.join(map(str, size))}); indices must lie in [0, {length})")
        return [(flag, RuntimeError, message)]

    return check


RECORD_CHECKS = {
    F.cross_entropy: _class_targets("cross_entropy"),
    F.nll_loss: _class_targets("nll_loss"),
    F.max_unpool1d: _unpool_indices(1),
    F.max_unpool2d: _unpool_indices(2),
    F.max_unpool3d: _unpool_indices(3),
}
