"""CTC loss (rustorch.functional.ctc_loss, F.ctc_loss, nn.CTCLoss) against PyTorch: losses and
gradients for padded and concatenated targets, every reduction, zero_infinity, other blanks,
unbatched input, impossible alignments, under jax.jit, and PyTorch's errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import rustorch
import rustorch.functional as RF
import rustorch.nn as nn
import rustorch.nn.functional as F
from tests.torch_compare import assert_close


def _case(rng, blank=0, feasible=True):
    steps, batch, classes = int(rng.integers(1, 10)), int(rng.integers(1, 4)), int(rng.integers(2, 6))
    longest = int(rng.integers(0, 5))
    x = rng.standard_normal((steps, batch, classes)).astype(np.float32)
    input_lengths = rng.integers(0, steps + 1, batch)
    target_lengths = rng.integers(0, longest + 1, batch)
    if feasible:  # room for every label and a blank between repeats
        input_lengths = np.maximum(input_lengths, np.minimum(2 * target_lengths, steps))
        target_lengths = np.minimum(target_lengths, input_lengths // 2)
    labels = [c for c in range(classes) if c != blank]
    targets = rng.choice(labels, (batch, max(longest, 1)))
    return x, targets, input_lengths, target_lengths


def _torch_loss(x, targets, input_lengths, target_lengths, cotangent=None, log_softmax=True, **kwargs):
    tx = torch.from_numpy(x).requires_grad_()
    log_probs = tx.log_softmax(-1) if log_softmax else tx
    loss = torch.nn.functional.ctc_loss(log_probs, torch.from_numpy(np.asarray(targets)),
                                        torch.from_numpy(np.asarray(input_lengths)),
                                        torch.from_numpy(np.asarray(target_lengths)), **kwargs)
    cot = torch.ones(()) if cotangent is None else torch.from_numpy(cotangent)
    (loss * cot).sum().backward()
    return loss.detach().numpy(), tx.grad.numpy()


def _jax_loss(x, targets, input_lengths, target_lengths, cotangent=None, log_softmax=True, **kwargs):
    def total(x):
        log_probs = jax.nn.log_softmax(x, -1) if log_softmax else x
        loss = RF.ctc_loss(log_probs, targets, input_lengths, target_lengths, **kwargs)
        return jnp.sum(loss * (1.0 if cotangent is None else cotangent)), loss

    (_, loss), grad = jax.jit(jax.value_and_grad(total, has_aux=True))(jnp.asarray(x))
    return np.asarray(loss), np.asarray(grad)


def _concatenated(targets, target_lengths):
    return np.concatenate([row[:n] for row, n in zip(targets, target_lengths)]).astype(np.int64)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("seed", range(4))
def test_ctc_loss_matches_torch(reduction, seed):
    rng = np.random.default_rng(seed)
    blank = int(seed % 2)
    x, targets, input_lengths, target_lengths = _case(rng, blank)
    cot = rng.standard_normal(x.shape[1]).astype(np.float32) if reduction == "none" else None
    kwargs = dict(blank=blank, reduction=reduction)
    t_loss, t_grad = _torch_loss(x, targets, input_lengths, target_lengths, cot, **kwargs)
    for form in (targets, _concatenated(targets, target_lengths)):
        loss, grad = _jax_loss(x, form, input_lengths, target_lengths, cot, **kwargs)
        assert_close(loss, t_loss, rtol=2e-5, err_msg="loss")
        assert_close(grad, t_grad, rtol=2e-5, err_msg="gradient")


@pytest.mark.parametrize("seed", range(3))
def test_ctc_gradient_wrt_log_probs_is_torchs(seed):
    """PyTorch returns ``exp(log_probs) - occupancy`` (the gradient through a log_softmax), not
    the plain derivative; so does rustorch, also for unnormalised inputs."""
    rng = np.random.default_rng(10 + seed)
    x, targets, input_lengths, target_lengths = _case(rng)
    for log_softmax in (True, False):
        t_loss, t_grad = _torch_loss(x, targets, input_lengths, target_lengths, log_softmax=log_softmax,
                                     reduction="sum")
        loss, grad = _jax_loss(x, targets, input_lengths, target_lengths, log_softmax=log_softmax,
                               reduction="sum")
        assert_close(loss, t_loss, rtol=2e-5)
        assert_close(grad, t_grad, rtol=2e-5)


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_ctc_impossible_alignments(zero_infinity, reduction):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 4)).astype(np.float32)
    targets = np.array([[1, 1, 2], [1, 2, 3], [2, 2, 2]])
    input_lengths, target_lengths = np.array([4, 2, 4]), np.array([3, 3, 1])  # row 1 cannot fit
    kwargs = dict(reduction=reduction, zero_infinity=zero_infinity)
    t_loss, t_grad = _torch_loss(x, targets, input_lengths, target_lengths, **kwargs)
    loss, grad = _jax_loss(x, targets, input_lengths, target_lengths, **kwargs)
    np.testing.assert_array_equal(np.isinf(loss), np.isinf(t_loss))
    assert_close(np.where(np.isinf(t_loss), 0, loss), np.where(np.isinf(t_loss), 0, t_loss))
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(t_grad))
    assert_close(np.nan_to_num(grad), np.nan_to_num(t_grad))


def test_ctc_unbatched_and_jit():
    rng = np.random.default_rng(7)
    x, targets, input_lengths, target_lengths = _case(rng)
    il, tl = int(input_lengths[0]), int(target_lengths[0])
    x, targets = x[:, :1], targets[:1, :tl]  # unbatched targets hold exactly target_length entries
    t_loss, t_grad = _torch_loss(x[:, 0], targets[0], il, tl, reduction="none")
    loss, grad = _jax_loss(x[:, 0], targets[0], il, tl, reduction="none")
    assert loss.shape == () and t_loss.shape == ()
    assert_close(loss, t_loss)
    assert_close(grad, t_grad)

    # Under jit the lengths are traced: concatenated targets use len(targets) as the bound.
    x, targets, input_lengths, target_lengths = _case(np.random.default_rng(8))
    flat = _concatenated(targets, target_lengths)
    jitted = jax.jit(lambda lp, t, il, tl: RF.ctc_loss(lp, t, il, tl, reduction="sum"))
    log_probs = jax.nn.log_softmax(jnp.asarray(x), -1)
    expected = RF.ctc_loss(log_probs, flat, input_lengths, target_lengths, reduction="sum")
    assert_close(np.asarray(jitted(log_probs, flat, input_lengths, target_lengths)), np.asarray(expected))
    assert_close(np.asarray(jitted(log_probs, targets, input_lengths, target_lengths)), np.asarray(expected))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_facade_module_and_functional(reduction):
    rng = np.random.default_rng(11)
    x, targets, input_lengths, target_lengths = _case(rng, blank=2)
    tx = torch.from_numpy(x).requires_grad_()
    t_loss = torch.nn.CTCLoss(blank=2, reduction=reduction)(tx.log_softmax(2), torch.from_numpy(targets),
                                                             tuple(input_lengths.tolist()),
                                                             tuple(target_lengths.tolist()))
    t_loss.sum().backward()
    rx = rustorch.tensor(x, requires_grad=True)
    loss = nn.CTCLoss(blank=2, reduction=reduction)(rx.log_softmax(2), rustorch.tensor(targets),
                                                    list(input_lengths.tolist()), list(target_lengths.tolist()))
    loss.sum().backward()
    assert_close(np.asarray(loss.detach()), t_loss.detach())
    assert_close(np.asarray(rx.grad), tx.grad)
    rx.grad = None
    flat = rustorch.tensor(_concatenated(targets, target_lengths))
    loss = F.ctc_loss(rx.log_softmax(2), flat, rustorch.tensor(input_lengths), rustorch.tensor(target_lengths),
                      blank=2, reduction=reduction)
    loss.sum().backward()
    assert_close(np.asarray(loss.detach()), t_loss.detach())
    assert_close(np.asarray(rx.grad), tx.grad)


def test_ctc_errors():
    log_probs = rustorch.randn(5, 2, 4).log_softmax(2)
    targets = rustorch.tensor([[1, 2], [3, 1]])
    with pytest.raises(ValueError, match="input_lengths"):
        F.ctc_loss(log_probs, targets, [6, 5], [2, 2])
    with pytest.raises(ValueError, match="size at least 3"):
        F.ctc_loss(log_probs, targets, [5, 5], [3, 2])
    with pytest.raises(IndexError, match="out of bounds"):
        F.ctc_loss(log_probs, rustorch.tensor([[1, 4], [3, 1]]), [5, 5], [2, 2])
    with pytest.raises(IndexError, match="blank"):
        F.ctc_loss(log_probs, targets, [5, 5], [2, 2], blank=4)
    with pytest.raises(ValueError, match="sum to"):
        F.ctc_loss(log_probs, rustorch.tensor([1, 2, 3]), [5, 5], [2, 2])
    with pytest.raises(ValueError, match="one length per sample"):
        F.ctc_loss(log_probs, targets, [5], [2])
    with pytest.raises(ValueError, match="reduction"):
        nn.CTCLoss(reduction="avg")
