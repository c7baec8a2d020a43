"""rustorch keeps freed memory in the process (glibc mallopt) unless told not to."""
import platform

import pytest

from rustorch import _allocator, _config


def test_keep_freed_memory_applies_on_glibc():
    applied = _allocator.keep_freed_memory()
    is_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert applied is is_glibc


@pytest.mark.parametrize(
    "environment, expected_calls",
    [
        ({}, 1),
        ({"RUSTORCH_MALLOC_TUNING": "0"}, 0),
        ({"RUSTORCH_MALLOC_TUNING": "1"}, 1),
        ({"MALLOC_MMAP_THRESHOLD_": "65536"}, 0),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, 0),
    ],
)
def test_default_respects_the_switch_and_glibc_settings(monkeypatch, environment, expected_calls):
    for name in ("RUSTORCH_MALLOC_TUNING", *_config.GLIBC_MALLOC_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    calls = []
    monkeypatch.setattr(_allocator, "keep_freed_memory", lambda: calls.append(1))
    _allocator._keep_freed_memory_by_default()
    assert len(calls) == expected_calls
