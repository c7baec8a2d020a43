"""Recognising the arrays inside a saved object and turning loaded arrays into the caller's type."""
import numpy as np

from . import _dtypes

BATCHNORM_COUNTER_SUFFIX = "num_batches_tracked"


def is_array(value) -> bool:
    """True for numpy arrays and scalars, JAX arrays and anything else exposing ``__array__``.

    rustorch's ``Variable`` is recognised through ``__array__`` alone, so this module never has
    to import the stateful facade. The attribute is looked up on the type, as numpy does.
    """
    return isinstance(value, (np.ndarray, np.generic)) or hasattr(type(value), "__array__")


def as_checkpoint_array(value, where: str, key=None) -> np.ndarray:
    """``value`` as a native-byte-order numpy array of a supported dtype.

    ``key`` is the dict key the value is stored under: an integer array under a key ending in
    ``num_batches_tracked`` (a BatchNorm buffer) becomes int64, the dtype PyTorch gives that
    buffer, because JAX without x64 holds it as int32.

    Raises:
        TypeError: the dtype is not one of the supported ones.
    """
    array = np.asarray(value)
    if array.dtype.byteorder == (">" if np.little_endian else "<"):
        array = array.astype(array.dtype.newbyteorder("="))
    info = _dtypes.lookup(array.dtype)
    if info is None:
        raise TypeError(
            f"save: {where} has dtype {array.dtype}, which a checkpoint cannot hold; "
            f"supported dtypes are {_dtypes.SUPPORTED_NAMES}. Cast it first, e.g. "
            f"np.asarray(x).astype(np.float32)."
        )
    if (
        isinstance(key, str)
        and key.endswith(BATCHNORM_COUNTER_SUFFIX)
        and np.issubdtype(array.dtype, np.integer)
        and array.dtype != np.int64
    ):
        array = array.astype(np.int64)
    return array


def describe_path(root: str, path) -> str:
    """A readable location such as ``obj['state'][0]['exp_avg']`` for error messages."""
    from ._layout import _short

    return root + "".join(f"[{_short(part)}]" for part in path)


def object_with_state_dict(value, where: str):
    """A ``TypeError`` for saving a module or optimizer object itself, or None for other values.

    Pickling an object stores a reference to its class, code that loading would have to
    import and run; rustorch (like ``torch.load(weights_only=True)``) never does that. The
    message shows the one-line change: save the object's ``state_dict()``.
    """
    if not callable(getattr(type(value), "state_dict", None)):
        return None
    kind = type(value).__name__
    if where == "obj":
        change = (
            "    rustorch.save(model.state_dict(), f)      # instead of rustorch.save(model, f)\n"
            "and restore it with model.load_state_dict(rustorch.load(f))."
        )
    else:
        change = f"    {where}.state_dict()  in place of  {where}\nand restore it with load_state_dict()."
    return TypeError(
        f"save: {where} is a {kind} object; rustorch.save stores tensors and plain containers, not "
        f"objects (a pickled {kind} would have to import and run code when loaded). Save its state "
        f"dict instead:\n{change}"
    )


MAP_TO_CHOICES = ("tensor", "jax", "numpy")


def check_map_to(map_to) -> None:
    """Raise ``ValueError`` unless ``map_to`` is one of ``'tensor'``, ``'jax'``, ``'numpy'``."""
    if map_to not in MAP_TO_CHOICES:
        raise ValueError(
            f"load: map_to must be one of {MAP_TO_CHOICES!r}, got {map_to!r}. Use 'numpy' for numpy "
            "arrays, 'jax' for JAX arrays or 'tensor' for rustorch tensors."
        )


class Converter:
    """Turns a loaded numpy view into the array type ``map_to`` asks for.

    ``converter(array, shares_storage)`` converts; ``copy_bytes(array, shares_storage)`` says
    beforehand how many bytes that conversion copies, so the loader can refuse a file whose
    views would blow up in memory. ``shares_storage`` is True when another tensor of the file
    already uses the same storage.

    ``'numpy'`` returns the view itself (it shares its storage, as ``torch.load``'s tensors
    do) and copies nothing. ``'jax'`` and ``'tensor'`` first cast to the dtype JAX would use
    (int64 -> int32 and float64 -> float32 unless ``jax_enable_x64`` is on) explicitly, so no
    warning is raised; an int64 value outside the int32 range is refused instead of wrapping
    silently. Then ``jax.device_put`` hands the array to JAX: on CPU a C-contiguous array that
    starts on a 64-byte boundary (a whole storage, read into an aligned buffer) is adopted
    without a copy. A tensor whose storage another tensor already uses gets a private copy,
    so no two JAX arrays ever share memory (XLA may reuse a donated buffer in place).
    """

    def __init__(self, map_to: str):
        check_map_to(map_to)
        self.kind = "numpy" if map_to == "numpy" else "JAX"
        self._map_to = map_to
        if map_to != "numpy":
            import jax

            self._jax = jax
        if map_to == "tensor":
            from rustorch.stateful import tensor

            self._wrap = tensor

    def _target(self, dtype: np.dtype) -> np.dtype:
        return np.dtype(self._jax.dtypes.canonicalize_dtype(dtype))

    def copy_bytes(self, array: np.ndarray, shares_storage: bool) -> int:
        """The bytes ``self(array, shares_storage)`` allocates besides the storage itself."""
        if self._map_to == "numpy":
            return 0
        target = self._target(array.dtype)
        if target != array.dtype or shares_storage or not _adoptable(array):
            return array.size * target.itemsize
        return 0

    def __call__(self, array: np.ndarray, shares_storage: bool = False):
        if self._map_to == "numpy":
            return array
        target = self._target(array.dtype)
        if target != array.dtype:
            if np.issubdtype(target, np.integer) and array.size:
                bounds = np.iinfo(target)
                low, high = array.min(), array.max()
                if low < bounds.min or high > bounds.max:
                    raise OverflowError(
                        f"an {array.dtype} tensor holds values in [{low}, {high}], outside the "
                        f"{target} range JAX uses without x64; enable "
                        "jax.config.update('jax_enable_x64', True) before loading, or load with "
                        "map_to='numpy'"
                    )
            array = array.astype(target)
        elif shares_storage or not _adoptable(array):
            array = np.array(array, order="C", copy=True)
        value = self._jax.device_put(array)
        return self._wrap(value) if self._map_to == "tensor" else value


def _adoptable(array: np.ndarray) -> bool:
    """True if JAX on CPU can adopt ``array``'s memory: C-contiguous and 64-byte aligned."""
    return array.flags.c_contiguous and array.ctypes.data % 64 == 0


def array_converter(map_to: str) -> Converter:
    """The :class:`Converter` for ``map_to`` (``'tensor'``, ``'jax'`` or ``'numpy'``)."""
    return Converter(map_to)
