"""Rewrite a PyTorch program's import lines for rustorch, and nothing else.

The import-swap contract: ``import torch`` becomes ``import rustorch as torch``, ``torch.x``
becomes ``rustorch.x`` in import lines, and ``torchvision`` becomes ``rustorch.vision``. Every
other line of the program is left as its authors wrote it.

    python tests/programs/swap_imports.py SOURCE_DIR TARGET_DIR

copies every ``.py`` file of ``SOURCE_DIR`` to ``TARGET_DIR`` with its imports swapped (other
files are copied unchanged).
"""
from __future__ import annotations

import pathlib
import re
import shutil
import sys

_RULES = (
    # import torch / import torch as t
    (re.compile(r"^(\s*)import torch(\s*(#.*)?)$"), r"\1import rustorch as torch\2"),
    (re.compile(r"^(\s*)import torch as (\w+)"), r"\1import rustorch as \2"),
    # import torchvision (before the torch.x rules: 'torchvision' starts with 'torch')
    (re.compile(r"^(\s*)import torchvision(\s*(#.*)?)$"), r"\1import rustorch.vision as torchvision\2"),
    (re.compile(r"^(\s*)import torchvision\.([\w.]+)"), r"\1import rustorch.vision.\2"),
    (re.compile(r"^(\s*)from torchvision(\.[\w.]+)? import"), r"\1from rustorch.vision\2 import"),
    # import torch.x.y [as z] / from torch[.x] import ...
    (re.compile(r"^(\s*)import torch\.([\w.]+)"), r"\1import rustorch.\2"),
    (re.compile(r"^(\s*)from torch(\.[\w.]+)? import"), r"\1from rustorch\2 import"),
)


def swap_imports(source: str) -> str:
    """``source`` with its torch and torchvision import lines pointed at rustorch."""
    lines = []
    for line in source.splitlines(keepends=True):
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        for pattern, replacement in _RULES:
            swapped = pattern.sub(replacement, body, count=1)
            if swapped != body:
                body = swapped
                break
        lines.append(body + newline)
    return "".join(lines)


def swap_tree(source_dir, target_dir) -> list[pathlib.Path]:
    """Copy ``source_dir`` to ``target_dir``, swapping the imports of its Python files."""
    source_dir, target_dir = pathlib.Path(source_dir), pathlib.Path(target_dir)
    written = []
    for path in sorted(source_dir.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        target = target_dir / path.relative_to(source_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            target.write_text(swap_imports(path.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            shutil.copyfile(path, target)
        written.append(target)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    for written in swap_tree(sys.argv[1], sys.argv[2]):
        print(written)
