"""The DDP example of PyTorch's tutorial (torch.multiprocessing.spawn, MASTER_ADDR set in the
script, init_process_group(rank=, world_size=)) with rustorch imports."""
import os
import sys
import rustorch as torch
import rustorch.distributed as dist
import rustorch.multiprocessing as mp
from rustorch.nn.parallel import DistributedDataParallel as DDP

def setup(rank, world_size):
    os.environ['MASTER_ADDR'] = 'localhost'
    os.environ['MASTER_PORT'] = sys.argv[1]
    dist.init_process_group("gloo", rank=rank, world_size=world_size)

def demo_basic(rank, world_size):
    setup(rank, world_size)
    model = torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.ReLU(), torch.nn.Linear(10, 5))
    ddp_model = DDP(model)
    loss_fn = torch.nn.MSELoss()
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=0.001)
    optimizer.zero_grad()
    outputs = ddp_model(torch.randn(20, 10))
    labels = torch.randn(20, 5)
    loss_fn(outputs, labels).backward()
    optimizer.step()
    print(f"rank {rank} done, weight sum {model[0].weight.detach().sum().item():.6f}", flush=True)
    dist.destroy_process_group()

if __name__ == "__main__":
    mp.spawn(demo_basic, args=(2,), nprocs=2, join=True)
