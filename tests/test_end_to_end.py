"""End to end: the main job on real MNIST, and checkpoints exchanged with PyTorch both ways."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import rustorch
from rustorch import nn
from tests.torch_compare import assert_close

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("RUSTORCH_DATA") or os.path.join(REPO, "..", "shared", "data", "mnist")


def _rustorch_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3),
    )


def _torch_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
        torch.nn.Linear(8, 3),
    )


def test_rustorch_trained_checkpoint_loads_into_torch(tmp_path, rng):
    rustorch.manual_seed(0)
    model = _rustorch_cnn()
    optimizer = rustorch.optim.Adam(model.parameters(), lr=1e-2)
    x = rng.standard_normal((16, 1, 12, 12), dtype=np.float32)
    y = rng.integers(0, 3, 16).astype(np.int32)
    for _ in range(3):
        optimizer.zero_grad()
        nn.CrossEntropyLoss()(model(rustorch.tensor(x)), rustorch.tensor(y)).backward()
        optimizer.step()
    path = tmp_path / "rustorch.pth"
    rustorch.save(model.state_dict(), path)

    reference = _torch_cnn()
    state = torch.load(path, weights_only=True)
    assert state["1.num_batches_tracked"].dtype == torch.int64
    assert int(state["1.num_batches_tracked"]) == 3
    reference.load_state_dict(state)
    reference.eval()
    model.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    assert_close(np.asarray(model(rustorch.tensor(x))), expected)


def test_torch_trained_checkpoint_loads_into_rustorch(tmp_path, rng):
    torch.manual_seed(0)
    reference = _torch_cnn()
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    x = rng.standard_normal((16, 1, 12, 12), dtype=np.float32)
    y = rng.integers(0, 3, 16)
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        optimizer.step()
    path = tmp_path / "torch.pth"
    torch.save(reference.state_dict(), path)

    model = _rustorch_cnn()
    model.load_state_dict(rustorch.load(path))
    model.eval()
    reference.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    assert_close(np.asarray(model(rustorch.tensor(x))), expected)
    assert int(model[1].num_batches_tracked.item()) == 3


@pytest.mark.slow
def test_main_job_smoke_run_learns_and_resumes(tmp_path):
    """A few hundred real MNIST images: the loss falls, accuracy beats chance, resume works."""
    sys.path.insert(0, REPO)
    try:
        from examples import mnist_cnn
    finally:
        sys.path.remove(REPO)
    out = str(tmp_path / "run")
    common = ["--data", DATA, "--out", out, "--limit", "640", "--batch-size", "32", "--seed", "1"]
    accuracy = mnist_cnn.main(common + ["--epochs", "1"])
    assert accuracy > 40.0  # 20 Adam steps on 640 images; chance is 10%
    assert os.path.exists(os.path.join(out, "checkpoint.pth"))
    assert os.path.exists(os.path.join(out, "curves.png"))
    checkpoint = torch.load(os.path.join(out, "checkpoint.pth"), weights_only=True)
    assert checkpoint["epoch"] == 0 and "conv1.weight" in checkpoint["model"]
    resumed = mnist_cnn.main(common + ["--epochs", "2", "--resume"])
    assert resumed > 40.0


@pytest.mark.slow
def test_seed_program_runs_as_written(tmp_path):
    env = dict(os.environ, RUSTORCH_DATA=DATA)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", "seed_program.py"), "--limit", "256",
         "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "validation accuracy" in result.stdout
    assert "restored checkpoint predicts identically: True" in result.stdout
    assert os.path.exists(tmp_path / "model_epoch_0.pth")
