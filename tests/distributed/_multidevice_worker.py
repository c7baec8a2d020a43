"""Run in a subprocess with 8 virtual CPU devices (see test_multidevice.py); prints one JSON line."""
import json
import os
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

import rustorch as torch
from rustorch import functional as F
from rustorch.distributed import sharding

results = {"devices": len(jax.devices())}


def max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


# --- DataParallel (facade) vs one device -----------------------------------------------------
def make_model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5))


torch.manual_seed(0)
reference = make_model()
wrapped_inner = make_model()
wrapped_inner.load_state_dict(reference.state_dict())
parallel = torch.nn.DataParallel(wrapped_inner)
rng = np.random.default_rng(0)
opt_a = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
opt_b = torch.optim.SGD(parallel.parameters(), lr=0.1, momentum=0.9)
criterion = torch.nn.CrossEntropyLoss()
losses = []
for step in range(3):
    x = torch.tensor(rng.normal(size=(16, 3, 6, 6)).astype(np.float32))
    y = torch.tensor(rng.integers(0, 5, size=16))
    pair = []
    for model, opt in ((reference, opt_a), (parallel, opt_b)):
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        pair.append(loss.item())
    losses.append(pair)
sd_a, sd_b = reference.state_dict(), parallel.state_dict()
results["dp_keys_prefixed"] = all(k2 == "module." + k1 for k1, k2 in zip(sd_a, sd_b))
results["dp_loss_rel"] = max(abs(a - b) / abs(a) for a, b in losses)
results["dp_param_rel"] = max(max_rel(sd_b["module." + k].numpy(), v.numpy()) for k, v in sd_a.items()
                              if v.dtype == np.float32)
weight = parallel.module[0].weight._concrete()
results["dp_devices_of_weight"] = len(weight.sharding.device_set)

# --- functional recipe: replicated and FSDP steps vs one device -------------------------------
key = jax.random.PRNGKey(0)
k1, k2, k3, k4 = jax.random.split(key, 4)
params = {"w1": jax.random.normal(k1, (64, 32)) * 0.1, "b1": jnp.zeros(64),
          "w2": jax.random.normal(k2, (8, 64)) * 0.1, "b2": jnp.zeros(8)}
X = np.asarray(jax.random.normal(k3, (32, 32)))
Y = np.asarray(jax.random.normal(k4, (32, 8)))


def loss_fn(p, batch):
    x, y = batch
    h = jax.nn.relu(x @ p["w1"].T + p["b1"])
    return jnp.mean((h @ p["w2"].T + p["b2"] - y) ** 2)


opt = F.adam(lr=1e-2)
runs = {}
one = sharding.data_mesh(jax.devices()[:1])
mesh = sharding.data_mesh()
for name, m, layout in (("single", one, sharding.replicated), ("replicated", mesh, sharding.replicated),
                        ("fsdp", mesh, lambda t, mm: sharding.fsdp_shardings(t, mm, min_size=256))):
    shardings = layout(params, m)
    p = sharding.place(params, shardings)
    state = jax.jit(opt.init)(p)
    step = sharding.train_step(loss_fn, opt, shardings)
    trace = []
    for i in range(3):
        batch = sharding.shard_batch((np.roll(X, 4 * i, 0), np.roll(Y, 4 * i, 0)), m)
        p, state, loss = step(p, state, batch)
        trace.append(float(loss))
    runs[name] = (p, state, trace)
for name in ("replicated", "fsdp"):
    results[f"{name}_loss_rel"] = max(abs(a - b) / abs(b) for a, b in zip(runs[name][2], runs["single"][2]))
    results[f"{name}_param_rel"] = max(max_rel(runs[name][0][k], runs["single"][0][k]) for k in params)
fsdp_params = runs["fsdp"][0]
results["fsdp_w1_spec"] = str(fsdp_params["w1"].sharding.spec)
results["fsdp_w1_shard_shape"] = list(fsdp_params["w1"].addressable_shards[0].data.shape)

# --- checkpoint written from the 8-device FSDP state, read on 2 devices and on 1 -------------
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "ckpt.npz")
    sharding.save(path, {"params": fsdp_params, "opt": runs["fsdp"][1]})
    equal = True
    for devices in (jax.devices()[:2], jax.devices()[:1]):
        m = sharding.data_mesh(devices)
        target = {"params": sharding.fsdp_shardings(params, m, min_size=256),
                  "opt": sharding.replicated(runs["fsdp"][1], m)}
        restored = sharding.load(path, target)
        for k in params:
            equal &= bool(np.array_equal(np.asarray(restored["params"][k]), np.asarray(fsdp_params[k])))
        equal &= all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
                     zip(jax.tree.leaves(restored["opt"]), jax.tree.leaves(runs["fsdp"][1])))
    results["checkpoint_reshard_equal"] = equal
print("RESULT " + json.dumps(results))
