"""The launcher's environment and failure handling, and a one-process group in this process."""
import json
import re
import time

import numpy as np
import pytest

import rustorch as torch
import rustorch.distributed as dist
from rustorch.distributed.run import child_environments

from tests.distributed._launch import HERE, launcher, run


def test_child_environments_follow_torchrun():
    envs = child_environments(2, 3, 1, "10.0.0.1", 1234, "job", base={})
    assert [e["RANK"] for e in envs] == ["2", "3"]
    assert {e["WORLD_SIZE"] for e in envs} == {"6"} and {e["LOCAL_WORLD_SIZE"] for e in envs} == {"2"}
    assert [e["LOCAL_RANK"] for e in envs] == ["0", "1"] and {e["GROUP_RANK"] for e in envs} == {"1"}
    assert {(e["MASTER_ADDR"], e["MASTER_PORT"], e["TORCHELASTIC_RUN_ID"]) for e in envs} == {("10.0.0.1", "1234", "job")}


def test_launcher_sets_env_and_succeeds():
    code, out = run(launcher("--nproc_per_node", "2", "--master-port", "29999", str(HERE / "_env_worker.py"), "0", "-1"),
                    timeout=60)
    assert code == 0, out
    # the children share the pipe: their lines may interleave, so find each printed object
    envs = sorted((json.loads(m) for m in re.findall(r"ENV (\{[^{}]*\})", out)), key=lambda e: e["RANK"])
    assert [(e["RANK"], e["LOCAL_RANK"], e["WORLD_SIZE"], e["MASTER_PORT"]) for e in envs] == [
        ("0", "0", "2", "29999"), ("1", "1", "2", "29999")]


def test_failing_child_stops_the_others_and_propagates_its_code():
    start = time.monotonic()
    code, out = run(launcher("--standalone", "--nproc-per-node", "3", str(HERE / "_env_worker.py"), "7", "1", "sleep"),
                    timeout=60)
    assert code == 7, out
    assert "rank 1 (local rank 1" in out and "exit code 7" in out
    assert time.monotonic() - start < 30  # the sleepers (600 s) were stopped


def test_one_process_group_in_process():
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:1", rank=0, world_size=1)
    try:
        assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
        assert dist.get_backend() == "gloo"
        t = torch.tensor([1.0, 2.0])
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        assert t.numpy().tolist() == [1.0, 2.0]
        out = [torch.zeros(2)]
        dist.all_gather(out, torch.tensor([3.0, 4.0]))
        assert out[0].numpy().tolist() == [3.0, 4.0]
        with pytest.raises(RuntimeError, match="twice"):
            dist.init_process_group("gloo", init_method="tcp://127.0.0.1:1", rank=0, world_size=1)
        with pytest.raises(ValueError, match="AVG needs a floating point"):
            dist.all_reduce(torch.tensor(np.array([1], np.int32)), op=dist.ReduceOp.AVG)
        model = torch.nn.Linear(3, 2)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        assert list(ddp.state_dict()) == ["module.weight", "module.bias"] and ddp.module is model
        ddp(torch.ones(4, 3)).sum().backward()
        assert model.weight.grad is not None
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()


def test_errors_without_a_group():
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="init_process_group"):
        torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend must be one of"):
        dist.init_process_group("mpi", init_method="tcp://127.0.0.1:1", rank=0, world_size=1)
    with pytest.raises(ValueError, match="not supported"):
        dist.init_process_group("gloo", init_method="file:///tmp/x", rank=0, world_size=1)
