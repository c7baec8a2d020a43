"""Helpers shared by the multi-process tests: run a command with the worktree on PYTHONPATH,
a hard timeout, and every child process ended afterwards."""
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def env(**extra):
    result = dict(os.environ)
    result["PYTHONPATH"] = str(ROOT) + os.pathsep + result.get("PYTHONPATH", "")
    result.pop("XLA_FLAGS", None)
    result.setdefault("JAX_PLATFORMS", "cpu")
    result.update({k: str(v) for k, v in extra.items()})
    return result


def run(args, timeout, **extra):
    """Run ``args`` in its own session; on timeout kill the whole session and fail."""
    proc = subprocess.Popen(args, env=env(**extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, cwd=str(ROOT))
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"{args} did not finish within {timeout}s; output:\n{out[-4000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything the command left behind
        except ProcessLookupError:
            pass
    return proc.returncode, out


def launcher(*args):
    return [sys.executable, "-m", "rustorch.distributed.run", *args]


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
