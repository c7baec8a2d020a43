"""rustorch.utils.data: datasets, samplers and the DataLoader (``torch.utils.data``).

Data lives on the host as numpy arrays; batches become rustorch tensors. A ``DataLoader`` over a
``TensorDataset`` (or MNIST, or a ``Subset`` of either) gathers each batch with numpy fancy
indexing, so an epoch costs a few numpy calls per batch, not Python work per sample. Other
datasets are fetched sample by sample, in the main process or in ``num_workers`` worker processes
or threads (see ``DataLoader``).
"""
from ._collate import default_collate, default_convert
from ._dataloader import DataLoader
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from ._worker import WorkerInfo, get_worker_info

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
