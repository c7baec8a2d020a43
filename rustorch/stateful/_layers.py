"""PyTorch's layers as :class:`Module`s that record ``rustorch.functional`` ops.

Each layer checks its input's rank and channel count at call time (shapes are known when the
op is recorded) and names itself, what it expected and what it got. Initialisation follows
PyTorch's ``reset_parameters`` with keys from the default generator (``rustorch.manual_seed``).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import functional as F
from . import _channels_last, _graph, _random
from ._module import Module, Parameter
from ._variable import Variable, _canonical_dtype, apply


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _static(value):
    """A hashable form of a configuration value (lists become tuples)."""
    if isinstance(value, list):
        return tuple(_static(v) for v in value)
    return value


def _dtype(dtype):
    return np.dtype(np.float32) if dtype is None else _canonical_dtype(dtype)


def _expect(layer, input, ranks, description):
    """Raise a ValueError naming ``layer`` unless ``input`` is a Variable of one of ``ranks``."""
    if not isinstance(input, Variable):
        raise TypeError(f"{layer!r}: expected a rustorch tensor as input, got {type(input).__name__}")
    if input.ndim not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(
            f"{layer!r}: expected {want} input ({description}), got {input.ndim}-D input of shape {tuple(input.shape)}"
        )


def _expect_size(layer, input, dim, size, description):
    if input.shape[dim] != size:
        raise ValueError(
            f"{layer!r}: expected input with {size} {description} (dimension {dim}), "
            f"got input of shape {tuple(input.shape)}"
        )


# ---------------------------------------------------------------------------- linear / conv

def _init_weight_and_bias(module, weight_shape, bias, dtype):
    """Register ``weight`` and ``bias`` (or a None bias) initialised as PyTorch's
    ``reset_parameters`` for Linear and Conv: ``kaiming_uniform_(a=sqrt(5))`` on the weight,
    which is ``U(+-1/sqrt(fan_in))``, and the bias from the same range.

    Drawn on the host from the default generator (see :meth:`Generator.uniform`); the pure,
    key-based equivalents are :func:`rustorch.functional.linear_init` and ``conv2d_init``.
    """
    dtype = _dtype(dtype)
    fan_in = int(np.prod(weight_shape[1:]))
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    generator = _random.default_generator
    module.weight = Parameter._wrap(generator.uniform(-bound, bound, weight_shape, dtype))
    if bias:
        module.bias = Parameter._wrap(generator.uniform(-bound, bound, weight_shape[:1], dtype))
    else:
        module.register_parameter("bias", None)


class Identity(Module):
    """Returns its input unchanged, as ``torch.nn.Identity``."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x W^T + b``, as ``torch.nn.Linear(in_features, out_features, bias=True)``.

    ``weight`` is ``[out_features, in_features]``; both weight and bias start from
    ``U(±1/sqrt(in_features))`` (PyTorch's kaiming-uniform with ``a=sqrt(5)``). ``device``
    and ``dtype`` place and type the parameters, as PyTorch's factory keywords.

    Raises:
        ValueError: the input's last dimension is not ``in_features``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        _init_weight_and_bias(self, (out_features, in_features), bias, dtype)
        self.to(device=device)

    def forward(self, input):
        _expect(self, input, range(1, 64), "[*, in_features]")
        _expect_size(self, input, -1, self.in_features, "features")
        return apply(F.linear, input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# ------------------------------------------------------------------------------ batch norm

# The recorded batch norm ops; ``layout="NHWC"`` is their form for the interpreter's layout pass
# (``_channels_last``), which then feeds them ``[N, H, W, C]`` activations.
def _batch_norm_train(x, weight, bias, running_mean, running_var, num_batches_tracked, *, momentum, eps,
                      layout="NCHW"):
    state = F.BatchNormState(running_mean, running_var, num_batches_tracked)
    y, new = F.batch_norm(x, weight, bias, state, training=True, momentum=momentum, eps=eps, layout=layout)
    return y, new.running_mean, new.running_var, new.num_batches_tracked


def _batch_norm_eval(x, weight, bias, running_mean, running_var, num_batches_tracked, *, eps, layout="NCHW"):
    state = F.BatchNormState(running_mean, running_var, num_batches_tracked)
    y, _ = F.batch_norm(x, weight, bias, state, training=False, eps=eps, layout=layout)
    return y


def _batch_norm_stateless(x, weight, bias, *, eps, layout="NCHW"):
    y, _ = F.batch_norm(x, weight, bias, None, training=True, eps=eps, layout=layout)
    return y


for _op in (_batch_norm_train, _batch_norm_eval, _batch_norm_stateless):
    _channels_last.register_on_activation(_op)
# Backward reads the input and the weight, not the running statistics the op replaces.
_graph.register_saved(_batch_norm_train, inputs=(0, 1), outputs=False)


class _BatchNorm(Module):
    _ranks: tuple = ()
    _layout = ""

    def _keeps_missing_entry(self, name, version):
        # torch.nn.modules.batchnorm._NormBase._load_from_state_dict: num_batches_tracked came
        # with version 2; older (or unversioned) state dicts keep the module's current count.
        return name == "num_batches_tracked" and (version is None or version < 2)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = _dtype(dtype)
        if affine:
            self.weight = Parameter._wrap(jnp.ones((num_features,), dtype))
            self.bias = Parameter._wrap(jnp.zeros((num_features,), dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            state = F.BatchNormState.create(num_features, dtype)
            self.register_buffer("running_mean", Variable._wrap(state.running_mean))
            self.register_buffer("running_var", Variable._wrap(state.running_var))
            self.register_buffer("num_batches_tracked", Variable._wrap(state.num_batches_tracked))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.to(device=device)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, ``num_batches_tracked`` 0."""
        if self.track_running_stats:
            state = F.BatchNormState.create(self.num_features, self.running_mean.dtype)
            self._buffers["running_mean"] = Variable._wrap(state.running_mean)
            self._buffers["running_var"] = Variable._wrap(state.running_var)
            self._buffers["num_batches_tracked"] = Variable._wrap(state.num_batches_tracked)

    def forward(self, input):
        _expect(self, input, self._ranks, self._layout)
        _expect_size(self, input, 1, self.num_features, "channels")
        buffers = self._buffers
        if self.running_mean is None:
            return apply(_batch_norm_stateless, input, self.weight, self.bias, eps=self.eps)
        state = (buffers["running_mean"], buffers["running_var"], buffers["num_batches_tracked"])
        if not self.training:
            return apply(_batch_norm_eval, input, self.weight, self.bias, *state, eps=self.eps)
        y, mean, var, count = apply(
            _batch_norm_train, input, self.weight, self.bias, *state, momentum=self.momentum, eps=self.eps
        )
        for name, value in (("running_mean", mean), ("running_var", var), ("num_batches_tracked", count)):
            value.requires_grad = False  # buffers are state, never differentiated (as PyTorch)
            buffers[name] = value
            _graph.register_effect(value)
        return y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over [N, C] or [N, C, L] input, as ``torch.nn.BatchNorm1d``.

    Training normalises with the biased batch variance and updates
    ``running = (1 - momentum) * running + momentum * batch`` with the *unbiased* variance
    (``momentum=None``: cumulative average), incrementing ``num_batches_tracked``; eval mode
    uses the running statistics. ``weight`` starts at ones, ``bias`` at zeros.
    Arguments: ``num_features``, ``eps=1e-5``, ``momentum=0.1``, ``affine=True``,
    ``track_running_stats=True``.

    Raises:
        ValueError: input that is not 2-D/3-D, with the wrong channel count, or (training) with
            one value per channel.
    """

    _ranks = (2, 3)
    _layout = "[N, C] or [N, C, L]"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over [N, C, H, W] input, as ``torch.nn.BatchNorm2d``; the rules of
    :class:`BatchNorm1d` apply per channel over N, H and W."""

    _ranks = (4,)
    _layout = "[N, C, H, W]"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over [N, C, D, H, W] input, as ``torch.nn.BatchNorm3d``; the rules of
    :class:`BatchNorm1d` apply per channel over N, D, H and W."""

    _ranks = (5,)
    _layout = "[N, C, D, H, W]"


# ---------------------------------------------------------------------------------- dropout

def _dropout_op(x, key, counter, *, p, layout="NCHW"):
    return F.dropout(x, p, key=jax.random.fold_in(key, counter), training=True, layout=layout)


_channels_last.register_on_activation(_dropout_op)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """``torch.nn.functional.dropout`` on a Variable, with a mask from the default generator."""
    F._checks.check_probability("dropout", p)
    return _record_dropout(input, p, training)


def _record_dropout(input, p, training):
    if not training or p == 0:
        return input
    generator = _random.default_generator
    return apply(_dropout_op, input, generator.key, generator.next_counter(), p=float(p))


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` in training;
    the identity in eval mode, as ``torch.nn.Dropout(p=0.5, inplace=False)``. Each call draws a
    new mask from the default generator (``rustorch.manual_seed``) inside the compiled program.

    Raises:
        ValueError: ``p`` outside [0, 1].
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        F._checks.check_probability("Dropout", p)
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return _record_dropout(input, self.p, self.training)  # p was checked at construction

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one, as ``torch.nn.Flatten(start_dim=1, end_dim=-1)``."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``, as ``torch.nn.Unflatten``."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        dim = self.dim % input.ndim
        return input.reshape(input.shape[:dim] + self.unflattened_size + input.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# ------------------------------------------------------------------------------ activations

def _activation(name, fn, doc, params=(), inplace=False, bare=False):
    """A Module class applying ``fn`` with the constructor arguments ``params`` (``(name,
    default)`` pairs, in PyTorch's order) as statics.

    ``inplace``: the layer takes PyTorch's trailing ``inplace=False`` argument (``"hidden"``: it
    takes it but, as PyTorch's Hardswish and Hardsigmoid, leaves it out of its repr); with
    ``inplace=True`` the result is written into the input, as PyTorch does. ``bare``: the repr
    shows the values alone (``Hardshrink(0.5)``).
    """
    names = [p for p, _ in params] + (["inplace"] if inplace else [])
    defaults = dict(params, **({"inplace": False} if inplace else {}))

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        if len(args) > len(names):
            raise TypeError(f"{name}() takes {len(names)} positional argument(s) but {len(args)} were given")
        values = dict(defaults)
        values.update(zip(names, args))
        for key_name, value in kwargs.items():
            if key_name not in values:
                raise TypeError(f"{name}() got an unexpected keyword argument '{key_name}'")
            values[key_name] = value
        missing = [k for k, v in values.items() if v is _REQUIRED]
        if missing:
            raise TypeError(f"{name}.__init__() missing required argument(s): {', '.join(map(repr, missing))}")
        for key_name, value in values.items():
            object.__setattr__(self, key_name, value)

    def forward(self, input):
        static = {k: getattr(self, k) for k in names if k != "inplace"}
        if inplace and self.inplace:
            input._begin_write()
            return input._write(apply(fn, input, **static))
        return apply(fn, input, **static)

    def extra_repr(self):
        # torch quotes string options (GELU(approximate='tanh')) and prints numbers plainly.
        shown = [(k, getattr(self, k)) for k in names if k != "inplace"]
        parts = [f"{v!r}" if isinstance(v, str) else f"{v}" for _, v in shown] if bare else \
            [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in shown]
        if inplace is True and self.inplace:
            parts.append("inplace=True")
        return ", ".join(parts)

    return type(name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                  "__doc__": doc, "__module__": __name__})


_REQUIRED = object()
_activation.REQUIRED = _REQUIRED  # the default of a constructor argument without one


ReLU = _activation("ReLU", F.relu, "``max(0, x)``, as ``torch.nn.ReLU(inplace=False)`` (gradient 0 at 0).",
                   inplace=True)
LeakyReLU = _activation("LeakyReLU", F.leaky_relu, "``torch.nn.LeakyReLU(negative_slope=0.01, inplace=False)``.",
                        (("negative_slope", 0.01),), inplace=True)
GELU = _activation("GELU", F.gelu, "``torch.nn.GELU(approximate='none')`` (exact erf form or 'tanh').",
                   (("approximate", "none"),))
Sigmoid = _activation("Sigmoid", F.sigmoid, "``1 / (1 + exp(-x))``, as ``torch.nn.Sigmoid``.")
Tanh = _activation("Tanh", F.tanh, "``tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))``, as ``torch.nn.Tanh``.")
ELU = _activation("ELU", F.elu, "``torch.nn.ELU(alpha=1.0, inplace=False)``.", (("alpha", 1.0),), inplace=True)
SiLU = _activation("SiLU", F.silu, "``x * sigmoid(x)``, as ``torch.nn.SiLU(inplace=False)``.", inplace=True)
Softplus = _activation("Softplus", F.softplus, "``torch.nn.Softplus(beta=1.0, threshold=20.0)``.",
                       (("beta", 1.0), ("threshold", 20.0)))
Hardtanh = _activation("Hardtanh", F.hardtanh, "``torch.nn.Hardtanh(min_val=-1.0, max_val=1.0, inplace=False)``.",
                       (("min_val", -1.0), ("max_val", 1.0)), inplace=True)
Softmax = _activation("Softmax", F.softmax, "``torch.nn.Softmax(dim)`` (``dim`` required).", (("dim", None),))
LogSoftmax = _activation("LogSoftmax", F.log_softmax, "``torch.nn.LogSoftmax(dim)`` (``dim`` required).",
                         (("dim", None),))


# The convolution layers build on the helpers above; they live in _conv_layers.
from ._conv_layers import Conv2d  # noqa: E402


# The pooling layers live in _pool_layers (which reads _expect and _static from here).
from ._pool_layers import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d  # noqa: E402,F401
