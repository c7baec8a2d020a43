"""In-place ops and ``.data``: functional updates with PyTorch's values, gradients and errors."""
import numpy as np
import pytest
import torch

import rustorch
from rustorch import nn
from tests.torch_compare import assert_close


def _both(array, requires_grad=False):
    return (rustorch.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


def test_data_fill_zero_copy_change_the_parameter(rng):
    layer = nn.Linear(3, 2)
    twin = torch.nn.Linear(3, 2)
    source = rng.standard_normal((2, 3), dtype=np.float32)
    for module, T in ((layer, rustorch), (twin, torch)):
        module.weight.data.copy_(T.tensor(source))
        module.bias.data.fill_(0.25)
    assert_close(np.asarray(layer.weight.detach()), twin.weight)
    assert_close(np.asarray(layer.bias.detach()), twin.bias)
    assert layer.weight.is_leaf and layer.weight.requires_grad
    data = layer.bias.data
    data.zero_()
    assert np.all(np.asarray(layer.bias.detach()) == 0)
    x = rng.standard_normal((4, 3), dtype=np.float32)
    layer(rustorch.tensor(x)).sum().backward()  # the parameter is still a leaf that gets grads
    twin.bias.data.zero_()
    twin(torch.from_numpy(x)).sum().backward()
    assert_close(np.asarray(layer.weight.grad), twin.weight.grad)


def test_data_view_sees_later_updates_and_setitem_writes_through(rng):
    p = rustorch.tensor(np.arange(6, dtype=np.float32), requires_grad=True)
    d = p.data
    with rustorch.no_grad():
        p.mul_(2.0)
    np.testing.assert_array_equal(np.asarray(d), np.arange(6) * 2)
    d[1:3] = 7.0
    np.testing.assert_array_equal(np.asarray(p.detach()), [0, 7, 7, 6, 8, 10])
    p.data[0].fill_(-1.0)  # a view of a view
    assert float(p[0]) == -1.0


@pytest.mark.parametrize("name,args", [
    ("add_", (1.5,)), ("sub_", (0.5,)), ("mul_", (3.0,)), ("div_", (4.0,)),
    ("clamp_", (-0.3, 0.4)), ("relu_", ()), ("masked_fill_", ("mask", -2.0)),
])
def test_inplace_on_a_non_leaf_gives_torch_values_and_gradients(rng, name, args):
    x = rng.standard_normal((3, 4), dtype=np.float32)
    mask = rng.random((3, 4)) > 0.5
    results = []
    for T in (rustorch, torch):
        leaf = T.tensor(x, requires_grad=True)
        h = leaf * 2.0 + 0.1
        real_args = [T.tensor(mask) if a == "mask" else a for a in args]
        out = getattr(h, name)(*real_args)
        assert out is h
        (h * T.tensor(x)).sum().backward()
        results.append((np.asarray(h.detach()), np.asarray(leaf.grad)))
    assert_close(results[0][0], results[1][0])
    assert_close(results[0][1], results[1][1])


def test_inplace_with_a_tensor_operand_and_alpha(rng):
    a, b = rng.standard_normal((2, 5), dtype=np.float32)
    results = []
    for T in (rustorch, torch):
        x, w = T.tensor(a), T.tensor(b, requires_grad=True)
        y = T.zeros(5)
        y.add_(w, alpha=2.0)
        y.sub_(x)
        y += w * x
        y *= 0.5
        assert y.requires_grad and not y.is_leaf
        y.sum().backward()
        results.append((np.asarray(y.detach()), np.asarray(w.grad)))
    assert_close(results[0][0], results[1][0])
    assert_close(results[0][1], results[1][1])


def test_parameter_update_under_no_grad_and_manual_sgd(rng):
    layer, twin = nn.Linear(4, 2), torch.nn.Linear(4, 2)
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(np.array(layer.weight.detach())))
        twin.bias.copy_(torch.tensor(np.array(layer.bias.detach())))
    for step in range(3):
        x = rng.standard_normal((5, 4), dtype=np.float32)
        for module, T in ((layer, rustorch), (twin, torch)):
            module.zero_grad()
            (module(T.tensor(x)) ** 2).mean().backward()
            with T.no_grad():
                for p in module.parameters():
                    p -= 0.1 * p.grad
                module.weight.mul_(0.99)
        assert layer.weight.is_leaf and layer.weight.requires_grad
    assert_close(np.asarray(layer.weight.detach()), twin.weight)
    assert_close(np.asarray(layer.bias.detach()), twin.bias)


def test_random_fills_are_recorded_in_place():
    w = rustorch.zeros(200, 50)
    rustorch.manual_seed(0)
    w.uniform_(-0.5, 0.5)
    values = np.asarray(w)
    assert values.min() >= -0.5 and values.max() < 0.5 and values.std() > 0.2
    w.normal_(2.0, 0.1)
    assert abs(float(w.mean()) - 2.0) < 0.01 and abs(float(w.std()) - 0.1) < 0.01


def test_index_put_and_setitem_with_index_tensors(rng):
    x = rng.standard_normal((4, 3), dtype=np.float32)
    rows, values = np.array([0, 2, 2]), np.ones((3, 3), np.float32)
    outs = []
    for T in (rustorch, torch):
        t = T.tensor(x)
        t.index_put_((T.tensor(rows),), T.tensor(values), accumulate=True)
        t[T.tensor(np.array([3]))] = -1.0
        outs.append(np.asarray(t))
    assert_close(outs[0], outs[1])


def test_modifying_a_value_backward_needs_raises_torch_error():
    for T in (rustorch, torch):
        x = T.tensor([0.5, 1.0, 2.0], requires_grad=True)
        y = x.exp()  # exp saves its output
        y.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
    for T in (rustorch, torch):
        w = T.tensor([1.0, 2.0], requires_grad=True)
        x = T.tensor([3.0, 4.0])
        y = (x * w).sum()  # mul saves x
        x.mul_(2.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.backward()
    for T in (rustorch, torch):  # add saves nothing: fine in torch, fine here
        x = T.tensor([1.0, 2.0], requires_grad=True)
        h = x + 1.0
        z = (h + 2.0).sum()
        h.mul_(3.0)
        z.backward()
        assert_close(np.asarray(x.grad), np.ones(2))


def test_detach_shares_the_version_counter_but_data_does_not():
    for T in (rustorch, torch):
        x = T.tensor([0.5, 1.0], requires_grad=True)
        y = x.sigmoid()
        y.detach().zero_()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
    results = []
    for T in (rustorch, torch):
        x = T.tensor([0.5, 1.0], requires_grad=True)
        y = x + 1.0
        y.data.zero_()  # not seen by autograd: y keeps its history, with the new value
        z = y * 2.0
        z.sum().backward()
        results.append((np.asarray(z.detach()), np.asarray(x.grad)))
    assert_close(results[0][0], results[1][0])
    assert_close(results[0][1], results[1][1])


def test_leaf_that_requires_grad_refuses_in_place_under_grad_mode():
    for T in (rustorch, torch):
        w = T.tensor([1.0, 2.0], requires_grad=True)
        for action in (lambda: w.add_(1.0), lambda: w.zero_(), lambda: w[0].fill_(3.0), lambda: w.__setitem__(0, 1.0)):
            with pytest.raises(RuntimeError, match="leaf Variable that requires grad|leaf variable that requires grad"):
                action()


def test_inplace_shape_and_dtype_errors():
    x = rustorch.zeros(3)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        x.add_(rustorch.ones(2, 3))
    i = rustorch.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.mul_(1.5)
    i.add_(3)
    assert i.tolist() == [4, 5]


def test_views_write_through_to_their_base(rng):
    data = rng.standard_normal((3, 4), dtype=np.float32)
    outs = []
    for T in (rustorch, torch):
        leaf = T.tensor(data, requires_grad=True)
        x = leaf * 1.0
        x.view(-1)[0:2].zero_()
        x.t().mul_(2.0)
        x.unsqueeze(0)[0, 1].fill_(5.0)
        x.transpose(0, 1)[3] += 1.0
        x.flatten()[-1] = -7.0
        (x * T.tensor(data)).sum().backward()
        outs.append((np.asarray(x.detach()), np.asarray(leaf.grad)))
    assert_close(outs[0][0], outs[1][0])
    assert_close(outs[0][1], outs[1][1])
    for T in (rustorch, torch):
        with pytest.raises(RuntimeError, match="single memory location"):
            T.zeros(1, 3).expand(4, 3).add_(1.0)
