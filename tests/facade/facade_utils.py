"""Helpers shared by the facade tests: twin rustorch/torch models and their comparison.

A rustorch module and a torch module of the same architecture have the same parameter and
buffer names (that is part of the contract), so weights are copied and compared by name.
"""
import numpy as np
import torch

import rustorch
from tests.torch_compare import assert_close, to_torch


def copy_weights(rt_module, th_module):
    """Copy rustorch's parameters and buffers into the torch twin (names must agree)."""
    rt_state = rt_module.state_dict()
    th_state = th_module.state_dict()
    assert list(rt_state) == list(th_state), f"{list(rt_state)} != {list(th_state)}"
    with torch.no_grad():
        for name, value in rt_state.items():
            th_state[name].copy_(torch.from_numpy(np.array(value)).to(th_state[name].dtype))


def assert_param_grads(rt_module, th_module, rtol=1e-5, atol_scale=1e-6):
    """Every parameter's gradient equals torch's; both are None or neither is."""
    rt_named = list(rt_module.named_parameters())
    th_named = list(th_module.named_parameters())
    assert [n for n, _ in rt_named] == [n for n, _ in th_named]
    for (name, p), (_, tp) in zip(rt_named, th_named):
        if tp.grad is None:
            assert p.grad is None, f"{name}: torch has no grad, rustorch has one"
        else:
            assert p.grad is not None, f"{name}: rustorch has no grad"
            assert_close(np.asarray(p.grad), tp.grad, rtol, atol_scale, err_msg=f"grad of {name}")


def assert_params(rt_module, th_module, rtol=1e-5, atol_scale=1e-6):
    for (name, p), (_, tp) in zip(rt_module.named_parameters(), th_module.named_parameters()):
        assert_close(np.asarray(p), tp, rtol, atol_scale, err_msg=f"parameter {name}")


def assert_buffers(rt_module, th_module, rtol=1e-5, atol_scale=1e-6):
    """Buffers (running statistics, ``num_batches_tracked``) equal torch's, by name."""
    rt_named = dict(rt_module.named_buffers())
    th_named = dict(th_module.named_buffers())
    assert list(rt_named) == list(th_named)
    for name, tb in th_named.items():
        value = np.asarray(rt_named[name])
        if tb.dtype == torch.int64:
            # rustorch keeps the counter in JAX's default int32; the value is what matters.
            assert value.dtype.kind == "i", f"{name} has dtype {value.dtype}"
            np.testing.assert_array_equal(value, tb.numpy(), err_msg=name)
        else:
            assert_close(value, tb, rtol, atol_scale, err_msg=f"buffer {name}")


def forward_backward(rt_module, th_module, x_np, rng, *extra):
    """Call both modules on ``x_np`` (and ``extra`` non-differentiated arguments), backpropagate
    the same random cotangent, and compare the outputs and input gradients. Returns the
    rustorch input so callers can inspect more."""
    x = rustorch.tensor(x_np, requires_grad=True)
    tx = to_torch(x_np, requires_grad=True)
    out = rt_module(x, *[rustorch.tensor(e) for e in extra])
    t_out = th_module(tx, *[to_torch(e) for e in extra])
    assert out.shape == tuple(t_out.shape)
    cotangent = rng.standard_normal(out.shape).astype(np.float32)
    (out * cotangent).sum().backward()
    (t_out * to_torch(cotangent)).sum().backward()
    assert_close(np.asarray(out), t_out, err_msg="output")
    assert_close(np.asarray(x.grad), tx.grad, err_msg="input gradient")
    return x, out


def cnn_sequential(nn, p=(0.25, 0.25, 0.5), side=12):
    """The MNIST CNN as ``nn.Sequential`` (``nn`` is ``rustorch.nn`` or ``torch.nn``), for
    ``side x side`` single-channel images (side divisible by 4)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2), nn.Dropout(p[0]),
        nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2), nn.Dropout(p[1]),
        nn.Flatten(), nn.Linear(64 * (side // 4) ** 2, 128), nn.BatchNorm1d(128), nn.ReLU(),
        nn.Dropout(p[2]), nn.Linear(128, 10),
    )


def cnn_class(nn):
    """The MNIST CNN as a ``nn.Module`` subclass, with the plan's attribute names."""

    class Net(nn.Module):
        def __init__(self, p=(0.25, 0.25, 0.5), side=12):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
            self.bn1 = nn.BatchNorm2d(32)
            self.relu1 = nn.ReLU()
            self.pool1 = nn.MaxPool2d(kernel_size=2)
            self.dropout1 = nn.Dropout(p[0])
            self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
            self.bn2 = nn.BatchNorm2d(64)
            self.relu2 = nn.ReLU()
            self.pool2 = nn.MaxPool2d(kernel_size=2)
            self.dropout2 = nn.Dropout(p[1])
            self.flatten = nn.Flatten()
            self.linear1 = nn.Linear(64 * (side // 4) ** 2, 128)
            self.bn3 = nn.BatchNorm1d(128)
            self.relu3 = nn.ReLU()
            self.dropout3 = nn.Dropout(p[2])
            self.linear2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.dropout1(self.pool1(self.relu1(self.bn1(self.conv1(x)))))
            x = self.dropout2(self.pool2(self.relu2(self.bn2(self.conv2(x)))))
            x = self.dropout3(self.relu3(self.bn3(self.linear1(self.flatten(x)))))
            return self.linear2(x)

    return Net
