"""rustorch.utils.data: datasets, samplers and the DataLoader (``torch.utils.data``).

Data lives on the host as numpy arrays; batches become rustorch tensors. A ``DataLoader`` over a
``TensorDataset`` (or MNIST, or a ``Subset`` of either) gathers each batch with numpy fancy
indexing, so an epoch costs a few numpy calls per batch, not Python work per sample.
"""
from ._collate import default_collate
from ._dataloader import DataLoader
from ._dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from ._sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "default_collate",
    "random_split",
]
