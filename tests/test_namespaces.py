"""PyTorch's module paths that programs name directly: ``nn.modules.*``, ``multiprocessing``, ``onnx``."""
import time

import pytest
import torch

import rustorch
import rustorch.multiprocessing as mp
from _spawn_targets import fail_on_one, wait_unless_one_fails, write_rank


def test_nn_modules_paths_hold_the_nn_classes():
    for submodule in ("rnn", "linear", "sparse", "dropout", "container", "activation"):
        ours = getattr(rustorch.nn.modules, submodule)
        theirs = getattr(torch.nn.modules, submodule)
        for name in vars(ours):
            if not name.startswith("_"):
                assert hasattr(theirs, name), f"torch.nn.modules.{submodule} has no {name}"
                assert getattr(ours, name) is getattr(rustorch.nn, name, getattr(ours, name))
    assert rustorch.nn.modules.rnn.LSTM is rustorch.nn.LSTM
    assert rustorch.nn.modules.linear.NonDynamicallyQuantizableLinear is rustorch.nn.Linear


def test_spawn_runs_each_rank_and_reports_failures(tmp_path):
    # "spawn", torch's default: forking a process whose JAX runtime has started can deadlock.
    mp.spawn(write_rank, args=(tmp_path,), nprocs=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank0", "rank1"]
    with pytest.raises(mp.ProcessRaisedException, match="process 1 of 2 terminated with exit code 3"):
        mp.spawn(fail_on_one, nprocs=2)


def test_spawn_ends_the_others_when_one_fails():
    # rank 0 waits for ever: spawn must notice rank 1's failure and terminate rank 0
    start = time.monotonic()
    with pytest.raises(mp.ProcessRaisedException, match="process 1 of 2 terminated with exit code 4"):
        mp.spawn(wait_unless_one_fails, nprocs=2)
    assert time.monotonic() - start < 60


def test_onnx_export_says_it_is_unavailable():
    with pytest.raises(NotImplementedError, match="no ONNX exporter"):
        rustorch.onnx.export(rustorch.nn.Linear(2, 2), rustorch.zeros(1, 2), "model.onnx")
