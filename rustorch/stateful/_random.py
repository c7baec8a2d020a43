"""The library-wide random state that ``rustorch.manual_seed`` resets.

JAX has no global RNG: randomness is a key passed explicitly. The facade keeps one default
generator: a base key plus a counter. A random op recorded in a graph (dropout) takes the base key
and *its own counter value* as leaf inputs of the compiled program and derives its key with
``jax.random.fold_in`` inside it, so masks differ on every call while the program (whose key
covers shapes and dtypes, not values) is compiled once. Eager draws (parameter initialisation,
``randn``) fold in the counter on the spot.
"""
from __future__ import annotations

import jax
import numpy as np

_DEFAULT_SEED = 0x5EED


class Generator:
    """A seedable source of PRNG keys, in the role of ``torch.Generator``.

    Args:
        seed: the initial seed (default: a fixed library seed, so fresh processes agree).
    """

    def __init__(self, seed: int | None = None):
        self.manual_seed(_DEFAULT_SEED if seed is None else seed)

    def manual_seed(self, seed: int) -> "Generator":
        """Reset the stream to the one determined by ``seed`` (an int); returns ``self``."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed expected an int seed, got {type(seed).__name__}")
        self._seed = int(seed)
        # Made on first use: building a key at import time would start JAX's backends before
        # rustorch.distributed.init_process_group can call jax.distributed.initialize.
        self._key = None
        self._counter = 0
        return self

    def initial_seed(self) -> int:
        """The seed this generator was last reset with."""
        return self._seed

    def next_counter(self) -> np.ndarray:
        """Advance the stream by one draw; returns the draw's counter as a uint32 scalar."""
        self._counter += 1
        return np.uint32(self._counter & 0xFFFFFFFF)

    @property
    def key(self):
        """The base key that recorded random ops fold their counters into."""
        if self._key is None:
            self._key = jax.random.PRNGKey(self._seed & 0xFFFFFFFF)
        return self._key

    def next_key(self):
        """A fresh JAX key for an eager draw."""
        return jax.random.fold_in(self.key, self.next_counter())

    def next_numpy_seed(self) -> np.random.SeedSequence:
        """A numpy seed for host-side randomness (data shuffling), reproducible from the seed."""
        return np.random.SeedSequence([self._seed & 0xFFFFFFFF, self._counter, 0x5A4D])

    def uniform(self, low: float, high: float, shape, dtype=np.float32):
        """Host-side ``U(low, high)`` samples as a JAX array (advances the stream by one draw).

        Parameter initialisation uses this: a numpy draw needs no XLA compilation, where a
        ``jax.random`` draw compiles once per new shape (seconds on a CPU).
        """
        sample = self.numpy_generator().uniform(low, high, size=tuple(shape))
        return jax.device_put(sample.astype(dtype))

    def numpy_generator(self) -> np.random.Generator:
        """A numpy Generator drawn from this stream (advances the stream by one draw)."""
        self.next_counter()
        return np.random.default_rng(self.next_numpy_seed())


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed everything rustorch draws at random: parameter initialisation, dropout masks,
    ``randn``/``rand`` and DataLoader shuffling, as ``torch.manual_seed`` does.

    The streams are not PyTorch's (JAX uses a different generator); the same seed gives the
    same results from run to run and on every backend. Returns the default generator.
    """
    return default_generator.manual_seed(seed)


def initial_seed() -> int:
    """The seed of the default generator."""
    return default_generator.initial_seed()


def next_numpy_seed() -> np.random.SeedSequence:
    """A numpy seed sequence from the default generator (advances it); for data shuffling."""
    default_generator.next_counter()
    return default_generator.next_numpy_seed()
