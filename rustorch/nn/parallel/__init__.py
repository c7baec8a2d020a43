"""``rustorch.nn.parallel``: :class:`DistributedDataParallel` (one process per device, over
``rustorch.distributed``) and :class:`DataParallel` (one process, several local devices)."""
from .data_parallel import DataParallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
