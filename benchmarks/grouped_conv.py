"""Grouped and depthwise convolutions, forward + backward: rustorch's CPU lowerings vs XLA's own
grouped convolution vs PyTorch eager (ms per call, median of rounds).

    python benchmarks/grouped_conv.py
    python benchmarks/grouped_conv.py --rounds 5 --skip-xla

Shapes: a ResNeXt-50 stage-1 3x3 convolution (128 channels in 32 groups), MobileNetV2-style
depthwise 3x3 convolutions (stride 1 and 2). XLA's grouped weight gradient is very slow on CPU
(seconds), so ``--skip-xla`` leaves that contender out.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import rustorch  # noqa: F401  (first: its malloc settings)
import jax
import jax.numpy as jnp
import torch

import rustorch.functional as F
from rustorch import _config

CASES = [  # (name, N, C, H, groups, stride)
    ("resnext 128ch/32 groups @16", 16, 128, 16, 32, 1),
    ("depthwise 144ch @16", 32, 144, 16, 144, 1),
    ("depthwise 96ch @32 stride 2", 16, 96, 32, 96, 2),
]


def _time(fn, rounds, steps=3):
    fn()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(steps):
            fn()
        times.append((time.perf_counter() - started) / steps * 1e3)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-xla", action="store_true")
    args = parser.parse_args(argv)
    for name, n, c, h, groups, stride in CASES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, h, h)).astype(np.float32)
        w = rng.standard_normal((c, c // groups, 3, 3)).astype(np.float32)

        def loss(x, w):
            return jnp.sum(F.conv2d(x, w, stride=stride, padding=1, groups=groups) ** 2)

        step = jax.jit(jax.value_and_grad(loss, (0, 1)))
        xs, ws = jnp.asarray(x), jnp.asarray(w)
        ours = _time(lambda: jax.block_until_ready(step(xs, ws)), args.rounds)
        xla = float("nan")
        if not args.skip_xla:
            _config.CPU_CONV_LOWERING = False
            xla_step = jax.jit(jax.value_and_grad(loss, (0, 1)))
            xla = _time(lambda: jax.block_until_ready(xla_step(xs, ws)), 1, steps=1)
            _config.CPU_CONV_LOWERING = True
        tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()

        def torch_step():
            tx.grad = tw.grad = None
            (torch.nn.functional.conv2d(tx, tw, stride=stride, padding=1, groups=groups) ** 2).sum().backward()

        theirs = _time(torch_step, args.rounds)
        print(f"{name:30s} rustorch {ours:8.1f} ms | XLA grouped conv {xla:9.1f} ms | torch {theirs:8.1f} ms | "
              f"torch/rustorch {theirs / ours:4.2f}x (load {os.getloadavg()[0]:.2f})", flush=True)


if __name__ == "__main__":
    main()
