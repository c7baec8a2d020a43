"""rustorch.utils: host-side utilities (``torch.utils``); see ``rustorch.utils.data``."""
from . import data

__all__ = ["data"]

from . import checkpoint  # noqa: E402  (activation checkpointing, torch.utils.checkpoint)
