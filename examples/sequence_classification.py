"""Sequence classification: an LSTM reads each MNIST digit row by row (28 steps of 28 pixels)
and a linear layer classifies its last hidden state, written as a PyTorch program would be.

    python examples/sequence_classification.py               # 3 epochs, about 98% test accuracy
    python examples/sequence_classification.py --resume      # continue from the checkpoint in --out

Data comes from ``--data`` or ``$RUSTORCH_DATA`` (the four MNIST IDX files), as in
``examples/mnist_cnn.py``. Each epoch runs one compiled training program (the LSTM's time loop is
a ``lax.scan`` inside it). Checkpoints go through ``rustorch.save``; ``curves.png`` at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import rustorch
from rustorch import nn


class RowLSTM(nn.Module):
    """``[N, 1, 28, 28]`` images as 28-step sequences of 28 features -> LSTM -> Linear(10)."""

    def __init__(self, hidden=128, layers=1, bidirectional=False):
        super().__init__()
        self.lstm = nn.LSTM(28, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), 10)

    def forward(self, x):
        x = x.reshape(x.shape[0], 28, 28)  # [N, rows (time), pixels (features)]
        output, (h_n, c_n) = self.lstm(x)
        return self.fc(output[:, -1])


class _Progress:
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


def evaluate(model, loader):
    """Accuracy (%) and mean loss on ``loader`` in eval mode without gradients."""
    model.eval()
    criterion = nn.CrossEntropyLoss(reduction="sum")
    correct = total = 0
    loss_sum = 0.0
    with rustorch.no_grad():
        for data, target in loader:
            output = model(data)
            loss_sum += criterion(output, target).item()
            correct += output.argmax(dim=1).eq(target).sum().item()
            total += len(target)
    return 100.0 * correct / total, loss_sum / total


def plot_curves(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(np.arange(1, len(history["train_loss"]) + 1) * history["log_every"], history["train_loss"])
    left.set_xlabel("training step")
    left.set_ylabel("training loss")
    left.set_yscale("log")
    right.plot(np.arange(1, len(history["test_accuracy"]) + 1), history["test_accuracy"], marker="o")
    right.set_xlabel("epoch")
    right.set_ylabel("test accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 2e-3)")
    parser.add_argument("--lr-decay", type=float, default=0.7, help="learning-rate factor per epoch")
    parser.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $RUSTORCH_DATA)")
    parser.add_argument("--out", default="runs/sequence_classification")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only this many samples (smoke runs)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rustorch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    train_data = rustorch.datasets.MNIST(args.data, train=True).tensor_dataset()
    test_data = rustorch.datasets.MNIST(args.data, train=False).tensor_dataset()
    if args.limit:
        train_data = rustorch.utils.data.Subset(train_data, range(min(args.limit, len(train_data))))
        test_data = rustorch.utils.data.Subset(test_data, range(min(args.limit, len(test_data))))
    train_loader = rustorch.DataLoader(train_data, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = rustorch.DataLoader(test_data, batch_size=1000)

    model = RowLSTM(args.hidden, args.layers)
    criterion = nn.CrossEntropyLoss()
    optimizer = rustorch.optim.Adam(model.parameters(), lr=args.lr)
    checkpoint_path = os.path.join(args.out, "checkpoint.pth")
    history = {"train_loss": [], "test_accuracy": [], "log_every": 50}
    start_epoch = 0
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise SystemExit(f"--resume: no checkpoint at {checkpoint_path}; train without --resume first")
        checkpoint = rustorch.load(checkpoint_path)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch = int(checkpoint["epoch"]) + 1
        history = json.loads(checkpoint["history"])
        print(f"resumed from {checkpoint_path} after epoch {start_epoch}")

    print(f"LSTM({args.hidden}) over 28 rows: {len(train_data)} training images, {len(test_data)} test images")
    accuracy = None
    for epoch in range(start_epoch, args.epochs):
        optimizer.set_lr(args.lr * args.lr_decay ** epoch)
        model.train()
        progress = _Progress(len(train_loader), f"epoch {epoch + 1}/{args.epochs}")
        started = time.perf_counter()
        pending = []
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            loss = criterion(model(data), target)
            loss.backward()
            optimizer.step()
            pending.append(loss)
            if len(pending) == history["log_every"] or batch_idx + 1 == len(train_loader):
                mean = float(np.mean([p.item() for p in pending]))
                if len(pending) == history["log_every"]:
                    history["train_loss"].append(mean)
                seen = (batch_idx + 1) * args.batch_size
                progress.update(len(pending), loss=f"{mean:.4f}",
                                samples_per_s=f"{seen / (time.perf_counter() - started):.0f}")
                pending = []
        progress.close()
        elapsed = time.perf_counter() - started
        accuracy, test_loss = evaluate(model, test_loader)
        history["test_accuracy"].append(accuracy)
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.2f}%, test loss {test_loss:.4f}, {elapsed:.1f} s "
              f"({len(train_loader) * args.batch_size / elapsed:.0f} samples/s)", flush=True)
        rustorch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                       "history": json.dumps(history)}, checkpoint_path)
        print(f"saved {checkpoint_path}")
    curves = os.path.join(args.out, "curves.png")
    try:
        plot_curves(history, curves)
    except ImportError:
        print("matplotlib is not installed: no curves written")
    else:
        print(f"curves: {curves}")
    if accuracy is not None:
        print(f"final test accuracy: {accuracy:.2f}%")
    return accuracy


if __name__ == "__main__":
    main()
