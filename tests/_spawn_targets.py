"""Functions for ``rustorch.multiprocessing.spawn`` tests, in a module that children import cheaply."""
from pathlib import Path


def write_rank(rank: int, folder: Path) -> None:
    (folder / f"rank{rank}").write_text(str(rank))


def fail_on_one(rank: int) -> None:
    if rank == 1:
        raise SystemExit(3)


def wait_unless_one_fails(rank: int) -> None:
    """Rank 1 fails at once; rank 0 would wait for ever (as at a collective whose peer died)."""
    if rank == 1:
        raise SystemExit(4)
    import time

    time.sleep(600)


def sgd_steps_on_shared(model, steps: int) -> None:
    """``steps`` SGD steps (lr 0.1) on a shared ``Linear(3, 1)`` with loss ``model(ones).sum()``."""
    import rustorch

    optimizer = rustorch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        model(rustorch.ones(2, 3)).sum().backward()
        optimizer.step()
