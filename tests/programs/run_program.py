"""Run a (import-swapped) PyTorch program as ``python SCRIPT ARGS...`` would, then report
rustorch's compile and evaluation counts on the last line of its output.

    python tests/programs/run_program.py [--torch] [--limit N] [--stop-after REGEX] SCRIPT [ARGS...]

``--limit N`` keeps the first ``N`` samples of every ``rustorch.vision`` dataset split that the
program opens (MNIST, FashionMNIST, CIFAR10/100, FakeData) (the program itself is unchanged; this only shortens its epochs for the tests).
``--stop-after REGEX`` ends the run (exit status 0) as soon as the program's output matches
``REGEX``, for programs that train a fixed number of epochs with no flag to change it.
``--torch`` runs an unswapped copy under PyTorch and torchvision instead (the same limits), for
``tools/program_speed.py``; the last line then gives the wall time only.
"""
from __future__ import annotations

import importlib
import os
import re
import runpy
import sys
import time


class _StopWhenSeen:
    """stdout that raises ``SystemExit(0)`` once what was written matches ``pattern``."""

    def __init__(self, stream, pattern: str):
        self._stream, self._pattern, self._seen = stream, re.compile(pattern), ""

    def write(self, text):
        written = self._stream.write(text)
        self._seen = (self._seen + text)[-4096:]
        if self._pattern.search(self._seen):
            self._stream.write(f"\n(run_program: stopped once the output matched {self._pattern.pattern!r})\n")
            raise SystemExit(0)
        return written

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _limit_datasets(limit: int, datasets) -> None:

    for name in ("MNIST", "FashionMNIST", "CIFAR10", "CIFAR100"):
        cls = getattr(datasets, name, None)
        if cls is None:
            continue
        original = cls.__init__

        def init(self, *args, _original=original, **kwargs):
            _original(self, *args, **kwargs)
            self.data, self.targets = self.data[:limit], self.targets[:limit]

        cls.__init__ = init
    for name in ("FakeData",):
        cls = getattr(datasets, name, None)
        if cls is None:
            continue
        original = cls.__init__

        def init(self, *args, _original=original, **kwargs):
            _original(self, *args, **kwargs)
            self.size = min(self.size, limit)

        cls.__init__ = init


def main(argv: list[str]) -> None:
    started = time.perf_counter()
    under_torch = argv[:1] == ["--torch"]
    argv = argv[1:] if under_torch else argv
    if argv[:1] == ["--limit"]:
        if under_torch:
            from torchvision import datasets
        else:
            from rustorch.vision import datasets
        _limit_datasets(int(argv[1]), datasets)
        argv = argv[2:]
    if argv[:1] == ["--stop-after"]:
        sys.stdout = _StopWhenSeen(sys.stdout, argv[1])
        argv = argv[2:]
    script = os.path.abspath(argv[0])
    sys.argv = [script] + argv[1:]
    sys.path.insert(0, os.path.dirname(script))  # the program's own modules (model.py, data.py)
    rustorch = None if under_torch else importlib.import_module("rustorch")
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.stdout = sys.__stdout__
        print(f"run_program: {time.perf_counter() - started:.2f} s", flush=True)
        if rustorch is not None:
            print(f"rustorch: {rustorch.compile_count()} compiles, {rustorch.evaluation_count()} evaluations",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
