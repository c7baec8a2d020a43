"""Training throughput of image classifiers: rustorch facade vs PyTorch eager, each contender
in its own process.

    python benchmarks/train_resnet.py                     # all three workloads, 2 rounds x 5 steps
    python benchmarks/train_resnet.py --workloads resnet20 --steps 10 --rounds 3
    python benchmarks/train_resnet.py --contenders facade --workloads densenet121

Workloads: ``resnet20`` (CIFAR ResNet-20, batch 128, 3x32x32), ``resnet18`` and ``densenet121``
(torchvision's, batch 16, 3x64x64, 10 classes). Each step is forward, cross-entropy, backward
and an SGD-with-momentum update, BatchNorm in training mode. The rustorch contender is
``rustorch.vision.models``; the PyTorch one is the torch port of torchvision used by the tests
(tests/torchvision_port.py). Every (workload, contender) pair runs in a fresh process (the
project's preferred mode: neither pays for the other's memory or threads); a run reports the
first step's time (compile included), samples/s over ``--steps`` timed steps after one more
warm-up step (median over ``--rounds``), and the process's peak RSS (Linux VmHWM), each with
the load average beside it. One JSON record per run is appended to
``benchmarks/results/train_resnet.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's rustorch, not an installed one
WORKLOADS = {"resnet20": (128, 32), "resnet18": (16, 64), "densenet121": (16, 64)}


def _peak_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _facade(workload, batch, side):
    import rustorch
    from rustorch import nn
    from rustorch.vision import models

    rustorch.manual_seed(0)
    model = getattr(models, workload)(num_classes=10)
    criterion = nn.CrossEntropyLoss()
    optimizer = rustorch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    x = rustorch.tensor(rng.standard_normal((batch, 3, side, side), dtype=np.float32))
    y = rustorch.tensor(rng.integers(0, 10, batch).astype(np.int64))
    model.train()

    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step, lambda loss: loss.item()


def _torch(workload, batch, side):
    import torch

    sys.path.insert(0, ROOT)
    from tests import torchvision_port

    torch.manual_seed(0)
    model = torchvision_port.build(workload, num_classes=10)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, side, side)
    y = torch.randint(0, 10, (batch,))
    model.train()

    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step, lambda loss: loss.item()


def run_one(workload, contender, steps, rounds):
    """Time one (workload, contender) pair in this process; returns a JSON-able record."""
    batch, side = WORKLOADS[workload]
    started = time.perf_counter()
    step, sync = (_facade if contender == "facade" else _torch)(workload, batch, side)
    setup = time.perf_counter() - started
    started = time.perf_counter()
    sync(step())
    first = time.perf_counter() - started
    sync(step())  # a second warm-up: the optimizer state exists from here on
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        loss = None
        for _ in range(steps):
            loss = step()
        sync(loss)
        rates.append(steps * batch / (time.perf_counter() - started))
    return {"workload": workload, "contender": contender, "batch": batch, "side": side, "steps": steps,
            "setup_s": setup, "first_step_s": first, "samples_per_s": statistics.median(rates),
            "rates": rates, "peak_rss_mb": _peak_rss_mb(), "load": os.getloadavg()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--contenders", default="torch,facade")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # "workload:contender", in a child
    args = parser.parse_args(argv)
    if args.one:
        workload, contender = args.one.split(":")
        if contender == "facade":
            import rustorch  # noqa: F401  (first: its malloc settings, as in the user's program)
        print(json.dumps(run_one(workload, contender, args.steps, args.rounds)))
        return
    records = []
    for workload in args.workloads.split(","):
        for contender in args.contenders.split(","):
            load_before = os.getloadavg()
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", f"{workload}:{contender}",
                                  "--steps", str(args.steps), "--rounds", str(args.rounds)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                print(f"{workload} {contender}: failed\n{out.stderr[-2000:]}", flush=True)
                continue
            record = json.loads(out.stdout.strip().splitlines()[-1])
            record["load_before"] = load_before
            records.append(record)
            print(f"{workload:12s} {contender:7s} batch {record['batch']:3d} @{record['side']}: "
                  f"{record['samples_per_s']:7.1f} samples/s (rounds {', '.join(f'{r:.1f}' for r in record['rates'])}), "
                  f"first step {record['first_step_s']:6.1f} s, peak RSS {record['peak_rss_mb']:6.0f} MB, "
                  f"load {load_before[0]:.2f} -> {record['load'][0]:.2f}", flush=True)
    by = {(r["workload"], r["contender"]): r for r in records}
    for workload in args.workloads.split(","):
        if (workload, "facade") in by and (workload, "torch") in by:
            ratio = by[workload, "facade"]["samples_per_s"] / by[workload, "torch"]["samples_per_s"]
            print(f"{workload}: facade / torch = {ratio:.2f}x")
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "benchmarks", "results", "train_resnet.jsonl"), "a") as f:
        f.write(json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
                            "records": records}) + "\n")


if __name__ == "__main__":
    main()
