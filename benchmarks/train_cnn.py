"""Training throughput of the MNIST CNN: rustorch facade vs rustorch functional (jit) vs PyTorch.

    python benchmarks/train_cnn.py                      # batch 64 and 256, 3 rounds x 20 steps
    python benchmarks/train_cnn.py --batch-sizes 64 --rounds 5 --steps 30
    python benchmarks/train_cnn.py --contenders facade,functional --in-process
    python benchmarks/train_cnn.py --contenders \
        facade,functional,functional_nhwc,plain_jax_nhwc,flax_nnx,equinox,torch,torch.compile

Contenders: ``facade`` (rustorch's PyTorch-style API; ``facade_bf16`` the same step under
``rustorch.autocast('cpu')``, ``torch_bf16`` PyTorch's under ``torch.autocast('cpu')``), ``functional`` and ``functional_nhwc``
(rustorch's pure functions under one ``jax.jit``, NCHW or channels-last), ``functional_xla_conv``
(the NCHW step with XLA's own convolution), ``plain_jax_nhwc`` (hand-written JAX), ``flax_nnx``
and ``equinox``, ``torch`` and ``torch.compile`` (``pip install -e '.[benchmarks]'`` installs
the other libraries).

Every contender trains the same model (Conv-BN-ReLU-MaxPool-Dropout x2, Linear-BN-ReLU-Dropout,
Linear; Adam; BN in training mode; dropout on) on random MNIST-shaped batches. Rounds rotate
the contenders' order so that a noisy neighbour hurts all of them alike; each round times
``--steps`` steps after a warm-up and reports samples/s. By default every round runs each
contender alone in a fresh process with its own defaults (how a user meets it: PyTorch with its
own allocator, rustorch with its own), and the summary gives each one's median, min and max
samples/s, the ratio to PyTorch eager, the median first-step time (compile included;
``--cold-cache`` empties JAX's compilation cache for each process) and the peak RSS.
``--in-process`` runs them all in one process instead (rustorch imported first, so its malloc
settings apply to every contender), for A/B work. One JSON record per run is appended to
``benchmarks/results/train_cnn.jsonl``, with the load average beside the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time

import numpy as np


def _facade_contender(batch_size, mixed=False):
    import contextlib

    import rustorch
    from rustorch import nn

    rustorch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )
    criterion = nn.CrossEntropyLoss()
    optimizer = rustorch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = rustorch.tensor(rng.standard_normal((batch_size, 1, 28, 28), dtype=np.float32))
    y = rustorch.tensor(rng.integers(0, 10, batch_size).astype(np.int32))

    device_type = "cuda" if rustorch.cuda.is_available() else "cpu"

    def step():
        optimizer.zero_grad()
        with rustorch.autocast(device_type, dtype=rustorch.bfloat16) if mixed else contextlib.nullcontext():
            loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    def sync(loss):
        loss.item()

    def record_cost():
        """Python time to record one forward pass and loss (no evaluation)."""
        saved = [(module, dict(module._buffers)) for module in model.modules()]
        started = time.perf_counter()
        for _ in range(20):
            criterion(model(x), y)
        elapsed = (time.perf_counter() - started) / 20
        # Forget the 20 unevaluated forwards: their BatchNorm updates would otherwise chain
        # into the next step's program (a different, much larger graph).
        for module, buffers in saved:
            module._buffers.update(buffers)
        return elapsed

    return step, sync, record_cost


def _functional_contender(batch_size, xla_conv=False, channels_last=False):
    """The same model as pure functions under one ``jax.jit``; ``xla_conv`` traces it with
    XLA's own convolution (forward and gradients) instead of rustorch's CPU lowering, and
    ``channels_last`` runs conv, batch norm, pooling and dropout with ``layout="NHWC"`` on NHWC
    activations (the layout the facade's interpreter picks on CPU)."""
    import jax
    import jax.numpy as jnp

    import rustorch.functional as F

    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    params = {}
    params["c1w"], params["c1b"] = F.conv2d_init(keys[0], 1, 32, 3)
    params["c2w"], params["c2b"] = F.conv2d_init(keys[1], 32, 64, 3)
    params["l1w"], params["l1b"] = F.linear_init(keys[2], 64 * 7 * 7, 128)
    params["l2w"], params["l2b"] = F.linear_init(keys[3], 128, 10)
    for name, size in (("bn1", 32), ("bn2", 64), ("bn3", 128)):
        params[name + "w"] = jnp.ones(size)
        params[name + "b"] = jnp.zeros(size)
    states = {name: F.BatchNormState.create(size) for name, size in (("bn1", 32), ("bn2", 64), ("bn3", 128))}
    optimizer = F.adam(lr=1e-3)
    opt_state = optimizer.init(params)

    def loss_fn(params, states, x, y, key):
        k1, k2, k3 = jax.random.split(key, 3)
        new = {}
        layout = "NHWC" if channels_last else "NCHW"
        if channels_last:
            x = jnp.transpose(x, (0, 2, 3, 1))
        h = F.conv2d(x, params["c1w"], params["c1b"], padding=1, layout=layout)
        h, new["bn1"] = F.batch_norm(h, params["bn1w"], params["bn1b"], states["bn1"], training=True, layout=layout)
        h = F.dropout(F.max_pool2d(F.relu(h), 2, layout=layout), 0.25, key=k1, layout=layout)
        h = F.conv2d(h, params["c2w"], params["c2b"], padding=1, layout=layout)
        h, new["bn2"] = F.batch_norm(h, params["bn2w"], params["bn2b"], states["bn2"], training=True, layout=layout)
        h = F.dropout(F.max_pool2d(F.relu(h), 2, layout=layout), 0.25, key=k2, layout=layout)
        if channels_last:
            h = jnp.transpose(h, (0, 3, 1, 2))
        h = F.linear(F.flatten(h), params["l1w"], params["l1b"])
        h, new["bn3"] = F.batch_norm(h, params["bn3w"], params["bn3b"], states["bn3"], training=True)
        h = F.dropout(F.relu(h), 0.5, key=k3)
        logits = F.linear(h, params["l2w"], params["l2b"])
        return F.cross_entropy(logits, y), new

    @jax.jit
    def train_step(params, states, opt_state, x, y, key):
        key, sub = jax.random.split(key)
        (loss, states), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, states, x, y, sub)
        params, opt_state = optimizer.update(grads, opt_state, params)
        return params, states, opt_state, key, loss

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch_size, 1, 28, 28), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, batch_size).astype(np.int32))
    carry = [params, states, opt_state, jax.random.PRNGKey(1)]

    def step():
        carry[0], carry[1], carry[2], carry[3], loss = train_step(*carry[:3], x, y, carry[3])
        return loss

    if xla_conv:
        from rustorch import _config

        _config.CPU_CONV_LOWERING = False
        try:
            jax.block_until_ready(step())  # traced and compiled with XLA's convolution
        finally:
            _config.CPU_CONV_LOWERING = True

    def sync(loss):
        jax.block_until_ready(loss)

    return step, sync, None


def _plain_jax_contender(batch_size):
    """The fastest hand-written plain-JAX step we know on CPU (PERF_NOTES.md): channels-last
    throughout, max pooling as reshape + max, XLA's own convolution. No rustorch code."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(x, w, b):  # x NHWC, w HWIO
        return lax.conv_general_dilated(x, w, (1, 1), [(1, 1), (1, 1)],
                                        dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

    def batch_norm(x, w, b, axes):
        mean = jnp.mean(x, axes)
        var = jnp.var(x, axes)
        return (x - mean) * lax.rsqrt(var + 1e-5) * w + b, (mean, var)

    def pool(x):
        n, h, w, c = x.shape
        return jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))

    def dropout(x, p, key):
        keep = jax.random.bernoulli(key, 1 - p, x.shape)
        return jnp.where(keep, x / (1 - p), 0)

    def uniform(key, shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return jax.random.uniform(key, shape, jnp.float32, -bound, bound)

    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    params = {
        "c1w": uniform(keys[0], (3, 3, 1, 32), 9), "c1b": jnp.zeros(32),
        "c2w": uniform(keys[1], (3, 3, 32, 64), 288), "c2b": jnp.zeros(64),
        "l1w": uniform(keys[2], (3136, 128), 3136), "l1b": jnp.zeros(128),
        "l2w": uniform(keys[3], (128, 10), 128), "l2b": jnp.zeros(10),
        "bn1w": jnp.ones(32), "bn1b": jnp.zeros(32), "bn2w": jnp.ones(64), "bn2b": jnp.zeros(64),
        "bn3w": jnp.ones(128), "bn3b": jnp.zeros(128),
    }
    stats = {name: (jnp.zeros(size), jnp.ones(size)) for name, size in (("bn1", 32), ("bn2", 64), ("bn3", 128))}
    moments = jax.tree_util.tree_map(lambda p: (jnp.zeros_like(p), jnp.zeros_like(p)), params)

    def loss_fn(params, stats, x, y, key):
        k1, k2, k3 = jax.random.split(key, 3)
        new = {}
        h, s1 = batch_norm(conv(x, params["c1w"], params["c1b"]), params["bn1w"], params["bn1b"], (0, 1, 2))
        h = dropout(pool(jax.nn.relu(h)), 0.25, k1)
        h, s2 = batch_norm(conv(h, params["c2w"], params["c2b"]), params["bn2w"], params["bn2b"], (0, 1, 2))
        h = dropout(pool(jax.nn.relu(h)), 0.25, k2)
        h = jnp.transpose(h, (0, 3, 1, 2)).reshape(h.shape[0], -1) @ params["l1w"] + params["l1b"]
        h, s3 = batch_norm(h, params["bn3w"], params["bn3b"], (0,))
        logits = dropout(jax.nn.relu(h), 0.5, k3) @ params["l2w"] + params["l2b"]
        for name, (mean, var) in (("bn1", s1), ("bn2", s2), ("bn3", s3)):
            old_mean, old_var = stats[name]
            new[name] = (0.9 * old_mean + 0.1 * lax.stop_gradient(mean), 0.9 * old_var + 0.1 * lax.stop_gradient(var))
        loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))
        return loss, new

    @jax.jit
    def train_step(params, stats, moments, step, x, y, key):
        key, sub = jax.random.split(key)
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, stats, x, y, sub)
        step = step + 1
        bc1, bc2 = 1 - 0.9 ** step, 1 - 0.999 ** step

        def adam(p, g, m):
            m1 = 0.9 * m[0] + 0.1 * g
            m2 = 0.999 * m[1] + 0.001 * g * g
            return p - 1e-3 * (m1 / bc1) / (jnp.sqrt(m2 / bc2) + 1e-8), (m1, m2)

        flat = jax.tree_util.tree_map(adam, params, grads, moments, is_leaf=lambda v: isinstance(v, tuple))
        params = {k: v[0] for k, v in flat.items()}
        moments = {k: v[1] for k, v in flat.items()}
        return params, stats, moments, step, key, loss

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch_size, 28, 28, 1), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, batch_size).astype(np.int32))
    carry = [params, stats, moments, jnp.float32(0), jax.random.PRNGKey(1)]

    def step():
        carry[0], carry[1], carry[2], carry[3], carry[4], loss = train_step(*carry[:4], x, y, carry[4])
        return loss

    return step, (lambda loss: jax.block_until_ready(loss)), None


def _torch_contender(batch_size, compiled=False, mixed=False):
    import contextlib

    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )
    criterion = nn.CrossEntropyLoss()
    # BENCH_TORCH_DEVICE=cuda (benchmarks/gpu.sh) runs PyTorch's contenders on the GPU.
    device = os.environ.get("BENCH_TORCH_DEVICE", "cpu")
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    forward = torch.compile(model) if compiled else model
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch_size, 1, 28, 28), dtype=np.float32)).to(device)
    y = torch.from_numpy(rng.integers(0, 10, batch_size)).to(device)

    def step():
        optimizer.zero_grad()
        with torch.autocast(device, dtype=torch.bfloat16) if mixed else contextlib.nullcontext():
            loss = criterion(forward(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step, (lambda loss: loss.item()), None


def _flax_nnx_contender(batch_size):
    """The same model written idiomatically in Flax NNX (channels-last, Flax's layout), with
    optax's Adam under ``nnx.jit``. No rustorch code."""
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    class CNN(nnx.Module):
        def __init__(self, rngs):
            self.conv1 = nnx.Conv(1, 32, (3, 3), padding=1, rngs=rngs)
            self.bn1 = nnx.BatchNorm(32, momentum=0.9, rngs=rngs)
            self.conv2 = nnx.Conv(32, 64, (3, 3), padding=1, rngs=rngs)
            self.bn2 = nnx.BatchNorm(64, momentum=0.9, rngs=rngs)
            self.fc1 = nnx.Linear(64 * 7 * 7, 128, rngs=rngs)
            self.bn3 = nnx.BatchNorm(128, momentum=0.9, rngs=rngs)
            self.fc2 = nnx.Linear(128, 10, rngs=rngs)
            self.drop1 = nnx.Dropout(0.25, rngs=rngs)
            self.drop2 = nnx.Dropout(0.25, rngs=rngs)
            self.drop3 = nnx.Dropout(0.5, rngs=rngs)

        def __call__(self, x):
            x = self.drop1(nnx.max_pool(nnx.relu(self.bn1(self.conv1(x))), (2, 2), (2, 2)))
            x = self.drop2(nnx.max_pool(nnx.relu(self.bn2(self.conv2(x))), (2, 2), (2, 2)))
            x = self.drop3(nnx.relu(self.bn3(self.fc1(x.reshape(x.shape[0], -1)))))
            return self.fc2(x)

    model = CNN(nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch_size, 28, 28, 1), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, batch_size).astype(np.int32))
    return (lambda: train_step(model, optimizer, x, y)), jax.block_until_ready, None


def _equinox_contender(batch_size):
    """The same model written idiomatically in Equinox (per-example NCHW modules under
    ``jax.vmap``, BatchNorm state threaded explicitly), with optax's Adam under
    ``eqx.filter_jit``. No rustorch code."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    class CNN(eqx.Module):
        conv1: eqx.nn.Conv2d
        bn1: eqx.nn.BatchNorm
        conv2: eqx.nn.Conv2d
        bn2: eqx.nn.BatchNorm
        fc1: eqx.nn.Linear
        bn3: eqx.nn.BatchNorm
        fc2: eqx.nn.Linear
        pool: eqx.nn.MaxPool2d

        def __init__(self, key):
            keys = jax.random.split(key, 4)
            self.conv1 = eqx.nn.Conv2d(1, 32, 3, padding=1, key=keys[0])
            self.bn1 = eqx.nn.BatchNorm(32, axis_name="batch", momentum=0.9, mode="batch")
            self.conv2 = eqx.nn.Conv2d(32, 64, 3, padding=1, key=keys[1])
            self.bn2 = eqx.nn.BatchNorm(64, axis_name="batch", momentum=0.9, mode="batch")
            self.fc1 = eqx.nn.Linear(64 * 7 * 7, 128, key=keys[2])
            self.bn3 = eqx.nn.BatchNorm(128, axis_name="batch", momentum=0.9, mode="batch")
            self.fc2 = eqx.nn.Linear(128, 10, key=keys[3])
            self.pool = eqx.nn.MaxPool2d(2, 2)

        def __call__(self, x, state, key):
            k1, k2, k3 = jax.random.split(key, 3)
            h, state = self.bn1(self.conv1(x), state)
            h = eqx.nn.Dropout(0.25)(self.pool(jax.nn.relu(h)), key=k1)
            h, state = self.bn2(self.conv2(h), state)
            h = eqx.nn.Dropout(0.25)(self.pool(jax.nn.relu(h)), key=k2)
            h, state = self.bn3(self.fc1(h.reshape(-1)), state)
            h = eqx.nn.Dropout(0.5)(jax.nn.relu(h), key=k3)
            return self.fc2(h), state

    model, state = eqx.nn.make_with_state(CNN)(jax.random.PRNGKey(0))
    optim = optax.adam(1e-3)
    opt_state = optim.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def train_step(model, state, opt_state, x, y, key):
        def loss_fn(model, state):
            keys = jax.random.split(key, x.shape[0])
            logits, state = jax.vmap(model, axis_name="batch", in_axes=(0, None, 0), out_axes=(0, None))(
                x, state, keys)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), state

        (loss, state), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, state)
        updates, opt_state = optim.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state, opt_state, loss

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch_size, 1, 28, 28), dtype=np.float32))
    y = jnp.asarray(rng.integers(0, 10, batch_size).astype(np.int32))
    carry = [model, state, opt_state, jax.random.PRNGKey(1)]

    def step():
        carry[3], key = jax.random.split(carry[3])
        carry[0], carry[1], carry[2], loss = train_step(*carry[:3], x, y, key)
        return loss

    return step, jax.block_until_ready, None


CONTENDERS = {
    "facade": _facade_contender,
    "functional": _functional_contender,
    "functional_nhwc": lambda b: _functional_contender(b, channels_last=True),
    "functional_xla_conv": lambda b: _functional_contender(b, xla_conv=True),
    "plain_jax_nhwc": _plain_jax_contender,
    "flax_nnx": _flax_nnx_contender,
    "equinox": _equinox_contender,
    "torch": _torch_contender,
    "torch.compile": lambda b: _torch_contender(b, compiled=True),
    # bfloat16 mixed precision (rustorch.autocast / torch.autocast on CPU)
    "facade_bf16": lambda b: _facade_contender(b, mixed=True),
    "torch_bf16": lambda b: _torch_contender(b, mixed=True),
}


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--contenders", default="facade,functional,torch")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "train_cnn.jsonl"))
    parser.add_argument("--in-process", action="store_true",
                        help="run every contender in this one process (rounds rotate them); for A/B work on "
                             "one library. The default runs each contender alone in a fresh process per round.")
    parser.add_argument("--cold-cache", action="store_true",
                        help="isolated mode: give each process an empty JAX compilation cache, so the first "
                             "step includes a cold compile")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one contender, one batch size: prints JSON
    return parser.parse_args(argv)


def _prepare(names):
    """Import what the contenders need, rustorch first; drops torch contenders without torch."""
    if any(not n.startswith("torch") for n in names):
        # rustorch first: it tunes glibc's malloc for the whole process (rustorch/_allocator.py),
        # which only fully works before any library starts threads.
        import rustorch  # noqa: F401
    if any(n.startswith("torch") for n in names):
        try:
            import torch

            torch.set_num_threads(os.cpu_count() or 1)
        except ImportError:
            names = [n for n in names if not n.startswith("torch")]
    return names


def _start(name, batch_size, warmup):
    """Build contender ``name`` and run its first step and warm-up; returns its runner."""
    step, sync, record_cost = CONTENDERS[name](batch_size)
    started = time.perf_counter()
    sync(step())
    first_step = time.perf_counter() - started
    for _ in range(warmup):
        sync(step())
    return step, sync, first_step, (record_cost() if record_cost is not None else None)


def _timed(step, sync, steps, batch_size):
    started = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync(loss)
    return steps * batch_size / (time.perf_counter() - started)


def _run_child(args):
    """Isolated mode's child: one contender at one batch size, one timed round, one JSON line."""
    batch_size = int(args.batch_sizes)
    step, sync, first_step, record_cost = _start(args.child, batch_size, args.warmup)
    rate = _timed(step, sync, args.steps, batch_size)
    print(json.dumps({"rate": rate, "first_step": first_step, "peak_rss_mb": _peak_rss_mb(),
                      "record_ms": None if record_cost is None else record_cost * 1e3}))


def _isolated_round(name, batch_size, args):
    import subprocess
    import sys
    import tempfile

    command = [sys.executable, __file__, "--child", name, "--batch-sizes", str(batch_size),
               "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if args.cold_cache:
            env["RUSTORCH_CACHE_DIR"] = cache
        output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv=None):
    args = _parse(argv)
    if args.child:
        _prepare([args.child])
        return _run_child(args)
    names = [n for n in args.contenders.split(",") if n]
    isolated = not args.in_process
    if not isolated:
        names = _prepare(names)
    mode = "each contender alone in a fresh process per round" if isolated else "all contenders in one process"
    records = []
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        rates = {name: [] for name in names}
        first_steps = {name: [] for name in names}
        peaks, record_costs, loads, runs = {}, {}, [], {}
        if not isolated:
            for name in names:
                step, sync, first, record_cost = _start(name, batch_size, args.warmup)
                runs[name] = (step, sync)
                first_steps[name].append(first)
                if record_cost is not None:
                    record_costs[name] = record_cost * 1e3
        for round_index in range(args.rounds):
            # Rotating the order spreads a noisy neighbour over every contender alike.
            order = names[round_index % len(names):] + names[: round_index % len(names)]
            for name in order:
                loads.append(os.getloadavg()[0])
                if isolated:
                    result = _isolated_round(name, batch_size, args)
                    rates[name].append(result["rate"])
                    first_steps[name].append(result["first_step"])
                    peaks[name] = max(peaks.get(name, 0.0), result["peak_rss_mb"])
                    if result["record_ms"] is not None:
                        record_costs[name] = result["record_ms"]
                else:
                    rates[name].append(_timed(*runs[name], args.steps, batch_size))
        medians = {name: statistics.median(values) for name, values in rates.items()}
        print(f"\nbatch {batch_size}: samples/s, median of {args.rounds} rounds x {args.steps} steps, {mode} "
              f"(load average {min(loads):.2f}-{max(loads):.2f})")
        for name in names:
            line = (f"  {name:14s} {medians[name]:8.0f}  (min {min(rates[name]):.0f}, max {max(rates[name]):.0f})"
                    f"  first step {statistics.median(first_steps[name]):.2f} s")
            if "torch" in medians:
                line += f"  x{medians[name] / medians['torch']:.2f} vs torch"
            if name in peaks:
                line += f"  peak RSS {peaks[name]:.0f} MB"
            if name in record_costs:
                line += f"  recording {record_costs[name]:.2f} ms/step"
            print(line)
        records.append({"batch_size": batch_size, "mode": "isolated" if isolated else "in-process",
                        "rates": rates, "medians": medians, "first_step_s": first_steps,
                        "peak_rss_mb": peaks, "record_ms": record_costs, "load": [min(loads), max(loads)]})
    if not isolated:
        print(f"\npeak RSS of this process (all contenders): {_peak_rss_mb():.0f} MB")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "a") as handle:
        handle.write(json.dumps({"time": time.time(), "machine": platform.processor() or platform.machine(),
                                 "cpus": os.cpu_count(), "records": records}) + "\n")


def _peak_rss_mb():
    """This process's peak resident memory. Linux's VmHWM belongs to the process image, whereas
    ru_maxrss survives exec and would report a forking parent's peak in its child."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
