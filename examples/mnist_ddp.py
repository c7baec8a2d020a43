"""Train the MNIST CNN with DistributedDataParallel on several processes.

    python -m rustorch.distributed.run --nproc-per-node 2 examples/mnist_ddp.py --epochs 1
    python -m rustorch.distributed.run --nproc-per-node 2 examples/mnist_ddp.py --limit 4096 --sync-bn

Written as a PyTorch DDP script: ``init_process_group`` from the launcher's environment, a
``DistributedSampler`` giving each rank its share of MNIST (``set_epoch`` every epoch), the
model wrapped in ``DistributedDataParallel`` (gradients averaged inside the compiled backward
program), rank 0 evaluating and writing the checkpoint (``model.module.state_dict()``, loadable
by ``torch.load``). ``--batch-size`` is per process, so the global batch is ``world_size`` times
it. Each epoch prints the global throughput, measured after the first steps (which compile).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rustorch as torch  # noqa: E402
import rustorch.distributed as dist  # noqa: E402
from examples.mnist_cnn import Net  # noqa: E402
from rustorch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402
from rustorch.utils.data import DataLoader, Subset  # noqa: E402
from rustorch.utils.data.distributed import DistributedSampler  # noqa: E402

_WARMUP_STEPS = 3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $RUSTORCH_DATA)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    parser.add_argument("--sync-bn", action="store_true", help="convert BatchNorm layers to SyncBatchNorm")
    parser.add_argument("--out", default="", help="write rank 0's final state_dict here")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(dim=1) == y).sum().item())
            total += len(y)
    return correct / max(total, 1)


def main(argv=None):
    args = parse_args(argv)
    dist.init_process_group(backend="gloo" if not os.environ.get("CUDA_VISIBLE_DEVICES") else "nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)

    train_set = torch.datasets.MNIST(args.data, train=True).tensor_dataset()  # [N, 1, 28, 28] float32
    if args.limit:
        train_set = Subset(train_set, list(range(args.limit)))
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=True)

    model = Net()
    if args.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = DDP(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    criterion = torch.nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        start, timed = None, 0
        for step, (x, y) in enumerate(loader):
            if step == _WARMUP_STEPS:
                loss.item()  # noqa: F821  (wait for the warm-up steps before timing)
                start = time.perf_counter()
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            if start is not None:
                timed += 1
        last = loss.item()
        elapsed = time.perf_counter() - start if start is not None else float("nan")
        throughput = timed * args.batch_size * world / elapsed if timed else float("nan")
        if rank == 0:
            print(f"epoch {epoch}: loss {last:.4f}, {throughput:.1f} samples/s over {world} process(es) "
                  f"({timed} timed steps of {args.batch_size} per process)", flush=True)

    if rank == 0:
        test_set = torch.datasets.MNIST(args.data, train=False).tensor_dataset()
        test = Subset(test_set, list(range(2000)))
        accuracy = evaluate(model.module, DataLoader(test, batch_size=500))
        print(f"test accuracy (first 2000 images): {accuracy:.4f}", flush=True)
        if args.out:
            torch.save(model.module.state_dict(), args.out)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
