"""Wall time of the real PyTorch programs of ``tests/test_programs.py``: each run as the test
runs it (short, same data, same edits), on rustorch with its imports swapped and on PyTorch
unchanged, alternated over rounds; prints the medians and their ratio with the load average.

    python tools/program_speed.py [--rounds 3] [--torch-python PYTHON] [NAME ...]

``--torch-python`` is a Python with torch and torchvision (the test environment has torch
only; programs that import torchvision need both). A whole short run includes start-up and
compilation on both sides, so the ratio is that of a user's short run, not of a steady step.
"""
from __future__ import annotations

import argparse
import gzip
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from tests.test_programs import PROGRAMS, PROGRAMS_RUN, _prepare, program_command, program_environment  # noqa: E402


def _unpack_mnist_for_torchvision(workdir: pathlib.Path) -> None:
    """torchvision's MNIST looks for the unpacked files beside the ``.gz`` ones (else it downloads)."""
    for packed in workdir.parent.glob("**/MNIST/raw/*.gz"):
        unpacked = packed.with_suffix("")
        if not unpacked.exists():
            unpacked.write_bytes(gzip.decompress(packed.read_bytes()))


def _run(command: list[str], cwd: pathlib.Path, env: dict, timeout: int) -> float:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return max(float(seconds) for seconds in re.findall(r"run_program: ([\d.]+) s", output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=sorted(PROGRAMS_RUN))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-python", default=sys.executable)
    args = parser.parse_args()
    print(f"{'program':<24}{'rustorch s':>11}{'torch s':>9}{'speed':>8}   load")
    for name in args.names:
        program = PROGRAMS_RUN[name]
        if not (PROGRAMS / program.folder / program.script).is_file():
            print(f"{name:<24} source not in this checkout")
            continue
        with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as theirs_dir:
            ours = _prepare(name, program, pathlib.Path(ours_dir))
            theirs = _prepare(name, program, pathlib.Path(theirs_dir), swap=False)
            _unpack_mnist_for_torchvision(theirs.parent)
            env = program_environment()
            torch_env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
            for first in program.before:
                subprocess.run([sys.executable, first], cwd=ours.parent, env=env, check=True)
                subprocess.run([args.torch_python, first], cwd=theirs.parent, env=torch_env, check=True)
            times: dict[str, list[float]] = {"rustorch": [], "torch": []}
            try:
                for _ in range(args.rounds):
                    times["rustorch"].append(_run(program_command(program, ours), ours.parent, env, program.timeout))
                    times["torch"].append(_run(program_command(program, theirs, args.torch_python, under_torch=True),
                                               theirs.parent, torch_env, program.timeout))
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                print(f"{name:<24} failed: {str(error).splitlines()[-1][:200]}")
                continue
        ours_s, theirs_s = statistics.median(times["rustorch"]), statistics.median(times["torch"])
        load = open("/proc/loadavg").read().split()[0]
        print(f"{name:<24}{ours_s:>11.1f}{theirs_s:>9.1f}{theirs_s / ours_s:>7.2f}x   {load}", flush=True)


if __name__ == "__main__":
    main()
