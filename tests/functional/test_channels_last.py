"""The ops with ``layout="NHWC"`` equal their NCHW form on the transposed input:
values, gradients, buffers, dropout masks and errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from torch_compare import assert_close

import rustorch.functional as F


def _nhwc(x):
    return jnp.transpose(x, (0, 2, 3, 1))


def _nchw(x):
    return jnp.transpose(x, (0, 3, 1, 2))


def _random(rng, shape):
    return jnp.asarray(rng.standard_normal(shape).astype(np.float32))


def _check_same_values_and_grads(nchw_fn, nhwc_fn, x, *params):
    """``nhwc_fn`` on the transposed input gives the transposed output, and the gradients of a
    random projection of it with respect to the input and the parameters agree."""
    cot = _random(np.random.default_rng(99), nchw_fn(x, *params).shape)

    def loss_nchw(x, *params):
        return jnp.vdot(nchw_fn(x, *params), cot)

    def loss_nhwc(x, *params):
        return jnp.vdot(_nchw(nhwc_fn(_nhwc(x), *params)), cot)

    argnums = tuple(range(1 + len(params)))
    expected = jax.jit(jax.value_and_grad(loss_nchw, argnums))(x, *params)
    got = jax.jit(jax.value_and_grad(loss_nhwc, argnums))(x, *params)
    assert_close(_nchw(nhwc_fn(_nhwc(x), *params)), nchw_fn(x, *params))
    assert_close(got[0], expected[0])
    for g, e in zip(got[1], expected[1]):
        assert_close(g, e)


@pytest.mark.parametrize(
    "c_in, kwargs",
    [
        (1, dict(padding=1)),
        (3, dict(stride=2, padding=(0, 2), dilation=(1, 2))),
        (16, dict(padding="same")),
        (4, dict(groups=2, padding="valid")),
    ],
)
def test_conv2d_channels_last(c_in, kwargs):
    rng = np.random.default_rng(c_in)
    x = _random(rng, (3, c_in, 9, 8))
    w = _random(rng, (6, c_in // kwargs.get("groups", 1), 3, 3))
    b = _random(rng, (6,))
    _check_same_values_and_grads(
        lambda x, w, b: F.conv2d(x, w, b, **kwargs),
        lambda x, w, b: F.conv2d(x, w, b, **kwargs, layout="NHWC"),
        x, w, b,
    )


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(2, 3), ceil_mode=True)],
)
def test_max_pool2d_channels_last(kwargs):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.integers(0, 4, size=(2, 3, 9, 8)).astype(np.float32))  # ties
    _check_same_values_and_grads(
        lambda x: F.max_pool2d(x, **kwargs), lambda x: F.max_pool2d(x, **kwargs, layout="NHWC"), x
    )


@pytest.mark.parametrize("training, momentum", [(True, 0.1), (True, None), (False, 0.1)])
def test_batch_norm_channels_last(training, momentum):
    rng = np.random.default_rng(2)
    x = _random(rng, (4, 5, 6, 7))
    w, b = _random(rng, (5,)), _random(rng, (5,))
    state = F.BatchNormState(_random(rng, (5,)), jnp.abs(_random(rng, (5,))) + 0.5, jnp.asarray(3, jnp.int32))
    kwargs = dict(training=training, momentum=momentum)
    _check_same_values_and_grads(
        lambda x, w, b: F.batch_norm(x, w, b, state, **kwargs)[0],
        lambda x, w, b: F.batch_norm(x, w, b, state, **kwargs, layout="NHWC")[0],
        x, w, b,
    )
    _, expected = F.batch_norm(x, w, b, state, **kwargs)
    _, got = F.batch_norm(_nhwc(x), w, b, state, **kwargs, layout="NHWC")
    for g, e in zip(got, expected):
        assert_close(g, e)


def test_dropout_channels_last_draws_the_same_mask():
    rng = np.random.default_rng(3)
    x = _random(rng, (3, 4, 5, 6))
    key = jax.random.key(4)
    np.testing.assert_array_equal(
        _nchw(F.dropout(_nhwc(x), 0.3, key=key, layout="NHWC")), F.dropout(x, 0.3, key=key)
    )
    flat = _random(rng, (7, 9))  # no spatial axes: channels last is the NCHW layout
    np.testing.assert_array_equal(F.dropout(flat, 0.3, key=key, layout="NHWC"), F.dropout(flat, 0.3, key=key))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: F.conv2d(jnp.ones((2, 5, 5, 3)), jnp.ones((4, 2, 3, 3)), layout="NHWC"),
         r"to have 2 channels.*got 3 channels"),
        (lambda: F.conv2d(jnp.ones((5, 5, 3)), jnp.ones((4, 3, 3, 3)), layout="NHWC"), r"\[N, H, W, C\]"),
        (lambda: F.max_pool2d(jnp.ones((2, 3, 3, 4)), 5, layout="NHWC"), "too small"),
        (lambda: F.batch_norm(jnp.ones((2, 3, 3, 4)), jnp.ones(3), None, None, training=True, layout="NHWC"),
         r"4 elements \(one per channel, dim 3"),
    ],
)
def test_channels_last_errors_name_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "op, call",
    [
        ("conv2d", lambda: F.conv2d(jnp.ones((1, 2, 4, 4)), jnp.ones((3, 2, 3, 3)), layout="NWHC")),
        ("max_pool2d", lambda: F.max_pool2d(jnp.ones((1, 2, 4, 4)), 2, layout="channels_last")),
        ("avg_pool2d", lambda: F.avg_pool2d(jnp.ones((1, 2, 4, 4)), 2, layout="nhwc")),
        ("adaptive_avg_pool2d", lambda: F.adaptive_avg_pool2d(jnp.ones((1, 2, 4, 4)), 2, layout=None)),
        ("batch_norm", lambda: F.batch_norm(jnp.ones((2, 3, 4)), None, None, None, training=True, layout="NCL")),
        ("dropout", lambda: F.dropout(jnp.ones((2, 3)), 0.5, key=None, training=False, layout="NHCW")),
    ],
)
def test_an_unknown_layout_is_refused(op, call):
    with pytest.raises(ValueError, match=rf"^{op}: layout must be 'NCHW' .* or 'NHWC' .*, got"):
        call()


@pytest.mark.parametrize("op", ["avg_pool2d", "adaptive_avg_pool2d"])
def test_channels_last_pooling_needs_a_batch(op):
    args = (2,) if op == "avg_pool2d" else ((2, 2),)
    with pytest.raises(ValueError, match=rf"{op}: expected input to be 4-D \(\[N, H, W, C\]"):
        getattr(F, op)(jnp.ones((4, 4, 3)), *args, layout="NHWC")
