"""The N-d pooling layers and nn.functional ops through the facade against torch.nn: 3-d pools,
return_indices, power-average pooling and max unpooling (outputs, indices, input gradients),
their errors, and max pooling indices inside the channels-last layout pass."""
import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn.functional as RF
from tests.facade.facade_utils import forward_backward
from tests.torch_compare import assert_close, to_torch


def _pair(name, *args, **kwargs):
    return getattr(rustorch.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


LAYER_CASES = [
    ("MaxPool3d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 2, 5, 6, 5)),
    ("MaxPool3d", ((2, 1, 2),), dict(dilation=(1, 2, 2)), (2, 6, 5, 7)),
    ("MaxPool3d", (2,), {}, (1, 3, 4, 6, 4)),
    ("AvgPool3d", (3,), dict(stride=(2, 1, 2), padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 5, 4, 6)),
    ("AvgPool3d", (2,), dict(divisor_override=3), (2, 4, 5, 5)),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}, (2, 2, 5, 4, 7)),
    ("AdaptiveMaxPool3d", (3,), {}, (2, 5, 4, 7)),
    ("LPPool1d", (2, 3), dict(stride=2, ceil_mode=True), (2, 3, 8)),
    ("LPPool2d", (1.5, (2, 3)), dict(stride=(1, 2)), (2, 2, 5, 7)),
    ("LPPool3d", (3.0, 2), {}, (1, 2, 4, 5, 4)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", LAYER_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYER_CASES)])
def test_pool_layers_match_torch(name, args, kwargs, shape):
    rng = np.random.default_rng(len(shape) + len(kwargs))
    ours, theirs = _pair(name, *args, **kwargs)
    x = rng.standard_normal(shape).astype(np.float32)
    if name.startswith("LPPool"):
        x = np.abs(x)  # odd powers of negative sums are NaN in both (tests/functional covers it)
    forward_backward(ours, theirs, x, rng)
    assert repr(ours) == repr(theirs)


INDEX_CASES = [
    ("MaxPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 10)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, dilation=(1, 2)), (2, 3, 7, 9)),
    ("MaxPool2d", (2,), {}, (3, 6, 8)),
    ("MaxPool3d", ((2, 3, 2),), dict(stride=(1, 2, 2), padding=(1, 1, 0)), (1, 2, 4, 6, 5)),
    ("AdaptiveMaxPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", ((3, None),), {}, (2, 3, 7, 5)),
    ("AdaptiveMaxPool3d", ((2, 3, 1),), {}, (2, 5, 4, 3)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", INDEX_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(INDEX_CASES)])
def test_return_indices_and_unpool_match_torch(name, args, kwargs, shape):
    rng = np.random.default_rng(len(shape))
    x = np.round(rng.standard_normal(shape) * 2).astype(np.float32) / 2  # ties
    ours, theirs = _pair(name, *args, **kwargs, return_indices=True)
    rx, tx = rustorch.tensor(x, requires_grad=True), to_torch(x, True)
    (out, indices), (t_out, t_indices) = ours(rx), theirs(tx)
    assert_close(out, t_out)
    np.testing.assert_array_equal(np.asarray(indices), t_indices.numpy())
    cot = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (out * rustorch.tensor(cot)).sum().backward()
    (t_out * to_torch(cot)).sum().backward()
    assert_close(rx.grad, tx.grad)
    if not name.startswith("MaxPool"):
        return
    # Unpool the pooled values back to the input's size (output_size as torch.Size / list).
    n = int(name[-2])
    unpool, t_unpool = _pair(f"MaxUnpool{n}d", *args, **{k: v for k, v in kwargs.items() if k in ("stride", "padding")})
    if kwargs.get("dilation") or kwargs.get("ceil_mode"):
        return  # indices may reach past MaxUnpool's default output; covered in tests/functional
    source, t_source = rustorch.tensor(np.asarray(out), requires_grad=True), t_out.detach().requires_grad_()
    back = unpool(source, indices, output_size=list(rx.shape[-n:]))
    t_back = t_unpool(t_source, t_indices, output_size=tx.shape[-n:])
    assert_close(back, t_back)
    cot = rng.standard_normal(tuple(t_back.shape)).astype(np.float32)
    (back * rustorch.tensor(cot)).sum().backward()
    (t_back * to_torch(cot)).sum().backward()
    assert_close(source.grad, t_source.grad)
    assert repr(unpool) == repr(t_unpool)


def test_functional_forms_match_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6, 4)).astype(np.float32)
    rx, tx = rustorch.tensor(x), to_torch(x)
    tf = torch.nn.functional
    pairs = [
        (RF.max_pool3d(rx, 2, 1, 1), tf.max_pool3d(tx, 2, 1, 1)),
        (RF.avg_pool3d(rx, [3, 2, 2], ceil_mode=True), tf.avg_pool3d(tx, [3, 2, 2], ceil_mode=True)),
        (RF.adaptive_avg_pool3d(rx, [2, 3, None]), tf.adaptive_avg_pool3d(tx, [2, 3, None])),
        (RF.adaptive_max_pool3d(rx, 2), tf.adaptive_max_pool3d(tx, 2)),
        (RF.lp_pool3d(rx.abs(), 2.5, 2), tf.lp_pool3d(tx.abs(), 2.5, 2)),
        (RF.lp_pool2d(rx[0], 2, 3, stride=2), tf.lp_pool2d(tx[0], 2, 3, stride=2)),
        (RF.lp_pool1d(rx[0, 0].abs(), 3, 2), tf.lp_pool1d(tx[0, 0].abs(), 3, 2)),
    ]
    for n, (shape, k) in enumerate((((2, 3, 9), 3), ((2, 3, 6, 7), 2), ((2, 5, 6, 4), 2))):
        y = rng.standard_normal(shape).astype(np.float32)
        name = f"{n + 1}d"
        ours = getattr(RF, f"max_pool{name}_with_indices")(rustorch.tensor(y), k)
        theirs = getattr(tf, f"max_pool{name}_with_indices")(to_torch(y), k)
        pairs += list(zip(ours, theirs))
        ours = getattr(RF, f"max_pool{name}")(rustorch.tensor(y), k, return_indices=True)
        pairs += list(zip(ours, theirs))
        back = getattr(RF, f"max_unpool{name}")(ours[0], ours[1], k, output_size=list(shape[-(n + 1):]))
        t_back = getattr(tf, f"max_unpool{name}")(theirs[0], theirs[1], k, output_size=list(shape[-(n + 1):]))
        pairs.append((back, t_back))
        ours = getattr(RF, f"adaptive_max_pool{name}_with_indices")(rustorch.tensor(y), 2)
        theirs = getattr(tf, f"adaptive_max_pool{name}_with_indices")(to_torch(y), 2)
        pairs += list(zip(ours, theirs))
    for ours, theirs in pairs:
        assert_close(ours, theirs)


def test_max_unpool_errors():
    x = rustorch.tensor(np.ones((1, 1, 2, 2), np.float32))
    with pytest.raises(RuntimeError, match=r"Found an invalid max index: 16 \(output volumes are of size 4x4\)"):
        RF.max_unpool2d(x, rustorch.tensor(np.full((1, 1, 2, 2), 16)), 2)
    with pytest.raises(RuntimeError, match=r"Found an invalid max index: 9 \(output volumes are of size 3x3\)"):
        rustorch.nn.MaxUnpool2d(2)(x, rustorch.tensor(np.full((1, 1, 2, 2), 9)), output_size=(3, 3))
    pending = rustorch.tensor(np.full((1, 1, 2, 2), 8)) * 2  # not known until the program runs
    with pytest.raises(RuntimeError, match=r"max_unpool2d: Found an invalid max index"):
        RF.max_unpool2d(x, pending, 2).sum().item()
    with pytest.raises(ValueError, match=r'invalid output_size "\(9, 9\)" \(dim 0 must be between 2 and 6\)'):
        rustorch.nn.MaxUnpool2d(2)(x, rustorch.tensor(np.zeros((1, 1, 2, 2), np.int64)), output_size=[9, 9])
    with pytest.raises(ValueError, match=r"expected 2-D or 3-D input"):
        rustorch.nn.MaxUnpool1d(2)(x, x)


def test_max_pool_indices_through_the_layout_pass_match_torch():
    """A conv + MaxPool2d(return_indices) + MaxUnpool2d model: on CPU the pooling runs
    channels-last; values, indices and gradients are torch's."""
    rustorch.manual_seed(0)
    conv = rustorch.nn.Conv2d(2, 3, 3, padding=1)
    t_conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    with torch.no_grad():
        t_conv.weight.copy_(to_torch(np.asarray(conv.weight)))
        t_conv.bias.copy_(to_torch(np.asarray(conv.bias)))
    pool, t_pool = _pair("MaxPool2d", 3, stride=2, padding=1, return_indices=True)
    unpool, t_unpool = _pair("MaxUnpool2d", 3, stride=2, padding=1)
    x = np.random.default_rng(5).standard_normal((2, 2, 7, 7)).astype(np.float32)
    rx, tx = rustorch.tensor(x, requires_grad=True), to_torch(x, True)
    out, indices = pool(rustorch.relu(conv(rx)))
    t_out, t_indices = t_pool(torch.relu(t_conv(tx)))
    back = unpool(out * 2.0, indices, output_size=(7, 7))
    t_back = t_unpool(t_out * 2.0, t_indices, output_size=(7, 7))
    (back.sum() + out.sum()).backward()
    (t_back.sum() + t_out.sum()).backward()
    np.testing.assert_array_equal(np.asarray(indices), t_indices.numpy())
    assert_close(back, t_back)
    assert_close(rx.grad, tx.grad)
    assert_close(conv.weight.grad, t_conv.weight.grad)
