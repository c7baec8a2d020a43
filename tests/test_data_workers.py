"""DataLoader with num_workers > 0 (processes and threads), iterable datasets, samplers, and the
loader's argument checks, against torch.utils.data where the behaviour is defined the same."""
import gc
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from torch.utils.data._utils.worker import _generate_state

import rustorch.stateful as rs
from rustorch.utils.data import (
    BatchSampler,
    ChainDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
)
from rustorch.utils.data._worker import generate_numpy_state

CONTEXTS = ["fork", "thread"]


class Squares(Dataset):
    """Samples (array, int, float, str) that say which worker made them."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full((2,), i, np.float32), "i": i, "sq": float(i * i), "name": f"s{i}"}


class WhoAmI(Dataset):
    def __init__(self, n=12):
        self.n = n
        self.tag = "main"

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = get_worker_info()
        return (i, -1 if info is None else info.id, -1 if info is None else info.seed,
                os.getpid(), int(np.random.randint(0, 2**31 - 1)), self.tag == f"init{info.id if info else ''}",
                rs.initial_seed())


def _tag(worker_id):
    get_worker_info().dataset.tag = f"init{worker_id}"


def _numpy(batch):
    if isinstance(batch, dict):
        return {k: _numpy(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [_numpy(v) for v in batch]
    return np.asarray(batch) if isinstance(batch, rs.Variable) else batch


def _torch_numpy(batch):
    if isinstance(batch, dict):
        return {k: _torch_numpy(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [_torch_numpy(v) for v in batch]
    return batch.numpy() if isinstance(batch, torch.Tensor) else batch


def _assert_equal(ours, theirs):
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for k in theirs:
            _assert_equal(ours[k], theirs[k])
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_equal(a, b)
    elif isinstance(theirs, np.ndarray):
        np.testing.assert_array_equal(ours, theirs.astype(ours.dtype))
    else:
        assert ours == theirs


@pytest.mark.parametrize("context", CONTEXTS)
def test_workers_give_torch_batches_in_order(context, rng):
    for _ in range(3):
        n = int(rng.integers(1, 30))
        batch_size = int(rng.integers(1, 7))
        drop_last = bool(rng.integers(0, 2))
        workers = int(rng.integers(1, 4))
        ours = DataLoader(Squares(n), batch_size=batch_size, drop_last=drop_last,
                          num_workers=workers, multiprocessing_context=context)
        theirs = tud.DataLoader(Squares(n), batch_size=batch_size, drop_last=drop_last)
        got = [_numpy(b) for b in ours]
        expected = [_torch_numpy(b) for b in theirs]
        assert len(got) == len(expected) == len(ours) == len(theirs)
        _assert_equal(got, expected)
        assert all(isinstance(b["x"], rs.Variable) for b in ours)


@pytest.mark.parametrize("context", CONTEXTS)
def test_tensor_dataset_rows_through_workers(context, rng):
    x = rng.standard_normal((37, 3)).astype(np.float32)
    y = rng.integers(0, 5, 37)
    ours = DataLoader(TensorDataset(x, y), batch_size=8, num_workers=2, multiprocessing_context=context)
    got = [[np.asarray(t) for t in b] for b in ours]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)
    assert got[0][1].dtype == np.int32


def test_worker_info_seeds_and_init_fn_as_torch():
    ds = WhoAmI(12)
    loader = DataLoader(ds, batch_size=2, num_workers=3, worker_init_fn=_tag, generator=11,
                        collate_fn=list)
    rows = np.array([sample for batch in loader for sample in batch], dtype=object)
    index, worker, seed, pid, draw, tagged, initial = rows.T
    assert (initial == seed).all(), "rustorch.initial_seed() is the worker's seed, as torch.initial_seed()"
    np.testing.assert_array_equal(index, np.arange(12))
    np.testing.assert_array_equal(worker, np.repeat([0, 1, 2, 0, 1, 2], 2))  # round-robin batches
    assert tagged.all(), "worker_init_fn ran in each worker before fetching"
    assert len(set(pid.tolist())) == 3 and os.getpid() not in pid
    base = int(seed[0])
    assert (seed == base + worker).all()
    # numpy's global generator is seeded as PyTorch seeds it: _generate_state(base_seed, id).
    for w in range(3):
        assert generate_numpy_state(base, w) == _generate_state(base, w)
        first = rows[worker == w][0]
        np.random.seed(_generate_state(base, w))
        assert first[4] == np.random.randint(0, 2**31 - 1)
    # The base seed comes from the generator: the same seed repeats, another differs.
    again = [s[2] for b in DataLoader(ds, batch_size=2, num_workers=3, generator=11, collate_fn=list)
             for s in b]
    assert again == seed.tolist()
    other = next(iter(DataLoader(ds, batch_size=2, num_workers=1, generator=12, collate_fn=list)))
    assert other[0][2] != base
    assert get_worker_info() is None


def test_generate_state_matches_torch(rng):
    for _ in range(20):
        base = int(rng.integers(0, 2**63 - 1))
        worker = int(rng.integers(0, 64))
        assert generate_numpy_state(base, worker) == _generate_state(base, worker)


class Failing(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 5:
            raise ValueError(f"sample {i} is broken")
        if i == 7:
            raise KeyError("missing key")
        return i


@pytest.mark.parametrize("context", CONTEXTS)
def test_worker_errors_are_reraised_with_the_worker_traceback(context):
    kind = "process" if context != "thread" else "thread"
    loader = DataLoader(Failing(), batch_size=2, num_workers=2, multiprocessing_context=context)
    it = iter(loader)
    assert np.asarray(next(it)).tolist() == [0, 1]
    assert np.asarray(next(it)).tolist() == [2, 3]
    with pytest.raises(ValueError) as info:
        next(it)
    message = str(info.value)
    assert message.startswith(f"Caught ValueError in DataLoader worker {kind} 0.\nOriginal Traceback")
    assert "sample 5 is broken" in message and "in __getitem__" in message
    with pytest.raises(KeyError, match=f"Caught KeyError in DataLoader worker {kind} 1"):
        next(it)
    assert np.asarray(next(it)).tolist() == [8, 9]  # the iterator goes on, as PyTorch's
    with pytest.raises(StopIteration):
        next(it)


class UsesJax(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return rs.tensor(np.ones(2, np.float32)) * i


def test_jax_in_a_forked_worker_raises_instead_of_hanging():
    rs.tensor(np.ones(2, np.float32)) + 1  # the parent's XLA runtime is up
    with pytest.raises(RuntimeError, match="JAX cannot run in a forked worker process"):
        list(DataLoader(UsesJax(), batch_size=2, num_workers=1, timeout=60))
    got = [np.asarray(b) for b in DataLoader(UsesJax(), batch_size=2, num_workers=1,
                                              multiprocessing_context="thread")]
    np.testing.assert_array_equal(np.concatenate(got)[:, 0], [0, 1, 2, 3])


class Unpicklable(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return i


def test_a_batch_that_cannot_be_sent_is_an_error():
    loader = DataLoader(Unpicklable(), batch_size=2, num_workers=1,
                        collate_fn=lambda samples: (lambda: samples))
    with pytest.raises(Exception, match="while sending the batch to the main process"):
        next(iter(loader))


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(4 if i == 2 else 0)  # well beyond the timeout, however loaded the machine
        return i


def test_timeout():
    it = iter(DataLoader(Slow(), batch_size=2, num_workers=1, timeout=0.5))
    next(it)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.5 seconds"):
        next(it)
    it.close()


class Suicidal(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return i


def test_a_dead_worker_is_reported():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+ exit code -9\) exited unexpectedly"):
        list(DataLoader(Suicidal(), batch_size=2, num_workers=1))
    gc.collect()
    assert multiprocessing.active_children() == []


def _children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_workers_stop_at_epoch_end_on_delete_and_with_persistent_workers():
    ds = WhoAmI(8)
    gc.collect()
    list(DataLoader(ds, batch_size=2, num_workers=2, collate_fn=list))
    assert multiprocessing.active_children() == []
    it = iter(DataLoader(ds, batch_size=1, num_workers=2, collate_fn=list))
    next(it)
    assert len(multiprocessing.active_children()) == 2
    del it
    gc.collect()
    assert multiprocessing.active_children() == []
    loader = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True, collate_fn=list)
    pids = [{s[3] for b in loader for s in b} for _ in range(3)]
    assert pids[0] == pids[1] == pids[2] and len(pids[0]) == 2
    assert len(multiprocessing.active_children()) == 2
    del loader
    gc.collect()
    assert multiprocessing.active_children() == []


@pytest.mark.slow
def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {os.getcwd()!r})
        import numpy as np
        from rustorch.utils.data import DataLoader, Dataset
        class Forever(Dataset):
            def __len__(self):
                return 10**6
            def __getitem__(self, i):
                time.sleep(0.01)
                return np.zeros(2, np.float32)
        it = iter(DataLoader(Forever(), batch_size=4, num_workers=2))
        next(it)
        print("ready", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        workers = _children_of(proc.pid)
        assert len(workers) >= 2
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_running(p) for p in workers):
        time.sleep(0.2)
    alive = [p for p in workers if _running(p)]
    assert alive == [], f"orphan workers {alive}"


def _running(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read()
    except FileNotFoundError:
        return False


class Stream(IterableDataset):
    def __init__(self, n, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))

    def __len__(self):
        return self.n


class TorchStream(tud.IterableDataset):
    def __init__(self, n, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = tud.get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


def _torch_batches(dataset, **kwargs):
    with warnings.catch_warnings():
        # JAX's warning at torch's fork, torch's warning about more workers than cores.
        warnings.simplefilter("ignore")
        loader = tud.DataLoader(dataset, **kwargs)
        return [b.tolist() if isinstance(b, torch.Tensor) else b for b in loader]


class Uneven(IterableDataset):
    """Worker 0 streams one sample, worker 1 ten."""

    def __iter__(self):
        info = get_worker_info()
        return iter([100] if info.id == 0 else range(10))


class TorchUneven(tud.IterableDataset):
    def __iter__(self):
        return iter([100] if tud.get_worker_info().id == 0 else range(10))


@pytest.mark.parametrize("context", CONTEXTS)
def test_iterable_workers_that_end_early_as_torch(context):
    for persistent in (False, True):
        loader = DataLoader(Uneven(), batch_size=1, num_workers=2, prefetch_factor=3,
                            persistent_workers=persistent, multiprocessing_context=context)
        expected = _torch_batches(TorchUneven(), batch_size=1, num_workers=2, prefetch_factor=3)
        for _ in range(2 if persistent else 1):
            assert [np.asarray(b).tolist() for b in loader] == expected


@pytest.mark.parametrize("context", CONTEXTS)
def test_iterable_dataset_with_workers_as_torch(context):
    for workers, shard, batch_size, drop_last in ((1, True, 3, False), (2, True, 3, True),
                                                   (3, False, 3, False), (2, False, None, False)):
        ours = DataLoader(Stream(10, shard), batch_size=batch_size, drop_last=drop_last,
                          num_workers=workers, multiprocessing_context=context)
        got = [np.asarray(b).tolist() for b in ours]
        expected = _torch_batches(TorchStream(10, shard), batch_size=batch_size,
                                  drop_last=drop_last, num_workers=workers)
        assert got == expected, (workers, shard, batch_size, drop_last)
    assert len(DataLoader(Stream(10), batch_size=3)) == 4
    assert len(DataLoader(Stream(10), batch_size=3, drop_last=True)) == 3


def test_chain_dataset_and_persistent_iterable_workers():
    chained = Stream(3) + Stream(2)
    assert isinstance(chained, ChainDataset) and len(chained) == 5
    assert [np.asarray(b).tolist() for b in DataLoader(chained, batch_size=2)] == [[0, 1], [2, 0], [1]]
    assert list(chained) == [0, 1, 2, 0, 1]
    loader = DataLoader(Stream(7), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in range(3):
        assert sorted(np.concatenate([np.asarray(b) for b in loader]).tolist()) == list(range(7))
    with pytest.raises(TypeError, match="ChainDataset only supports IterableDataset"):
        list(ChainDataset([Stream(2), [1, 2]]))


@pytest.mark.parametrize("context", CONTEXTS)
def test_out_of_order_delivers_every_batch(context):
    loader = DataLoader(Slow(), batch_size=1, num_workers=2, in_order=False,
                        multiprocessing_context=context)
    got = [int(np.asarray(b)[0]) for b in loader]
    assert sorted(got) == [0, 1, 2, 3] and got != [0, 1, 2, 3]


def test_no_batching_uses_default_convert_like_torch():
    ds = Squares(4)
    ours = [_numpy(b) for b in DataLoader(ds, batch_size=None, num_workers=1)]
    theirs = [_torch_numpy(b) for b in tud.DataLoader(ds, batch_size=None)]
    _assert_equal(ours, theirs)
    assert isinstance(next(iter(DataLoader(ds, batch_size=None)))["x"], rs.Variable)


def test_batch_sampler_and_sampler_arguments_match_torch():
    x = np.arange(20, dtype=np.float32)
    batches = [[3, 1], [0, 4, 9], [7]]
    ours = [np.asarray(b[0]).tolist() for b in DataLoader(TensorDataset(x), batch_sampler=batches, num_workers=2)]
    theirs = [b[0].tolist() for b in tud.DataLoader(tud.TensorDataset(torch.from_numpy(x)), batch_sampler=batches)]
    assert ours == theirs
    sampler = BatchSampler(SequentialSampler(range(7)), 3, drop_last=True)
    assert len(DataLoader(TensorDataset(x), batch_sampler=sampler)) == 2
    assert [np.asarray(b[0]).tolist() for b in DataLoader(TensorDataset(x), batch_sampler=sampler)] == [[0, 1, 2], [3, 4, 5]]


def test_loader_argument_errors_match_torch():
    ds = TensorDataset(np.arange(4, dtype=np.float32))
    cases = [
        (dict(num_workers=-1), ValueError, "num_workers option should be non-negative"),
        (dict(timeout=-1), ValueError, "timeout option should be non-negative"),
        (dict(prefetch_factor=2), ValueError, "prefetch_factor option could only be specified in multiprocessing"),
        (dict(persistent_workers=True), ValueError, "persistent_workers option needs num_workers > 0"),
        (dict(batch_sampler=[[0]], batch_size=2), ValueError, "batch_sampler option is mutually exclusive"),
        (dict(batch_sampler=[[0]], drop_last=True), ValueError, "batch_sampler option is mutually exclusive"),
        (dict(batch_size=None, drop_last=True), ValueError, "mutually exclusive with drop_last"),
        (dict(multiprocessing_context="fork"), ValueError, "multiprocessing_context can only be used"),
        (dict(num_workers=1, multiprocessing_context="teleport"), ValueError, "valid start method"),
        (dict(worker_init_fn=3), TypeError, "worker_init_fn must be callable"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            DataLoader(ds, **kwargs)
        if "worker_init_fn" not in kwargs and kwargs.get("multiprocessing_context") != "teleport":
            with pytest.raises(error, match=message):
                tud.DataLoader(tud.TensorDataset(torch.zeros(4)), **kwargs)
    for kwargs in (dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])):
        with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified"):
            DataLoader(Stream(3), **kwargs)
    assert DataLoader(ds, num_workers=2).prefetch_factor == 2
    assert DataLoader(ds, pin_memory=True, shuffle=None).pin_memory is True


def test_weighted_random_sampler():
    weights = [0.0, 1.0, 3.0, 0.0]
    drawn = list(WeightedRandomSampler(weights, 4000, generator=0))
    counts = np.bincount(drawn, minlength=4)
    assert counts[0] == counts[3] == 0 and abs(counts[2] / counts[1] - 3) < 0.4
    no_rep = list(WeightedRandomSampler(weights, 2, replacement=False, generator=1))
    assert sorted(no_rep) == [1, 2]
    assert len(WeightedRandomSampler(weights, 7)) == 7
    again = list(WeightedRandomSampler(weights, 50, generator=3))
    assert again == list(WeightedRandomSampler(weights, 50, generator=3))
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler([[1.0]], 2)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler(weights, 0)
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler(weights, 3, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)


def test_subset_getitems_and_default_collate_of_torch_structures():
    class Batched(Dataset):
        calls = []

        def __len__(self):
            return 6

        def __getitems__(self, keys):
            Batched.calls.append(list(keys))
            return [(k, float(k)) for k in keys]

    from rustorch.utils.data import Subset
    loader = DataLoader(Subset(Batched(), [5, 4, 3]), batch_size=2)
    assert [np.asarray(b[0]).tolist() for b in loader] == [[5, 4], [3]]
    assert Batched.calls == [[5, 4], [3]]
    assert default_collate([(1, 2.0)])[1].dtype == np.float32


@pytest.mark.slow
def test_spawned_workers_match_the_main_process():
    from rustorch.vision import datasets, transforms

    ds = datasets.FakeData(size=5, image_size=(3, 4, 4), transform=transforms.ToTensor())
    ours = [[np.asarray(t) for t in b] for b in DataLoader(ds, batch_size=2, num_workers=1,
                                                           multiprocessing_context="spawn", timeout=120)]
    main = [[np.asarray(t) for t in b] for b in DataLoader(ds, batch_size=2)]
    assert len(ours) == len(main) == 3
    for a, b in zip(ours, main):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    gc.collect()
    assert multiprocessing.active_children() == []


class TensorMethods(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        from rustorch.utils.data._convert import to_tensor
        return to_tensor(np.ones((2, 2), np.float32)).unsqueeze(0)


def test_tensor_methods_in_worker_processes_say_why_they_are_missing():
    with pytest.raises(AttributeError, match=r"inside a DataLoader worker process tensors are host arrays"):
        next(iter(DataLoader(TensorMethods(), batch_size=2, num_workers=1)))
    batch = next(iter(DataLoader(TensorMethods(), batch_size=2, num_workers=1, multiprocessing_context="thread")))
    assert batch.shape == (2, 1, 2, 2)
