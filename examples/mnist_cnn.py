"""Train the MNIST CNN with rustorch's PyTorch-style API.

    python examples/mnist_cnn.py                 # defaults: 2 epochs, batch 64, Adam lr 1e-3
    python -m examples.mnist_cnn --epochs 5      # the same, as a module
    python examples/mnist_cnn.py --resume        # continue from the last checkpoint in --out

The model is the MNIST CNN of rustorch's specification (two Conv-BN-ReLU-MaxPool-Dropout blocks, Linear-BN-ReLU-Dropout,
Linear), written and trained exactly as in PyTorch: ``optimizer.zero_grad()``,
``loss.backward()``, ``optimizer.step()``. Behind the scenes each step is one compiled XLA
program. Data comes from ``--data`` or the ``RUSTORCH_DATA`` environment variable (a folder
with the four MNIST IDX files). Checkpoints (model, optimizer and epoch) are written with
``rustorch.save`` in PyTorch's format, and a PNG of the loss and accuracy curves at the end.
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


class Net(nn.Module):
    """The MNIST CNN for 1x28x28 inputs and 10 classes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(kernel_size=2)
        self.dropout1 = nn.Dropout(0.25)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(kernel_size=2)
        self.dropout2 = nn.Dropout(0.25)
        self.flatten = nn.Flatten()
        self.linear1 = nn.Linear(64 * 7 * 7, 128)
        self.bn3 = nn.BatchNorm1d(128)
        self.relu3 = nn.ReLU()
        self.dropout3 = nn.Dropout(0.5)
        self.linear2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.dropout1(self.pool1(self.relu1(self.bn1(self.conv1(x)))))
        x = self.dropout2(self.pool2(self.relu2(self.bn2(self.conv2(x)))))
        x = self.dropout3(self.relu3(self.bn3(self.linear1(self.flatten(x)))))
        return self.linear2(x)


class _Progress:
    """A tqdm bar when tqdm is installed (the ``examples`` extra), plain lines otherwise."""

    def __init__(self, total, description):
        self.total, self.description, self.count = total, description, 0
        self.started = time.perf_counter()
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, desc=description, unit="batch", dynamic_ncols=True, file=sys.stdout)

    def update(self, steps, **info):
        self.count += steps
        if self.bar is not None:
            self.bar.set_postfix(info, refresh=False)  # shown by the update's own refresh
            self.bar.update(steps)
        elif self.count == self.total or self.count % max(1, self.total // 10) < steps:
            text = " ".join(f"{k}={v}" for k, v in info.items())
            print(f"{self.description} {self.count}/{self.total} {text}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def evaluate(model, loader):
    """Accuracy (%) and mean loss of ``model`` on ``loader``, in eval mode without gradients."""
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
    """Write the training-loss and test-accuracy curves to ``path`` (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    from matplotlib.ticker import MaxNLocator

    steps = np.arange(1, len(history["train_loss"]) + 1) * history["log_every"]
    left.plot(steps, history["train_loss"], marker="." if len(steps) < 30 else None)
    left.set_xlabel("training step")
    left.set_ylabel("training loss")
    left.set_yscale("log")
    left.set_title("Training loss")
    epochs = np.arange(1, len(history["test_accuracy"]) + 1)
    right.plot(epochs, history["test_accuracy"], marker="o")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("epoch")
    right.set_ylabel("test accuracy (%)")
    right.set_title("Test accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs to train (default 2)")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch size (default 64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--lr-decay", type=float, default=0.7,
                        help="multiply the learning rate by this after every epoch (default 0.7)")
    parser.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $RUSTORCH_DATA)")
    parser.add_argument("--out", default="runs/mnist_cnn", help="folder for checkpoints and curves")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only this many training and test samples (smoke runs)")
    parser.add_argument("--save-every", type=int, default=1, help="checkpoint every N epochs (default 1)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--download", action="store_true", help="download MNIST if it is not in --data")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rustorch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    try:
        train_set = rustorch.datasets.MNIST(args.data, train=True, download=args.download)
        test_set = rustorch.datasets.MNIST(args.data, train=False, download=args.download)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"{error}\n\nWith this script: --data FOLDER (or RUSTORCH_DATA=FOLDER) names the folder "
                         "holding the four MNIST files; add --download to fetch them into it.") from None
    train_data, test_data = train_set.tensor_dataset(), test_set.tensor_dataset()
    if args.limit:
        train_data = rustorch.utils.data.Subset(train_data, range(min(args.limit, len(train_data))))
        test_data = rustorch.utils.data.Subset(test_data, range(min(args.limit, len(test_data))))
    # drop_last keeps every training batch the same shape: one compiled program for the epoch.
    train_loader = rustorch.DataLoader(train_data, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = rustorch.DataLoader(test_data, batch_size=1000)

    model = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = rustorch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999))
    checkpoint_path = os.path.join(args.out, "checkpoint.pth")
    # About 20 points of the training-loss curve per epoch (at most one every 50 steps), so a
    # short run draws a curve too.
    history = {"train_loss": [], "test_accuracy": [], "log_every": max(1, min(50, len(train_loader) // 20))}
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

    print(f"training on {len(train_data)} images, testing on {len(test_data)}; "
          f"{len(train_loader)} batches of {args.batch_size} per epoch")
    accuracy = None
    for epoch in range(start_epoch, args.epochs):
        # Step decay, as torch.optim.lr_scheduler.StepLR(step_size=1, gamma=lr_decay); the new
        # rate is an input of the compiled update, so changing it compiles nothing.
        optimizer.set_lr(args.lr * args.lr_decay ** epoch)
        model.train()
        progress = _Progress(len(train_loader), f"epoch {epoch + 1}/{args.epochs}")
        started = time.perf_counter()
        pending = []
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            output = model(data)
            loss = criterion(output, target)
            loss.backward()
            optimizer.step()
            pending.append(loss)
            # Reading a loss waits for the device; doing it every few steps keeps dispatch async.
            if len(pending) == history["log_every"] or batch_idx + 1 == len(train_loader):
                mean_loss = float(np.mean([p.item() for p in pending]))
                if len(pending) == history["log_every"]:
                    history["train_loss"].append(mean_loss)
                seen = (batch_idx + 1) * args.batch_size
                progress.update(len(pending), loss=f"{mean_loss:.4f}",
                                samples_per_s=f"{seen / (time.perf_counter() - started):.0f}")
                pending = []
        progress.close()
        epoch_time = time.perf_counter() - started
        accuracy, test_loss = evaluate(model, test_loader)
        history["test_accuracy"].append(accuracy)
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.2f}%, test loss {test_loss:.4f}, "
              f"{epoch_time:.1f} s ({len(train_loader) * args.batch_size / epoch_time:.0f} samples/s)", flush=True)
        if (epoch + 1) % args.save_every == 0 or epoch + 1 == args.epochs:
            rustorch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "epoch": epoch, "history": json.dumps(history)}, checkpoint_path)
            print(f"saved {checkpoint_path}")

    curves = os.path.join(args.out, "curves.png")
    try:
        plot_curves(history, curves)
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[examples]'): no curves written")
    else:
        print(f"curves: {curves}")
    if accuracy is not None:
        print(f"final test accuracy: {accuracy:.2f}%")
    return accuracy


if __name__ == "__main__":
    main()
