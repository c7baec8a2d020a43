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
    return root + "".join(f"[{part!r}]" for part in path)


MAP_TO_CHOICES = ("tensor", "jax", "numpy")


def check_map_to(map_to) -> None:
    """Raise ``ValueError`` unless ``map_to`` is one of ``'tensor'``, ``'jax'``, ``'numpy'``."""
    if map_to not in MAP_TO_CHOICES:
        raise ValueError(
            f"load: map_to must be one of {MAP_TO_CHOICES!r}, got {map_to!r}. Use 'numpy' for numpy "
            "arrays, 'jax' for JAX arrays or 'tensor' for rustorch tensors."
        )


def array_converter(map_to: str):
    """The function that turns a loaded numpy array into the type ``map_to`` asks for.

    ``'numpy'`` keeps arrays as they are in the file (int64 stays int64). ``'jax'`` and
    ``'tensor'`` first cast to the dtype JAX would use (int64 -> int32 and float64 -> float32
    unless ``jax_enable_x64`` is on) explicitly, so no warning is raised; an int64 value outside
    the int32 range raises ``ValueError`` instead of wrapping silently.
    """
    if map_to == "numpy":
        return lambda array: array
    import jax
    import jax.numpy as jnp

    def to_jax(array):
        target = np.dtype(jax.dtypes.canonicalize_dtype(array.dtype))
        if target != array.dtype:
            if np.issubdtype(target, np.integer) and array.size:
                bounds = np.iinfo(target)
                low, high = array.min(), array.max()
                if low < bounds.min or high > bounds.max:
                    raise ValueError(
                        f"load: an {array.dtype} tensor holds values in [{low}, {high}], outside "
                        f"the {target} range JAX uses without x64; enable "
                        "jax.config.update('jax_enable_x64', True) before loading, or load with "
                        "map_to='numpy'."
                    )
            array = array.astype(target)
        return jnp.asarray(array)

    if map_to == "jax":
        return to_jax
    from rustorch.stateful import tensor

    return lambda array: tensor(to_jax(array))
