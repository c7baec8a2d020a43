"""Every facade layer and loss against its torch.nn twin, with rustorch's weights copied over.

For each random configuration: the output, the input gradient and every parameter gradient
(from the same random cotangent), and for BatchNorm the running statistics over several
training steps and the eval output afterwards. Dropout is tested statistically (the random
streams differ) and exactly on its deterministic parts. Bad inputs must raise errors that name
the layer, the expected shape and the given one.
"""
import re

import numpy as np
import pytest
import torch

import rustorch
import rustorch.nn.functional as RF
from tests.facade.facade_utils import (
    assert_buffers,
    assert_param_grads,
    copy_weights,
    forward_backward,
)
from tests.torch_compare import assert_close, to_torch


def _normal(rng, shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _check_layer(rt_layer, th_layer, x_np, rng, *extra):
    copy_weights(rt_layer, th_layer)
    forward_backward(rt_layer, th_layer, x_np, rng, *extra)
    assert_param_grads(rt_layer, th_layer)


# ----------------------------------------------------------------------------- conv / linear

def _conv_config(rng):
    groups = int(rng.choice([1, 1, 2]))
    in_ch = groups * int(rng.integers(1, 3))
    out_ch = groups * int(rng.integers(1, 4))
    kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    kernel = kernel[0] if rng.random() < 0.5 else kernel
    stride = int(rng.integers(1, 3)) if rng.random() < 0.7 else (1, 2)
    dilation = int(rng.integers(1, 3))
    padding_mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
    choice = rng.random()
    if choice < 0.15 and padding_mode == "zeros":
        padding = "valid"
    elif choice < 0.3 and padding_mode == "zeros":
        padding, stride = "same", 1
    elif choice < 0.6:
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 2)))
    else:
        padding = int(rng.integers(0, 3))
    return dict(in_channels=in_ch, out_channels=out_ch, kernel_size=kernel, stride=stride, padding=padding,
                dilation=dilation, groups=groups, bias=bool(rng.random() < 0.7), padding_mode=padding_mode)


@pytest.mark.parametrize("seed", range(7))
def test_conv2d_matches_torch(seed):
    rng = np.random.default_rng(seed)
    config = _conv_config(rng)
    rt_conv = rustorch.nn.Conv2d(**config)
    th_conv = torch.nn.Conv2d(**config)
    assert rt_conv.weight.shape == tuple(th_conv.weight.shape)
    unbatched = seed == 4
    shape = (config["in_channels"], 7, 8) if unbatched else (3, config["in_channels"], 7, 8)
    _check_layer(rt_conv, th_conv, _normal(rng, shape), rng)


def test_conv2d_and_linear_initialise_in_torch_range():
    # kaiming_uniform(a=sqrt(5)) and the bias rule both give U(±1/sqrt(fan_in)).
    rustorch.manual_seed(3)
    conv = rustorch.Conv2d(4, 64, kernel_size=3, groups=2)
    bound = 1 / np.sqrt(2 * 9)
    for value in (np.asarray(conv.weight), np.asarray(conv.bias)):
        assert np.abs(value).max() <= bound
        assert np.abs(value).max() > 0.9 * bound  # spread over the whole range, not squeezed
    linear = rustorch.Linear(50, 200)
    assert np.abs(np.asarray(linear.weight)).max() <= 1 / np.sqrt(50)
    assert np.abs(np.asarray(linear.weight)).max() > 0.9 / np.sqrt(50)
    assert abs(float(np.asarray(linear.weight).std()) - 1 / np.sqrt(50) / np.sqrt(3)) < 0.01


@pytest.mark.parametrize("seed", range(3))
def test_linear_matches_torch(seed):
    rng = np.random.default_rng(100 + seed)
    in_f, out_f = int(rng.integers(1, 7)), int(rng.integers(1, 6))
    bias = seed != 2
    rt_lin, th_lin = rustorch.nn.Linear(in_f, out_f, bias=bias), torch.nn.Linear(in_f, out_f, bias=bias)
    shape = [(in_f,), (4, in_f), (2, 3, in_f)][seed % 3]
    _check_layer(rt_lin, th_lin, _normal(rng, shape), rng)
    assert (rt_lin.bias is None) == (not bias)


# --------------------------------------------------------------------------------- batch norm

def _bn_case(seed):
    rng = np.random.default_rng(200 + seed)
    kind = ["1d2", "1d3", "2d"][seed % 3]
    momentum = [0.1, float(rng.uniform(0.01, 0.9)), None][seed // 2]
    affine = seed != 3
    return rng, kind, momentum, affine


@pytest.mark.parametrize("seed", range(6))
def test_batch_norm_training_steps_buffers_and_eval(seed):
    rng, kind, momentum, affine = _bn_case(seed)
    channels = int(rng.integers(2, 5))
    eps = float(rng.choice([1e-5, 1e-3]))
    rt_cls, th_cls = (rustorch.nn.BatchNorm2d, torch.nn.BatchNorm2d) if kind == "2d" else (
        rustorch.nn.BatchNorm1d, torch.nn.BatchNorm1d)
    rt_bn = rt_cls(channels, eps=eps, momentum=momentum, affine=affine)
    th_bn = th_cls(channels, eps=eps, momentum=momentum, affine=affine)
    if affine:
        # Non-trivial affine parameters, so their gradients and effect are tested.
        rt_bn.weight.data = _normal(rng, (channels,)) + 1.0
        rt_bn.bias.data = _normal(rng, (channels,))
    copy_weights(rt_bn, th_bn)
    shape = {"1d2": (6, channels), "1d3": (4, channels, 5), "2d": (3, channels, 4, 3)}[kind]
    for step in range(3):
        for p, tp in zip(rt_bn.parameters(), th_bn.parameters()):
            p.grad, tp.grad = None, None
        # Shifted, scaled data so the running statistics move visibly.
        x_np = _normal(rng, shape, scale=2.0) + 0.5 * step
        forward_backward(rt_bn, th_bn, x_np, rng)
        assert_param_grads(rt_bn, th_bn)
        assert_buffers(rt_bn, th_bn)
        assert int(rt_bn.num_batches_tracked) == step + 1
    rt_bn.eval()
    th_bn.eval()
    forward_backward(rt_bn, th_bn, _normal(rng, shape), rng)
    assert_buffers(rt_bn, th_bn)
    assert int(rt_bn.num_batches_tracked) == 3  # eval leaves the statistics alone


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_running_stats_uses_batch_statistics(training):
    rng = np.random.default_rng(7)
    rt_bn = rustorch.nn.BatchNorm2d(3, track_running_stats=False)
    th_bn = torch.nn.BatchNorm2d(3, track_running_stats=False)
    assert rt_bn.running_mean is None and list(rt_bn.buffers()) == []
    rt_bn.train(training)
    th_bn.train(training)
    _check_layer(rt_bn, th_bn, _normal(rng, (4, 3, 2, 2)), rng)


def test_batch_norm_functional_updates_running_stats_in_place():
    rng = np.random.default_rng(8)
    x_np = _normal(rng, (5, 3))
    w_np, b_np = _normal(rng, (3,)), _normal(rng, (3,))
    mean, var = rustorch.zeros(3), rustorch.ones(3)
    t_mean, t_var = torch.zeros(3), torch.ones(3)
    x = rustorch.tensor(x_np, requires_grad=True)
    tx = to_torch(x_np, requires_grad=True)
    y = RF.batch_norm(x, mean, var, rustorch.tensor(w_np), rustorch.tensor(b_np), training=True, momentum=0.3)
    ty = torch.nn.functional.batch_norm(tx, t_mean, t_var, to_torch(w_np), to_torch(b_np), training=True,
                                        momentum=0.3)
    cotangent = _normal(rng, (5, 3))  # (y * y).sum() would have a zero gradient through BatchNorm
    (y * cotangent).sum().backward()
    (ty * to_torch(cotangent)).sum().backward()
    assert_close(np.asarray(y), ty)
    assert_close(np.asarray(x.grad), tx.grad)
    assert_close(np.asarray(mean), t_mean)
    assert_close(np.asarray(var), t_var)
    y_eval = RF.batch_norm(rustorch.tensor(x_np), mean, var, training=False)
    assert_close(np.asarray(y_eval), torch.nn.functional.batch_norm(to_torch(x_np), t_mean, t_var))


# ------------------------------------------------------------------------------------ dropout

@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_train_zeros_about_p_and_scales_kept_units(p):
    rng = np.random.default_rng(int(p * 10))
    x_np = _normal(rng, (100, 120)) + 3.0  # no exact zeros in the input
    layer = rustorch.nn.Dropout(p)
    x = rustorch.tensor(x_np, requires_grad=True)
    out = layer(x)
    out.sum().backward()
    out_np = np.asarray(out)
    kept = out_np != 0
    n = x_np.size
    # Binomial(n, 1-p): 5 standard deviations is a false-alarm rate of ~1e-6.
    assert abs(kept.sum() - n * (1 - p)) < 5 * np.sqrt(n * p * (1 - p))
    # torch computes input * (mask / (1 - p)) in float32.
    scale = (torch.ones(()) / (1 - p)).item()
    expected = (to_torch(x_np) * to_torch(kept.astype(np.float32) * np.float32(scale))).numpy()
    np.testing.assert_array_equal(out_np, expected)
    np.testing.assert_array_equal(np.asarray(x.grad), kept.astype(np.float32) * np.float32(scale))


def test_dropout_eval_is_identity_and_special_p():
    rng = np.random.default_rng(11)
    x_np = _normal(rng, (4, 5))
    layer = rustorch.nn.Dropout(0.5).eval()
    x = rustorch.tensor(x_np, requires_grad=True)
    out = layer(x)
    np.testing.assert_array_equal(np.asarray(out), x_np)
    out.sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), np.ones_like(x_np))
    np.testing.assert_array_equal(np.asarray(rustorch.nn.Dropout(0.0)(rustorch.tensor(x_np))), x_np)
    zeros = rustorch.nn.Dropout(1.0)(rustorch.tensor(x_np))
    np.testing.assert_array_equal(np.asarray(zeros), torch.nn.Dropout(1.0)(to_torch(x_np)).numpy())
    np.testing.assert_array_equal(np.asarray(RF.dropout(rustorch.tensor(x_np), 0.3, training=False)), x_np)


# ------------------------------------------------------------------------------------ pooling

@pytest.mark.parametrize("seed", range(6))
def test_max_pool2d_matches_torch(seed):
    rng = np.random.default_rng(300 + seed)
    kernel = int(rng.integers(1, 4)) if seed % 2 else (int(rng.integers(1, 4)), int(rng.integers(2, 4)))
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    stride = [None, 1, 2, (1, 2)][seed % 4]
    padding = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
    padding = padding[0] if seed % 3 == 0 else padding
    dilation = int(rng.integers(1, 3))
    ceil_mode = bool(seed % 2)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    shape = (2, 3, 7, 8) if seed != 5 else (3, 9, 6)  # seed 5: unbatched
    _check_layer(rustorch.nn.MaxPool2d(**args), torch.nn.MaxPool2d(**args), _normal(rng, shape), rng)


@pytest.mark.parametrize("seed", range(4))
def test_avg_pool2d_matches_torch(seed):
    rng = np.random.default_rng(400 + seed)
    kernel = int(rng.integers(1, 4)) if seed % 2 else (int(rng.integers(2, 4)), int(rng.integers(1, 4)))
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
    args = dict(kernel_size=kernel, stride=[None, 1, 2][seed % 3], padding=padding, ceil_mode=bool(seed % 2),
                count_include_pad=seed % 4 < 2, divisor_override=[None, None, 3][seed % 3])
    _check_layer(rustorch.nn.AvgPool2d(**args), torch.nn.AvgPool2d(**args), _normal(rng, (2, 2, 7, 6)), rng)


@pytest.mark.parametrize("output_size", [1, (2, 4), (5, 3)])
def test_adaptive_avg_pool2d_matches_torch(output_size):
    rng = np.random.default_rng(17)
    _check_layer(rustorch.nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size),
                 _normal(rng, (2, 3, 7, 5)), rng)


# ------------------------------------------------------------------------ shape layers

@pytest.mark.parametrize("start_dim,end_dim", [(1, -1), (0, -1), (1, 2), (-3, -2), (2, 2)])
def test_flatten_matches_torch(start_dim, end_dim):
    rng = np.random.default_rng(start_dim + 10 * end_dim + 50)
    _check_layer(rustorch.nn.Flatten(start_dim, end_dim), torch.nn.Flatten(start_dim, end_dim),
                 _normal(rng, (2, 3, 4, 5)), rng)


def test_unflatten_and_identity_match_torch():
    rng = np.random.default_rng(18)
    _check_layer(rustorch.nn.Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4)), _normal(rng, (2, 12, 5)), rng)
    _check_layer(rustorch.nn.Unflatten(-1, (2, 3)), torch.nn.Unflatten(-1, (2, 3)), _normal(rng, (2, 6)), rng)
    _check_layer(rustorch.nn.Identity(), torch.nn.Identity(), _normal(rng, (3, 4)), rng)


# ------------------------------------------------------------------------------ activations

ACTIVATIONS = [
    ("ReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.2}),
    ("LeakyReLU", {}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("ELU", {"alpha": 0.7}),
    ("SiLU", {}),
    ("Softplus", {}),
    ("Softplus", {"beta": 2.0, "threshold": 3.0}),
    ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    ("Softmax", {"dim": 1}),
    ("Softmax", {"dim": -1}),
    ("LogSoftmax", {"dim": 0}),
    ("LogSoftmax", {"dim": -2}),
]


@pytest.mark.parametrize("name,kwargs", ACTIVATIONS)
def test_activation_matches_torch(name, kwargs):
    rng = np.random.default_rng(len(name) + 7 * len(kwargs))
    x_np = _normal(rng, (3, 4, 5), scale=3.0)
    # Kinks and boundaries, where the gradient convention matters.
    x_np.flat[:6] = [0.0, -1.0, 1.0, -0.5, 2.0, 1.5]
    _check_layer(getattr(rustorch.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs), x_np, rng)


@pytest.mark.parametrize("name,kwargs", [("relu", {}), ("leaky_relu", {"negative_slope": 0.3}), ("gelu", {}),
                                         ("sigmoid", {}), ("tanh", {}), ("elu", {"alpha": 1.5}), ("silu", {}),
                                         ("softplus", {"beta": 0.5}), ("hardtanh", {}), ("softmax", {"dim": 1}),
                                         ("log_softmax", {"dim": -1})])
def test_functional_activation_matches_torch(name, kwargs):
    rng = np.random.default_rng(len(name))
    x_np = _normal(rng, (4, 6), scale=2.0)
    x_np[0, :3] = 0.0
    forward_backward(lambda x: getattr(RF, name)(x, **kwargs),
                     lambda x: getattr(torch.nn.functional, name)(x, **kwargs), x_np, rng)


def test_functional_conv_linear_pool_match_torch():
    rng = np.random.default_rng(19)
    x_np = _normal(rng, (2, 4, 6, 6))
    w_np, b_np = _normal(rng, (6, 2, 3, 3)), _normal(rng, (6,))
    lw_np, lb_np = _normal(rng, (3, 24)), _normal(rng, (3,))

    def rt(x):
        y = RF.conv2d(x, rustorch.tensor(w_np), rustorch.tensor(b_np), stride=2, padding=1, groups=2)
        y = RF.avg_pool2d(RF.max_pool2d(y, 2, stride=1, padding=1), 2)
        y = RF.adaptive_avg_pool2d(y, (2, 2))
        return RF.linear(RF.flatten(y, 1), rustorch.tensor(lw_np), rustorch.tensor(lb_np))

    def th(x):
        f = torch.nn.functional
        y = f.conv2d(x, to_torch(w_np), to_torch(b_np), stride=2, padding=1, groups=2)
        y = f.avg_pool2d(f.max_pool2d(y, 2, stride=1, padding=1), 2)
        y = f.adaptive_avg_pool2d(y, (2, 2))
        return f.linear(torch.flatten(y, 1), to_torch(lw_np), to_torch(lb_np))

    forward_backward(rt, th, x_np, rng)


# ------------------------------------------------------------------------------------ losses

def _loss_check(rt_loss, th_loss, input_np, target_np, rng):
    copy_weights(rt_loss, th_loss)
    forward_backward(rt_loss, th_loss, input_np, rng, target_np)


@pytest.mark.parametrize("seed", range(7))
def test_cross_entropy_with_class_indices_matches_torch(seed):
    rng = np.random.default_rng(500 + seed)
    classes = int(rng.integers(2, 6))
    shape = [(6, classes), (3, classes, 2, 3), (classes,)][seed % 3]
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, classes, target_shape).astype(np.int64)
    ignore_index = -100
    if seed % 2 and target.ndim:
        ignore_index = int(rng.choice([-1, 1]))
        target.flat[0] = ignore_index  # at least one ignored target
    weight = _normal(rng, (classes,)) ** 2 + 0.1 if seed % 4 < 2 else None
    kwargs = dict(weight=None if weight is None else rustorch.tensor(weight), ignore_index=ignore_index,
                  reduction=["mean", "sum", "none"][(seed + seed // 3) % 3],
                  label_smoothing=[0.0, 0.1, float(rng.uniform(0, 0.9))][(seed // 2) % 3])
    th_kwargs = dict(kwargs, weight=None if weight is None else to_torch(weight))
    _loss_check(rustorch.nn.CrossEntropyLoss(**kwargs), torch.nn.CrossEntropyLoss(**th_kwargs),
                _normal(rng, shape, scale=2.0), target, rng)


@pytest.mark.parametrize("seed", range(4))
def test_cross_entropy_with_probability_targets_matches_torch(seed):
    rng = np.random.default_rng(600 + seed)
    classes = int(rng.integers(2, 6))
    shape = [(5, classes), (2, classes, 3)][seed % 2]
    if seed < 3:  # one-hot rows, as the plan feeds them
        labels = rng.integers(0, classes, (shape[0],) + shape[2:])
        target = np.moveaxis(np.eye(classes, dtype=np.float32)[labels], -1, 1)
    else:
        logits = _normal(rng, shape)
        target = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    weight = _normal(rng, (classes,)) ** 2 + 0.1 if seed % 3 == 1 else None
    kwargs = dict(weight=None if weight is None else rustorch.tensor(weight),
                  reduction=["mean", "sum", "none"][seed % 3], label_smoothing=[0.0, 0.2][seed % 2])
    th_kwargs = dict(kwargs, weight=None if weight is None else to_torch(weight))
    _loss_check(rustorch.nn.CrossEntropyLoss(**kwargs), torch.nn.CrossEntropyLoss(**th_kwargs),
                _normal(rng, shape, scale=2.0), target, rng)


@pytest.mark.parametrize("seed", range(4))
def test_nll_loss_matches_torch(seed):
    rng = np.random.default_rng(700 + seed)
    classes = 4
    shape = [(5, classes), (2, classes, 3)][seed % 2]
    target = rng.integers(0, classes, (shape[0],) + shape[2:]).astype(np.int64)
    target.flat[1] = 2
    weight = _normal(rng, (classes,)) ** 2 + 0.1 if seed < 2 else None
    kwargs = dict(ignore_index=2 if seed % 2 else -100, reduction=["mean", "sum", "none", "mean"][seed])
    rt = rustorch.nn.NLLLoss(weight=None if weight is None else rustorch.tensor(weight), **kwargs)
    th = torch.nn.NLLLoss(weight=None if weight is None else to_torch(weight), **kwargs)
    _loss_check(rt, th, _normal(rng, shape), target, rng)


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_match_torch(name, reduction):
    rng = np.random.default_rng(len(name) + len(reduction))
    x_np = _normal(rng, (3, 4))
    target = _normal(rng, (3, 4))
    target[0, 0] = x_np[0, 0]  # a zero difference: L1's subgradient convention is sign(0) = 0
    rt, th = getattr(rustorch.nn, name)(reduction=reduction), getattr(torch.nn, name)(reduction=reduction)
    _loss_check(rt, th, x_np, target, rng)
    # The target is differentiable too.
    t = rustorch.tensor(target, requires_grad=True)
    tt = to_torch(target, requires_grad=True)
    rt(rustorch.tensor(x_np), t).sum().backward()
    th(to_torch(x_np), tt).sum().backward()
    assert_close(np.asarray(t.grad), tt.grad)


@pytest.mark.parametrize("seed", range(4))
def test_bce_with_logits_matches_torch(seed):
    rng = np.random.default_rng(800 + seed)
    x_np = _normal(rng, (4, 3), scale=3.0)
    target = rng.random((4, 3)).astype(np.float32)
    weight = _normal(rng, (3,)) ** 2 if seed % 2 else None
    pos_weight = _normal(rng, (3,)) ** 2 + 0.5 if seed >= 2 else None
    reduction = ["mean", "sum", "none", "mean"][seed]

    def opt(value, convert):
        return None if value is None else convert(value)

    rt = rustorch.nn.BCEWithLogitsLoss(weight=opt(weight, rustorch.tensor), reduction=reduction,
                                       pos_weight=opt(pos_weight, rustorch.tensor))
    th = torch.nn.BCEWithLogitsLoss(weight=opt(weight, to_torch), reduction=reduction,
                                    pos_weight=opt(pos_weight, to_torch))
    _loss_check(rt, th, x_np, target, rng)


def test_functional_losses_match_torch():
    rng = np.random.default_rng(21)
    x_np = _normal(rng, (5, 4))
    labels = rng.integers(0, 4, (5,)).astype(np.int64)
    soft = rng.random((5, 4)).astype(np.float32)
    pairs = [
        (lambda x: RF.cross_entropy(x, rustorch.tensor(labels), label_smoothing=0.1),
         lambda x: torch.nn.functional.cross_entropy(x, to_torch(labels), label_smoothing=0.1)),
        (lambda x: RF.nll_loss(RF.log_softmax(x, dim=1), rustorch.tensor(labels), reduction="sum"),
         lambda x: torch.nn.functional.nll_loss(torch.log_softmax(x, 1), to_torch(labels), reduction="sum")),
        (lambda x: RF.mse_loss(x, rustorch.tensor(soft)), lambda x: torch.nn.functional.mse_loss(x, to_torch(soft))),
        (lambda x: RF.l1_loss(x, rustorch.tensor(soft)), lambda x: torch.nn.functional.l1_loss(x, to_torch(soft))),
        (lambda x: RF.binary_cross_entropy_with_logits(x, rustorch.tensor(soft)),
         lambda x: torch.nn.functional.binary_cross_entropy_with_logits(x, to_torch(soft))),
    ]
    for rt, th in pairs:
        forward_backward(rt, th, x_np, rng)


# ------------------------------------------------------------------------------------ reprs

@pytest.mark.parametrize("make", [
    lambda nn: nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=2, groups=2, bias=False, padding_mode="reflect"),
    lambda nn: nn.Conv2d(1, 32, kernel_size=3, padding=1),
    lambda nn: nn.Linear(3, 4, bias=False),
    lambda nn: nn.MaxPool2d(kernel_size=2),
    lambda nn: nn.AvgPool2d(3, stride=1, padding=1),
    lambda nn: nn.AdaptiveAvgPool2d((2, 3)),
    lambda nn: nn.Dropout(0.25),
    lambda nn: nn.Flatten(),
    lambda nn: nn.Unflatten(1, (2, 3)),
    lambda nn: nn.ReLU(),
    lambda nn: nn.LeakyReLU(0.2),
    lambda nn: nn.GELU(approximate="tanh"),
    lambda nn: nn.Softmax(dim=1),
    lambda nn: nn.CrossEntropyLoss(),
])
def test_layer_repr_equals_torch(make):
    assert repr(make(rustorch.nn)) == repr(make(torch.nn))


def test_batch_norm_repr_resembles_torch():
    text = repr(rustorch.nn.BatchNorm1d(3, momentum=None, affine=False))
    # torch 2.13 also prints its new ``bias`` flag; everything else must read the same.
    expected = repr(torch.nn.BatchNorm1d(3, momentum=None, affine=False)).replace(", bias=False", "")
    assert text == expected


# ------------------------------------------------------------------------------------ errors

def _zeros(*shape):
    return rustorch.tensor(np.zeros(shape, np.float32))


def _raises(exc, *fragments):
    """pytest.raises matching the fragments in order (the layer, the expectation, the input)."""
    pattern = ".*".join(re.escape(f) for f in fragments)
    return pytest.raises(exc, match=pattern)


def test_conv2d_rejects_wrong_rank_and_channels():
    conv = rustorch.nn.Conv2d(3, 8, kernel_size=3)
    with _raises(ValueError, "Conv2d(3, 8", "4-D", "(5, 3)"):
        conv(_zeros(5, 3))
    with _raises(ValueError, "Conv2d(3, 8", "3 channels", "(2, 4, 6, 6)"):
        conv(_zeros(2, 4, 6, 6))
    with pytest.raises(ValueError, match="divisible by groups"):
        rustorch.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        rustorch.nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        rustorch.nn.Conv2d(3, 4, 3, stride=2, padding="same")


def test_batch_norm_and_linear_reject_wrong_shapes():
    bn2 = rustorch.nn.BatchNorm2d(4)
    with _raises(ValueError, "BatchNorm2d(4", "4-D", "3-D", "(2, 4, 5)"):
        bn2(_zeros(2, 4, 5))
    with _raises(ValueError, "BatchNorm2d(4", "4 channels", "(2, 3, 5, 5)"):
        bn2(_zeros(2, 3, 5, 5))
    bn1 = rustorch.nn.BatchNorm1d(6)
    with _raises(ValueError, "BatchNorm1d(6", "2-D or 3-D", "(2, 6, 1, 1)"):
        bn1(_zeros(2, 6, 1, 1))
    with _raises(ValueError, "BatchNorm1d(6", "6 channels", "(3, 5)"):
        bn1(_zeros(3, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn1(_zeros(1, 6))
    linear = rustorch.nn.Linear(5, 2)
    with _raises(ValueError, "Linear(in_features=5", "5 features", "(3, 4)"):
        linear(_zeros(3, 4))
    with pytest.raises(TypeError, match="rustorch tensor"):
        linear(np.zeros((3, 5), np.float32))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_probability(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        rustorch.nn.Dropout(p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        RF.dropout(_zeros(3), p)


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss"])
def test_losses_reject_unknown_reduction(name):
    with pytest.raises(ValueError, match=f"{name}.*reduction.*'avg'"):
        getattr(rustorch.nn, name)(reduction="avg")


def test_functional_losses_reject_unknown_reduction():
    with pytest.raises(ValueError, match="mse_loss.*reduction.*'avg'"):
        RF.mse_loss(_zeros(2), _zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="cross_entropy.*reduction.*'avg'"):
        RF.cross_entropy(_zeros(2, 3), rustorch.tensor([0, 1]), reduction="avg")


def test_cross_entropy_rejects_mismatched_targets():
    loss = rustorch.nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="cross_entropy"):
        loss(_zeros(4, 3), rustorch.tensor(np.zeros((5,), np.int32)))
    with pytest.raises(ValueError, match="ignore_index"):
        rustorch.nn.CrossEntropyLoss(ignore_index=1)(_zeros(4, 3), _zeros(4, 3))
