"""One rank of the 2-process checks in test_multiprocess.py (started by the launcher).

Writes ``<out>/rank<r>.json``: collective results, DDP/SyncBatchNorm parameters after a few
steps, and the single-process reference on the global batch (computed by every rank after
the distributed run, with the same initial weights)."""
import json
import os
import sys
import time

_start = time.time()


def stamp(label):
    print(f"[rank timing] {label}: {time.time() - _start:.1f}s", flush=True)

import numpy as np

import rustorch as torch
import rustorch.distributed as dist
from rustorch.nn.parallel import DistributedDataParallel as DDP

out_dir = sys.argv[1]
dist.init_process_group(backend="gloo")
rank, world = dist.get_rank(), dist.get_world_size()
stamp("init")
res = {"rank": rank, "world": world, "backend": dist.get_backend()}

# ------------------------------------------------------------------------- collectives
t = torch.tensor([1.0, -2.0, 3.0]) * float(rank + 1)
t = torch.tensor(t.numpy())
dist.all_reduce(t)
res["sum"] = t.numpy().tolist()
for name, op in (("avg", dist.ReduceOp.AVG), ("max", dist.ReduceOp.MAX), ("min", dist.ReduceOp.MIN),
                 ("prod", dist.ReduceOp.PRODUCT)):
    t = torch.tensor([float(rank + 2), -float(rank)])
    dist.all_reduce(t, op=op)
    res[name] = t.numpy().tolist()
t = torch.tensor(np.array([rank + 1, 6], np.int32))
dist.all_reduce(t, op=dist.ReduceOp.BOR)
res["bor"] = t.numpy().tolist()
t = torch.tensor([float(rank) * 10, 1.0])
dist.broadcast(t, src=1)
res["broadcast"] = t.numpy().tolist()
gathered = [torch.zeros(2) for _ in range(world)]
dist.all_gather(gathered, torch.tensor([float(rank), rank + 0.5]))
res["all_gather"] = [g.numpy().tolist() for g in gathered]
big = torch.zeros(2 * world, 3)
dist.all_gather_into_tensor(big, torch.tensor(np.full((2, 3), rank, np.float32)))
res["all_gather_into_tensor"] = big.numpy().tolist()
out = torch.zeros(2)
dist.reduce_scatter(out, [torch.tensor([1.0, 2.0]) * float(rank + 1), torch.tensor([10.0, 20.0]) * float(rank + 1)])
res["reduce_scatter"] = out.numpy().tolist()
out = torch.zeros(2)
dist.reduce_scatter_tensor(out, torch.tensor(np.arange(4, dtype=np.float32) * (rank + 1)))
res["reduce_scatter_tensor"] = out.numpy().tolist()
gathered = [torch.zeros(2) for _ in range(world)] if rank == 1 else None
dist.gather(torch.tensor([float(rank), 7.0]), gathered, dst=1)
res["gather"] = None if gathered is None else [g.numpy().tolist() for g in gathered]
out = torch.zeros(3)
dist.scatter(out, [torch.tensor([1.0, 2.0, 3.0]) * float(r + 1) for r in range(world)] if rank == 0 else None, src=0)
res["scatter"] = out.numpy().tolist()
objects = [None] * world
dist.all_gather_object(objects, {"rank": rank, "text": "x" * (rank * 5)})
res["all_gather_object"] = objects
objects = [rank, "from rank %d" % rank]
dist.broadcast_object_list(objects, src=1)
res["broadcast_object_list"] = objects
work = dist.all_reduce(torch.ones(1), async_op=True)
res["work_wait"] = work.wait()
dist.barrier()
stamp("collectives")


# ------------------------------------------------------------------------- DDP parity
def make_model(kind):
    # A bias before BatchNorm has an exactly-zero gradient in exact arithmetic; Adam would turn
    # its rounding noise into full-size steps, so BatchNorm models use bias=False as ResNets do.
    layers = [torch.nn.Conv2d(2, 4, 3, padding=1, bias=kind == "mlp")]
    if kind != "mlp":
        layers.append(torch.nn.BatchNorm2d(4))
    layers += [torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 8), torch.nn.ReLU(),
               torch.nn.Linear(8, 3)]
    model = torch.nn.Sequential(*layers)
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model) if kind == "syncbn" else model


rng = np.random.default_rng(1234)
steps, local_batch = 3, 6
X = rng.normal(size=(steps, world * local_batch, 2, 5, 5)).astype(np.float32)
Y = rng.integers(0, 3, size=(steps, world * local_batch))
torch.manual_seed(rank)  # different weights on each rank: DDP must broadcast rank 0's
inits = {kind: make_model(kind).state_dict() for kind in ("mlp", "bn")}


def train(model, xs, ys, accumulate=False, ddp=None):
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    criterion = torch.nn.CrossEntropyLoss()
    losses = []
    for step in range(len(xs)):
        opt.zero_grad()
        if accumulate:  # two micro-batches, the first without synchronisation
            half = len(xs[step]) // 2
            with ddp.no_sync():
                (criterion(model(torch.tensor(xs[step][:half])), torch.tensor(ys[step][:half])) / 2).backward()
            loss = criterion(model(torch.tensor(xs[step][half:])), torch.tensor(ys[step][half:])) / 2
        else:
            loss = criterion(model(torch.tensor(xs[step])), torch.tensor(ys[step]))
        loss.backward()
        opt.step()
        losses.append(loss.item() * (2 if accumulate else 1))
    return losses


def snapshot(model):
    return {k: v.numpy().astype(np.float64).tolist() for k, v in model.state_dict().items()}


mine = slice(rank * local_batch, (rank + 1) * local_batch)
for label, kind, accumulate in (("ddp", "mlp", False), ("ddp_no_sync", "mlp", True),
                                ("syncbn", "syncbn", False)):
    inner = make_model(kind)
    inner.load_state_dict(inits["bn" if kind == "syncbn" else kind])
    model = DDP(inner)
    res[label + "_losses"] = train(model, X[:, mine], Y[:, mine], accumulate, model)
    res[label + "_state"] = snapshot(model)
    if label == "ddp":
        before = torch.compile_count()  # steady state: more steps compile nothing
        train(model, X[:, mine], Y[:, mine])
        res["ddp_extra_compiles"] = torch.compile_count() - before
    stamp(label)

# The reference: one process, the global batch, rank 0's initial weights. Plain BatchNorm over
# the global batch is what SyncBatchNorm over the ranks computes.
for label, kind in (("ref_mlp", "mlp"), ("ref_bn", "bn")):
    rank0 = make_model(kind)
    rank0.load_state_dict(inits[kind])
    DDP(rank0)  # wrapping copies rank 0's weights into rank0
    model = make_model(kind)
    model.load_state_dict(rank0.state_dict())
    res[label + "_losses"] = train(model, X, Y)
    res[label + "_state"] = snapshot(model)
stamp("references")
with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
    json.dump(res, f)
dist.destroy_process_group()
