"""The advanced CNN layers through the facade against torch.nn: outputs, input gradients,
parameter gradients and buffers, on random configurations."""
import warnings

import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn.functional as RF
from tests.facade.facade_utils import assert_buffers, assert_param_grads, copy_weights, forward_backward
from tests.torch_compare import assert_close, to_torch


def _pair_of_layers(name, *args, **kwargs):
    rustorch.manual_seed(0)
    return getattr(rustorch.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


def _run(name, args, kwargs, shape, seed):
    rng = np.random.default_rng(seed)
    ours, theirs = _pair_of_layers(name, *args, **kwargs)
    if list(ours.state_dict()):
        copy_weights(ours, theirs)
    x = rng.standard_normal(shape).astype(np.float32)
    forward_backward(ours, theirs, x, rng)
    assert_param_grads(ours, theirs)
    assert_buffers(ours, theirs)
    return ours, theirs


CONV_CASES = [
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1, groups=2), (2, 4, 11)),
    ("Conv1d", (3, 4, 4), dict(padding="same", dilation=2, padding_mode="circular"), (2, 3, 9)),
    ("Conv2d", (4, 4, 3), dict(groups=4, padding=1, bias=False), (2, 4, 7, 6)),
    ("Conv2d", (3, 6, (3, 2)), dict(padding=(2, 1), padding_mode="reflect"), (2, 3, 6, 7)),
    ("Conv2d", (3, 4, 4), dict(padding="same", padding_mode="replicate"), (1, 3, 6, 5)),
    ("Conv2d", (3, 2, 3), dict(padding="valid", stride=(2, 1)), (3, 6, 6)),
    ("Conv3d", (2, 4, 3), dict(stride=(1, 2, 1), padding=1), (2, 2, 4, 5, 4)),
    ("ConvTranspose1d", (4, 2, 3), dict(stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5)),
    ("ConvTranspose2d", (3, 4, (3, 2)), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=1), (2, 3, 4, 3)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, groups=2, dilation=2, bias=False), (1, 4, 3, 4)),
    ("ConvTranspose3d", (2, 3, 2), dict(stride=2), (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", CONV_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CONV_CASES)])
def test_conv_layers_match_torch(name, args, kwargs, shape):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: 'same' with an even kernel copies
        ours, theirs = _run(name, args, kwargs, shape, len(shape))
    assert repr(ours).split("(")[0] == name


def test_conv_layers_initialise_with_torch_bounds():
    rustorch.manual_seed(1)
    conv = rustorch.nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert conv.weight.shape == (4, 3, 3, 3)
    bound = 1 / np.sqrt(3 * 9)
    w = np.asarray(conv.weight)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert rustorch.nn.Conv3d(2, 4, (1, 2, 3), device="cpu").weight.shape == (4, 2, 1, 2, 3)


def test_conv_transpose_output_size_matches_torch():
    rng = np.random.default_rng(5)
    ours, theirs = _pair_of_layers("ConvTranspose2d", 2, 3, 3, stride=2, padding=1)
    copy_weights(ours, theirs)
    x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    out = ours(rustorch.tensor(x), output_size=[8, 10])
    expected = theirs(to_torch(x), output_size=[8, 10])
    assert out.shape == (1, 3, 8, 10)
    assert_close(np.asarray(out), expected)
    with pytest.raises(ValueError, match="valid sizes range"):
        ours(rustorch.tensor(x), output_size=(10, 10))


def test_conv_errors():
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        rustorch.nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='only "zeros" padding mode'):
        rustorch.nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="expected 2-D or 3-D input"):
        rustorch.nn.Conv1d(1, 1, 3)(rustorch.zeros(1, 1, 4, 4))


POOL_CASES = [
    ("MaxPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 10)),
    ("MaxPool1d", (2,), dict(dilation=2), (3, 9)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 3, 10)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, divisor_override=5), (2, 2, 7, 8)),
    ("AvgPool2d", ((3, 2),), dict(stride=(2, 1), padding=(1, 0), count_include_pad=False), (2, 2, 7, 5)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveMaxPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", ((3, None),), {}, (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", (4,), {}, (3, 5, 10)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", POOL_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(POOL_CASES)])
def test_pool_layers_match_torch(name, args, kwargs, shape):
    _run(name, args, kwargs, shape, 11)


IMAGE_CASES = [
    ("ZeroPad2d", ((1, 2, 0, 3),), {}, (2, 2, 3, 4)),
    ("ConstantPad1d", ((2, -1), 1.5), {}, (2, 3, 4)),
    ("ReflectionPad2d", (2,), {}, (2, 2, 4, 5)),
    ("ReplicationPad2d", ((1, 0, 2, 3),), {}, (2, 4, 3)),
    ("CircularPad2d", ((1, 2, 2, 1),), {}, (1, 2, 3, 4)),
    ("ReflectionPad1d", ((3, 1),), {}, (2, 3, 5)),
    ("ReplicationPad3d", (1,), {}, (1, 2, 2, 3, 2)),
    ("Upsample", (), dict(scale_factor=2, mode="nearest"), (2, 3, 3, 4)),
    ("Upsample", (), dict(size=(5, 7), mode="bilinear", align_corners=False), (2, 2, 3, 4)),
    ("Upsample", (), dict(scale_factor=1.5, mode="bicubic", align_corners=True), (1, 2, 4, 5)),
    ("Upsample", (), dict(scale_factor=(0.6, 2.5), mode="bilinear"), (1, 2, 7, 3)),
    ("Upsample", (), dict(size=7, mode="linear"), (2, 3, 4)),
    ("UpsamplingBilinear2d", (), dict(scale_factor=2), (1, 2, 3, 3)),
    ("PixelShuffle", (2,), {}, (2, 8, 3, 2)),
    ("PixelUnshuffle", (3,), {}, (2, 2, 6, 3)),
    ("InstanceNorm2d", (3,), dict(affine=True), (2, 3, 4, 5)),
    ("InstanceNorm1d", (3,), dict(track_running_stats=True, momentum=0.3), (2, 3, 6)),
    ("LocalResponseNorm", (3,), dict(alpha=0.1, beta=0.7, k=2.0), (2, 5, 3, 3)),
    ("LocalResponseNorm", (4,), {}, (2, 6, 5)),
    ("Hardswish", (), {}, (2, 3, 9)),
    ("Hardsigmoid", (), {}, (2, 3, 9)),
    ("Mish", (), {}, (2, 3, 9)),
    ("ReLU6", (), {}, (2, 3, 9)),
    ("PReLU", (), {}, (2, 3, 4)),
    ("PReLU", (3, 0.1), {}, (2, 3, 4, 2)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", IMAGE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(IMAGE_CASES)])
def test_image_layers_match_torch(name, args, kwargs, shape):
    if name in ("Hardswish", "Hardsigmoid", "ReLU6"):
        # exercise the kinks, where PyTorch's backward has its own conventions
        rng = np.random.default_rng(0)
        ours, theirs = _pair_of_layers(name, *args, **kwargs)
        x = np.concatenate([np.array([-3.0, 3.0, 0.0, 6.0, -2.9, 2.9], np.float32),
                            rng.uniform(-8, 8, 12).astype(np.float32)]).reshape(2, 9)
        forward_backward(ours, theirs, x, rng)
        return
    _run(name, args, kwargs, shape, 13)


def test_instance_norm_running_stats_in_eval():
    ours, theirs = _pair_of_layers("InstanceNorm2d", 3, track_running_stats=True, affine=True)
    rng = np.random.default_rng(4)
    for _ in range(2):
        x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
        ours(rustorch.tensor(x)), theirs(to_torch(x))
    assert_buffers(ours, theirs)
    ours.eval(), theirs.eval()
    x = rng.standard_normal((3, 4, 4)).astype(np.float32)
    assert_close(np.asarray(ours(rustorch.tensor(x))), theirs(to_torch(x)))


@pytest.mark.parametrize("name,shape", [("Dropout1d", (4, 6, 5)), ("Dropout2d", (4, 6, 3, 3)), ("Dropout3d", (2, 6, 2, 2, 2))])
def test_feature_dropout_zeroes_whole_channels(name, shape):
    rustorch.manual_seed(3)
    layer = getattr(rustorch.nn, name)(p=0.5)
    x = rustorch.ones(*shape, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    out = np.asarray(y).reshape(shape[0], shape[1], -1)
    per_channel = out[:, :, 0]
    assert set(np.unique(per_channel)) <= {0.0, 2.0} and 0 < (per_channel == 0).sum() < per_channel.size
    np.testing.assert_array_equal(out, np.broadcast_to(per_channel[:, :, None], out.shape))
    np.testing.assert_array_equal(np.asarray(x.grad), np.asarray(y))
    second = np.asarray(layer(rustorch.ones(*shape)))
    assert not np.array_equal(second, np.asarray(y)), "a new mask on every call"
    layer.eval()
    np.testing.assert_array_equal(np.asarray(layer(rustorch.ones(*shape))), np.ones(shape, np.float32))


def test_dropout2d_on_3d_input_warns_as_torch():
    layer = rustorch.nn.Dropout2d(0.5)
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        layer(rustorch.ones(2, 3, 4))


def test_functional_forms():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    tx, tw = to_torch(x), to_torch(w)
    checks = [
        (RF.conv_transpose2d(rustorch.tensor(x), rustorch.tensor(w), stride=2, padding=1, output_padding=1),
         torch.nn.functional.conv_transpose2d(tx, tw, stride=2, padding=1, output_padding=1)),
        (RF.pad(rustorch.tensor(x), (1, 1, 2, 0), mode="reflect"), torch.nn.functional.pad(tx, (1, 1, 2, 0), mode="reflect")),
        (RF.pad(rustorch.tensor(x), [1, -2], value=3.0), torch.nn.functional.pad(tx, [1, -2], value=3.0)),
        (RF.interpolate(rustorch.tensor(x), scale_factor=2, mode="bilinear", align_corners=True),
         torch.nn.functional.interpolate(tx, scale_factor=2, mode="bilinear", align_corners=True)),
        (RF.adaptive_max_pool2d(rustorch.tensor(x), [2, 3]), torch.nn.functional.adaptive_max_pool2d(tx, [2, 3])),
        (RF.max_pool1d(rustorch.tensor(x[0]), 2), torch.nn.functional.max_pool1d(tx[0], 2)),
        (RF.hardswish(rustorch.tensor(x), inplace=True), torch.nn.functional.hardswish(tx)),
        (RF.instance_norm(rustorch.tensor(x)), torch.nn.functional.instance_norm(tx)),
    ]
    for ours, theirs in checks:
        assert_close(np.asarray(ours), theirs)
    with pytest.raises(ValueError, match="padding size should be less than"):
        RF.pad(rustorch.tensor(x), (6, 1, 0, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match="pads the last 1, 2 or 3 dimensions"):
        RF.pad(rustorch.tensor(x), (2, 2), mode="reflect")
    with pytest.raises(ValueError, match="exactly one of size or scale_factor"):
        RF.interpolate(rustorch.tensor(x))


def test_checkpoint_matches_plain_call_and_compiles_once():
    from rustorch.utils.checkpoint import checkpoint

    rustorch.manual_seed(0)
    conv, bn = rustorch.nn.Conv2d(3, 4, 3, padding=1), rustorch.nn.BatchNorm2d(4)
    tconv, tbn = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4)
    copy_weights(conv, tconv)

    def block(x, y):
        return bn(conv(x)).relu() * y

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    y = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    compiles = []
    for _ in range(3):
        conv.zero_grad(), tconv.zero_grad()
        rx, ry = rustorch.tensor(x, requires_grad=True), rustorch.tensor(y, requires_grad=True)
        out = checkpoint(block, rx, ry, use_reentrant=False)
        out.sum().backward()
        tx, ty = to_torch(x, True), to_torch(y, True)
        expected = tbn(tconv(tx)).relu() * ty  # the plain call: running statistics updated once
        expected.sum().backward()
        assert_close(np.asarray(out), expected)
        assert_close(np.asarray(rx.grad), tx.grad)
        assert_close(np.asarray(ry.grad), ty.grad)
        # the conv bias feeds a batch norm: its true gradient is 0, both sides hold rounding noise
        assert_param_grads(conv, tconv, atol_scale=2e-5)
        assert_buffers(bn, tbn)
        compiles.append(rustorch.compile_count())
    assert compiles[1] == compiles[2], "the checkpointed step compiles once"
    assert "_run_checkpointed" in out._node.op.__name__


def test_concatenation_and_average_pooling_in_the_layout_pass_match_torch():
    """DenseNet's pattern (conv, concatenate along channels, batch norm, average pooling) runs
    channels-last in the facade on CPU; values and gradients stay torch's."""

    def build(nn, cat):
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
                self.conv2 = nn.Conv2d(4, 2, 1)
                self.norm = nn.BatchNorm2d(6)
                self.pool = nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False, padding=1)
                self.gap = nn.AdaptiveAvgPool2d((2, 3))

            def forward(self, x):
                h = self.conv1(x)
                h = cat([h, self.conv2(h)], 1)
                return self.gap(self.pool(self.norm(h)))

        return Block()

    rustorch.manual_seed(0)
    ours, theirs = build(rustorch.nn, rustorch.cat), build(torch.nn, torch.cat)
    copy_weights(ours, theirs)
    rng = np.random.default_rng(1)
    forward_backward(ours, theirs, rng.standard_normal((2, 3, 7, 9)).astype(np.float32), rng)
    assert_param_grads(ours, theirs, atol_scale=2e-5)  # conv1.bias feeds a batch norm: true gradient 0
    assert_buffers(ours, theirs)
