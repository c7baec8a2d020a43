"""rustorch._config holds every platform switch: its on/off rule for environment variables,
and no other module names a RUSTORCH_* variable or asks JAX for its backend itself."""
import ast
import io
import pathlib
import re
import tokenize

import jax
import pytest

from rustorch import _config

PACKAGE = pathlib.Path(_config.__file__).parent
CONFIG = pathlib.Path(_config.__file__)


@pytest.mark.parametrize(
    "value, default_on, expected",
    [(None, True, True), ("", True, True), ("0", True, False), ("1", True, True), ("yes", True, True),
     (None, False, False), ("", False, False), ("0", False, False), ("1", False, True)],
)
def test_switch_rule(monkeypatch, value, default_on, expected):
    name = _config.CHANNELS_LAST_ENV if default_on else _config.EXPLAIN_RECOMPILES_ENV
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)
    assert _config.switch_on(name) is expected


def test_decisions_follow_the_backend_and_switches(monkeypatch):
    on_cpu = jax.default_backend() == "cpu"
    assert _config.on_cpu() is on_cpu
    monkeypatch.setenv(_config.CHANNELS_LAST_ENV, "0")
    assert _config.use_channels_last_pass() is False
    monkeypatch.setenv(_config.CHANNELS_LAST_ENV, "1")
    assert _config.use_channels_last_pass() is on_cpu
    monkeypatch.setattr(_config, "CPU_CONV_LOWERING", False)
    assert _config.use_cpu_conv_lowering() is False
    monkeypatch.setattr(_config, "CPU_CONV_LOWERING", True)
    assert _config.use_cpu_conv_lowering() is on_cpu


def test_cache_locations(monkeypatch, tmp_path):
    monkeypatch.setenv(_config.CACHE_DIR_ENV, str(tmp_path))
    assert _config.compilation_cache_dir() == str(tmp_path)
    monkeypatch.delenv(_config.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _config.compilation_cache_dir() == str(tmp_path / "rustorch" / "jax")
    monkeypatch.setenv(_config.PROGRAM_CACHE_SIZE_ENV, "7")
    assert _config.program_cache_size() == 7
    monkeypatch.delenv(_config.PROGRAM_CACHE_SIZE_ENV)
    assert _config.program_cache_size() == _config.DEFAULT_PROGRAM_CACHE_SIZE


def _sources():
    return [path for path in sorted(PACKAGE.rglob("*.py")) if path != CONFIG]


def test_only_the_config_module_names_rustorch_variables():
    """A ``"RUSTORCH_..."`` string literal in code (docstrings may mention the names) appears in
    ``_config`` only, and every such name there is in its documented table."""
    literal = re.compile(r"""^[rRbBuU]*(['"])(RUSTORCH_[A-Z0-9_]+)\1$""")
    offenders = []
    for path in _sources():
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type == tokenize.STRING and literal.match(token.string):
                offenders.append(f"{path.relative_to(PACKAGE)}:{token.start[0]} {token.string}")
    assert not offenders, f"read these names from rustorch._config instead: {offenders}"
    names = set(re.findall(r"""["'](RUSTORCH_[A-Z0-9_]+)["']""", CONFIG.read_text()))
    assert names, "rustorch._config defines no RUSTORCH_* variable"
    for name in names:
        assert f"``{name}``" in _config.__doc__, f"{name} is missing from rustorch._config's table"


def test_only_the_config_module_asks_for_the_backend():
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "default_backend":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, f"use rustorch._config.on_cpu() instead: {offenders}"


_PROBE = """
import os, sys
import rustorch, jax
from rustorch import _config
jax.numpy.ones(1).block_until_ready()
print(repr(os.environ.get("XLA_FLAGS")), _config.EIGEN_CONVOLUTIONS)
"""


@pytest.mark.parametrize("xla_flags, switch, expected_flags, eigen", [
    (None, None, "--xla_cpu_experimental_ynn_fusion_type=individual_dot,reduce", True),
    ("--xla_force_host_platform_device_count=2", None,
     "--xla_force_host_platform_device_count=2 --xla_cpu_experimental_ynn_fusion_type=individual_dot,reduce", True),
    ("--xla_cpu_experimental_ynn_fusion_type=individual_dot,individual_convolution", None,
     "--xla_cpu_experimental_ynn_fusion_type=individual_dot,individual_convolution", False),
    ("--xla_cpu_experimental_ynn_fusion_type=", None, "--xla_cpu_experimental_ynn_fusion_type=", True),
    (None, "0", None, False),
])
def test_cpu_convolution_library_choice(xla_flags, switch, expected_flags, eigen):
    """At import rustorch appends its YNNPACK flag to XLA_FLAGS (and its plan follows), unless the
    user named that flag (their choice stands and the plan follows it) or switched it off."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", _config.EIGEN_CONVOLUTIONS_ENV)}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    if switch is not None:
        env[_config.EIGEN_CONVOLUTIONS_ENV] = switch
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().rsplit(" ", 1) == [repr(expected_flags), str(eigen)]


def test_no_flag_once_the_backend_started():
    import os
    import subprocess
    import sys

    probe = "import jax; jax.numpy.ones(1).block_until_ready()\n" + _PROBE
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", _config.EIGEN_CONVOLUTIONS_ENV)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().rsplit(" ", 1) == ["None", "False"]
