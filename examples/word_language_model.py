"""Word-level language model (LSTM/GRU/RNN or Transformer) on WikiText-2, written as PyTorch's
``examples/word_language_model`` with ``import rustorch as torch``-style code.

    python examples/word_language_model.py                       # LSTM, 2 epochs
    python examples/word_language_model.py --model Transformer   # Transformer encoder LM
    python examples/word_language_model.py --resume              # continue from --out

Data: ``--data`` or ``$RUSTORCH_WIKITEXT`` (default ``../shared/data/wikitext-2``). That copy
has only the ``valid`` and ``test`` splits, so the model trains on ``valid.txt`` minus a held-out
tail (``--holdout``, used to anneal the learning rate, as the example uses its validation split)
and reports perplexity on ``test.txt`` after every epoch. Each epoch is one compiled training
program (the last, shorter ``bptt`` window of the training stream is skipped so every step has
the same shape). Checkpoints go through ``rustorch.save``; ``curves.png`` shows the perplexities.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

import rustorch
from rustorch import nn
from rustorch.datasets import WikiText2, batchify, get_batch


class RNNModel(nn.Module):
    """Encoder (embedding), a recurrent module, and a linear decoder (optionally tied)."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers
        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        generator = rustorch.stateful._random.default_generator
        self.encoder.weight.data = rustorch.tensor(generator.uniform(-initrange, initrange, self.encoder.weight.shape))
        self.decoder.bias.data = rustorch.zeros(self.decoder.bias.shape)
        self.decoder.weight.data = rustorch.tensor(generator.uniform(-initrange, initrange, self.decoder.weight.shape))

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).reshape(-1, self.ntoken)
        return nn.functional.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        shape = (self.nlayers, bsz, self.nhid)
        if self.rnn_type == "LSTM":
            return rustorch.zeros(shape), rustorch.zeros(shape)
        return rustorch.zeros(shape)


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal position code of "Attention Is All You Need", then dropout."""

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = np.arange(max_len, dtype=np.float32)[:, None]
        div_term = np.exp(np.arange(0, d_model, 2, dtype=np.float32) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model), np.float32)
        pe[:, 0::2] = np.sin(position * div_term)
        pe[:, 1::2] = np.cos(position * div_term)
        self.register_buffer("pe", rustorch.tensor(pe[:, None, :]))

    def forward(self, x):
        return self.dropout(x + self.pe[: x.shape[0]])


class TransformerModel(nn.Module):
    """Embedding, positional encoding, a causal Transformer encoder and a linear decoder."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.model_type = "Transformer"
        self.ntoken, self.ninp = ntoken, ninp
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        layer = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.decoder = nn.Linear(ninp, ntoken)
        initrange = 0.1
        generator = rustorch.stateful._random.default_generator
        self.input_emb.weight.data = rustorch.tensor(generator.uniform(-initrange, initrange, self.input_emb.weight.shape))
        self.decoder.bias.data = rustorch.zeros(self.decoder.bias.shape)
        self.decoder.weight.data = rustorch.tensor(generator.uniform(-initrange, initrange, self.decoder.weight.shape))
        self._masks = {}

    def forward(self, src, hidden=None):
        length = src.shape[0]
        if length not in self._masks:
            self._masks[length] = nn.Transformer.generate_square_subsequent_mask(length)
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, mask=self._masks[length])
        output = self.decoder(output).reshape(-1, self.ntoken)
        return nn.functional.log_softmax(output, dim=-1), None

    def init_hidden(self, bsz):
        return None


def repackage_hidden(h):
    """Detach hidden states from their history (truncated backpropagation through time)."""
    if h is None:
        return None
    if isinstance(h, rustorch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def clip_grad_norm_(parameters, max_norm):
    """``torch.nn.utils.clip_grad_norm_``: scale all gradients so their joint 2-norm is at most
    ``max_norm`` (recorded ops: no host synchronisation)."""
    grads = [p for p in parameters if p.grad is not None]
    total = sum((p.grad * p.grad).sum() for p in grads).sqrt()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for p in grads:
        p.grad = p.grad * coef
    return total


class _Progress:
    """A tqdm bar when tqdm is installed, plain lines otherwise."""

    def __init__(self, total, description):
        self.total, self.description, self.count = total, description, 0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, desc=description, unit="batch", dynamic_ncols=True, file=sys.stdout)

    def update(self, steps, **info):
        self.count += steps
        if self.bar is not None:
            self.bar.update(steps)
            self.bar.set_postfix(info, refresh=False)
        elif self.count == self.total or self.count % max(1, self.total // 10) < steps:
            print(f"{self.description} {self.count}/{self.total} " + " ".join(f"{k}={v}" for k, v in info.items()),
                  flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def evaluate(model, data_source, args, ntokens):
    """Mean negative log-likelihood per token over ``data_source`` (eval mode, no gradients)."""
    model.eval()
    criterion = nn.NLLLoss(reduction="sum")
    total, count = 0.0, 0
    hidden = model.init_hidden(args.eval_batch_size)
    pending = []
    with rustorch.no_grad():
        for i in range(0, len(data_source) - 1, args.bptt):
            data, targets = get_batch(data_source, i, args.bptt)
            output, hidden = model(rustorch.tensor(data), hidden)
            hidden = repackage_hidden(hidden)
            pending.append(criterion(output, rustorch.tensor(targets)))
            count += targets.size
    total = sum(p.item() for p in pending)
    return total / count


def plot_curves(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(np.arange(1, len(history["train_ppl"]) + 1) * history["log_every"], history["train_ppl"])
    left.set_xlabel("training step")
    left.set_ylabel("training perplexity")
    left.set_yscale("log")
    epochs = np.arange(1, len(history["test_ppl"]) + 1)
    right.plot(epochs, history["holdout_ppl"], marker="o", label="held-out (valid tail)")
    right.plot(epochs, history["test_ppl"], marker="o", label="test")
    right.set_xlabel("epoch")
    right.set_ylabel("perplexity")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="wikitext-2 folder (default $RUSTORCH_WIKITEXT or "
                                                     "../shared/data/wikitext-2)")
    parser.add_argument("--model", default="LSTM", help="RNN_TANH, RNN_RELU, LSTM, GRU or Transformer")
    parser.add_argument("--emsize", type=int, default=200)
    parser.add_argument("--nhid", type=int, default=200)
    parser.add_argument("--nlayers", type=int, default=2)
    parser.add_argument("--nhead", type=int, default=2)
    parser.add_argument("--lr", type=float, default=20.0)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--eval-batch-size", type=int, default=10)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--tied", action="store_true")
    parser.add_argument("--holdout", type=float, default=0.1, help="fraction of valid.txt held out (default 0.1)")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="smoke runs: this many training batches per epoch, and as many evaluation windows")
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--out", default="runs/word_language_model")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rustorch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    corpus = WikiText2(args.data)
    if corpus.valid is None or corpus.test is None:
        raise SystemExit(f"need valid.txt and test.txt in {corpus.root}")
    cut = int(len(corpus.valid) * (1 - args.holdout))
    train_data = batchify(corpus.valid[:cut], args.batch_size)
    holdout_data = batchify(corpus.valid[cut:], args.eval_batch_size)
    test_data = batchify(corpus.test, args.eval_batch_size)
    ntokens = len(corpus.dictionary)

    if args.model == "Transformer":
        model = TransformerModel(ntokens, args.emsize, args.nhead, args.nhid, args.nlayers, args.dropout)
    else:
        model = RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied)
    criterion = nn.NLLLoss()
    optimizer = rustorch.optim.SGD(model.parameters(), lr=args.lr)
    clip = getattr(nn.utils, "clip_grad_norm_", None) or clip_grad_norm_
    checkpoint_path = os.path.join(args.out, "checkpoint.pth")
    history = {"train_ppl": [], "holdout_ppl": [], "test_ppl": [], "log_every": args.log_every}
    start_epoch, lr, best = 0, args.lr, None
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise SystemExit(f"--resume: no checkpoint at {checkpoint_path}; train without --resume first")
        checkpoint = rustorch.load(checkpoint_path)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch = int(checkpoint["epoch"]) + 1
        history = json.loads(checkpoint["history"])
        lr, best = float(checkpoint["lr"]), float(checkpoint["best"])
        print(f"resumed from {checkpoint_path} after epoch {start_epoch}")

    starts = list(range(0, train_data.shape[0] - 1 - args.bptt + 1, args.bptt))  # full windows only
    if args.max_batches:
        starts = starts[: args.max_batches]
        holdout_data = holdout_data[: args.max_batches * args.bptt + 1]
        test_data = test_data[: args.max_batches * args.bptt + 1]
    print(f"{args.model}: {sum(int(np.prod(p.shape)) for p in model.parameters())} parameters, vocabulary "
          f"{ntokens}; training on {cut} tokens ({len(starts)} batches of {args.batch_size}x{args.bptt}), "
          f"held out {len(corpus.valid) - cut}, test {len(corpus.test)}")
    test_ppl = None
    for epoch in range(start_epoch, args.epochs):
        optimizer.set_lr(lr)
        model.train()
        hidden = model.init_hidden(args.batch_size)
        progress = _Progress(len(starts), f"epoch {epoch + 1}/{args.epochs}")
        started = time.perf_counter()
        pending = []
        for batch, i in enumerate(starts):
            data, targets = get_batch(train_data, i, args.bptt)
            hidden = repackage_hidden(hidden)
            optimizer.zero_grad()
            output, hidden = model(rustorch.tensor(data), hidden)
            loss = criterion(output, rustorch.tensor(targets))
            loss.backward()
            clip(model.parameters(), args.clip)
            optimizer.step()
            pending.append(loss)
            if len(pending) == args.log_every or batch + 1 == len(starts):
                mean = float(np.mean([p.item() for p in pending]))
                if len(pending) == args.log_every:
                    history["train_ppl"].append(math.exp(mean))
                tokens = (batch + 1) * args.batch_size * args.bptt
                progress.update(len(pending), ppl=f"{math.exp(mean):.1f}", lr=lr,
                                tokens_per_s=f"{tokens / (time.perf_counter() - started):.0f}")
                pending = []
        progress.close()
        elapsed = time.perf_counter() - started
        holdout_loss = evaluate(model, holdout_data, args, ntokens)
        test_loss = evaluate(model, test_data, args, ntokens)
        test_ppl = math.exp(test_loss)
        history["holdout_ppl"].append(math.exp(holdout_loss))
        history["test_ppl"].append(test_ppl)
        print(f"epoch {epoch + 1}: {elapsed:.1f} s ({len(starts) * args.batch_size * args.bptt / elapsed:.0f} tokens/s), "
              f"held-out ppl {math.exp(holdout_loss):.2f}, test ppl {test_ppl:.2f}, lr {lr}", flush=True)
        if best is None or holdout_loss < best:
            best = holdout_loss
        else:
            lr /= 4.0  # anneal when the held-out loss stops improving, as the PyTorch example
        rustorch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                       "lr": lr, "best": best, "history": json.dumps(history)}, checkpoint_path)
        print(f"saved {checkpoint_path}")
    curves = os.path.join(args.out, "curves.png")
    try:
        plot_curves(history, curves)
    except ImportError:
        print("matplotlib is not installed: no curves written")
    else:
        print(f"curves: {curves}")
    return test_ppl


if __name__ == "__main__":
    main()
