"""A rank of the dying-rank check: rank 1 dies after the first collective; rank 0 keeps
reducing and must fail with DistBackendError instead of hanging."""
import datetime
import os
import sys
import time

import rustorch as torch
import rustorch.distributed as dist

dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=15))
rank = dist.get_rank()
t = torch.ones(3)
dist.all_reduce(t)
print(f"rank {rank} first all_reduce {t.numpy().tolist()}", flush=True)
if rank == 1:
    os._exit(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
start = time.time()
try:
    for _ in range(1000):
        dist.all_reduce(t)
        time.sleep(0.01)
except dist.DistBackendError as error:
    print(f"rank {rank} caught DistBackendError after {time.time() - start:.1f}s: {error}", flush=True)
    os._exit(17)
print(f"rank {rank} never saw the failure", flush=True)
os._exit(0)
