"""Run a (import-swapped) PyTorch program as ``python SCRIPT ARGS...`` would, then report
rustorch's compile and evaluation counts on the last line of its output.

    python tests/programs/run_program.py [--limit N] SCRIPT [ARGS...]

``--limit N`` keeps the first ``N`` samples of every ``rustorch.vision`` dataset split that the
program opens (the program itself is unchanged; this only shortens its epochs for the tests).
"""
from __future__ import annotations

import os
import runpy
import sys


def _limit_datasets(limit: int) -> None:
    from rustorch.vision import datasets

    for name in ("MNIST", "FashionMNIST"):
        cls = getattr(datasets, name, None)
        if cls is None:
            continue
        original = cls.__init__

        def init(self, *args, _original=original, **kwargs):
            _original(self, *args, **kwargs)
            self.data, self.targets = self.data[:limit], self.targets[:limit]

        cls.__init__ = init


def main(argv: list[str]) -> None:
    if argv[:1] == ["--limit"]:
        _limit_datasets(int(argv[1]))
        argv = argv[2:]
    script = os.path.abspath(argv[0])
    sys.argv = [script] + argv[1:]
    sys.path.insert(0, os.path.dirname(script))  # the program's own modules (model.py, data.py)
    import rustorch

    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        print(f"rustorch: {rustorch.compile_count()} compiles, {rustorch.evaluation_count()} evaluations",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
