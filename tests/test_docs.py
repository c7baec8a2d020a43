"""The documentation cannot drift from the library.

* Every public name of the documented namespaces has a docstring, and appears in the API
  reference pages (``docs/api/*.rst``).
* Every guide's ``.. code-block:: python`` blocks run, in order, in one namespace per guide, in a
  temporary working directory, with MNIST cut to its first few hundred images (the test patches
  the dataset, so the guides show the code a reader runs, without test scaffolding). Blocks in
  any other language (``console``, ``text``) are not run.
* The README's quickstart (its first ```` ```python ```` block) runs.
* Where Sphinx is installed (the ``docs`` extra), the site builds without a single warning, as
  ``python -m sphinx -W -b html docs docs/_build/html`` requires: a docstring whose reST breaks
  fails here. Sphinx is not a test dependency; without it that one test is skipped.
"""
from __future__ import annotations

import importlib
import inspect
import os
import pathlib
import re
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest

import rustorch

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDES = ("quickstart", "how_it_runs", "functional_core", "cnn_best_practices", "from_pytorch")
NAMESPACES = (
    "rustorch",
    "rustorch.functional",
    "rustorch.nn",
    "rustorch.nn.functional",
    "rustorch.optim",
    "rustorch.utils.data",
    "rustorch.datasets",
    "rustorch.serialization",
)
# The API page of each namespace.
API_PAGES = {
    "rustorch": "rustorch.rst",
    "rustorch.functional": "functional.rst",
    "rustorch.nn": "nn.rst",
    "rustorch.nn.functional": "nn_functional.rst",
    "rustorch.optim": "optim.rst",
    "rustorch.utils.data": "utils_data.rst",
    "rustorch.datasets": "datasets.rst",
    "rustorch.serialization": "serialization.rst",
}


def public_names(module_name: str) -> list[tuple[str, object]]:
    """``(name, object)`` for every public name of a namespace: no leading underscore, no
    re-exported modules, no dtype constants (``rustorch.float32`` is a numpy dtype)."""
    module = importlib.import_module(module_name)
    names = []
    for name in sorted(dir(module)):
        value = getattr(module, name)
        if name.startswith("_") or isinstance(value, (types.ModuleType, np.dtype)):
            continue
        names.append((name, value))
    return names


def _mnist_folder() -> pathlib.Path:
    env = os.environ.get("RUSTORCH_DATA")
    return pathlib.Path(env) if env else ROOT.parent / "shared" / "data" / "mnist"


# ------------------------------------------------------------------------ code extraction

_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*(\S+)\s*$")


def python_blocks(path) -> list[tuple[int, str]]:
    """``(line number, source)`` of each ``.. code-block:: python`` block of an rst file, in order.

    The block is the indented text after the directive and its options; it ends at the first
    non-blank line indented no deeper than the directive.
    """
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, language = len(match.group(1)), match.group(2)
        i += 1
        while i < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[i]):  # directive options
            i += 1
        start = i
        body = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        if language in ("python", "python3", "py"):
            source = textwrap.dedent("\n".join(body)).strip("\n")
            if not source:
                raise AssertionError(f"{path}:{start + 1}: empty python code block")
            first = start + next(n for n, line in enumerate(body) if line.strip())
            # Line numbers in tracebacks then point at the rst file's own lines.
            blocks.append((first + 1, "\n" * first + source + "\n"))
    return blocks


def markdown_python_blocks(path) -> list[tuple[int, str]]:
    """``(line number, source)`` of each ```` ```python ```` fenced block of a Markdown file."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```python[^\n]*\n(.*?)^```", text, re.S | re.M):
        blocks.append((text[: match.start()].count("\n") + 2, match.group(1)))
    return blocks


def _run_blocks(blocks, label: str) -> dict:
    namespace = {"__name__": f"__docs_{label}__"}
    for line, source in blocks:
        exec(compile(source, f"{label}:{line}", "exec"), namespace)
    return namespace


# Training images each guide sees (the test split keeps its first 1000): enough for the
# guides' training loops to learn (test accuracy above 60%) in a few seconds.
FAST_TRAIN_IMAGES = {"cnn_best_practices": 256}
FAST_TRAIN_DEFAULT = 640
FAST_TEST_IMAGES = 1000


def _cut_mnist(monkeypatch, train_images: int) -> None:
    """Make every ``rustorch.datasets.MNIST`` hold only the first images of its split."""
    original = rustorch.datasets.MNIST.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        keep = train_images if self.train else FAST_TEST_IMAGES
        self.data, self.targets = self.data[:keep], self.targets[:keep]

    monkeypatch.setattr(rustorch.datasets.MNIST, "__init__", init)


@pytest.fixture
def docs_env(request, tmp_path, monkeypatch):
    """A scratch working directory, MNIST cut to a few hundred images, and the MNIST folder."""
    folder = _mnist_folder()
    if not (folder / "train-images-idx3-ubyte.gz").is_file() and not (folder / "train-images-idx3-ubyte").is_file():
        pytest.fail(f"the MNIST files are not in {folder}; set RUSTORCH_DATA to their folder")
    monkeypatch.chdir(tmp_path)
    guide = request.node.callspec.params.get("guide") if hasattr(request.node, "callspec") else None
    _cut_mnist(monkeypatch, FAST_TRAIN_IMAGES.get(guide, FAST_TRAIN_DEFAULT))
    monkeypatch.setenv("RUSTORCH_DATA", str(folder))
    state = (rustorch.is_grad_enabled(), rustorch.stateful._graph._stats.explain)
    yield tmp_path
    # A guide that fails half-way must not leave the engine switched for the next test.
    rustorch.set_grad_enabled(state[0])
    rustorch.explain_recompiles(state[1])


# ---------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("module_name", NAMESPACES)
def test_every_public_name_has_a_docstring(module_name):
    missing = []
    for name, value in public_names(module_name):
        if not (inspect.isclass(value) or callable(value)):
            continue  # data constants cannot carry a docstring; the API page describes them
        if not (value.__doc__ or "").strip():
            missing.append(f"{module_name}.{name}")
    assert not missing, f"public names without a docstring: {missing}"


_DOCUMENTED = re.compile(
    r"^\.\. (?:auto(?:class|function|exception|data|attribute)|py:(?:class|function|exception|data))::\s+(\S+)",
    re.M,
)


def test_api_reference_lists_every_public_name():
    pages = {name: (DOCS / "api" / page).read_text(encoding="utf-8") for name, page in API_PAGES.items()}
    documented = {target for text in pages.values() for target in _DOCUMENTED.findall(text)}
    objects = {}
    for target in documented:
        module_name, _, attribute = target.rpartition(".")
        objects.setdefault(id(getattr(importlib.import_module(module_name), attribute)), target)
    missing = []
    for module_name in NAMESPACES:
        page = pages[module_name]
        for name, value in public_names(module_name):
            qualified = f"{module_name}.{name}"
            if qualified in documented:
                continue
            # A re-export (rustorch.Conv2d is rustorch.nn.Conv2d) is listed by name on its
            # namespace's page and documented in full where it lives.
            if id(value) in objects and f"``{qualified}``" in page:
                continue
            missing.append(qualified)
    assert not missing, f"public names missing from docs/api/*.rst: {missing}"


def test_every_api_page_is_in_the_toctree():
    index = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    for page in API_PAGES.values():
        assert re.search(rf"^\s+{re.escape(page[:-4])}\s*$", index, re.M), page
    root = (DOCS / "index.rst").read_text(encoding="utf-8")
    for guide in GUIDES:
        assert re.search(rf"^\s+guides/{guide}\s*$", root, re.M), guide


def test_code_block_extraction(tmp_path):
    text = (
        "Title\n=====\n\n.. code-block:: python\n   :caption: x\n\n   a = 1\n\n   if a:\n"
        "       b = 2\n\nText.\n\n.. code-block:: console\n\n   $ ls\n\n* item\n\n  .. code-block:: python\n\n"
        "     c = 3\n"
    )
    path = tmp_path / "page.rst"
    path.write_text(text, encoding="utf-8")
    blocks = python_blocks(path)
    assert [(line, source.lstrip("\n")) for line, source in blocks] == [
        (7, "a = 1\n\nif a:\n    b = 2\n"), (22, "c = 3\n")]
    # Leading newlines keep the rst line numbers in tracebacks.
    assert blocks[0][1].count("\n", 0, blocks[0][1].index("a = 1")) == 6


def test_sphinx_build_has_no_warnings(tmp_path, monkeypatch):
    sphinx_build = pytest.importorskip("sphinx.cmd.build")
    # conf.py sets a default for this variable and prepends to sys.path; both are restored
    # afterwards. The dummy builder reads every page and docstring (where all reST and autodoc
    # warnings arise) but writes nothing.
    monkeypatch.setenv("RUSTORCH_COMPILATION_CACHE", os.environ.get("RUSTORCH_COMPILATION_CACHE", "0"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    with warnings.catch_warnings():
        # Python warnings from Sphinx's own internals (deprecations) are not documentation
        # warnings; `python -m sphinx -W` does not fail on them either.
        warnings.simplefilter("ignore")
        status = sphinx_build.build_main(["-W", "-q", "-E", "-b", "dummy", str(DOCS), str(tmp_path / "out")])
    assert status == 0, "the documentation build has warnings (see the output above)"


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_code_runs(guide, docs_env):
    blocks = python_blocks(DOCS / "guides" / f"{guide}.rst")
    assert blocks, f"docs/guides/{guide}.rst has no python code block"
    namespace = _run_blocks(blocks, f"docs/guides/{guide}.rst")
    if "accuracy" in namespace:  # the guides that train report a test accuracy
        assert namespace["accuracy"] > 60, f"{guide}: test accuracy {namespace['accuracy']:.1f}%"
    if guide == "quickstart":
        assert namespace["same"], "the restored model's outputs differ from the trained model's"


def test_readme_quickstart_runs(docs_env):
    blocks = markdown_python_blocks(ROOT / "README.md")
    assert blocks, "README.md has no ```python block"
    namespace = _run_blocks(blocks[:1], "README.md")
    assert (docs_env / "model.pth").is_file()
    assert np.isfinite(namespace["loss"].item())
