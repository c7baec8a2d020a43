"""Which parts of PyTorch's API real programs use, and whether rustorch has them.

Scans the Python code of pytorch/examples (every ``.py`` file) and of the d2l book (its
PyTorch code: ``d2l/torch.py`` and the ``%%tab pytorch`` cells of its ``.md`` chapters) for

* ``torch.X(...)`` calls (functions of the ``torch`` namespace),
* ``torch.nn.functional.X(...)`` / ``F.X(...)`` calls,
* ``nn.X(...)`` constructor calls,
* ``.X(...)`` calls and ``.X`` attribute reads whose name is a public ``torch.Tensor`` method or
  attribute (matched by name: a ``.split(`` on a string counts too),

counts the uses per source, and checks each name against rustorch (``hasattr`` on
``rustorch``, ``rustorch.nn.functional``, ``rustorch.nn`` and ``rustorch.Tensor``). The output is
a reStructuredText page (``docs/api/coverage.rst``); regenerate it with::

    git clone https://github.com/pytorch/examples /tmp/examples
    git clone https://github.com/d2l-ai/d2l-en /tmp/d2l
    python tools/api_coverage.py --examples /tmp/examples --d2l /tmp/d2l > docs/api/coverage.rst

Each source may be a working tree or a bare git directory (its ``HEAD`` is read). PyTorch must
be importable (it names the Tensor methods); rustorch is imported from this checkout.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_TORCH_CALL = re.compile(r"\btorch\.([A-Za-z_]\w*)\s*\(")
_F_CALL = re.compile(r"(?:\bF|\btorch\.nn\.functional|\bnn\.functional)\.([A-Za-z_]\w*)\s*\(")
_NN_CALL = re.compile(r"(?<![\w.])(?:torch\.)?nn\.([A-Z]\w*)\s*\(")
_METHOD = re.compile(r"\.([A-Za-z_]\w*)\b(\s*\()?")
_TAB = re.compile(r"^%%tab\s+(.+)$")


def _files(source: str):
    """``(path, text)`` for every file of a working tree or of a bare repository's HEAD."""
    path = Path(source)
    if (path / "HEAD").exists() and not (path / ".git").exists() and (path / "objects").exists():
        names = subprocess.run(["git", "--git-dir", source, "ls-tree", "-r", "--name-only", "HEAD"],
                               capture_output=True, text=True, check=True).stdout.split("\n")
        for name in names:
            if name.endswith((".py", ".md")):
                text = subprocess.run(["git", "--git-dir", source, "show", f"HEAD:{name}"],
                                      capture_output=True, text=True, errors="replace").stdout
                yield name, text
        return
    for file in sorted(path.rglob("*")):
        if file.suffix in (".py", ".md") and ".git" not in file.parts:
            yield str(file.relative_to(path)), file.read_text(errors="replace")


def _d2l_pytorch_code(name: str, text: str) -> str:
    if name.endswith(".py"):
        return text if name.endswith("d2l/torch.py") else ""
    cells, inside, keep, lines = [], False, False, []
    for line in text.split("\n"):
        if line.startswith("```{.python"):
            inside, keep, lines = True, None, []
            continue
        if inside and line.startswith("```"):
            if keep:
                cells.append("\n".join(lines))
            inside = False
            continue
        if inside:
            if keep is None:
                match = _TAB.match(line.strip())
                keep = bool(match) and [t.strip() for t in match.group(1).split(",")] == ["pytorch"]
                if match:
                    continue
            lines.append(line)
    return "\n".join(cells)


def _strip_comments(code: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in code.split("\n"))


def scan(code: str, tensor_names: set, counts: dict, source: str) -> None:
    code = _strip_comments(code)
    for match in _TORCH_CALL.finditer(code):
        counts[("torch", match.group(1))][source] += 1
    for match in _F_CALL.finditer(code):
        counts[("torch.nn.functional", match.group(1))][source] += 1
    for match in _NN_CALL.finditer(code):
        counts[("torch.nn", match.group(1))][source] += 1
    for match in _METHOD.finditer(code):
        name = match.group(1)
        start = match.start()
        prefix = code[max(0, start - 20):start]
        if re.search(r"(\btorch|\bF|\bnn|\bfunctional|\binit|\boptim|\butils|\bnp|\bmath)$", prefix):
            continue  # a namespace, not a tensor
        if name in tensor_names:
            counts[("Tensor", name)][source] += 1


def _has(kind: str, name: str) -> bool:
    import rustorch
    import rustorch.nn
    import rustorch.nn.functional

    target = {"torch": rustorch, "torch.nn.functional": rustorch.nn.functional, "torch.nn": rustorch.nn,
              "Tensor": rustorch.Tensor}[kind]
    return hasattr(target, name)


def _torch_namespaces():
    import torch

    tensor_names = {n for n in dir(torch.Tensor) if not n.startswith("_")}
    known = {
        "torch": {n for n in dir(torch) if not n.startswith("_")},
        "torch.nn.functional": {n for n in dir(torch.nn.functional) if not n.startswith("_")},
        "torch.nn": {n for n in dir(torch.nn) if not n.startswith("_")},
        "Tensor": tensor_names,
    }
    return tensor_names, known


def build(sources: dict) -> tuple:
    tensor_names, known = _torch_namespaces()
    counts: dict = collections.defaultdict(collections.Counter)
    files_scanned = collections.Counter()
    for label, path in sources.items():
        for name, text in _files(path):
            if label == "d2l":
                text = _d2l_pytorch_code(name, text)
            elif not name.endswith(".py"):
                continue
            if text:
                files_scanned[label] += 1
                scan(text, tensor_names, counts, label)
    rows = []
    for (kind, name), per_source in counts.items():
        if name not in known[kind]:
            continue  # a user-defined name that merely looks like one of torch's
        rows.append((kind, name, dict(per_source), _has(kind, name)))
    return rows, files_scanned


_SECTIONS = [("torch", "``torch.*`` functions"), ("Tensor", "``torch.Tensor`` methods and attributes"),
             ("torch.nn.functional", "``torch.nn.functional.*``"), ("torch.nn", "``torch.nn.*`` classes")]


def render(rows, files_scanned, labels) -> str:
    out = []
    title = "API coverage of real PyTorch programs"
    out += [title, "=" * len(title), ""]
    out += [
        "Generated by ``tools/api_coverage.py`` (see its docstring to regenerate). It counts the calls",
        "and attribute reads of PyTorch's API in "
        + ", ".join(f"{label} ({files_scanned[label]} files)" for label in labels)
        + ", and marks which names rustorch has. Tensor methods are matched by name. Having a",
        "name is not a claim of full parity: the tests in ``tests/`` are.",
        "",
    ]
    total_names = sum(1 for r in rows)
    covered = sum(1 for r in rows if r[3])
    total_uses = sum(sum(r[2].values()) for r in rows)
    covered_uses = sum(sum(r[2].values()) for r in rows if r[3])
    out += ["Totals", "------", ""]
    out += [".. list-table::", "   :header-rows: 1", "", "   * - Namespace", "     - Names used", "     - Names in rustorch",
            "     - Uses", "     - Uses covered"]
    for kind, heading in _SECTIONS:
        section = [r for r in rows if r[0] == kind]
        n, c = len(section), sum(1 for r in section if r[3])
        u, cu = sum(sum(r[2].values()) for r in section), sum(sum(r[2].values()) for r in section if r[3])
        out += [f"   * - {heading}", f"     - {n}", f"     - {c}", f"     - {u}", f"     - {cu}"]
    out += ["   * - All", f"     - {total_names}", f"     - {covered}", f"     - {total_uses}", f"     - {covered_uses}",
            ""]
    for kind, heading in _SECTIONS:
        section = sorted((r for r in rows if r[0] == kind), key=lambda r: (-sum(r[2].values()), r[1]))
        out += [heading, "-" * len(heading), ""]
        out += [".. list-table::", "   :header-rows: 1", "", "   * - Name"]
        out += [f"     - {label}" for label in labels]
        out += ["     - rustorch"]
        for _, name, per_source, has in section:
            out += [f"   * - ``{name}``"] + [f"     - {per_source.get(label, 0)}" for label in labels]
            out += [f"     - {'yes' if has else '**missing**'}"]
        out += [""]
    return "\n".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", required=True, help="pytorch/examples: a checkout or a bare git directory")
    parser.add_argument("--d2l", required=True, help="d2l-ai/d2l-en: a checkout or a bare git directory")
    args = parser.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    sources = {"pytorch/examples": args.examples, "d2l": args.d2l}
    rows, files_scanned = build(sources)
    sys.stdout.write(render(rows, files_scanned, list(sources)) + "\n")


if __name__ == "__main__":
    main()
