"""PyTorch's module paths that programs name directly: ``nn.modules.*``, ``multiprocessing``, ``onnx``."""
import pytest
import torch

import rustorch
import rustorch.multiprocessing as mp


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


def _write_rank(rank, folder):
    (folder / f"rank{rank}").write_text(str(rank))


def _fail_on_one(rank):
    if rank == 1:
        raise SystemExit(3)


def test_spawn_runs_each_rank_and_reports_failures(tmp_path):
    mp.spawn(_write_rank, args=(tmp_path,), nprocs=2, start_method="fork")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank0", "rank1"]
    with pytest.raises(mp.ProcessRaisedException, match="process 1 of 2 terminated with exit code 3"):
        mp.spawn(_fail_on_one, nprocs=2, start_method="fork")


def test_onnx_export_says_it_is_unavailable():
    with pytest.raises(NotImplementedError, match="no ONNX exporter"):
        rustorch.onnx.export(rustorch.nn.Linear(2, 2), rustorch.zeros(1, 2), "model.onnx")
