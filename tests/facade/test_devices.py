"""Devices: rustorch.device over JAX's devices, placement by factories, .to() and Module.to(),
and the cuda / accelerator / backends queries."""
import pickle
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn as nn

HAS_GPU = bool(rustorch.cuda.is_available())


@pytest.mark.parametrize("spec,args", [("cpu", ()), ("cuda", ()), ("cuda:1", ()), ("cuda", (2,)), ("mps", ()),
                                       ("xpu:0", ())])
def test_device_names_match_torch(spec, args):
    ours, theirs = rustorch.device(spec, *args), torch.device(spec, *args)
    assert (ours.type, ours.index) == (theirs.type, theirs.index)
    assert str(ours) == str(theirs) and repr(ours) == repr(theirs)
    assert ours == rustorch.device(str(ours)) and hash(ours) == hash(rustorch.device(str(ours)))
    assert pickle.loads(pickle.dumps(ours)) == ours


def test_device_equality_and_errors():
    assert rustorch.device("cuda") != rustorch.device("cuda:0")  # as torch
    assert rustorch.device("cpu") == "cpu"
    assert rustorch.device(0) == rustorch.device("cuda:0")
    assert rustorch.device(rustorch.device("cpu")) == rustorch.device("cpu")
    with pytest.raises(RuntimeError, match="Expected one of"):
        rustorch.device("gpu")
    with pytest.raises(RuntimeError):
        rustorch.device("cuda:0", 1)
    with pytest.raises(AttributeError):
        rustorch.device("cpu").type = "cuda"


def test_queries_without_gpu_are_torchs_cpu_only_answers():
    if HAS_GPU:
        pytest.skip("this process has a GPU")
    assert rustorch.cuda.is_available() is False and rustorch.cuda.device_count() == 0
    assert rustorch.accelerator.is_available() is False
    assert rustorch.accelerator.current_accelerator() is None
    assert rustorch.backends.mps.is_available() is False and rustorch.backends.cudnn.is_available() is False
    rustorch.cuda.manual_seed(3)  # ignored without a GPU, as torch
    rustorch.cuda.manual_seed_all(3)
    rustorch.cuda.synchronize()
    with pytest.raises(RuntimeError, match="no GPU"):
        rustorch.cuda.current_device()


def test_backend_settings_are_kept():
    cudnn = rustorch.backends.cudnn
    before = (cudnn.benchmark, cudnn.deterministic, cudnn.enabled)
    cudnn.benchmark, cudnn.deterministic = True, True
    assert rustorch.backends.cudnn.benchmark and rustorch.backends.cudnn.deterministic
    cudnn.benchmark, cudnn.deterministic, cudnn.enabled = before
    rustorch.backends.cuda.matmul.allow_tf32 = True
    try:
        assert rustorch.backends.cuda.matmul.allow_tf32
    finally:  # the switch is process-wide: later tests expect PyTorch's default
        rustorch.backends.cuda.matmul.allow_tf32 = False


def test_the_pytorch_examples_device_idiom_runs_on_cpu():
    use_accel = rustorch.accelerator.is_available()
    device = rustorch.accelerator.current_accelerator() if use_accel else rustorch.device("cpu")
    use_cuda = rustorch.cuda.is_available()
    device2 = rustorch.device("cuda" if use_cuda else "cpu")
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to(device)
    x = rustorch.randn(5, 3).to(device2)
    out = model(x)
    assert out.device == device and out.device.type == ("cuda" if use_cuda else "cpu")
    assert out.is_cuda == use_cuda
    assert x.get_device() == (0 if use_cuda else -1)


def test_placing_on_a_missing_device_raises_clearly():
    x = rustorch.zeros(2)
    with pytest.raises(RuntimeError, match="no 'mps' backend"):
        x.to("mps")
    with pytest.raises(RuntimeError, match="no 'mps' backend"):
        rustorch.zeros(2, device="mps")
    if not HAS_GPU:
        for make in (lambda: x.to("cuda"), lambda: x.cuda(), lambda: rustorch.ones(2, device="cuda"),
                     lambda: nn.Linear(2, 2).cuda(), lambda: nn.Linear(2, 2, device="cuda"),
                     lambda: rustorch.tensor([1.0], device=rustorch.device("cuda:0")),
                     lambda: x.to(0), lambda: nn.Linear(2, 2).to(1)):  # an int is a CUDA index, as in torch
            with pytest.raises(RuntimeError, match="JAX found no GPU"):
                make()


@pytest.mark.parametrize("factory", [
    lambda d: rustorch.zeros(2, 3, device=d), lambda d: rustorch.ones((2,), device=d),
    lambda d: rustorch.full((2,), 1.5, device=d), lambda d: rustorch.empty(3, device=d),
    lambda d: rustorch.rand(2, device=d), lambda d: rustorch.randn(2, device=d),
    lambda d: rustorch.randint(0, 5, (3,), device=d), lambda d: rustorch.arange(4, device=d),
    lambda d: rustorch.tensor([1.0], device=d), lambda d: rustorch.eye(2, device=d),
    lambda d: rustorch.linspace(0, 1, 3, device=d), lambda d: rustorch.zeros_like(rustorch.ones(2), device=d),
    lambda d: rustorch.ones(2).new_zeros(3, device=d), lambda d: rustorch.randperm(4, device=d),
    lambda d: rustorch.as_tensor(np.ones(2), device=d),
])
def test_factories_take_device(factory):
    out = factory("cpu")
    assert out.device == rustorch.device("cpu")
    out = factory(rustorch.device("cpu"))
    assert out.device.type == "cpu"


def test_to_forms():
    x = rustorch.ones(2, 3)
    assert x.to("cpu") is x and x.cpu() is x  # nothing to do: self, as torch
    y = x.to("cpu", rustorch.float64 if jax.config.jax_enable_x64 else rustorch.float16)
    assert y.dtype != x.dtype and y.device.type == "cpu"
    z = rustorch.zeros(1, dtype=rustorch.int32).to(x)
    assert z.dtype == np.float32
    assert x.to(dtype=rustorch.int32, device="cpu").dtype == np.int32
    assert x.to(rustorch.device("cpu"), non_blocking=True) is x
    assert x.to("cpu", copy=True) is not x


def test_device_of_pending_result_computes_nothing():
    x = rustorch.ones(2, requires_grad=True)
    y = (x * 2).sin()
    before = rustorch.evaluation_count()
    assert y.device.type == "cpu" and not y.is_cuda
    assert rustorch.evaluation_count() == before


_TWO_CPUS = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import numpy as np
    import rustorch, rustorch.nn as nn
    target = rustorch.device("cpu:1")
    x = rustorch.ones(2, 3, requires_grad=True)
    y = (x * 2).to(target)                      # recorded move: gradients flow back
    assert y.device == target, y.device
    (y.sum() * 3).backward()
    assert np.allclose(np.asarray(x.grad), 6.0)
    model = nn.Linear(3, 2)
    w = model.weight
    model.to(target)
    assert model.weight is w and model.weight.device == target
    out = model(rustorch.ones(4, 3, device=target))
    assert out.device == target
    assert rustorch.zeros(2, device="cpu:1").device == target
    z = rustorch.ones(2).to(target)
    assert z.device == target and z.cpu().device == rustorch.device("cpu")
    print("ok")
""")


def test_placement_really_moves_arrays_between_devices():
    """Two host devices stand in for two GPUs: data, results, gradients and modules move."""
    result = subprocess.run([sys.executable, "-c", _TWO_CPUS], capture_output=True, text=True, timeout=300,
                            cwd=str(__import__("pathlib").Path(rustorch.__file__).parent.parent))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_module_to_cuda_cpu_keep_identity_and_grads():
    model = nn.Linear(3, 2)
    w = model.weight
    model(rustorch.ones(1, 3)).sum().backward()
    assert model.to("cpu") is model and model.cpu() is model and model.weight is w
    assert model.weight.grad is not None


@pytest.mark.parametrize("make", [
    lambda d: nn.Linear(3, 4, True, d, None), lambda d: nn.Linear(3, 4, device=d, dtype=rustorch.float32),
    lambda d: nn.BatchNorm1d(4, device=d), lambda d: nn.BatchNorm2d(4, 1e-5, 0.1, True, True, d),
])
def test_layers_take_device_in_torchs_position(make):
    layer = make("cpu")
    for p in list(layer.parameters()) + list(layer.buffers()):
        assert p.device.type == "cpu"


@pytest.mark.skipif(not HAS_GPU, reason="needs a GPU")
def test_on_a_gpu():
    assert rustorch.cuda.device_count() >= 1 and rustorch.accelerator.current_accelerator() == rustorch.device("cuda")
    x = rustorch.randn(3, 4, device="cuda")
    assert x.is_cuda and x.device == rustorch.device("cuda:0")
    model = nn.Linear(4, 2).cuda()
    out = model(x)
    assert out.is_cuda and out.cpu().device.type == "cpu"
    out.sum().backward()
    assert model.weight.grad.is_cuda
    assert isinstance(rustorch.cuda.get_device_name(), str)
