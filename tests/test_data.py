"""rustorch.utils.data against torch.utils.data: datasets, samplers, collate and DataLoader."""
import collections
import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.utils.data as tud

import rustorch.stateful as rs
from rustorch.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    random_split,
)

# JAX without x64 holds PyTorch's 64-bit defaults in 32 bits.
_TORCH_DTYPE = {
    torch.int64: np.int32,
    torch.float64: np.float32,
    torch.float32: np.float32,
    torch.int32: np.int32,
    torch.uint8: np.uint8,
    torch.bool: np.bool_,
}


def assert_same_batch(ours, theirs, where="batch"):
    """Same structure, containers and values; leaves are tensors of the mapped dtype."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, rs.Variable), f"{where}: {type(ours).__name__} is not a tensor"
        expected = theirs.numpy()
        got = np.asarray(ours)
        assert got.dtype == _TORCH_DTYPE[theirs.dtype], f"{where}: dtype {got.dtype} for {theirs.dtype}"
        assert got.shape == expected.shape, f"{where}: shape {got.shape} != {expected.shape}"
        np.testing.assert_array_equal(got, expected.astype(got.dtype), err_msg=where)
    elif isinstance(theirs, (str, bytes)):
        assert ours == theirs, where
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), where
        for key in theirs:
            assert_same_batch(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} != {type(theirs).__name__}"
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_batch(a, b, f"{where}[{i}]")
    else:
        assert ours == theirs, where


def batches_numpy(loader):
    return [[np.asarray(t) for t in batch] for batch in loader]


# --- TensorDataset ---------------------------------------------------------------------------

def test_tensor_dataset_stores_numpy_once_with_jax_dtypes(rng):
    x64 = rng.standard_normal((6, 3))
    labels = np.arange(6, dtype=np.int64)
    images = rng.integers(0, 256, (6, 2, 2), dtype=np.uint8)
    ds = TensorDataset(rs.tensor(x64.astype(np.float32)), jnp.asarray(labels.astype(np.int32)), images, x64)
    assert [a.dtype for a in ds.arrays] == [np.float32, np.int32, np.uint8, np.float32]
    assert all(isinstance(a, np.ndarray) for a in ds.arrays)
    ds2 = TensorDataset(x64, labels)
    assert ds2.arrays[1].dtype == np.int32 and ds2.arrays[0].dtype == np.float32
    assert len(ds2) == 6
    x, y = ds2[4]
    assert isinstance(x, rs.Variable) and isinstance(y, rs.Variable)
    np.testing.assert_array_equal(np.asarray(x), x64[4].astype(np.float32))
    assert np.asarray(y).shape == () and int(np.asarray(y)) == 4
    tensors = ds2.tensors
    assert isinstance(tensors, tuple) and np.asarray(tensors[1]).dtype == np.int32


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match=r"same size in dimension 0, got sizes \[10, 9\]"):
        TensorDataset(np.zeros((10, 3)), np.zeros(9))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(ValueError, match="tensor 1 is 0-d"):
        TensorDataset(np.zeros(3), np.float32(1.0))
    with pytest.raises(TypeError, match="numeric"):
        TensorDataset(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="do not fit int32"):
        TensorDataset(np.array([0, 2**40], dtype=np.int64))


# --- DataLoader against torch's DataLoader ---------------------------------------------------

def test_sequential_loader_matches_torch_on_random_configs(rng):
    for _ in range(12):
        n = int(rng.integers(1, 40))
        batch_size = int(rng.integers(1, 12))
        drop_last = bool(rng.integers(0, 2))
        x = rng.standard_normal((n, 3, 2)).astype(np.float32)
        y = rng.integers(0, 10, n)
        ours = DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last)
        theirs = tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                batch_size=batch_size, drop_last=drop_last)
        assert len(ours) == len(theirs) == (n // batch_size if drop_last else math.ceil(n / batch_size))
        got = list(ours)
        expected = list(theirs)
        assert len(got) == len(expected)
        for b, (a, e) in enumerate(zip(got, expected)):
            assert_same_batch(a, e, f"batch {b}")


class _DictDataset(Dataset):
    """A generic dataset: dicts of a numpy array, an int, a float, a string and a tuple."""

    def __init__(self, n, seed=0):
        r = np.random.default_rng(seed)
        self.x = r.standard_normal((n, 4)).astype(np.float32)
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": self.x[i], "label": int(i % 3), "w": float(i) / 2, "name": f"s{i}",
                "pair": (np.int64(i), bool(i % 2))}


def test_generic_dataset_loader_matches_torch():
    ds = _DictDataset(11)
    ours = DataLoader(ds, batch_size=4)
    theirs = tud.DataLoader(ds, batch_size=4)
    got, expected = list(ours), list(theirs)
    assert len(got) == len(expected) == len(ours) == 3
    for b, (a, e) in enumerate(zip(got, expected)):
        assert_same_batch(a, e, f"batch {b}")


Point = collections.namedtuple("Point", ["x", "y"])


@pytest.mark.parametrize("batch", [
    [0, 1, 2],
    [1.5, 2.5],
    [True, False, True],
    [np.float64(1.5), np.float64(2.0)],
    [np.arange(3, dtype=np.uint8), np.arange(3, 6, dtype=np.uint8)],
    [(0, 1.0), (2, 3.0)],
    [[0, 1], [2, 3]],
    [Point(0, np.ones(2)), Point(1, np.zeros(2))],
    [{"a": 0, "b": {"c": [1.0, 2.0]}}, {"a": 1, "b": {"c": [3.0, 4.0]}}],
    ["a", "b"],
    [{"s": "u", "t": np.int32(3)}, {"s": "v", "t": np.int32(4)}],
])
def test_default_collate_matches_torch(batch):
    assert_same_batch(default_collate(batch), tud.default_collate(batch))


def test_default_collate_stacks_rustorch_and_jax_tensors():
    batch = [(rs.tensor(np.full((2,), i, np.float32)), jnp.asarray(i)) for i in range(3)]
    xs, ys = default_collate(batch)
    np.testing.assert_array_equal(np.asarray(xs), np.repeat(np.arange(3, dtype=np.float32), 2).reshape(3, 2))
    np.testing.assert_array_equal(np.asarray(ys), np.arange(3, dtype=np.int32))


def test_default_collate_errors():
    with pytest.raises(ValueError, match=r"got \[2\] at entry 0 and \[3\] at entry 1"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="equal size"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="non-empty list"):
        default_collate([])


def test_fast_path_matches_per_sample_path_and_skips_getitem(rng, monkeypatch):
    x = rng.standard_normal((50, 2, 3)).astype(np.float32)
    y = rng.integers(0, 5, 50)
    base = TensorDataset(x, y)
    nested = Subset(Subset(base, rng.permutation(50)[:37].tolist()), list(range(36, -1, -2)))
    other = TensorDataset(x[:9] + 100, y[:9] + 100)
    joined = Subset(ConcatDataset([nested, other, base]), rng.permutation(78)[:70].tolist())
    for ds in (base, nested, joined):
        fast = batches_numpy(DataLoader(ds, batch_size=8, shuffle=True, generator=5))
        slow = batches_numpy(DataLoader(ds, batch_size=8, shuffle=True, generator=5,
                                        collate_fn=default_collate))
        assert len(fast) == len(slow)
        for a, b in zip(fast, slow):
            for u, v in zip(a, b):
                assert u.dtype == v.dtype
                np.testing.assert_array_equal(u, v)

    def forbidden(self, index):
        raise AssertionError("the fast path must not index samples one by one")

    monkeypatch.setattr(TensorDataset, "__getitem__", forbidden)
    assert sum(len(b[0]) for b in batches_numpy(DataLoader(nested, batch_size=7))) == 19
    assert sum(len(b[0]) for b in batches_numpy(DataLoader(joined, batch_size=7))) == 70


def test_concat_of_different_dtypes_promotes_like_per_sample_stacking():
    joined = TensorDataset(np.arange(3, dtype=np.uint8)) + TensorDataset(np.arange(3, dtype=np.float32) / 2)
    (batch,) = next(iter(DataLoader(joined, batch_size=6)))
    assert np.asarray(batch).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(batch), [0, 1, 2, 0, 0.5, 1])


def test_subclass_overriding_getitem_uses_its_getitem():
    class Doubled(TensorDataset):
        def __getitem__(self, index):
            (x,) = super().__getitem__(index)
            return (x * 2,)

    (batch,) = next(iter(DataLoader(Doubled(np.arange(4, dtype=np.float32)), batch_size=4)))
    np.testing.assert_array_equal(np.asarray(batch), [0, 2, 4, 6])


# --- shuffling and determinism ----------------------------------------------------------------

def _epochs(loader, count):
    return [np.concatenate([np.asarray(b[0]) for b in loader]) for _ in range(count)]


def test_shuffle_is_reproducible_and_epochs_differ():
    ds = TensorDataset(np.arange(100, dtype=np.int32))
    a = _epochs(DataLoader(ds, batch_size=16, shuffle=True, generator=7), 3)
    b = _epochs(DataLoader(ds, batch_size=16, shuffle=True, generator=7), 3)
    c = _epochs(DataLoader(ds, batch_size=16, shuffle=True, generator=np.random.default_rng(7)), 3)
    d = _epochs(DataLoader(ds, batch_size=16, shuffle=True, generator=8), 1)
    for epoch_a, epoch_b, epoch_c in zip(a, b, c):
        np.testing.assert_array_equal(epoch_a, epoch_b)
        np.testing.assert_array_equal(epoch_a, epoch_c)
        np.testing.assert_array_equal(np.sort(epoch_a), np.arange(100))
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    assert not np.array_equal(a[0], d[0])


def test_manual_seed_makes_default_shuffling_reproducible():
    ds = TensorDataset(np.arange(64, dtype=np.int32))
    loader = DataLoader(ds, batch_size=10, shuffle=True)
    rs.manual_seed(123)
    first = _epochs(loader, 2)
    rs.manual_seed(123)
    again = _epochs(loader, 2)
    rs.manual_seed(124)
    other = _epochs(loader, 1)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], other[0])


def test_rustorch_generator_drives_shuffling():
    ds = TensorDataset(np.arange(40, dtype=np.int32))
    a = _epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=rs.Generator(3)), 2)
    b = _epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=rs.Generator(3)), 2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])


def test_drop_last_and_len():
    ds = TensorDataset(np.arange(10, dtype=np.float32))
    sizes = [len(np.asarray(b[0])) for b in DataLoader(ds, batch_size=4, drop_last=True, shuffle=True, generator=0)]
    assert sizes == [4, 4]
    sizes = [len(np.asarray(b[0])) for b in DataLoader(ds, batch_size=4)]
    assert sizes == [4, 4, 2]
    assert len(DataLoader(ds, batch_size=4)) == 3 and len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    loader = DataLoader(ds, batch_size=3)
    assert loader.dataset is ds and loader.batch_size == 3


def test_loader_argument_errors():
    ds = TensorDataset(np.arange(4, dtype=np.float32))
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(TypeError, match="generator must be None, an int seed"):
        DataLoader(ds, shuffle=True, generator="seed")
    with pytest.raises(ValueError, match="non-negative"):
        DataLoader(ds, shuffle=True, generator=-1)
    with pytest.raises(TypeError, match="shuffle should be a boolean"):
        DataLoader(ds, shuffle=1)
    with pytest.raises(TypeError, match="collate_fn must be callable"):
        DataLoader(ds, collate_fn=3)


# --- samplers ------------------------------------------------------------------------------

def test_custom_sampler_and_collate_fn_match_torch():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    order = [5, 0, 3, 3, 1]
    ours = list(DataLoader(TensorDataset(x), batch_size=2, sampler=order))
    theirs = list(tud.DataLoader(tud.TensorDataset(torch.from_numpy(x)), batch_size=2, sampler=order))
    for a, e in zip(ours, theirs):
        assert_same_batch(a, e)
    assert len(ours) == len(theirs) == 3
    sums = list(DataLoader(_DictDataset(5), batch_size=2, collate_fn=lambda s: [d["label"] for d in s]))
    assert sums == [[0, 1], [2, 0], [1]]


def test_batch_sampler_matches_torch():
    for size, drop in ((3, False), (3, True), (5, False), (1, True)):
        ours = list(BatchSampler(SequentialSampler(range(11)), size, drop))
        theirs = list(tud.BatchSampler(tud.SequentialSampler(range(11)), size, drop))
        assert ours == theirs
        assert len(BatchSampler(range(11), size, drop)) == len(theirs)
        assert list(BatchSampler(range(11), size, drop)) == theirs


def test_random_samplers():
    s = RandomSampler(range(10), generator=1)
    assert sorted(s) == list(range(10)) and len(s) == 10
    s = RandomSampler(range(4), num_samples=10, generator=1)
    drawn = list(s)
    assert len(drawn) == len(s) == 10 and sorted(drawn[:4]) == [0, 1, 2, 3]
    s = RandomSampler(range(3), replacement=True, num_samples=50, generator=1)
    drawn = list(s)
    assert len(drawn) == 50 and set(drawn) == {0, 1, 2}
    sub = SubsetRandomSampler([7, 3, 9], generator=2)
    assert sorted(sub) == [3, 7, 9] and len(sub) == 3
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)


# --- Subset, ConcatDataset, random_split -----------------------------------------------------

def test_concat_dataset_matches_torch():
    a, b = list(range(5)), list(range(10, 13))
    ours = ConcatDataset([a, b])
    theirs = tud.ConcatDataset([a, b])
    assert len(ours) == len(theirs) == 8 and ours.cumulative_sizes == theirs.cumulative_sizes
    for i in range(-8, 8):
        assert ours[i] == theirs[i]
    with pytest.raises(IndexError, match="out of range"):
        ours[8]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    joined = TensorDataset(np.arange(3, dtype=np.float32)) + TensorDataset(np.arange(3, 5, dtype=np.float32))
    assert isinstance(joined, ConcatDataset)
    (batch,) = next(iter(DataLoader(joined, batch_size=5)))
    np.testing.assert_array_equal(np.asarray(batch), np.arange(5, dtype=np.float32))


def test_subset_indexing():
    sub = Subset(list(range(10, 20)), [3, 1, 4])
    assert len(sub) == 3 and sub[0] == 13 and sub[-1] == 14 and sub[[0, 2]] == [13, 14]


def test_random_split_lengths_match_torch(rng):
    for _ in range(20):
        n = int(rng.integers(1, 60))
        parts = int(rng.integers(1, 5))
        fractions = rng.dirichlet(np.ones(parts))
        fractions = list(fractions / fractions.sum())
        if sum(fractions) > 1:
            # Rounded above 1, PyTorch reads them as lengths and rejects them; so do we.
            with pytest.raises(ValueError):
                tud.random_split(range(n), fractions)
            with pytest.raises(ValueError):
                random_split(range(n), fractions)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zero-length splits warn in both libraries
            ours = random_split(range(n), fractions, generator=0)
            theirs = tud.random_split(range(n), fractions, generator=torch.Generator().manual_seed(0))
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        union = sorted(i for s in ours for i in s.indices)
        assert union == list(range(n))


def test_random_split_disjoint_and_reproducible():
    parts = random_split(range(30), [0.3, 0.3, 0.4], generator=42)
    assert [len(p) for p in parts] == [9, 9, 12]
    again = random_split(range(30), [0.3, 0.3, 0.4], generator=np.random.default_rng(42))
    assert [p.indices for p in parts] == [p.indices for p in again]
    seen = [set(p.indices) for p in parts]
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2]) and sorted(set().union(*seen)) == list(range(30))
    assert [list(p) for p in parts] == [[i for i in p.indices] for p in parts]
    ints = random_split(range(10), [3, 7], generator=1)
    assert [len(p) for p in ints] == [3, 7]
    assert random_split(range(10), [3, 7], generator=2)[0].indices != ints[0].indices
    rs.manual_seed(9)
    first = random_split(range(20), [10, 10])
    rs.manual_seed(9)
    assert random_split(range(20), [10, 10])[0].indices == first[0].indices


def test_random_split_errors_and_warning():
    with pytest.raises(ValueError, match=r"sum of input lengths \(9\) does not equal the length of the input dataset \(10\)"):
        random_split(range(10), [4, 5])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])
    with pytest.raises(ValueError, match="non-negative ints"):
        random_split(range(10), [12, -2])
    with pytest.warns(UserWarning, match="Length of split at index 2 is 0"):
        parts = random_split(range(2), [0.5, 0.5, 0.0], generator=0)
    assert [len(p) for p in parts] == [1, 1, 0]
