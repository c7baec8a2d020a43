"""Errors PyTorch raises, rustorch raises: at the user's line when the value is known on the
host, else at the next evaluation, naming the op. Never a silently clamped index or a NaN."""
import numpy as np
import pytest
import torch

import rustorch
from rustorch import nn


def _both(fn):
    """Run ``fn(T)`` for torch and rustorch; both must raise the same exception type."""
    errors = []
    for T in (torch, rustorch):
        with pytest.raises(Exception) as info:
            fn(T)
        errors.append(info.type)
    assert errors[0] is errors[1] or issubclass(errors[1], errors[0]), errors
    return errors[1]


def test_int_index_out_of_range_raises_index_error():
    assert _both(lambda T: T.tensor([1.0, 2.0, 3.0])[10]) is IndexError
    assert _both(lambda T: T.tensor([1.0, 2.0, 3.0])[-4]) is IndexError
    assert _both(lambda T: T.zeros(2, 3)[0, 3]) is IndexError
    assert _both(lambda T: T.zeros(2, 3)[0, 0, 0]) is IndexError
    with pytest.raises(IndexError, match="index 10 is out of bounds for dimension 0 with size 3"):
        rustorch.tensor([1.0, 2.0, 3.0])[10]


def test_setitem_out_of_range_raises_index_error():
    def assign(T):
        y = T.zeros(3)
        y[5] = 1.0

    assert _both(assign) is IndexError


def test_concrete_index_tensor_out_of_range_raises_at_the_line():
    def gather(T):
        return T.tensor([1.0, 2.0, 3.0])[T.tensor([0, 3])]

    def scatter(T):
        y = T.zeros(3)
        y[T.tensor([1, -4])] = 2.0

    assert _both(gather) is IndexError
    assert _both(scatter) is IndexError
    with pytest.raises(IndexError, match="index 3 is out of bounds"):
        gather(rustorch)


def test_negative_index_tensors_wrap_as_torch():
    data = np.arange(5, dtype=np.float32)
    got = rustorch.tensor(data)[rustorch.tensor([-1, 0, -5])]
    np.testing.assert_array_equal(np.asarray(got), torch.tensor(data)[torch.tensor([-1, 0, -5])].numpy())


def test_computed_index_tensor_out_of_range_raises_at_the_next_evaluation():
    x = rustorch.tensor([1.0, 2.0, 3.0])
    index = rustorch.tensor([1, 2]) + 2  # pending: values known only when the program runs
    gathered = x[index]
    with pytest.raises(IndexError, match="index: an index tensor holds a value out of bounds for dimension 0 with size 3"):
        gathered.sum().item()
    ok = x[rustorch.tensor([0, 1]) + 1]
    np.testing.assert_array_equal(np.asarray(ok), [2.0, 3.0])  # the failed check is reported once


@pytest.mark.parametrize("bad", [10, -1])
def test_cross_entropy_target_out_of_range_raises_index_error(rng, bad):
    logits = rng.standard_normal((4, 10), dtype=np.float32)
    target = np.array([1, bad, 3, 0])
    with pytest.raises(IndexError):
        torch.nn.CrossEntropyLoss()(torch.from_numpy(logits), torch.from_numpy(target))
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
        nn.CrossEntropyLoss()(rustorch.tensor(logits), rustorch.tensor(target))
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
        nn.NLLLoss()(rustorch.tensor(logits), rustorch.tensor(target))


def test_ignore_index_is_not_an_error(rng):
    logits = rng.standard_normal((3, 4), dtype=np.float32)
    target = np.array([1, -100, 3])
    got = nn.CrossEntropyLoss()(rustorch.tensor(logits), rustorch.tensor(target)).item()
    expected = torch.nn.CrossEntropyLoss()(torch.from_numpy(logits), torch.from_numpy(target)).item()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_computed_target_out_of_range_raises_at_backward_naming_the_loss(rng):
    layer = nn.Linear(3, 4)
    logits = layer(rustorch.tensor(rng.standard_normal((2, 3), dtype=np.float32)))
    target = rustorch.tensor([1, 3]) + 1  # pending: 4 is out of range for 4 classes
    loss = nn.CrossEntropyLoss()(logits, target)
    loss.backward()
    with pytest.raises(IndexError, match="cross_entropy: a class-index target is out of bounds"):
        loss.item()


@pytest.mark.parametrize("fn", [
    lambda T: T.cat([T.zeros(2, 3), T.zeros(2, 3)], dim=2),
    lambda T: T.cat([T.zeros(2, 3), T.zeros(2, 3)], dim=-3),
    lambda T: T.stack([T.zeros(2, 3), T.zeros(2, 3)], dim=3),
    lambda T: T.stack([T.zeros(2, 3), T.zeros(2, 3)], dim=-4),
])
def test_cat_and_stack_dim_out_of_range_raise_index_error(fn):
    assert _both(fn) is IndexError


def test_cat_and_stack_negative_dims_match_torch(rng):
    a, b = rng.standard_normal((2, 2, 3), dtype=np.float32)
    for dim in (-1, -2, 0, 1):
        np.testing.assert_array_equal(
            np.asarray(rustorch.cat([rustorch.tensor(a), rustorch.tensor(b)], dim=dim)),
            torch.cat([torch.from_numpy(a), torch.from_numpy(b)], dim=dim).numpy())
    for dim in (-1, -3, 2):
        np.testing.assert_array_equal(
            np.asarray(rustorch.stack([rustorch.tensor(a), rustorch.tensor(b)], dim=dim)),
            torch.stack([torch.from_numpy(a), torch.from_numpy(b)], dim=dim).numpy())


def test_slice_step_must_be_positive():
    assert _both(lambda T: T.zeros(4)[::-1]) is ValueError


def test_cat_of_many_tensors_matches_torch_on_both_paths(rng):
    """Hundreds of computed tensors (a tokenised corpus) concatenate on the host; with a
    gradient or a pending input the concatenation is recorded. Both give torch's values,
    dtype promotion and gradients."""
    pieces = [rng.integers(0, 50, (int(n), 3)) for n in rng.integers(1, 6, 300)]
    floats = rng.standard_normal((1, 3), dtype=np.float32)
    ours = rustorch.cat([rustorch.tensor(p) for p in pieces] + [rustorch.tensor(floats)], dim=0)
    theirs = torch.cat([torch.from_numpy(p) for p in pieces] + [torch.from_numpy(floats)], dim=0)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(np.asarray(ours), theirs.numpy())
    leaves = [rustorch.tensor(rng.standard_normal(2, dtype=np.float32), requires_grad=True) for _ in range(100)]
    joined = rustorch.cat([leaf * 2 if i == 0 else leaf for i, leaf in enumerate(leaves)])
    assert joined.requires_grad
    (joined * rustorch.arange(200, dtype=rustorch.float32)).sum().backward()
    np.testing.assert_array_equal(np.asarray(leaves[1].grad), [2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(leaves[0].grad), [0.0, 2.0])
