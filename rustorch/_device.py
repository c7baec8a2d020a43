"""``rustorch.device``: PyTorch's device names over JAX's devices.

``device("cpu")`` is JAX's CPU device; ``device("cuda")`` / ``device("cuda:1")`` are JAX's GPU
devices (``jax.devices("gpu")``, CUDA or ROCm). A device object can always be built, as in
PyTorch; placing data on a device that this process does not have raises a RuntimeError that
says what JAX found. ``"mps"``, ``"xpu"`` and the other PyTorch-only backends have no JAX
counterpart: building them works (programs probe them), placing data on them raises.
"""
from __future__ import annotations

import re
from typing import Optional, Union

import jax

# PyTorch's device types (torch/csrc/Device.cpp); only the first two have a JAX backend here.
_JAX_PLATFORM = {"cpu": "cpu", "cuda": "gpu"}
_TORCH_ONLY = ("mps", "xpu", "meta", "hip", "xla", "mtia", "ipu", "hpu", "ve", "lazy", "vulkan",
               "fpga", "maia", "privateuseone")
_SPEC = re.compile(r"^([a-z_]+)(?::(\d+))?$")


class device:
    """A device name, as ``torch.device``: ``device("cuda:0")``, ``device("cuda", 0)``,
    ``device("cpu")``. Attributes ``type`` (str) and ``index`` (int or None).

    Equality, hashing, ``str`` (``"cuda:0"``) and ``repr`` (``device(type='cuda', index=0)``)
    behave as PyTorch's. A ``device`` may also be built from a ``jax.Device``.

    Raises:
        RuntimeError: an unknown device string, as PyTorch ("Expected one of cpu, cuda, ...").
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Union[str, "device", jax.Device, int], index: Optional[int] = None):
        if isinstance(type, device):
            if index is not None:
                raise ValueError("device(): cannot give an index with a device object")
            type, index = type.type, type.index
        elif isinstance(type, jax.Device):
            type, index = ("cpu", _cpu_index(type)) if type.platform == "cpu" else ("cuda", _gpu_index(type))
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type  # torch.device(0) is cuda:0
        elif isinstance(type, str):
            match = _SPEC.match(type.strip())
            if match is None or match.group(1) not in (*_JAX_PLATFORM, *_TORCH_ONLY):
                raise RuntimeError(
                    "Expected one of cpu, cuda, mps, xpu, meta, ... device type at start of device "
                    f"string: {type}"
                )
            if match.group(2) is not None:
                if index is not None:
                    raise RuntimeError(f"type (string) must not include an index because index was passed "
                                       f"explicitly: {type}")
                index = int(match.group(2))
            type = match.group(1)
        else:
            raise TypeError(f"device() expected a string, a device or an int, got {type!r}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative, got {index!r}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("rustorch.device is immutable")

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash(("rustorch.device", self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self):
        return (device, (self.type, self.index))

    # ------------------------------------------------------------------ JAX's side
    def jax_device(self) -> jax.Device:
        """The ``jax.Device`` this name stands for (``cuda`` without an index: GPU 0).

        Raises:
            RuntimeError: no such device in this process (no GPU backend, an index past the
                device count, or a PyTorch-only type such as ``mps``).
        """
        platform = _JAX_PLATFORM.get(self.type)
        if platform is None:
            raise RuntimeError(
                f"rustorch runs on JAX, which has no '{self.type}' backend; use device('cpu') or "
                f"device('cuda') (JAX's GPU). Guard the choice as PyTorch programs do, e.g. "
                f"rustorch.backends.mps.is_available() is False here."
            )
        devices = _devices(platform)
        if not devices:
            raise RuntimeError(
                f"rustorch: cannot place data on {self}: JAX found no GPU in this process "
                f"(its devices: {jax.devices()}). Use rustorch.cuda.is_available() to choose "
                f"device('cpu'), or install a CUDA build of jaxlib (pip install 'jax[cuda12]')."
            )
        index = self.index or 0
        if index >= len(devices):
            raise RuntimeError(
                f"rustorch: {self} does not exist: JAX sees {len(devices)} {self.type} device(s) "
                f"({devices})"
            )
        return devices[index]


def _devices(platform: str) -> list:
    """This process's devices of ``platform``: ``cuda:N`` and ``cpu`` name local devices, as in
    PyTorch (under ``jax.distributed`` the global list also holds other processes' devices)."""
    try:
        return jax.local_devices(backend=platform)
    except RuntimeError:  # JAX raises when a backend is not present
        return []


def _cpu_index(jax_device: jax.Device):
    """None for the (first) host device, as PyTorch's index-less ``cpu``; ``N`` for the others
    when JAX is given several host devices (``--xla_force_host_platform_device_count``)."""
    cpus = _devices("cpu")
    position = cpus.index(jax_device) if jax_device in cpus else jax_device.id
    return None if position == 0 else position


def _gpu_index(jax_device: jax.Device) -> int:
    gpus = _devices("gpu")
    return gpus.index(jax_device) if jax_device in gpus else jax_device.id


DeviceLike = Union[device, str, int, jax.Device, None]


def as_jax_device(spec: DeviceLike) -> Optional[jax.Device]:
    """The ``jax.Device`` for a device argument (None stays None: no placement asked)."""
    if spec is None:
        return None
    if isinstance(spec, jax.Device):
        return spec
    return device(spec).jax_device()


def is_device_spec(value) -> bool:
    """Whether ``value`` names a device (as ``Tensor.to``'s positional argument may): a
    ``device``, a ``jax.Device``, a device string, or an int (``to(0)`` is ``cuda:0``, as in
    PyTorch)."""
    if isinstance(value, (device, jax.Device)):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    if isinstance(value, str):
        return _SPEC.match(value.strip()) is not None
    return False


def device_of_array(array) -> device:
    """The ``rustorch.device`` holding a JAX array (numpy data: the default device)."""
    devices = getattr(array, "devices", None)
    if devices is None:
        return device(jax.devices()[0])
    return device(next(iter(devices())))


def place(array, spec: DeviceLike):
    """``array`` on the device ``spec`` names (unchanged when ``spec`` is None or it is there)."""
    target = as_jax_device(spec)
    if target is None:
        return array
    if isinstance(array, jax.Array) and array.devices() == {target}:
        return array
    return jax.device_put(array, target, may_alias=False)


def default_device() -> device:
    """The device new arrays go to: JAX's default device."""
    return device(jax.devices()[0])
