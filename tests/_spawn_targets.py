"""Functions for ``rustorch.multiprocessing.spawn`` tests, in a module that children import cheaply."""
from pathlib import Path


def write_rank(rank: int, folder: Path) -> None:
    (folder / f"rank{rank}").write_text(str(rank))


def fail_on_one(rank: int) -> None:
    if rank == 1:
        raise SystemExit(3)
