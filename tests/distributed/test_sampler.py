"""DistributedSampler against torch's, index for index (shuffled too)."""
import numpy as np
import pytest
import torch
import torch.utils.data.distributed as torch_dist_data

from rustorch.utils.data import DataLoader, DistributedSampler, TensorDataset
from rustorch.utils.data.distributed import torch_randperm


@pytest.mark.parametrize("n, seed", [(0, 0), (1, 3), (2, 1), (10, 0), (97, 5), (1000, 123), (60000, 7), (50, 2**33 + 5)])
def test_randperm_is_torchs(n, seed):
    g = torch.Generator().manual_seed(seed)
    assert np.array_equal(torch_randperm(n, seed), torch.randperm(n, generator=g).numpy())


@pytest.mark.parametrize("n", [1, 5, 10, 13, 64])
@pytest.mark.parametrize("replicas", [1, 2, 3, 8])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_indices_match_torch(n, replicas, shuffle, drop_last):
    dataset = list(range(n))
    for rank in range(replicas):
        ours = DistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=11,
                                  drop_last=drop_last)
        theirs = torch_dist_data.DistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=shuffle,
                                                    seed=11, drop_last=drop_last)
        assert len(ours) == len(theirs)
        for epoch in (0, 3):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs), (rank, epoch)


def test_partition_covers_dataset():
    n, replicas = 23, 4
    seen = []
    for rank in range(replicas):
        seen += list(DistributedSampler(range(n), num_replicas=replicas, rank=rank, seed=1))
    assert sorted(set(seen)) == list(range(n)) and len(seen) == 24  # padded with one repeat


def test_loader_uses_sampler():
    x = np.arange(10, dtype=np.float32)[:, None]
    loader = DataLoader(TensorDataset(x), batch_size=2, sampler=DistributedSampler(range(10), 2, 1, shuffle=False))
    assert [b[0].numpy().ravel().tolist() for b in loader] == [[1.0, 3.0], [5.0, 7.0], [9.0]]


def test_bad_rank_and_missing_group():
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))
