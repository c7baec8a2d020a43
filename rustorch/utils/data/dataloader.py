"""``torch.utils.data.dataloader``'s module path: :class:`DataLoader` and ``default_collate``."""
from ._collate import default_collate, default_convert  # noqa: F401
from ._dataloader import DataLoader  # noqa: F401
from ._worker import get_worker_info  # noqa: F401

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
