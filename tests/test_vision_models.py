"""rustorch.vision.models against a torch port of torchvision (tests/torchvision_port.py): the
same state_dict keys and shapes; a state_dict saved with torch.save loads through rustorch.load
and gives torch's logits, and one training step gives torch's gradients and BatchNorm statistics.

Tolerances come from torch itself: the same model run in float64 bounds how far a float32
computation (in any summation order) may be from the exact result, so rustorch's float32
result must lie within a small multiple of torch's own float32-vs-float64 difference.
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import rustorch
from rustorch.vision import models
from tests import torchvision_port as port


def _randomise_batch_norms(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=generator) * 0.2 - 0.1)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=generator) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)


def _bound(t32, t64):
    """10x torch's own float32 error, at least 1e-5 of the value scale."""
    t32, t64 = np.asarray(t32, np.float64), np.asarray(t64, np.float64)
    scale = max(float(np.abs(t64).max()), 1e-30)
    return max(10 * float(np.abs(t32 - t64).max()), 1e-5 * scale)


def _assert_within(ours, t32, t64, what):
    ours = np.asarray(ours, np.float64)
    bound = _bound(t32, t64)
    error = float(np.abs(ours - np.asarray(t32, np.float64)).max())
    assert error <= bound, f"{what}: |rustorch - torch| = {error:.3g} > bound {bound:.3g}"


def _torch_step(model, x, y):
    model.train()
    out = model(x)
    loss = TF.cross_entropy(out, y)
    loss.backward()
    return out.detach(), {n: p.grad.detach().clone() for n, p in model.named_parameters()}, \
        {n: b.detach().clone() for n, b in model.named_buffers()}


def _check_model(name, build_ours, ref, tmp_path, side=32, batch=2, train=True, seed=0):
    _randomise_batch_norms(ref, seed)
    path = tmp_path / f"{name}.pth"
    torch.save(ref.state_dict(), path)
    ours = build_ours(weights=str(path))
    assert list(ours.state_dict()) == list(ref.state_dict())

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, side, side)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    ref64 = copy.deepcopy(ref).double()

    ref.eval(), ref64.eval(), ours.eval()
    with torch.no_grad():
        t32, t64 = ref(torch.from_numpy(x)), ref64(torch.from_numpy(x).double())
    with rustorch.no_grad():
        logits = ours(rustorch.tensor(x))
    _assert_within(logits, t32, t64, f"{name} eval logits")
    if not train:
        return

    o32, g32, b32 = _torch_step(ref, torch.from_numpy(x), torch.from_numpy(y))
    o64, g64, b64 = _torch_step(ref64, torch.from_numpy(x).double(), torch.from_numpy(y))
    ours.train()
    out = ours(rustorch.tensor(x))
    rustorch.nn.functional.cross_entropy(out, rustorch.tensor(y)).backward()
    _assert_within(out, o32, o64, f"{name} train logits")
    for pname, p in ours.named_parameters():
        _assert_within(p.grad, g32[pname], g64[pname], f"{name} grad of {pname}")
    for bname, b in ours.named_buffers():
        if b32[bname].dtype == torch.int64:
            np.testing.assert_array_equal(np.asarray(b), b32[bname].numpy(), err_msg=bname)
        else:
            _assert_within(b, b32[bname], b64[bname], f"{name} buffer {bname}")


@pytest.mark.slow
def test_resnet18_loads_torch_state_dict_and_trains_like_torch(tmp_path):
    torch.manual_seed(0)
    _check_model("resnet18", lambda **kw: models.resnet18(num_classes=10, **kw), port.build("resnet18"), tmp_path)


@pytest.mark.slow
def test_mobilenet_v3_small_matches_torch(tmp_path):
    torch.manual_seed(1)
    _check_model("mobilenet_v3_small", lambda **kw: models.mobilenet_v3_small(num_classes=10, **kw),
                 port.build("mobilenet_v3_small"), tmp_path, seed=1)


@pytest.mark.slow
def test_cifar_resnet20_matches_torch(tmp_path):
    torch.manual_seed(2)
    _check_model("resnet20", lambda **kw: models.resnet20(**kw), port.CifarResNet(3), tmp_path, batch=4, seed=2)


def test_cifar_resnet8_matches_torch(tmp_path):
    """The fast stand-in of the model tests: ResNet-8 (one block per stage) at 16x16, both
    shortcut kinds, a torch.save'd state_dict, eval logits and one training step."""
    torch.manual_seed(2)
    _check_model("resnet8", lambda weights: models.cifar._cifar_resnet(1, weights, {}), port.CifarResNet(1), tmp_path,
                 side=16, batch=4, seed=2)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnext50_32x4d", "densenet121", "mobilenet_v2"])
def test_larger_models_match_torch(name, tmp_path):
    """A torch checkpoint gives torch's eval logits. Training steps are checked on the smaller
    models of this file, whose programs compile in a fraction of the time: inverted residuals
    with depthwise convolutions (mobilenet_v3_small), dense layers and transitions (a
    depth-16 densenet_bc), residual blocks (resnet18, the CIFAR ResNets); grouped convolutions'
    gradients op by op in tests/functional/test_conv_more.py."""
    # 64x64 keeps 2x2 maps in the last stage: batch norm over the 2 values per channel of a 1x1
    # map (batch 2) is so ill-conditioned that float32 results differ from float64 arbitrarily.
    torch.manual_seed(3)
    _check_model(name, lambda **kw: getattr(models, name)(num_classes=10, **kw), port.build(name), tmp_path,
                 side=64, train=False, seed=3)


@pytest.mark.slow
def test_densenet_bc_matches_torch(tmp_path):
    torch.manual_seed(4)
    _check_model("densenet_bc", lambda **kw: models.densenet_bc(**kw), port.build("densenet_bc"), tmp_path,
                 train=False, seed=4)


def test_small_densenet_bc_trains_like_torch(tmp_path):
    """Dense layers, transitions and their concatenations through one training step (a
    depth-16 DenseNet-BC: two bottleneck layers per block)."""
    torch.manual_seed(6)
    _check_model("densenet_bc16", lambda **kw: models.densenet_bc(16, 6, **kw),
                 port.build("densenet_bc", depth=16, growth_rate=6), tmp_path, batch=4, seed=6)


# ------------------------------------------------------------------------- structure, init

FAST_STRUCTURES = ["resnet18", "resnet50", "densenet121", "mobilenet_v2", "mobilenet_v3_small"]
SLOW_STRUCTURES = ["resnet34", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2", "densenet161",
                   "densenet169", "densenet201", "vgg11_bn", "vgg16_bn"]


def _check_structure(name):
    with torch.device("meta"):
        ref = port.build(name, num_classes=1000)
    ours = getattr(models, name)()
    expected = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    actual = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert list(actual) == list(expected)
    assert actual == expected


@pytest.mark.parametrize("name", FAST_STRUCTURES)
def test_state_dict_keys_and_shapes_match_torchvision(name):
    _check_structure(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_STRUCTURES)
def test_state_dict_keys_and_shapes_match_torchvision_large(name):
    _check_structure(name)


def test_torchvision_initialisation():
    rustorch.manual_seed(0)
    model = models.resnet18()
    w = np.asarray(model.conv1.weight)
    expected_std = np.sqrt(2.0 / (64 * 7 * 7))  # kaiming_normal_, fan_out, relu
    assert abs(w.std() / expected_std - 1) < 0.05 and abs(w.mean()) < 0.1 * expected_std
    np.testing.assert_array_equal(np.asarray(model.bn1.weight), 1.0)
    dense = models.densenet_bc(depth=10)
    np.testing.assert_array_equal(np.asarray(dense.classifier.bias), 0.0)
    mobile = models.mobilenet_v3_small()
    lin = np.asarray(mobile.classifier[0].weight)
    assert abs(lin.std() / 0.01 - 1) < 0.05
    assert mobile.features[1].block[0][1].eps == 0.001 and mobile.features[1].block[0][1].momentum == 0.01


def test_densenet_loads_legacy_keys(tmp_path):
    model = models.densenet_bc(depth=10, growth_rate=4)
    state = model.state_dict()
    legacy = {k.replace("denselayer1.norm1.", "denselayer1.norm.1."): np.asarray(v) for k, v in state.items()}
    assert any("norm.1." in k for k in legacy)
    path = tmp_path / "legacy.pth"
    rustorch.save(legacy, str(path))
    reloaded = models.densenet_bc(depth=10, growth_rate=4, weights=str(path))
    np.testing.assert_array_equal(np.asarray(reloaded.features.denseblock1.denselayer1.norm1.running_var),
                                  np.asarray(model.features.denseblock1.denselayer1.norm1.running_var))


def test_weights_errors():
    with pytest.raises(TypeError, match="downloads nothing"):
        models.resnet20(weights=object())
    with pytest.raises(ValueError, match="pretrained=True would download"):
        models.resnet18(pretrained=True)
    with pytest.raises(ValueError, match="depth must be 6n"):
        models.densenet_bc(depth=50)


@pytest.mark.slow
def test_memory_efficient_densenet_matches_plain(tmp_path):
    rustorch.manual_seed(5)
    plain = models.densenet_bc(depth=10, growth_rate=4)
    efficient = models.densenet_bc(depth=10, growth_rate=4, memory_efficient=True)
    efficient.load_state_dict(plain.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    outs = []
    for model in (plain, efficient):
        out = model(rustorch.tensor(x))
        out.sum().backward()
        outs.append((np.asarray(out), {n: np.asarray(p.grad) for n, p in model.named_parameters()},
                     {n: np.asarray(b) for n, b in model.named_buffers()}))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
    for n in outs[0][1]:
        np.testing.assert_allclose(outs[0][1][n], outs[1][1][n], rtol=1e-4, atol=1e-5, err_msg=n)
    for n in outs[0][2]:
        np.testing.assert_allclose(outs[0][2][n], outs[1][2][n], rtol=1e-5, atol=1e-6, err_msg=n)


@pytest.mark.slow
def test_resnet_example_runs_short(tmp_path):
    """examples/resnet.py end to end on a slice of MNIST: trains, evaluates, checkpoints, resumes."""
    import pathlib
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from examples import resnet as example

    data = str(root.parent / "shared" / "data" / "mnist")
    common = ["--data", data, "--limit", "128", "--batch-size", "32", "--out", str(tmp_path)]
    accuracy = example.main(common + ["--epochs", "1"])
    assert 0.0 <= accuracy <= 100.0
    assert (tmp_path / "checkpoint.pth").exists()
    checkpoint = rustorch.load(str(tmp_path / "checkpoint.pth"))
    assert int(checkpoint["epoch"]) == 0
    example.main(common + ["--epochs", "2", "--resume"])
    assert int(rustorch.load(str(tmp_path / "checkpoint.pth"))["epoch"]) == 1
