"""Train a CIFAR-style ResNet (He et al. 2016) with rustorch's PyTorch-style API.

    python examples/resnet.py                          # ResNet-20 on MNIST padded to 32x32, 15 epochs
    python examples/resnet.py --dataset cifar10 --data ~/data/cifar-10-batches-py --epochs 160
    python examples/resnet.py --resume                 # continue from the last checkpoint in --out
    python examples/resnet.py --limit 512 --epochs 1   # a smoke run

The model is ``rustorch.vision.models.resnet20`` (``--arch resnet56`` etc. for deeper ones),
trained exactly as in PyTorch: SGD with momentum 0.9 and weight decay, learning rate divided
by 10 at 50% and 75% of the epochs, ``optimizer.zero_grad()``, ``loss.backward()``,
``optimizer.step()``. Augmentation runs on the host in numpy: random crops of the 4-pixel
(CIFAR) or 2-pixel (MNIST, after padding 28x28 to 32x32) padded image, and horizontal flips
for CIFAR-10. Data: MNIST's IDX files or CIFAR-10's python batches (``data_batch_1`` ...
``test_batch``) in ``--data`` (default ``$RUSTORCH_DATA``). Each epoch prints the test
accuracy; checkpoints (model, optimizer, epoch, curves) are written with ``rustorch.save`` and
the loss/accuracy curves as a PNG.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rustorch  # noqa: E402
from rustorch import nn  # noqa: E402
from rustorch.vision import models  # noqa: E402
from examples.mnist_cnn import _Progress, plot_curves  # noqa: E402

_CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
_CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)
_MNIST_MEAN, _MNIST_STD = 0.1307, 0.3081


def load_mnist(folder, download):
    """``(train_x, train_y, test_x, test_y)``: normalised float32 ``[N, 1, 32, 32]`` (28x28 zero-padded
    by 2 on each side, after normalisation so the border is the background value) and int labels."""
    out = []
    for train in (True, False):
        data = rustorch.datasets.MNIST(folder, train=train, download=download)
        images, labels = data.arrays(normalize=True)  # (x / 255 - 0.1307) / 0.3081
        images = np.asarray(images, np.float32).reshape(-1, 1, 28, 28)
        background = (0.0 - _MNIST_MEAN) / _MNIST_STD
        images = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=background)
        out += [images.astype(np.float32), np.asarray(labels).astype(np.int64)]
    return tuple(out)


def load_cifar10(folder):
    """CIFAR-10's python batches as normalised float32 ``[N, 3, 32, 32]`` and int labels."""
    if folder is None or not os.path.exists(os.path.join(folder, "data_batch_1")):
        raise SystemExit(f"--dataset cifar10: expected CIFAR-10's python batches (data_batch_1..5, test_batch) "
                         f"in --data (got {folder!r}); download cifar-10-python.tar.gz and unpack it")

    def read(names):
        xs, ys = [], []
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            xs.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[b"labels"], np.int64))
        x = np.concatenate(xs).astype(np.float32) / 255.0
        return ((x - _CIFAR_MEAN[:, None, None]) / _CIFAR_STD[:, None, None]).astype(np.float32), np.concatenate(ys)

    return read([f"data_batch_{i}" for i in range(1, 6)]) + read(["test_batch"])


def augment(images, rng, pad, flip):
    """Random ``pad``-pixel translations (crops of the edge-padded image) and, with ``flip``,
    random horizontal flips; numpy on the host."""
    n, _, h, w = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    out = np.empty_like(images)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    if flip:
        mirror = rng.random(n) < 0.5
        out[mirror] = out[mirror, :, :, ::-1]
    return out


def batches(x, y, batch_size, rng=None, drop_last=False):
    order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
    stop = len(x) - len(x) % batch_size if drop_last else len(x)
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]


def evaluate(model, x, y, batch_size=500):
    """Accuracy (%) and mean loss in eval mode without gradients."""
    model.eval()
    criterion = nn.CrossEntropyLoss(reduction="sum")
    correct, loss_sum = 0, 0.0
    with rustorch.no_grad():
        for data, target in batches(x, y, batch_size):
            output = model(rustorch.tensor(data))
            target = rustorch.tensor(target)
            loss_sum += criterion(output, target).item()
            correct += output.argmax(dim=1).eq(target).sum().item()
    return 100.0 * correct / len(x), loss_sum / len(x)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("mnist", "cifar10"), default="mnist")
    parser.add_argument("--arch", default="resnet20", choices=("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"))
    parser.add_argument("--epochs", type=int, default=15, help="epochs (default 15)")
    parser.add_argument("--batch-size", type=int, default=128, help="training batch size (default 128)")
    parser.add_argument("--lr", type=float, default=0.1, help="initial SGD learning rate (default 0.1)")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--data", default=os.environ.get("RUSTORCH_DATA"), help="dataset folder (default $RUSTORCH_DATA)")
    parser.add_argument("--download", action="store_true", help="download MNIST if missing")
    parser.add_argument("--out", default="runs/resnet", help="folder for checkpoints and curves")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use only this many training and test samples")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rustorch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    if args.dataset == "mnist":
        try:
            train_x, train_y, test_x, test_y = load_mnist(args.data, args.download)
        except (ValueError, FileNotFoundError) as error:
            raise SystemExit(f"{error}\n\n--data FOLDER (or RUSTORCH_DATA) names the folder with the MNIST "
                             "files; add --download to fetch them") from None
        pad, flip = 2, False
    else:
        train_x, train_y, test_x, test_y = load_cifar10(args.data)
        pad, flip = 4, True
    if args.limit:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
        test_x, test_y = test_x[:args.limit], test_y[:args.limit]

    model = getattr(models, args.arch)(num_classes=10, in_channels=train_x.shape[1])
    criterion = nn.CrossEntropyLoss()
    optimizer = rustorch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                   weight_decay=args.weight_decay)
    checkpoint_path = os.path.join(args.out, "checkpoint.pth")
    steps_per_epoch = len(train_x) // args.batch_size
    history = {"train_loss": [], "test_accuracy": [], "log_every": max(1, min(50, steps_per_epoch // 20))}
    start_epoch = 0
    if args.resume:
        if not os.path.exists(checkpoint_path):
            raise SystemExit(f"--resume: no checkpoint at {checkpoint_path}; train without --resume first")
        checkpoint = rustorch.load(checkpoint_path)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_epoch = int(checkpoint["epoch"]) + 1
        history = json.loads(checkpoint["history"])
        rng = np.random.default_rng([args.seed, start_epoch])
        print(f"resumed from {checkpoint_path} after epoch {start_epoch}")

    print(f"{args.arch} on {args.dataset}: {len(train_x)} training and {len(test_x)} test images, "
          f"{steps_per_epoch} batches of {args.batch_size} per epoch, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")
    accuracy = None
    for epoch in range(start_epoch, args.epochs):
        # He et al.'s schedule: /10 at 50% and 75% of training (MultiStepLR); the rate is an
        # input of the compiled update, so changing it compiles nothing.
        lr = args.lr * 0.1 ** sum(epoch >= m for m in (args.epochs // 2, args.epochs * 3 // 4))
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        progress = _Progress(steps_per_epoch, f"epoch {epoch + 1}/{args.epochs}")
        started, pending = time.perf_counter(), []
        for batch_idx, (data, target) in enumerate(batches(train_x, train_y, args.batch_size, rng, drop_last=True)):
            data = rustorch.tensor(augment(data, rng, pad, flip))
            optimizer.zero_grad()
            loss = criterion(model(data), rustorch.tensor(target))
            loss.backward()
            optimizer.step()
            pending.append(loss)
            if len(pending) == history["log_every"] or batch_idx + 1 == steps_per_epoch:
                mean_loss = float(np.mean([p.item() for p in pending]))
                if len(pending) == history["log_every"]:
                    history["train_loss"].append(mean_loss)
                seen = (batch_idx + 1) * args.batch_size
                progress.update(len(pending), loss=f"{mean_loss:.4f}", lr=f"{lr:.3g}",
                                samples_per_s=f"{seen / (time.perf_counter() - started):.0f}")
                pending = []
        progress.close()
        epoch_time = time.perf_counter() - started
        accuracy, test_loss = evaluate(model, test_x, test_y)
        history["test_accuracy"].append(accuracy)
        print(f"epoch {epoch + 1}: test accuracy {accuracy:.2f}%, test loss {test_loss:.4f}, {epoch_time:.1f} s "
              f"({steps_per_epoch * args.batch_size / max(epoch_time, 1e-9):.0f} samples/s)", flush=True)
        rustorch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                       "history": json.dumps(history)}, checkpoint_path)

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
