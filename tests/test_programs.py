"""Real PyTorch programs by others run with only their imports swapped.

Each program under ``tests/programs/`` is a faithful copy of its upstream source (licence and
origin beside it). The test swaps its imports (``tests/programs/swap_imports.py``: ``import
torch`` -> ``import rustorch as torch``, ``torchvision`` -> ``rustorch.vision``), lays out the data
where the program looks for it (MNIST as torchvision's ``MNIST/raw`` folder, wikitext-2), runs it
short in a subprocess through ``tests/programs/run_program.py``, and checks that it finishes,
prints what it prints under PyTorch, and compiles a bounded number of XLA programs however many
steps it runs (no compile per step).

The only edits beyond imports are listed in ``EDITS`` with the reason for each.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from typing import NamedTuple

import pytest

from tests.programs.swap_imports import swap_tree

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "programs"
SHARED = ROOT.parent / "shared" / "data"


class Program(NamedTuple):
    folder: str  # under tests/programs/
    script: str  # relative to the folder
    args: tuple
    data: str  # "mnist", "wikitext" or ""
    expect: str  # a regular expression the output must contain
    max_compiles: int  # however many steps the run takes (a program that trains, then evaluates, compiles
    # the step with the optimizer update fused in, and its first evaluation with the last update)
    limit: int = 0  # keep only this many samples of each dataset split (0: all)
    timeout: int = 240
    launcher: tuple = ()  # a launcher command line that starts the script (torchrun's flags)
    before: tuple = ()  # scripts of the folder to run first, without arguments (data generators)
    stop_after: str = ""  # end the run once the output matches this (programs with fixed epochs)


PROGRAMS_RUN = {
    "mnist": Program("pytorch_examples/mnist", "main.py", ("--epochs", "2", "--log-interval", "5"), "mnist",
                     r"Test set: Average loss: \d+\.\d+, Accuracy: \d+/640", 12, limit=640),
    "mnist_rnn": Program("pytorch_examples/mnist_rnn", "main.py", ("--epochs", "1", "--log-interval", "5"),
                         "mnist", r"Test set: Average loss: \d+\.\d+, Accuracy: \d+/320", 12, limit=320),
    "vae": Program("pytorch_examples/vae", "main.py", ("--epochs", "1", "--batch-size", "64"), "mnist",
                   r"====> Test set loss: \d+\.\d+", 14, limit=512),
    "mnist_forward_forward": Program("pytorch_examples/mnist_forward_forward", "main.py",
                                     ("--epochs", "10", "--train_size", "200", "--test_size", "200"), "mnist",
                                     r"test error: \d", 36, limit=200),
    "regression": Program("pytorch_examples/regression", "main.py", (), "", r"==> Learned function:", 10),
    "siamese_network": Program("pytorch_examples/siamese_network", "main.py",
                               ("--epochs", "1", "--batch-size", "16", "--test-batch-size", "64",
                                "--log-interval", "5"), "mnist", r"Test set: Average loss", 17, limit=160),
    "dcgan": Program("pytorch_examples/dcgan", "main.py",
                     ("--dataset", "fake", "--niter", "1", "--batchSize", "4", "--ngf", "8", "--ndf", "8",
                      "--workers", "1", "--dry-run", "--outf", "out"), "", r"Loss_D: \d", 20),
    "word_language_model": Program("pytorch_examples/word_language_model", "main.py",
                                   ("--data", "wikitext-2", "--emsize", "16", "--nhid", "16", "--epochs", "1",
                                    "--bptt", "35", "--dry-run"), "wikitext",
                                   r"End of training \| test loss", 12, timeout=400),
}

DDP_TUTORIAL = "pytorch_examples/distributed/ddp-tutorial-series"
TORCHRUN = ("-m", "rustorch.distributed.run", "--standalone", "--nproc-per-node", "2")

PROGRAMS_RUN.update({
    "ddp_single_gpu": Program(DDP_TUTORIAL, "single_gpu.py", ("3", "1", "--batch_size", "32"), "",
                              r"Epoch 2 \| Training checkpoint saved at checkpoint.pt", 4),
    "ddp_multigpu_torchrun": Program(DDP_TUTORIAL, "multigpu_torchrun.py", ("3", "1", "--batch_size", "32"), "",
                                     r"Epoch 2 \| Training snapshot saved at snapshot.pt", 6, launcher=TORCHRUN),
    # the multi-node script, on one node (torchrun's --standalone)
    "ddp_multinode": Program(DDP_TUTORIAL, "multinode.py", ("3", "1", "--batch_size", "32"), "",
                             r"Epoch 2 \| Training snapshot saved at snapshot.pt", 6, launcher=TORCHRUN),
    "ddp_multigpu": Program(DDP_TUTORIAL, "multigpu.py", ("3", "1", "--batch_size", "32"), "",
                            r"Epoch 2 \| Training checkpoint saved at checkpoint.pt", 6),
})

PROGRAMS_RUN.update({
    # FakeData cut to 16 images by --limit (the program's own --dummy set holds 1,281,167)
    "imagenet": Program("pytorch_examples/imagenet", "main.py",
                        ("--dummy", "-a", "resnet18", "-b", "4", "--epochs", "1", "-j", "0", "-p", "1"), "",
                        r" \*   Acc@1 \d+\.\d+ Acc@5 \d+\.\d+", 12, limit=16, timeout=500),
})

PROGRAMS_RUN.update({
    # kuangliu/pytorch-cifar trains SimpleDLA for 200 epochs: stop once the third begins
    "pytorch_cifar": Program("pytorch_cifar", "main.py", (), "cifar10", r"Loss: \d+\.\d+ \| Acc: ", 12,
                             limit=128, stop_after=r"Epoch: 2\n", timeout=500),
})

PROGRAMS_RUN.update({
    "super_resolution": Program("pytorch_examples/super_resolution", "main.py",
                                ("--upscale_factor", "3", "--batchSize", "4", "--testBatchSize", "4",
                                 "--nEpochs", "2", "--threads", "0"), "bsds300",
                                r"===> Avg\. PSNR: \d+\.\d+ dB\nCheckpoint saved to model_epoch_2.pth", 8),
})

PROGRAMS_RUN.update({
    # two processes train the shared model (Hogwild); the parent then tests it
    "mnist_hogwild": Program("pytorch_examples/mnist_hogwild", "main.py", ("--epochs", "1", "--log-interval", "5"),
                             "mnist", r"Test set: Average loss: \d+\.\d+, Accuracy: \d+/640", 8, limit=640),
})

# Edits beyond the import swap, each (old text, new text, reason), or (file, old, new, reason)
# for a file of the program's folder other than its script.
EDITS = {
    "pytorch_cifar": [
        ("utils.py", "_, term_width = os.popen('stty size', 'r').read().split()", "term_width = 80",
         "'stty size' prints nothing when stdout is not a terminal (as under pytest), and the "
         "unpacking fails under PyTorch too"),
    ],
    "super_resolution": [
        ("torch.save(model, model_out_path)", "torch.save(model.state_dict(), model_out_path)",
         "rustorch.save refuses to pickle a whole module (it would store code); save its state_dict"),
    ],
    "word_language_model": [
        ("torch.save(model, f)", "torch.save(model.state_dict(), f)",
         "rustorch.save refuses to pickle a whole module (it would store code); save its state_dict"),
        ("        model = torch.load(f)", "        model.load_state_dict(torch.load(f))",
         "the matching load of the state_dict"),
    ],
}


# Edits that only a machine without a GPU needs: these programs ask for CUDA devices and the
# NCCL backend, which PyTorch on a CPU-only machine refuses just as rustorch does; the same
# edits make them run on PyTorch's CPU build. With enough GPUs (GPUS_NEEDED) they run unchanged.
_NO_GPU = "the program asks for a CUDA device, which a CPU-only machine lacks (PyTorch needs this edit too)"
_NO_NCCL = "NCCL needs GPUs; gloo is the CPU backend (PyTorch needs this edit too)"
_NO_DEVICE_IDS = "device_ids name GPUs; a CPU module takes none (PyTorch raises ValueError otherwise)"
CPU_EDITS = {
    "ddp_single_gpu": [("    device = 0  # shorthand for cuda:0", '    device = "cpu"', _NO_GPU)],
    "ddp_multigpu_torchrun": [
        ('    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))\n', "", _NO_GPU),
        ('init_process_group(backend="nccl")', 'init_process_group(backend="gloo")', _NO_NCCL),
        (".to(self.gpu_id)", '.to("cpu")', _NO_GPU),
        ("DDP(self.model, device_ids=[self.gpu_id])", "DDP(self.model)", _NO_DEVICE_IDS),
    ],
    "ddp_multinode": [
        ('    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))\n', "", _NO_GPU),
        ('init_process_group(backend="nccl")', 'init_process_group(backend="gloo")', _NO_NCCL),
        (".to(self.local_rank)", '.to("cpu")', _NO_GPU),
        ("DDP(self.model, device_ids=[self.local_rank])", "DDP(self.model)", _NO_DEVICE_IDS),
    ],
    "ddp_multigpu": [
        ("    torch.cuda.set_device(rank)\n", "", _NO_GPU),
        ('init_process_group(backend="nccl", ', 'init_process_group(backend="gloo", ', _NO_NCCL),
        (".to(gpu_id)", '.to("cpu")', _NO_GPU),
        (".to(self.gpu_id)", '.to("cpu")', _NO_GPU),
        ("DDP(model, device_ids=[gpu_id])", "DDP(model)", _NO_DEVICE_IDS),
        ("world_size = torch.cuda.device_count()", "world_size = 2",
         "torch.cuda.device_count() is 0 without a GPU: two CPU processes instead"),
    ],
}


def _gpu_count() -> int:
    import jax

    try:
        return len(jax.devices("gpu"))
    except RuntimeError:
        return 0


# GPUs a program needs to run without its CPU_EDITS (the tutorial's multi-GPU scripts start
# two processes, one GPU each); untested here, where no GPU is present.
GPUS_NEEDED = {"ddp_single_gpu": 1}


def _fake_cifar10(folder: pathlib.Path, train_per_batch: int = 40, test: int = 100) -> None:
    """A CIFAR-10 folder in the original python layout (``cifar-10-batches-py``: pickled dicts
    of uint8 ``data`` [N, 3072] and ``labels``), with random pixels."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}", train_per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        entry = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n).tolist(), "batch_label": name,
                 "filenames": [f"img{i}.png" for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}, protocol=2))


def _fake_bsds300(folder: pathlib.Path) -> None:
    """BSDS300's ``images/train`` and ``images/test`` folders with a few random RGB JPEGs of
    about its size (the program skips its download when the folder exists)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("test", 4)):
        (folder / split).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (260, 270, 3), dtype=np.uint8)).save(folder / split / f"{i}.jpg")


def _lay_out_data(kind: str, workdir: pathlib.Path) -> None:
    if kind == "mnist":
        source = SHARED / "mnist"
        # torchvision's layout, under both roots the programs use ('../data' and './data/').
        for root in (workdir.parent / "data", workdir / "data"):
            raw = root / "MNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            for path in source.glob("*-ubyte*"):
                (raw / path.name).symlink_to(path)
    elif kind == "cifar10":
        _fake_cifar10(workdir / "data" / "cifar-10-batches-py")
    elif kind == "bsds300":
        _fake_bsds300(workdir / "dataset" / "BSDS300" / "images")
    elif kind == "wikitext":
        corpus = workdir / "wikitext-2"
        corpus.mkdir()
        # The shared copy has the valid and test splits: train on valid, validate and test on test.
        (corpus / "train.txt").symlink_to(SHARED / "wikitext-2" / "valid.txt")
        (corpus / "valid.txt").symlink_to(SHARED / "wikitext-2" / "test.txt")
        (corpus / "test.txt").symlink_to(SHARED / "wikitext-2" / "test.txt")


def _prepare(name: str, program: Program, tmp_path: pathlib.Path, swap: bool = True) -> pathlib.Path:
    """The program's folder copied under ``tmp_path`` (imports swapped unless ``swap`` is
    false), its edits applied and its data laid out; returns its script."""
    workdir = tmp_path / "work"
    if swap:
        swap_tree(PROGRAMS / program.folder, workdir)
    else:
        shutil.copytree(PROGRAMS / program.folder, workdir, ignore=shutil.ignore_patterns("__pycache__"))
    script = workdir / program.script
    on_gpus = _gpu_count() >= GPUS_NEEDED.get(name, 2)
    edits = EDITS.get(name, []) + ([] if on_gpus else CPU_EDITS.get(name, []))
    for edit in edits:
        path = workdir / edit[0] if len(edit) == 4 else script
        old, new = edit[-3:-1]
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{name}: the edit target {old!r} is gone from {path.name}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    _lay_out_data(program.data, workdir)
    for folder in ("results", "out"):
        (workdir / folder).mkdir(exist_ok=True)
    return script


def program_environment() -> dict:
    """The environment a program runs in: this checkout first on the path, and
    child_report/sitecustomize.py so that processes the program starts report their compile
    counts too; no persistent compilation cache (compile counts must not depend on it)."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(PROGRAMS / "child_report")]),
                RUSTORCH_COMPILATION_CACHE="0")


def program_command(program: Program, script: pathlib.Path, python: str = sys.executable,
                    under_torch: bool = False) -> list[str]:
    """The command line that runs ``script`` through ``run_program.py`` with the program's
    launcher, dataset limit and stop pattern (``under_torch``: an unswapped copy on PyTorch)."""
    launcher = [arg.replace("rustorch.distributed.run", "torch.distributed.run") if under_torch else arg
                for arg in program.launcher]
    command = [python, *launcher, str(PROGRAMS / "run_program.py")] + (["--torch"] if under_torch else [])
    if program.limit:
        command += ["--limit", str(program.limit)]
    if program.stop_after:
        command += ["--stop-after", program.stop_after]
    return command + [str(script), *program.args]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROGRAMS_RUN))
def test_program_runs_with_imports_swapped(name, tmp_path):
    program = PROGRAMS_RUN[name]
    if not (PROGRAMS / program.folder / program.script).is_file():
        # Sources obtained with the session's fetch tool are kept out of commits; their origin
        # (repository, commit, path) is in tests/programs/README.md.
        pytest.skip(f"{name}: its source {program.folder}/{program.script} is not in this checkout "
                    "(see tests/programs/README.md for where it comes from)")
    shared = {"mnist": "mnist", "wikitext": "wikitext-2"}.get(program.data)
    if shared and not (SHARED / shared).is_dir():
        pytest.fail(f"{name}: the data folder {SHARED / shared} is missing")
    script = _prepare(name, program, tmp_path)
    env = program_environment()
    for first in program.before:
        subprocess.run([sys.executable, first], cwd=script.parent, env=env, check=True, timeout=program.timeout)
    command = program_command(program, script)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=script.parent, env=env, capture_output=True, text=True,
                            timeout=program.timeout)
    wall = time.perf_counter() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{name} failed:\n{output[-6000:]}"
    assert re.search(program.expect, output), f"{name}: {program.expect!r} not in its output:\n{output[-3000:]}"
    # one count per process (several under a launcher): the largest must stay bounded
    compiles = max(int(count) for count in re.findall(r"rustorch: (\d+) compiles", output))
    assert compiles <= program.max_compiles, f"{name}: {compiles} XLA programs compiled\n{output[-3000:]}"
    print(f"{name}: {compiles} compiles, {wall:.0f} s")  # shown with pytest -s


def test_import_swap_touches_only_imports():
    from tests.programs.swap_imports import swap_imports

    source = ("import torch\nimport torch.nn as nn\nfrom torch import optim\nimport torchvision\n"
              "from torchvision.utils import save_image\nimport torchvision.transforms as T\n"
              "x = torch.zeros(3)  # import torch\nimport torchaudio_like_name\n")
    assert swap_imports(source) == (
        "import rustorch as torch\nimport rustorch.nn as nn\nfrom rustorch import optim\n"
        "import rustorch.vision as torchvision\nfrom rustorch.vision.utils import save_image\n"
        "import rustorch.vision.transforms as T\nx = torch.zeros(3)  # import torch\nimport torchaudio_like_name\n")
