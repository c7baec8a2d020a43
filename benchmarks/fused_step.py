"""The optimizer update recorded into the next step's program, against the separate update.

Three measurements (see benchmarks/NOTES.md, "One program per training step"):

* ``--cnn``: the MNIST CNN of ``train_cnn.py`` trained in one process, fused and unfused
  rounds alternated (``rustorch.stateful._optim.FUSED_STEP``), samples/s per batch size;
* ``--device-time``: the same two models, every program blocked on, device time per step;
* ``--mlp-memory``: a 42M-parameter MLP with Adam, each mode alone in a fresh process, peak
  RSS and step time (``fused``, ``unfused``, ``fused_nodonate``).

Run from the repository root: ``PYTHONPATH=. python benchmarks/fused_step.py --cnn --mlp-memory``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODES = {"fused": ("1", "1"), "unfused": ("0", "1"), "fused_nodonate": ("1", "0")}


def _set_mode(name):
    from rustorch.stateful import _graph, _optim
    fused, donate = MODES[name]
    _optim.FUSED_STEP, _graph.DONATE = fused == "1", donate == "1"


def _cnn(batch, rounds, steps, device_time):
    import jax

    import train_cnn
    from rustorch.stateful import _graph

    runners = {}
    for name in ("fused", "unfused"):
        _set_mode(name)
        step, sync, _ = train_cnn._facade_contender(batch)
        for _ in range(4):
            sync(step())
        runners[name] = (step, sync)
    spent = []
    run = _graph.run

    def blocked(*args, **kwargs):
        started = time.perf_counter()
        out = run(*args, **kwargs)
        jax.block_until_ready(out)
        spent.append(time.perf_counter() - started)
        return out

    if device_time:  # the unfused update's own program is blocked on too
        import gc

        from rustorch.stateful import _optim
        for group_state in [o for o in gc.get_objects() if isinstance(o, _optim._GroupState)]:
            def blocked_update(*args, update=group_state.update):
                started = time.perf_counter()
                out = jax.block_until_ready(update(*args))
                spent.append(time.perf_counter() - started)
                return out
            group_state.update = blocked_update
    results = {name: [] for name in runners}
    loads = []
    for r in range(rounds):
        for name in (("fused", "unfused") if r % 2 == 0 else ("unfused", "fused")):
            _set_mode(name)
            step, sync = runners[name]
            sync(step())
            if device_time:
                _graph.run = blocked
                for _ in range(steps):
                    spent.clear()
                    sync(step())
                    results[name].append(sum(spent) * 1e3)
                _graph.run = run
            else:
                started = time.perf_counter()
                for _ in range(steps):
                    loss = step()
                sync(loss)
                results[name].append(steps * batch / (time.perf_counter() - started))
        loads.append(os.getloadavg()[0])
    unit = "ms of programs per step" if device_time else "samples/s"
    f, u = statistics.median(results["fused"]), statistics.median(results["unfused"])
    print(f"CNN batch {batch}: fused {f:.1f}, unfused {u:.1f} {unit}, fused/unfused {f / u:.3f} "
          f"(load {min(loads):.2f}-{max(loads):.2f})", flush=True)


def _mlp_child(name):
    import numpy as np

    import rustorch
    from rustorch import nn

    _set_mode(name)
    rustorch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2048, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                          nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10))
    opt = rustorch.optim.Adam(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    x = rustorch.tensor(rng.standard_normal((32, 2048)).astype(np.float32))
    y = rustorch.tensor(rng.integers(0, 10, 32))
    criterion = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step().item()
    started = time.perf_counter()
    for _ in range(8):
        loss = step()
    loss.item()
    elapsed = (time.perf_counter() - started) / 8
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))
    print(f"MLP 42M parameters, {name}: {elapsed * 1e3:.0f} ms/step, peak RSS {peak:.0f} MB "
          f"(load {os.getloadavg()[0]:.2f})", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnn", action="store_true")
    parser.add_argument("--device-time", action="store_true")
    parser.add_argument("--mlp-memory", action="store_true")
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--mlp-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mlp_child:
        return _mlp_child(args.mlp_child)
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        if args.cnn:
            _cnn(batch, args.rounds, args.steps, device_time=False)
        if args.device_time:
            _cnn(batch, args.rounds, args.steps, device_time=True)
    if args.mlp_memory:
        for name in ("fused", "unfused", "fused_nodonate"):
            subprocess.run([sys.executable, __file__, "--mlp-child", name], check=True)


if __name__ == "__main__":
    main()
