"""Training throughput of word language models: rustorch facade vs rustorch functional (jit) vs
PyTorch eager, in one process, plus compile time against sequence length.

    python benchmarks/train_lm.py                          # both models, 3 timed steps x 2 rounds
    python benchmarks/train_lm.py --models lstm --steps 5 --rounds 3
    python benchmarks/train_lm.py --compile-lengths 35,350 # first-step time per bptt length

Models (random tokens, vocabulary ``--vocab``, default 10000):

* ``lstm``: Embedding(650) -> 2-layer LSTM(650) -> Linear, bptt 35, batch 20, SGD, gradient
  clipping off (the medium model of PyTorch's word_language_model example).
* ``transformer``: Embedding(200) -> 2 TransformerEncoderLayers (2 heads, feed-forward 200,
  causal mask) -> Linear, bptt 35, batch 20.

Dropout is on (0.2) in training mode for every contender. Rounds rotate the contenders' order;
each times ``--steps`` steps after a warm-up and reports tokens/s (median over rounds). The
compile section measures the facade's first training step (record, compile, run) at each
``--compile-lengths`` bptt: the LSTM's time loop is one ``lax.scan``, so 350 steps should
compile about as fast as 35. The load average is printed beside every figure, because the
machine may be shared. One JSON record per run is appended to ``benchmarks/results/train_lm.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time

import numpy as np


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


# ----------------------------------------------------------------------------- facade

def _facade_model(kind, vocab, nn, rustorch, bptt):
    class LSTMLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.2)
            self.encoder = nn.Embedding(vocab, 650)
            self.rnn = nn.LSTM(650, 650, 2, dropout=0.2)
            self.decoder = nn.Linear(650, vocab)

        def forward(self, x):
            out, _ = self.rnn(self.drop(self.encoder(x)))
            return self.decoder(self.drop(out)).reshape(-1, vocab)

    class TransformerLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(vocab, 200)
            layer = nn.TransformerEncoderLayer(200, 2, 200, 0.2)
            self.transformer = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.decoder = nn.Linear(200, vocab)
            self.mask = nn.Transformer.generate_square_subsequent_mask(bptt)

        def forward(self, x):
            h = self.transformer(self.encoder(x) * math.sqrt(200), mask=self.mask)
            return self.decoder(h).reshape(-1, vocab)

    return LSTMLM() if kind == "lstm" else TransformerLM()


def facade_contender(kind, vocab, batch, bptt):
    import rustorch
    from rustorch import nn

    rustorch.manual_seed(0)
    model = _facade_model(kind, vocab, nn, rustorch, bptt)
    criterion = nn.CrossEntropyLoss()
    optimizer = rustorch.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    x = rustorch.tensor(rng.integers(0, vocab, (bptt, batch)).astype(np.int32))
    y = rustorch.tensor(rng.integers(0, vocab, bptt * batch).astype(np.int32))

    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step, lambda loss: loss.item()


def torch_contender(kind, vocab, batch, bptt):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = _facade_model(kind, vocab, nn, torch, bptt)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randint(0, vocab, (bptt, batch))
    y = torch.randint(0, vocab, (bptt * batch,))

    def step():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step, lambda loss: loss.item()


def functional_contender(kind, vocab, batch, bptt):
    """The same model as pure rustorch.functional calls under one jax.jit (SGD by hand)."""
    import jax
    import jax.numpy as jnp

    from rustorch import functional as F

    rng = np.random.default_rng(0)

    def uniform(shape, bound):
        return jnp.asarray(rng.uniform(-bound, bound, shape).astype(np.float32))

    if kind == "lstm":
        hidden = 650
        b = 1 / math.sqrt(hidden)
        params = {
            "emb": jnp.asarray(rng.standard_normal((vocab, hidden)).astype(np.float32)),
            "rnn": [F.RNNWeights(uniform((4 * hidden, hidden), b), uniform((4 * hidden, hidden), b),
                                 uniform((4 * hidden,), b), uniform((4 * hidden,), b)) for _ in range(2)],
            "dec_w": uniform((vocab, hidden), b), "dec_b": uniform((vocab,), b),
        }

        def logits(params, x, key):
            k1, k2, k3 = jax.random.split(key, 3)
            h = F.dropout(F.embedding(x, params["emb"]), 0.2, key=k1)
            out, _ = F.rnn(h, None, params["rnn"], mode="LSTM", num_layers=2, dropout=0.2, training=True, key=k2)
            return F.linear(F.dropout(out, 0.2, key=k3), params["dec_w"], params["dec_b"]).reshape(-1, vocab)
    else:
        d = 200
        b = 1 / math.sqrt(d)
        layers = []
        for _ in range(2):
            layers.append({"in_w": uniform((3 * d, d), b), "in_b": jnp.zeros(3 * d), "out_w": uniform((d, d), b),
                           "out_b": jnp.zeros(d), "l1_w": uniform((d, d), b), "l1_b": uniform((d,), b),
                           "l2_w": uniform((d, d), b), "l2_b": uniform((d,), b), "n1_w": jnp.ones(d),
                           "n1_b": jnp.zeros(d), "n2_w": jnp.ones(d), "n2_b": jnp.zeros(d)})
        params = {"emb": jnp.asarray(rng.standard_normal((vocab, d)).astype(np.float32)), "layers": layers,
                  "dec_w": uniform((vocab, d), b), "dec_b": uniform((vocab,), b)}
        mask = jnp.asarray(np.triu(np.full((bptt, bptt), -np.inf, np.float32), 1))

        def logits(params, x, key):
            h = F.embedding(x, params["emb"]) * math.sqrt(d)
            for i, p in enumerate(params["layers"]):
                keys = jax.random.split(jax.random.fold_in(key, i), 4)
                a, _ = F.multi_head_attention_forward(h, h, h, d, 2, p["in_w"], p["in_b"], None, None, False, 0.2,
                                                      p["out_w"], p["out_b"], training=True, need_weights=False,
                                                      attn_mask=mask, dropout_key=keys[0])
                h = F.layer_norm(h + F.dropout(a, 0.2, key=keys[1]), d, p["n1_w"], p["n1_b"])
                ff = F.linear(F.dropout(F.relu(F.linear(h, p["l1_w"], p["l1_b"])), 0.2, key=keys[2]),
                              p["l2_w"], p["l2_b"])
                h = F.layer_norm(h + F.dropout(ff, 0.2, key=keys[3]), d, p["n2_w"], p["n2_b"])
            return F.linear(h, params["dec_w"], params["dec_b"]).reshape(-1, vocab)

    @jax.jit
    def train_step(params, x, y, key):
        loss, grads = jax.value_and_grad(lambda p: F.cross_entropy(logits(p, x, key), y))(params)
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads), loss

    x = jnp.asarray(rng.integers(0, vocab, (bptt, batch)).astype(np.int32))
    y = jnp.asarray(rng.integers(0, vocab, bptt * batch).astype(np.int32))
    state = {"params": params, "i": 0}
    base = jax.random.key(0)

    def step():
        state["i"] += 1
        state["params"], loss = train_step(state["params"], x, y, jax.random.fold_in(base, state["i"]))
        return loss

    return step, lambda loss: float(loss)


CONTENDERS = {"facade": facade_contender, "functional": functional_contender, "torch": torch_contender}


def bench(args):
    import rustorch  # noqa: F401  (first, so its allocator settings apply to all contenders)

    results = {}
    for kind in args.models.split(","):
        names = args.contenders.split(",")
        steps = {}
        first = {}
        for name in names:
            started = time.perf_counter()
            fn, sync = CONTENDERS[name](kind, args.vocab, args.batch, args.bptt)
            sync(fn())
            first[name] = time.perf_counter() - started
            steps[name] = (fn, sync)
        rates = {name: [] for name in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                fn, sync = steps[name]
                sync(fn())
                started = time.perf_counter()
                for _ in range(args.steps):
                    loss = fn()
                sync(loss)
                elapsed = time.perf_counter() - started
                rates[name].append(args.steps * args.batch * args.bptt / elapsed)
                print(f"{kind:11s} round {r + 1} {name:10s} {rates[name][-1]:9.0f} tokens/s  (load {_loadavg()})",
                      flush=True)
        results[kind] = {name: {"tokens_per_s": statistics.median(v), "min": min(v), "max": max(v),
                                "first_step_s": first[name]} for name, v in rates.items()}
        base = results[kind].get("torch", {}).get("tokens_per_s")
        for name, r in results[kind].items():
            ratio = f"  x{r['tokens_per_s'] / base:.2f} vs torch" if base else ""
            print(f"== {kind:11s} {name:10s} median {r['tokens_per_s']:9.0f} tokens/s "
                  f"(min {r['min']:.0f}, max {r['max']:.0f}), first step {r['first_step_s']:.1f} s{ratio}  "
                  f"(load {_loadavg()})", flush=True)
        for name in names:
            del steps[name]
    return results


def compile_times(args):
    """First facade training step (record + compile + run) of the LSTM LM at each bptt length,
    batch 4 and 200 hidden units so that the run itself is short."""
    import rustorch
    from rustorch import nn

    out = {}
    for length in [int(v) for v in args.compile_lengths.split(",")]:
        rustorch.clear_cache()
        model = nn.LSTM(200, 200, 2)
        optimizer = rustorch.optim.SGD(model.parameters(), lr=0.1)
        x = rustorch.randn(length, 4, 200)
        before = rustorch.compile_count()
        started = time.perf_counter()
        optimizer.zero_grad()
        output, _ = model(x)
        loss = (output * output).mean()
        loss.backward()
        optimizer.step()
        loss.item()
        out[length] = time.perf_counter() - started
        print(f"== compile: LSTM(200, 2 layers) bptt {length:4d}: first step {out[length]:.2f} s "
              f"({rustorch.compile_count() - before} programs)  (load {_loadavg()})", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="lstm,transformer")
    parser.add_argument("--contenders", default="facade,functional,torch")
    parser.add_argument("--vocab", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compile-lengths", default="35,350")
    args = parser.parse_args(argv)
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.machine(),
              "cpus": os.cpu_count(), "load_before": _loadavg(), "args": vars(args)}
    record["compile"] = compile_times(args) if args.compile_lengths else {}
    record["throughput"] = bench(args) if args.models else {}
    record["load_after"] = _loadavg()
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "train_lm.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
