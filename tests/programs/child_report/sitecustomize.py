"""Report rustorch's compile count when a ``multiprocessing`` child of a program exits.

``tests/test_programs.py`` puts this folder on ``PYTHONPATH``, so that processes a program
starts itself (``mp.spawn``, ``mp.Process``) report their counts as ``run_program.py`` reports
the main process's: the test bounds the largest. Processes that never compiled stay silent
(DataLoader workers).
"""
import atexit
import sys


def _report() -> None:
    import multiprocessing

    rustorch = sys.modules.get("rustorch")
    if rustorch is None or multiprocessing.parent_process() is None:
        return
    if rustorch.compile_count():
        print(f"rustorch: {rustorch.compile_count()} compiles, {rustorch.evaluation_count()} evaluations "
              f"(child process {multiprocessing.current_process().name})", flush=True)


atexit.register(_report)
