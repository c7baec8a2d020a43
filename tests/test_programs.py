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
import subprocess
import sys
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
    max_compiles: int  # however many steps the run takes
    limit: int = 0  # keep only this many samples of each dataset split (0: all)
    timeout: int = 240


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
                                "--log-interval", "5"), "mnist", r"Test set: Average loss", 16, limit=160),
    "dcgan": Program("pytorch_examples/dcgan", "main.py",
                     ("--dataset", "fake", "--niter", "1", "--batchSize", "4", "--ngf", "8", "--ndf", "8",
                      "--workers", "1", "--dry-run", "--outf", "out"), "", r"Loss_D: \d", 20),
    "word_language_model": Program("pytorch_examples/word_language_model", "main.py",
                                   ("--data", "wikitext-2", "--emsize", "16", "--nhid", "16", "--epochs", "1",
                                    "--bptt", "35", "--dry-run"), "wikitext",
                                   r"End of training \| test loss", 12, timeout=400),
}

# Edits beyond the import swap, each (old text, new text, reason).
EDITS = {
    "word_language_model": [
        ("torch.save(model, f)", "torch.save(model.state_dict(), f)",
         "rustorch.save refuses to pickle a whole module (it would store code); save its state_dict"),
        ("        model = torch.load(f)", "        model.load_state_dict(torch.load(f))",
         "the matching load of the state_dict"),
    ],
}


def _lay_out_data(kind: str, workdir: pathlib.Path) -> None:
    if kind == "mnist":
        source = SHARED / "mnist"
        # torchvision's layout, under both roots the programs use ('../data' and './data/').
        for root in (workdir.parent / "data", workdir / "data"):
            raw = root / "MNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            for path in source.glob("*-ubyte*"):
                (raw / path.name).symlink_to(path)
    elif kind == "wikitext":
        corpus = workdir / "wikitext-2"
        corpus.mkdir()
        # The shared copy has the valid and test splits: train on valid, validate and test on test.
        (corpus / "train.txt").symlink_to(SHARED / "wikitext-2" / "valid.txt")
        (corpus / "valid.txt").symlink_to(SHARED / "wikitext-2" / "test.txt")
        (corpus / "test.txt").symlink_to(SHARED / "wikitext-2" / "test.txt")


def _prepare(name: str, program: Program, tmp_path: pathlib.Path) -> pathlib.Path:
    workdir = tmp_path / "work"
    swap_tree(PROGRAMS / program.folder, workdir)
    script = workdir / program.script
    text = script.read_text(encoding="utf-8")
    for old, new, _reason in EDITS.get(name, ()):
        assert old in text, f"{name}: the edit target {old!r} is gone from the program"
        text = text.replace(old, new)
    script.write_text(text, encoding="utf-8")
    _lay_out_data(program.data, workdir)
    for folder in ("results", "out"):
        (workdir / folder).mkdir(exist_ok=True)
    return script


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROGRAMS_RUN))
def test_program_runs_with_imports_swapped(name, tmp_path):
    program = PROGRAMS_RUN[name]
    if program.data and not (SHARED / ("mnist" if program.data == "mnist" else "wikitext-2")).is_dir():
        pytest.fail(f"{name}: the data folder {SHARED} is missing")
    script = _prepare(name, program, tmp_path)
    command = [sys.executable, str(PROGRAMS / "run_program.py")]
    if program.limit:
        command += ["--limit", str(program.limit)]
    command += [str(script), *program.args]
    env = dict(os.environ, PYTHONPATH=str(ROOT), RUSTORCH_COMPILATION_CACHE="0")
    result = subprocess.run(command, cwd=script.parent, env=env, capture_output=True, text=True,
                            timeout=program.timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{name} failed:\n{output[-6000:]}"
    assert re.search(program.expect, output), f"{name}: {program.expect!r} not in its output:\n{output[-3000:]}"
    compiles = int(re.search(r"rustorch: (\d+) compiles", output).group(1))
    assert compiles <= program.max_compiles, f"{name}: {compiles} XLA programs compiled\n{output[-3000:]}"


def test_import_swap_touches_only_imports():
    from tests.programs.swap_imports import swap_imports

    source = ("import torch\nimport torch.nn as nn\nfrom torch import optim\nimport torchvision\n"
              "from torchvision.utils import save_image\nimport torchvision.transforms as T\n"
              "x = torch.zeros(3)  # import torch\nimport torchaudio_like_name\n")
    assert swap_imports(source) == (
        "import rustorch as torch\nimport rustorch.nn as nn\nfrom rustorch import optim\n"
        "import rustorch.vision as torchvision\nfrom rustorch.vision.utils import save_image\n"
        "import rustorch.vision.transforms as T\nx = torch.zeros(3)  # import torch\nimport torchaudio_like_name\n")
