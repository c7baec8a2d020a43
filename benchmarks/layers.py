"""Per-layer microbenchmark: where a training step of the MNIST CNN spends its time.

    python benchmarks/layers.py                  # batch 64
    python benchmarks/layers.py --batch-size 256 --rounds 9

For each layer of the MNIST CNN at its real shape (conv, max pool, batch norm, linear, cross
entropy, and an Adam step over the model's parameters), times the forward pass and the forward
plus backward pass of ``rustorch.functional`` under ``jax.jit`` and of PyTorch eager, alternating
the two, and prints medians in milliseconds and the ratio (rustorch time / torch time; below 1
means rustorch is faster). The conv rows are also timed with XLA's own convolution gradient
(``xla conv``) to show what rustorch's CPU lowering is worth, and conv, max pool and batch norm
also with ``layout="NHWC"`` on NHWC input (``nhwc``, the layout the facade runs in on CPU).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import rustorch.functional as F  # before torch: rustorch tunes glibc's malloc for the process
from rustorch import _config

import torch  # noqa: E402


def _jax_timer(fn, *args):
    jitted = jax.jit(fn)
    jax.block_until_ready(jitted(*args))
    return lambda: jax.block_until_ready(jitted(*args))


def _grad_of_sum(fn, argnums):
    return jax.grad(lambda *a: jnp.sum(fn(*a) ** 2), argnums=argnums)


def _cases(batch, rng):
    def arr(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    cases = []
    for name, (c, h, o) in {"conv1 1->32 @28": (1, 28, 32), "conv2 32->64 @14": (32, 14, 64)}.items():
        x, w, b = arr(batch, c, h, h), arr(o, c, 3, 3), arr(o)

        def jax_conv(x, w, b):
            return F.conv2d(x, w, b, padding=1)

        def torch_conv(x, w, b):
            return torch.nn.functional.conv2d(x, w, b, padding=1)

        def jax_conv_nhwc(x, w, b):
            return F.conv2d(x, w, b, padding=1, layout="NHWC")

        cases.append((name, jax_conv, torch_conv, (x, w, b), (0, 1, 2), jax_conv_nhwc))
    x = arr(batch, 32, 28, 28)
    cases.append(("max_pool 2x2 @28", lambda x: F.max_pool2d(x, 2), lambda x: torch.nn.functional.max_pool2d(x, 2),
                  (x,), (0,), lambda x: F.max_pool2d(x, 2, layout="NHWC")))
    state = F.BatchNormState.create(32)
    w, b = np.ones(32, np.float32), np.zeros(32, np.float32)
    cases.append((
        "batch_norm 32ch @28",
        lambda x, w, b: F.batch_norm(x, w, b, state, training=True)[0],
        lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True),
        (x, w, b), (0, 1, 2),
        lambda x, w, b: F.batch_norm(x, w, b, state, training=True, layout="NHWC")[0],
    ))
    x, w, b = arr(batch, 3136), arr(128, 3136), arr(128)
    cases.append(("linear 3136->128", F.linear, torch.nn.functional.linear, (x, w, b), (0, 1, 2), None))
    logits, target = arr(batch, 10), rng.integers(0, 10, batch)
    cases.append((
        "cross_entropy",
        lambda x: F.cross_entropy(x, jnp.asarray(target.astype(np.int32))),
        lambda x: torch.nn.functional.cross_entropy(x, torch.from_numpy(target)),
        (logits,), (0,), None,
    ))
    return cases


def _time(fns, rounds, repeats):
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            started = time.perf_counter()
            for _ in range(repeats):
                fn()
            times[key].append((time.perf_counter() - started) / repeats * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    print(f"batch {args.batch_size}, medians of {args.rounds} rounds (ms); load average {os.getloadavg()[0]:.2f}")
    print(f"{'layer':22s} {'pass':9s} {'rustorch':>9s} {'torch':>9s} {'ratio':>6s}  extra")
    for name, jax_fn, torch_fn, args_np, argnums, nhwc_fn in _cases(args.batch_size, rng):
        jax_args = [jnp.asarray(a) for a in args_np]
        torch_args = [torch.from_numpy(np.array(a)).requires_grad_(i in argnums) for i, a in enumerate(args_np)]

        def torch_forward():
            with torch.no_grad():
                torch_fn(*torch_args)

        def torch_backward():
            (torch_fn(*torch_args) ** 2).sum().backward()

        passes = {
            "forward": {"rustorch": _jax_timer(jax_fn, *jax_args), "torch": torch_forward},
            "fwd+bwd": {"rustorch": _jax_timer(_grad_of_sum(jax_fn, argnums), *jax_args), "torch": torch_backward},
        }
        if nhwc_fn is not None:
            nhwc_args = [jnp.transpose(jax_args[0], (0, 2, 3, 1))] + jax_args[1:]
            passes["forward"]["nhwc"] = _jax_timer(nhwc_fn, *nhwc_args)
            passes["fwd+bwd"]["nhwc"] = _jax_timer(_grad_of_sum(nhwc_fn, argnums), *nhwc_args)
        if name.startswith("conv"):
            _config.CPU_CONV_LOWERING = False
            try:
                passes["fwd+bwd"]["xla conv"] = _jax_timer(_grad_of_sum(jax_fn, argnums), *jax_args)
            finally:
                _config.CPU_CONV_LOWERING = True
        for pass_name, fns in passes.items():
            medians = _time(fns, args.rounds, args.repeats)
            extra = "".join(f"  {k} {v:.2f}" for k, v in medians.items() if k not in ("rustorch", "torch"))
            print(f"{name:22s} {pass_name:9s} {medians['rustorch']:9.2f} {medians['torch']:9.2f} "
                  f"{medians['rustorch'] / medians['torch']:6.2f}{extra}", flush=True)

    params = {f"p{i}": jnp.asarray(rng.standard_normal(shape, dtype=np.float32)) for i, shape in enumerate(
        [(32, 1, 3, 3), (32,), (32,), (32,), (64, 32, 3, 3), (64,), (64,), (64,), (128, 3136), (128,), (128,),
         (128,), (10, 128), (10,)])}
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    optimizer = F.adam()
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    jax.block_until_ready(update(grads, state, params))
    torch_params = [torch.nn.Parameter(torch.from_numpy(np.array(p))) for p in params.values()]
    for p in torch_params:
        p.grad = torch.ones_like(p)
    torch_optimizer = torch.optim.Adam(torch_params)
    medians = _time({"rustorch": lambda: jax.block_until_ready(update(grads, state, params)),
                     "torch": torch_optimizer.step}, args.rounds, args.repeats)
    print(f"{'adam (whole model)':22s} {'step':9s} {medians['rustorch']:9.2f} {medians['torch']:9.2f} "
          f"{medians['rustorch'] / medians['torch']:6.2f}")


if __name__ == "__main__":
    main()
