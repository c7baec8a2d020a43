"""Two processes on 127.0.0.1: collectives, DDP against one process, a dying rank, and a
PyTorch DDP script run with swapped imports against PyTorch itself."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.distributed._launch import HERE, ROOT, env, free_port, launcher, run

TIMEOUT = 420  # generous: the machine running the suite may be heavily loaded


def _max_rel(ours, ref):
    worst = 0.0
    for key, value in ref.items():
        a, b = np.asarray(ours[key], np.float64), np.asarray(value, np.float64)
        worst = max(worst, float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12)))
    return worst


@pytest.mark.slow
def test_collectives_and_ddp_over_two_processes(tmp_path):
    code, out = run(launcher("--standalone", "--nproc-per-node", "2", str(HERE / "_ddp_worker.py"), str(tmp_path)),
                    timeout=TIMEOUT)
    assert code == 0, out[-4000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    for r in (r0, r1):
        assert r["world"] == 2 and r["backend"] == "gloo"
        assert r["sum"] == [3.0, -6.0, 9.0] and r["avg"] == [2.5, -0.5]
        assert r["max"] == [3.0, 0.0] and r["min"] == [2.0, -1.0] and r["prod"] == [6.0, -0.0]
        assert r["bor"] == [3, 6] and r["broadcast"] == [10.0, 1.0]
        assert r["all_gather"] == [[0.0, 0.5], [1.0, 1.5]]
        assert r["all_gather_into_tensor"] == [[0.0] * 3, [0.0] * 3, [1.0] * 3, [1.0] * 3]
        assert r["work_wait"] is True and r["ddp_extra_compiles"] == 0
    assert r0["gather"] is None and r1["gather"] == [[0.0, 7.0], [1.0, 7.0]]
    assert r0["scatter"] == [1.0, 2.0, 3.0] and r1["scatter"] == [2.0, 4.0, 6.0]
    for r in (r0, r1):
        assert r["all_gather_object"] == [{"rank": 0, "text": ""}, {"rank": 1, "text": "xxxxx"}]
        assert r["broadcast_object_list"] == [1, "from rank 1"]
    assert r0["reduce_scatter"] == [3.0, 6.0] and r1["reduce_scatter"] == [30.0, 60.0]
    assert r0["reduce_scatter_tensor"] == [0.0, 3.0] and r1["reduce_scatter_tensor"] == [6.0, 9.0]
    for label, ref in (("ddp", "ref_mlp"), ("ddp_no_sync", "ref_mlp"), ("syncbn", "ref_bn")):
        assert r0[label + "_state"] == r1[label + "_state"], f"{label}: the ranks' weights differ"
        state = {k[len("module."):]: v for k, v in r0[label + "_state"].items()}
        assert _max_rel(state, r0[ref + "_state"]) < 2e-5, label
    # each rank reports its local mean loss; with equal shares their mean is the global loss
    for label, ref in (("ddp", "ref_mlp"), ("syncbn", "ref_bn")):
        mean = (np.asarray(r0[label + "_losses"]) + np.asarray(r1[label + "_losses"])) / 2
        np.testing.assert_allclose(mean, r0[ref + "_losses"], rtol=2e-6)


def test_dying_rank_fails_the_others_with_a_clear_error():
    port = free_port()
    procs = []
    try:
        for rank in (0, 1):
            procs.append(subprocess.Popen(
                [sys.executable, str(HERE / "_dying_worker.py"), "3"], cwd=str(ROOT), start_new_session=True,
                env=env(RANK=rank, WORLD_SIZE=2, LOCAL_RANK=rank, MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        outs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert procs[1].returncode == 3, outs[1][-3000:]
    assert procs[0].returncode == 17, outs[0][-3000:]
    assert re.search(r"rank 0 caught DistBackendError after [\d.]+s: rustorch.distributed.all_reduce failed on rank 0 "
                     r"of 2 \(gloo\): another rank probably died", outs[0]), outs[0][-3000:]


@pytest.mark.slow
def test_dying_rank_under_the_launcher_stops_the_job():
    start = time.monotonic()
    code, out = run(launcher("--standalone", "--nproc-per-node", "2", str(HERE / "_dying_worker.py"), "5"),
                    timeout=TIMEOUT)
    assert code in (5, 17), out[-3000:]  # rank 1's code, or rank 0's if it noticed first
    assert "failed with exit code" in out
    assert time.monotonic() - start < TIMEOUT


def _swap_imports(source: str) -> str:
    """The import swap of the contract: ``torch`` -> ``rustorch`` in import lines only."""
    lines = []
    for line in source.splitlines():
        if line.startswith("import torch") or line.startswith("from torch"):
            line = re.sub(r"^import torch$", "import rustorch as torch", line)
            line = re.sub(r"^import torch\.", "import rustorch.", line)
            line = re.sub(r"^from torch\.", "from rustorch.", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.slow
def test_pytorch_ddp_script_with_swapped_imports_matches_pytorch(tmp_path):
    import torch

    sys.path.insert(0, str(HERE))
    try:
        from _torch_style_ddp import Net
    finally:
        sys.path.remove(str(HERE))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.normal(size=(38, 1, 8, 8)).astype(np.float32), y=rng.integers(0, 3, 38))
    torch.manual_seed(0)
    torch.save(Net().state_dict(), tmp_path / "init.pth")
    script = tmp_path / "rustorch_ddp.py"
    script.write_text(_swap_imports((HERE / "_torch_style_ddp.py").read_text()))
    assert "import rustorch.distributed as dist" in script.read_text()
    common = ["--data", str(tmp_path / "data.npz"), "--init", str(tmp_path / "init.pth")]
    code, ours = run(launcher("--nproc-per-node", "2", "--master-port", str(free_port()), str(script), *common,
                              "--out", str(tmp_path / "ours.pth")), timeout=TIMEOUT)
    assert code == 0, ours[-4000:]
    code, theirs = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        str(HERE / "_torch_style_ddp.py"), *common, "--out", str(tmp_path / "theirs.pth")],
                       timeout=TIMEOUT)
    assert code == 0, theirs[-4000:]
    a, b = torch.load(tmp_path / "ours.pth"), torch.load(tmp_path / "theirs.pth")
    assert list(a) == list(b)
    for key in b:
        assert float((a[key] - b[key]).abs().max() / b[key].abs().max()) < 2e-5, key
    # the printed losses (6 decimals) of each rank and epoch, equal up to float32 rounding
    losses = lambda text: dict(re.findall(r"(rank \d epoch \d) loss ([\d.]+)", text))  # noqa: E731
    ours_losses, theirs_losses = losses(ours), losses(theirs)
    assert sorted(ours_losses) == sorted(theirs_losses) and len(ours_losses) == 4, (ours_losses, theirs_losses)
    for step, value in theirs_losses.items():
        assert abs(float(ours_losses[step]) - float(value)) <= 2e-6 * max(1.0, abs(float(value))), step


@pytest.mark.slow
def test_tutorial_spawn_pattern():
    code, out = run([sys.executable, str(HERE / "_spawn_ddp.py"), str(free_port())], timeout=TIMEOUT)
    assert code == 0, out[-4000:]
    sums = sorted(re.findall(r"rank (\d) done, weight sum (\S+)", out))
    assert [rank for rank, _ in sums] == ["0", "1"] and sums[0][1] == sums[1][1], out[-2000:]
