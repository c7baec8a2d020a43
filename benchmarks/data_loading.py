"""DataLoader throughput on MNIST with transforms: worker processes against worker threads.

    python benchmarks/data_loading.py [--batches 200] [--repeat 3] [--root $RUSTORCH_DATA]

Prints samples/s for num_workers 0, 1, 2 with fork processes and threads (the best of
``--repeat`` interleaved rounds, since a shared machine's load varies), with the load average
at the end of each configuration's best round. The last row is PyTorch's DataLoader in the main
process over a dataset doing per sample what torchvision's MNIST + RandomCrop(28, padding=2) +
ToTensor + Normalize do, with torch ops (torchvision itself is not installable beside torch
2.13 here).
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


def torch_reference(ds):
    """A torch DataLoader over torchvision's per-sample work, written with torch ops."""
    import torch
    import torch.nn.functional as tF
    import torch.utils.data as tud
    from PIL import Image

    class TorchVisionMNIST(tud.Dataset):
        def __init__(self):
            self.data = torch.from_numpy(np.array(ds.data))
            self.targets = torch.from_numpy(np.array(ds.targets))
            self.mean = torch.tensor([0.1307]).view(-1, 1, 1)
            self.std = torch.tensor([0.3081]).view(-1, 1, 1)

        def __len__(self):
            return len(self.data)

        def __getitem__(self, i):
            img = Image.fromarray(self.data[i].numpy(), mode="L")
            t = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(28, 28, 1).permute(2, 0, 1)
            t = tF.pad(t, (2, 2, 2, 2))  # RandomCrop's padding (on the tensor: Pillow's is similar)
            top, left = (int(v) for v in torch.randint(0, 5, (2,)))
            t = t[:, top:top + 28, left:left + 28].contiguous().to(dtype=torch.float32).div(255)
            return t.sub_(self.mean).div_(self.std), int(self.targets[i])

    return TorchVisionMNIST()


def run_torch(ds, batches: int) -> float:
    import torch.utils.data as tud

    it = iter(tud.DataLoader(ds, batch_size=64, shuffle=True))
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
    return batches * 64 / (time.perf_counter() - start)


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
    reference = torch_reference(ds)
    configs.append(("torch, main proc.", None))
    best = {name: (0.0, "") for name, _ in configs}
    for _ in range(args.repeat):
        for name, kwargs in configs:
            rate = run_torch(reference, args.batches) if kwargs is None else run(ds, args.batches, **kwargs)
            with open("/proc/loadavg") as f:
                load = " ".join(f.read().split()[:3])
            if rate > best[name][0]:
                best[name] = (rate, load)
    for name, (rate, load) in best.items():
        print(f"{name:18s} {rate:9.0f} samples/s   loadavg {load}", flush=True)


if __name__ == "__main__":
    main()
