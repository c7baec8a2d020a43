"""DataLoader throughput on MNIST with transforms: worker processes against worker threads.

    python benchmarks/data_loading.py [--batches 200] [--repeat 3] [--root $RUSTORCH_DATA]

Prints samples/s for num_workers 0, 1, 2 with fork processes and threads (the best of
``--repeat`` interleaved rounds, since a shared machine's load varies), with the load average
at the end of each configuration's best round.
"""
import argparse
import os
import time

import numpy as np

from rustorch.utils.data import DataLoader
from rustorch.vision import datasets, transforms


def run(ds, batches: int, **kwargs) -> float:
    loader = DataLoader(ds, batch_size=64, shuffle=True, generator=0, **kwargs)
    it = iter(loader)
    np.asarray(next(it)[0])  # start-up (forks, first batch) is not measured
    start = time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
    np.asarray(x)
    elapsed = time.perf_counter() - start
    del it
    return batches * 64 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", default=os.environ.get("RUSTORCH_DATA", "../shared/data/mnist"))
    args = parser.parse_args()
    transform = transforms.Compose([transforms.RandomCrop(28, padding=2), transforms.ToTensor(),
                                    transforms.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(args.root, train=True, transform=transform)
    configs = [("main process", dict(num_workers=0))]
    for workers in (1, 2):
        configs.append((f"{workers} fork processes", dict(num_workers=workers)))
        configs.append((f"{workers} threads", dict(num_workers=workers, multiprocessing_context="thread")))
    best = {name: (0.0, "") for name, _ in configs}
    for _ in range(args.repeat):
        for name, kwargs in configs:
            rate = run(ds, args.batches, **kwargs)
            with open("/proc/loadavg") as f:
                load = " ".join(f.read().split()[:3])
            if rate > best[name][0]:
                best[name] = (rate, load)
    for name, (rate, load) in best.items():
        print(f"{name:18s} {rate:9.0f} samples/s   loadavg {load}", flush=True)


if __name__ == "__main__":
    main()
