"""Training throughput of image classifiers: rustorch's facade and functional core against
PyTorch eager and ``torch.compile``, each contender in its own process.

    python benchmarks/train_resnet.py                     # all workloads and contenders, 2 rounds x 5 steps
    python benchmarks/train_resnet.py --workloads resnet20 --steps 10 --rounds 3
    python benchmarks/train_resnet.py --contenders facade,torch --workloads densenet121

Workloads: ``resnet20`` (CIFAR ResNet-20, batch 128, 3x32x32), ``resnet18`` and ``densenet121``
(torchvision's, batch 16, 3x64x64, 10 classes). Each step is forward, cross-entropy, backward
and an SGD-with-momentum update, BatchNorm in training mode. Contenders: ``facade``
(``rustorch.vision.models`` driven like PyTorch), ``functional`` (the same model as a pure
function through ``rustorch.functional_model``, one ``jax.jit`` step with ``rustorch.functional``'s
SGD and donated buffers), ``torch`` (PyTorch eager on the torch port of torchvision used by the
tests, tests/torchvision_port.py) and ``torch.compile`` (the same model under
``torch.compile``; its first step includes Inductor's compile). Every (workload, contender) pair
runs in a fresh process (neither pays for the other's memory or threads); a run reports the
first step's time (compile included), samples/s over ``--steps`` timed steps after one more
warm-up step (median over ``--rounds``), and the process's peak RSS (Linux VmHWM), each with
the load average beside it; each workload ends with every contender's ratio to PyTorch eager.
One JSON record per run is appended to ``benchmarks/results/train_resnet.jsonl``.
"""
from __future__ import annotations

import argparse
import functools
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


def _functional(workload, batch, side):
    """The same model as a pure function (``rustorch.functional_model``) and ``rustorch.functional``'s
    SGD in one ``jax.jit`` step that donates parameters, BatchNorm buffers and optimizer state: the
    functional core as a JAX user drives it."""
    import functools

    import jax

    import rustorch
    import rustorch.functional as F
    from rustorch.vision import models

    rustorch.manual_seed(0)
    model = getattr(models, workload)(num_classes=10)
    apply_fn, params, buffers = rustorch.functional_model(model)
    optimizer = F.sgd(lr=0.01, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    x = jax.numpy.asarray(rng.standard_normal((batch, 3, side, side), dtype=np.float32))
    y = jax.numpy.asarray(rng.integers(0, 10, batch).astype(np.int32))

    def loss_fn(params, buffers):
        logits, new_buffers = apply_fn(params, buffers, x, training=True)
        return F.cross_entropy(logits, y), new_buffers

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def train_step(params, buffers, opt_state):
        (loss, buffers), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, buffers)
        params, opt_state = optimizer.update(grads, opt_state, params)
        return params, buffers, opt_state, loss

    carry = [params, buffers, optimizer.init(params)]

    def step():
        carry[0], carry[1], carry[2], loss = train_step(*carry)
        return loss

    return step, lambda loss: float(loss)


def _torch(workload, batch, side, compiled=False):
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
    forward = torch.compile(model) if compiled else model

    def step():
        optimizer.zero_grad()
        loss = criterion(forward(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step, lambda loss: loss.item()


CONTENDERS = {"facade": _facade, "functional": _functional, "torch": _torch,
              "torch.compile": functools.partial(_torch, compiled=True)}


def run_one(workload, contender, steps, rounds):
    """Time one (workload, contender) pair in this process; returns a JSON-able record."""
    batch, side = WORKLOADS[workload]
    started = time.perf_counter()
    step, sync = CONTENDERS[contender](workload, batch, side)
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
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # "workload:contender", in a child
    args = parser.parse_args(argv)
    if args.one:
        workload, contender = args.one.split(":")
        if not contender.startswith("torch"):
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
            print(f"{workload:12s} {contender:13s} batch {record['batch']:3d} @{record['side']}: "
                  f"{record['samples_per_s']:7.1f} samples/s (rounds {', '.join(f'{r:.1f}' for r in record['rates'])}), "
                  f"first step {record['first_step_s']:6.1f} s, peak RSS {record['peak_rss_mb']:6.0f} MB, "
                  f"load {load_before[0]:.2f} -> {record['load'][0]:.2f}", flush=True)
    by = {(r["workload"], r["contender"]): r for r in records}
    for workload in args.workloads.split(","):
        if (workload, "torch") in by:
            torch_rate = by[workload, "torch"]["samples_per_s"]
            ratios = [f"{name} {by[workload, name]['samples_per_s'] / torch_rate:.2f}x"
                      for name in args.contenders.split(",") if name != "torch" and (workload, name) in by]
            print(f"{workload}: against PyTorch eager: {', '.join(ratios)}")
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "benchmarks", "results", "train_resnet.jsonl"), "a") as f:
        f.write(json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
                            "records": records}) + "\n")


if __name__ == "__main__":
    main()
