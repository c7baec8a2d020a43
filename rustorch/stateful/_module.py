"""``Module`` and ``Parameter``: PyTorch's container model, attribute registration included."""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _device
from . import _graph
from ._variable import Variable, _to_array, recorded_zeros_like


class Parameter(Variable):
    """A Variable that a :class:`Module` registers as a learnable parameter when assigned as
    an attribute, as ``torch.nn.Parameter``. ``requires_grad`` defaults to True."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        super().__init__(data, requires_grad)
        self._is_param = True

    @classmethod
    def _wrap(cls, value, requires_grad=True):
        param = super()._wrap(value, requires_grad)
        param._is_param = True
        return param

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Variable):
    """A Variable that a :class:`Module` registers as a buffer when assigned as an attribute,
    as ``torch.nn.Buffer(data=None, *, persistent=True)``: ``self.x = nn.Buffer(t)`` is
    ``self.register_buffer('x', t, persistent)``. Non-persistent buffers stay out of
    ``state_dict()``. ``requires_grad`` is the data's."""

    __slots__ = ("persistent",)

    def __init__(self, data=None, *, persistent: bool = True):
        requires_grad = data.requires_grad if isinstance(data, Variable) else False
        super().__init__(data, requires_grad)
        self.persistent = bool(persistent)


class RemovableHandle:
    """What ``register_forward_hook`` and friends return: ``remove()`` unregisters the hook
    (also on leaving a ``with`` block), as ``torch.utils.hooks.RemovableHandle``."""

    _next_id = 0

    def __init__(self, table: OrderedDict):
        self._table = table
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match."""

    missing_keys: list
    unexpected_keys: list

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"  # what PyTorch prints
        return f"IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"

    __str__ = __repr__


def _shape_text(shape) -> str:
    return f"rustorch.Size({list(shape)})"


class Module:
    """Base class of every layer and model, as ``torch.nn.Module``.

    Assigning a :class:`Parameter` or a Module to an attribute registers it;
    :meth:`register_buffer` registers non-learnable state (BatchNorm's running statistics).
    Subclasses define ``forward``; calling the module calls it. ``train()``/``eval()`` set
    ``training`` on the module and every submodule.

    Raises:
        AttributeError: a Parameter or Module is assigned before ``super().__init__()``.
    """

    _version = 1

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", OrderedDict())  # id -> (hook, with_kwargs)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._discard(name, keep=params)
            params[name] = value
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._discard(name, keep=self._modules)
            self._modules[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(rustorch.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Buffer):
            if params is not None and name in self._modules:
                raise TypeError(f"cannot assign 'Buffer' as child module '{name}' (rustorch.nn.Module or None "
                                "expected)")
            self.register_buffer(name, value, persistent=getattr(value, "persistent", True))
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Variable):
                value = Variable(value)
            self._buffers[name] = value
        elif params is not None and name in self._modules and value is None:
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name, keep=None):
        """Forget ``name`` everywhere but in ``keep``, where a reassignment keeps its position
        (PyTorch: replacing ``model.conv1`` leaves it first among ``children()``)."""
        for table in (self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param) -> None:
        """Register ``param`` (a Parameter or None) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}'")
        self._discard(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register non-learnable state; persistent buffers appear in ``state_dict()``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._discard(name, keep=self._buffers)
        if tensor is not None and not isinstance(tensor, Variable):
            tensor = Variable(tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._discard(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    # --------------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True) -> Iterator:
        """``(name, module)`` for this module and every submodule, depth first; a module
        registered twice appears once unless ``remove_duplicate=False``."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def get_submodule(self, target: str) -> "Module":
        """The submodule at the dotted path ``target`` (``''`` is ``self``).

        Raises:
            AttributeError: no submodule at that path.
        """
        module = self
        for part in target.split(".") if target else ():
            child = module._modules.get(part) if isinstance(module, Module) else None
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no attribute `{part}`")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        param = module._parameters.get(name)
        if param is None:
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Variable:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return module._buffers[name]

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, prefix: str, recurse: bool):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator:
        """``(name, Parameter)`` pairs, each parameter once, in registration order."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Variable]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # --------------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "Module":
        """Set training mode on this module and every submodule; returns ``self``."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: BatchNorm uses running statistics, Dropout is the identity."""
        return self.train(False)

    def to(self, *args, **kwargs) -> "Module":
        """Move and/or convert parameters and buffers in place, as ``torch.nn.Module.to``:
        ``to(device)``, ``to(dtype)`` (floating dtypes; floating parameters and buffers only),
        ``to(device, dtype)``, ``to(tensor)``, or keywords. Parameters keep their identity
        (an optimizer built before still holds them). Returns ``self``.

        Raises:
            RuntimeError: a device this process does not have (``cuda`` without a GPU).
            TypeError: a non-floating dtype.
        """
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for arg in args:
            if isinstance(arg, Variable):
                dtype, device = arg.dtype, arg.device
            elif _device.is_device_spec(arg):
                device = arg
            elif isinstance(arg, bool):
                continue
            elif arg is not None:
                dtype = arg
        target = _device.as_jax_device(device)
        if dtype is not None:
            dtype = np.dtype(jax.dtypes.canonicalize_dtype(np.dtype(dtype)))
            if not jnp.issubdtype(dtype, jnp.floating):
                raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")
        if dtype is None and target is None:
            return self
        for module in self.modules():
            for table in (module._parameters, module._buffers):
                for name, value in table.items():
                    if value is None:
                        continue
                    array = value._concrete()
                    if dtype is not None and jnp.issubdtype(value.dtype, jnp.floating):
                        array = array.astype(dtype)
                    array = _device.place(array, target)
                    if array is not value._value:
                        value._assign(array, allow_dtype_change=True)
                    if value.grad is not None and target is not None:
                        value.grad = Variable._wrap(_device.place(value.grad._concrete(), target))
        return self

    def share_memory(self) -> "Module":
        """Share this module's parameters and buffers with other processes (Hogwild training
        with ``multiprocessing``), as ``torch.nn.Module.share_memory``; returns ``self``.

        Each value gets a block of shared memory that travels with the module to the processes
        it is passed to. Every process reads the blocks before each forward call of this
        module, and ``optimizer.step()`` applies its update to the shared values and writes
        them back, so the processes train one set of weights, racing as PyTorch's do (see
        ``rustorch.stateful._shared``). Gradients and optimizer state stay per process.
        """
        from . import _shared

        _shared.share(self)
        return self

    def cpu(self) -> "Module":
        """Move every parameter and buffer to the CPU; returns ``self``."""
        return self.to("cpu")

    def cuda(self, device=None) -> "Module":
        """Move every parameter and buffer to a GPU (``cuda:0`` by default); returns ``self``.

        Raises:
            RuntimeError: no GPU in this process.
        """
        if device is None:
            device = "cuda"
        elif isinstance(device, int):
            device = _device.device("cuda", device)
        return self.to(device)

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    def half(self) -> "Module":
        return self.to(np.float16)

    def bfloat16(self) -> "Module":
        return self.to(jnp.bfloat16)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``grad`` (to None by default, as PyTorch)."""
        for param in self.parameters():
            if param.grad is not None:
                param.grad = None if set_to_none else recorded_zeros_like(param.grad)

    def apply(self, fn) -> "Module":
        """Call ``fn`` on every submodule (children first) and on ``self``; returns ``self``."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ---------------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(  # abstract: every subclass defines forward
            f"Module [{type(self).__name__}] is missing the required \"forward\" function"
        )

    def __call__(self, *args, **kwargs):
        attributes = self.__dict__
        if attributes.get("_forward_pre_hooks") or attributes.get("_forward_hooks"):
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hook, with_kwargs in list(self._forward_pre_hooks.values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                            f"but got {result}.")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in list(self._forward_hooks.values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        return output

    def _hooks(self, name: str) -> OrderedDict:
        if name not in self.__dict__:
            object.__setattr__(self, name, OrderedDict())  # a subclass that skipped __init__
        return self.__dict__[name]

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False
                                  ) -> RemovableHandle:
        """Call ``hook(module, args)`` before each ``forward``; it may return new args (a tuple,
        or one value). With ``with_kwargs``, ``hook(module, args, kwargs)`` may return
        ``(args, kwargs)``. Returns a handle whose ``remove()`` unregisters it."""
        return self._register_hook("_forward_pre_hooks", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each ``forward``; a returned value replaces
        the output. With ``with_kwargs``: ``hook(module, args, kwargs, output)``. Returns a
        handle whose ``remove()`` unregisters it."""
        return self._register_hook("_forward_hooks", hook, prepend, with_kwargs)

    def _register_hook(self, table_name, hook, prepend, with_kwargs):
        table = self._hooks(table_name)
        handle = RemovableHandle(table)
        table[handle.id] = (hook, bool(with_kwargs))
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    # ----------------------------------------------------------------------- state
    def _state_items(self, dot: str = ""):
        # Like torch's state_dict, no de-duplication: a module registered under two names
        # appears under both.
        module = self
        for name, param in module._parameters.items():
            if param is not None:
                yield dot + name, module, name, "param", param
        for name, buffer in module._buffers.items():
            if buffer is not None and name not in module._non_persistent_buffers:
                yield dot + name, module, name, "buffer", buffer
        for name, child in module._modules.items():
            if child is not None:
                yield from child._state_items(f"{dot}{name}.")

    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers under PyTorch's key names (``conv1.weight``,
        ``1.running_mean``, ``1.num_batches_tracked``), as an ordered dict of Variables.

        Pending BatchNorm statistics are computed first (one program). Values are detached
        unless ``keep_vars``.
        """
        items = list(self._state_items())
        _graph.materialize(*(item[4] for item in items))
        destination = OrderedDict() if destination is None else destination
        for key, _, _, _, value in items:
            destination[prefix + key] = value if keep_vars else Variable._wrap(value._value)
        return destination

    def _keeps_missing_entry(self, name: str, version) -> bool:
        """Whether ``load_state_dict`` keeps this module's current ``name`` when a state dict
        written by module format ``version`` (None: unknown) lacks it, as PyTorch's
        ``_load_from_state_dict`` overrides do for entries added in later formats."""
        return False

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` (values may be rustorch tensors,
        JAX or numpy arrays), keeping each Parameter's identity, as PyTorch. An entry that an
        older format of a module lacked (BatchNorm's ``num_batches_tracked`` before version 2,
        or in a state dict without PyTorch's ``_metadata`` versions) keeps its current value.

        Raises:
            RuntimeError: with ``strict``, any missing or unexpected key; always, a shape
                mismatch. The message lists every problem, in PyTorch's wording.
        """
        own = {key: (module, name, kind, value) for key, module, name, kind, value in self._state_items()}
        versions = getattr(state_dict, "_metadata", None) or {}

        def keeps_current(key):
            module, name = own[key][:2]
            version = versions.get(key[: -len(name)].rstrip("."), {}).get("version")
            return module._keeps_missing_entry(name, version)

        missing = [key for key in own if key not in state_dict and not keeps_current(key)]
        unexpected = [key for key in state_dict if key not in own]
        errors = []
        updates = []
        for key, (module, name, kind, current) in own.items():
            if key not in state_dict:
                continue
            incoming = state_dict[key]
            array = _to_array(incoming, current.dtype)
            if tuple(array.shape) != current.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {_shape_text(array.shape)} "
                    f"from checkpoint, the shape in current model is {_shape_text(current.shape)}."
                )
                continue
            updates.append((module, name, kind, current, array))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors)
            )
        for module, name, kind, current, array in updates:
            if kind == "param":
                current._assign(array)
            else:
                module._buffers[name] = Variable._wrap(array)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, module in self._modules.items():
            text = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {text}")
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                return main + lines[0] + ")"
            return main + "\n  " + "\n  ".join(lines) + "\n)"
        return main + ")"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))


def _absolute_index(container, index, size: int) -> int:
    """``index`` (an int, possibly negative) as a position in ``[0, size)``.

    Raises:
        IndexError: ``index`` outside ``[-size, size)``, PyTorch's "index k is out of range".
        TypeError: ``index`` is not an integer.
    """
    index = operator.index(index)
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of range ({type(container).__name__} of length {size})")
    return index + size if index < 0 else index


def _renumber(container) -> None:
    """Key the entries ``'0'``, ``'1'``, ... again, in order (after a deletion), as PyTorch."""
    modules = container._modules
    object.__setattr__(container, "_modules", OrderedDict((str(i), m) for i, m in enumerate(modules.values())))


def _insert(container, index: int, module) -> None:
    """Insert ``module`` before position ``index`` (negative counts from the end), shifting the
    later entries' keys up by one."""
    if not isinstance(module, Module):
        raise TypeError(f"{type(container).__name__}.insert: expected a Module, got {type(module).__name__}")
    size = len(container._modules)
    index = operator.index(index)
    if not -size <= index <= size:
        raise IndexError(f"{type(container).__name__}.insert: index {index} is out of range for length {size}")
    if index < 0:
        index += size
    modules = container._modules
    for i in range(size, index, -1):
        modules[str(i)] = modules[str(i - 1)]
    modules[str(index)] = module


def _delete(container, index) -> None:
    keys = list(container._modules)
    if isinstance(index, slice):
        for key in keys[index]:
            del container._modules[key]
    else:
        del container._modules[keys[_absolute_index(container, index, len(keys))]]
    _renumber(container)


def _dir_without_indices(container):
    return [key for key in Module.__dir__(container) if not key.isdigit()]


class Sequential(Module):
    """Modules applied in order, as ``torch.nn.Sequential``; also accepts an OrderedDict.

    Supports indexing (an int gives a module, a slice a Sequential), assignment and deletion by
    index (later entries are renumbered), ``len``, iteration, ``append``/``insert``/``extend``/
    ``pop``, ``+`` and ``*``.

    Raises:
        IndexError: an index out of range.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return type(self)(OrderedDict(items[index]))
        return items[_absolute_index(self, index, len(items))][1]

    def __setitem__(self, index, module) -> None:
        keys = list(self._modules)
        setattr(self, keys[_absolute_index(self, index, len(keys))], module)

    def __delitem__(self, index) -> None:
        _delete(self, index)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __dir__(self):
        return _dir_without_indices(self)

    def __add__(self, other) -> "Sequential":
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return Sequential(*self, *other)

    def __iadd__(self, other) -> "Sequential":
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
        return self.extend(list(other))

    def __mul__(self, other: int) -> "Sequential":
        if not isinstance(other, int) or isinstance(other, bool):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")
        return Sequential(*(list(self) * other))

    __rmul__ = __mul__

    def __imul__(self, other: int) -> "Sequential":
        modules = list(self * other)
        return self.extend(modules[len(self):])

    def append(self, module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module) -> "Sequential":
        """Insert ``module`` before ``index``; the later modules' keys shift up by one."""
        _insert(self, index, module)
        return self

    def extend(self, modules) -> "Sequential":
        for module in modules:
            self.append(module)
        return self

    def pop(self, index):
        """Remove and return the module at ``index`` (later modules are renumbered)."""
        module = self[index]
        del self[index]
        return module

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(Module):
    """A list of registered modules, as ``torch.nn.ModuleList`` (no ``forward`` of its own).

    Keys are ``'0'``, ``'1'``, ... (so ``state_dict`` keys are ``'0.weight'``, ...). Supports
    indexing (a slice gives a ModuleList), assignment, deletion (later entries are renumbered),
    ``append``/``extend``/``insert``/``pop``, ``+`` (a new ModuleList) and ``+=``.

    Raises:
        IndexError: an index out of range. TypeError: ``extend`` with a non-iterable.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        values = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(values[index])
        return values[_absolute_index(self, index, len(values))]

    def __setitem__(self, index, module):
        setattr(self, str(_absolute_index(self, index, len(self))), module)

    def __delitem__(self, index) -> None:
        _delete(self, index)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __dir__(self):
        return _dir_without_indices(self)

    def __iadd__(self, modules) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other) -> "ModuleList":
        combined = ModuleList()
        for module in list(self) + list(other):
            combined.append(module)
        return combined

    def append(self, module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        if isinstance(modules, Variable) or not isinstance(modules, Iterable):
            raise TypeError(f"ModuleList.extend should be called with an iterable, but got {type(modules).__name__}")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module) -> None:
        """Insert ``module`` before ``index``; the later modules' keys shift up by one."""
        _insert(self, index, module)

    def pop(self, index):
        """Remove and return the module at ``index`` (later modules are renumbered)."""
        module = self[index]
        del self[index]
        return module

    def __repr__(self):
        """PyTorch's compressed form: a run of equal modules prints once, as ``(2-4): 3 x ...``."""
        texts = [repr(module) for module in self]
        if not texts:
            return type(self).__name__ + "()"
        runs = []  # [first, last, text]
        for index, text in enumerate(texts):
            if runs and runs[-1][2] == text:
                runs[-1][1] = index
            else:
                runs.append([index, index, text])
        lines = []
        for first, last, text in runs:
            line = f"({first}): {text}" if first == last else f"({first}-{last}): {last - first + 1} x {text}"
            lines.append(line.replace("\n", "\n  "))
        return type(self).__name__ + "(\n  " + "\n  ".join(lines) + "\n)"


def _pairs(container, entries):
    """The ``(key, value)`` pairs of ``update(entries)``, as PyTorch's ModuleDict/ParameterDict
    read them: a mapping's items, or an iterable of 2-item pairs."""
    name = type(container).__name__
    if not isinstance(entries, Iterable):
        raise TypeError(f"{name}.update should be called with an iterable of key/value pairs, but got "
                        f"{type(entries).__name__}")
    if isinstance(entries, Mapping) or (isinstance(entries, Module) and hasattr(entries, "items")):
        return list(entries.items())  # a ModuleDict or ParameterDict too
    pairs = []
    for j, pair in enumerate(entries):
        if not isinstance(pair, Iterable):
            raise TypeError(f"{name} update sequence element #{j} should be Iterable; is {type(pair).__name__}")
        pair = list(pair)
        if len(pair) != 2:
            raise ValueError(f"{name} update sequence element #{j} has length {len(pair)}; 2 is required")
        pairs.append((pair[0], pair[1]))
    return pairs


class ModuleDict(Module):
    """A dict of registered modules, as ``torch.nn.ModuleDict``: insertion-ordered, built from
    a mapping or an iterable of ``(key, module)`` pairs; ``update``, ``pop``, ``clear``,
    ``del d[key]``, ``keys``/``values``/``items``."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key) -> None:
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules) -> None:
        """Add or overwrite entries from a mapping or an iterable of ``(key, module)`` pairs, in
        their order."""
        for key, module in _pairs(self, modules):
            self[key] = module
