"""The Variable (tensor) API against torch.Tensor: metadata, shape methods, reductions,
arithmetic, indexing, conversions, autograd semantics and errors.

Every differentiable method is checked on random data for its value AND its gradient (the same
random cotangent is pulled back through rustorch and torch).
"""
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import rustorch
from tests.torch_compare import assert_close, to_torch


def _normal(rng, shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _compare(fn, torch_fn, *inputs, seed=0):
    """Apply ``fn`` to rustorch leaves and ``torch_fn`` to torch leaves made from ``inputs``;
    compare the outputs and the gradients of every input for one random cotangent."""
    rng = np.random.default_rng(seed)
    xs = [rustorch.tensor(a, requires_grad=True) for a in inputs]
    txs = [to_torch(a, requires_grad=True) for a in inputs]
    out, t_out = fn(*xs), torch_fn(*txs)
    assert out.shape == tuple(t_out.shape), f"shape {out.shape} != {tuple(t_out.shape)}"
    assert out.requires_grad
    cotangent = rng.standard_normal(out.shape).astype(np.float32)
    (out * cotangent).sum().backward()
    (t_out * to_torch(cotangent)).sum().backward()
    assert_close(np.asarray(out), t_out, err_msg="value")
    for i, (x, tx) in enumerate(zip(xs, txs)):
        if tx.grad is None:
            assert x.grad is None
        else:
            assert_close(np.asarray(x.grad), tx.grad, err_msg=f"gradient of input {i}")


X_NP = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)


# --------------------------------------------------------------------------- metadata

def test_metadata_matches_torch():
    x, tx = rustorch.tensor(X_NP), to_torch(X_NP)
    assert x.shape == tuple(tx.shape) == (2, 3, 4)
    assert x.size() == tuple(tx.size()) and x.size(1) == tx.size(1) and x.size(-1) == 4
    assert x.dim() == x.ndim == tx.dim() == 3
    assert x.numel() == tx.numel() == 24
    assert len(x) == len(tx) == 2
    assert x.dtype == rustorch.float32 == np.float32
    assert rustorch.tensor([1.5, 2.0]).dtype == np.float32  # Python floats are float32, as torch
    assert rustorch.tensor([1, 2]).dtype.kind == "i"
    assert rustorch.tensor([True]).dtype == rustorch.bool
    assert rustorch.tensor([1, 2], dtype=rustorch.float32).dtype == np.float32
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(3)
    with pytest.raises(TypeError, match="len"):
        len(rustorch.tensor(1.0))


def test_conversions_to_python_numpy_and_jax():
    x = rustorch.tensor(X_NP, requires_grad=True)
    np.testing.assert_array_equal(np.asarray(x), X_NP)
    copy = np.array(x)
    copy[0, 0, 0] = 100.0  # np.array gives a writable copy, as it does for torch tensors
    assert float(x[0, 0, 0]) == X_NP[0, 0, 0]
    np.testing.assert_array_equal(np.asarray(jnp.asarray(x)), X_NP)
    assert x.tolist() == to_torch(X_NP).tolist()
    y = x.sum()
    assert isinstance(y.item(), float) and abs(y.item() - float(X_NP.sum())) < 1e-4
    assert float(rustorch.tensor([2.5])) == 2.5 and int(rustorch.tensor(7)) == 7
    assert isinstance(rustorch.tensor(3).item(), int)
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        x.item()
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    np.testing.assert_array_equal(x.detach().numpy(), X_NP)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    assert bool(rustorch.tensor(1.0) > 0)


def test_iteration_yields_rows():
    x, tx = rustorch.tensor(X_NP), to_torch(X_NP)
    rows = list(x)
    assert len(rows) == 2
    for row, t_row in zip(rows, tx):
        assert_close(np.asarray(row), t_row)
    with pytest.raises(TypeError, match="0-d"):
        iter(rustorch.tensor(1.0))


def test_repr_looks_like_torch():
    for data in ([1, 2, 3], [[1.0, 2.0], [3.0, 4.0]], [True, False]):
        assert repr(rustorch.tensor(data)) == repr(torch.tensor(data))
    text = repr(rustorch.tensor([[1.5, -2.25]]))
    assert text.startswith("tensor([[") and "1.5" in text and "-2.25" in text and text.endswith("])")
    assert repr(rustorch.tensor([1.0], requires_grad=True)) == repr(torch.tensor([1.0], requires_grad=True))
    x = rustorch.tensor([1.0, 2.0], requires_grad=True)
    assert "grad_fn=" in repr(x * 2)
    assert "grad_fn" not in repr((x * 2).detach())
    assert str(rustorch.tensor([1, 2])) == "tensor([1, 2])"


# ----------------------------------------------------------------------------- shape ops

SHAPE_OPS = [
    ("view", lambda x: x.view(6, 4), lambda x: x.view(6, 4)),
    ("view -1", lambda x: x.view(-1, 2), lambda x: x.view(-1, 2)),
    ("reshape tuple", lambda x: x.reshape((4, 6)), lambda x: x.reshape((4, 6))),
    ("reshape -1", lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    ("view_as", lambda x: x.view_as(rustorch.tensor(np.zeros((3, 8), np.float32))),
     lambda x: x.view_as(torch.zeros(3, 8))),
    ("flatten", lambda x: x.flatten(), lambda x: x.flatten()),
    ("flatten 1", lambda x: x.flatten(1), lambda x: x.flatten(1)),
    ("flatten 0 1", lambda x: x.flatten(0, 1), lambda x: x.flatten(0, 1)),
    ("flatten fn", lambda x: rustorch.flatten(x, -2), lambda x: torch.flatten(x, -2)),
    ("permute", lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1)),
    ("permute tuple", lambda x: x.permute((1, -1, 0)), lambda x: x.permute((1, -1, 0))),
    ("transpose", lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2)),
    ("transpose neg", lambda x: x.transpose(-1, 1), lambda x: x.transpose(-1, 1)),
    ("T of 2-D", lambda x: x[0].T, lambda x: x[0].T),
    ("t", lambda x: x[1].t(), lambda x: x[1].t()),
    ("unsqueeze", lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1)),
    ("unsqueeze -1", lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1)),
    ("squeeze", lambda x: x.unsqueeze(0).unsqueeze(2).squeeze(), lambda x: x.unsqueeze(0).unsqueeze(2).squeeze()),
    ("squeeze dim", lambda x: x.unsqueeze(1).squeeze(1), lambda x: x.unsqueeze(1).squeeze(1)),
    ("squeeze non-1 dim", lambda x: x.squeeze(0), lambda x: x.squeeze(0)),
    ("expand", lambda x: x[:, :1].expand(2, 5, 4), lambda x: x[:, :1].expand(2, 5, 4)),
    ("expand -1", lambda x: x[None].expand(3, -1, -1, -1), lambda x: x[None].expand(3, -1, -1, -1)),
]


@pytest.mark.parametrize("name,fn,torch_fn", SHAPE_OPS, ids=[op[0] for op in SHAPE_OPS])
def test_shape_method_matches_torch(name, fn, torch_fn):
    _compare(fn, torch_fn, X_NP, seed=len(name))


def test_shape_errors():
    x = rustorch.tensor(X_NP)
    with pytest.raises(RuntimeError, match="invalid for input of size 24"):
        x.view(5, 5)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.reshape(-1, -1)
    with pytest.raises(RuntimeError, match="permutation"):
        x.permute(0, 0, 1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.transpose(0, 3)


# ----------------------------------------------------------------------------- reductions

REDUCTIONS = [
    ("sum", lambda x: x.sum(), lambda x: x.sum()),
    ("sum dim", lambda x: x.sum(1), lambda x: x.sum(1)),
    ("sum dims keepdim", lambda x: x.sum(dim=(0, -1), keepdim=True), lambda x: x.sum(dim=(0, -1), keepdim=True)),
    ("mean", lambda x: x.mean(), lambda x: x.mean()),
    ("mean dim keepdim", lambda x: x.mean(-1, keepdim=True), lambda x: x.mean(-1, keepdim=True)),
    ("mean fn", lambda x: rustorch.mean(x, 0), lambda x: torch.mean(x, 0)),
    ("sum fn", lambda x: rustorch.sum(x, dim=2), lambda x: torch.sum(x, dim=2)),
    ("max", lambda x: x.max(), lambda x: x.max()),
    ("min", lambda x: x.min(), lambda x: x.min()),
    ("max dim values", lambda x: x.max(dim=1)[0], lambda x: x.max(dim=1)[0]),
    ("max dim keepdim", lambda x: x.max(2, keepdim=True).values, lambda x: x.max(2, keepdim=True).values),
    ("min dim values", lambda x: x.min(dim=-1).values, lambda x: x.min(dim=-1).values),
    ("max fn", lambda x: rustorch.max(x, 0)[0], lambda x: torch.max(x, 0)[0]),
    ("var", lambda x: x.var(1), lambda x: x.var(1)),
    ("var biased", lambda x: x.var(unbiased=False), lambda x: x.var(unbiased=False)),
    ("std keepdim", lambda x: x.std(0, keepdim=True), lambda x: x.std(0, keepdim=True)),
]


@pytest.mark.parametrize("name,fn,torch_fn", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reduction_matches_torch(name, fn, torch_fn):
    _compare(fn, torch_fn, X_NP, seed=len(name))


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False), (2, True)])
def test_argmax_argmin_and_max_indices_match_torch(dim, keepdim):
    x, tx = rustorch.tensor(X_NP), to_torch(X_NP)
    for name in ("argmax", "argmin"):
        got = getattr(x, name)(dim=dim, keepdim=keepdim)
        want = getattr(tx, name)(dim=dim, keepdim=keepdim)
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(np.asarray(got), want.numpy())
    if dim is not None:
        for name in ("max", "min"):
            values, indices = getattr(x, name)(dim, keepdim)
            t_values, t_indices = getattr(tx, name)(dim, keepdim)
            assert_close(np.asarray(values), t_values)
            np.testing.assert_array_equal(np.asarray(indices), t_indices.numpy())
    np.testing.assert_array_equal(np.asarray(rustorch.argmax(x, 1)), torch.argmax(tx, 1).numpy())


def test_integer_reductions():
    labels = rustorch.tensor([1, 0, 2, 2])
    predictions = rustorch.tensor([1, 1, 2, 0])
    assert predictions.eq(labels).sum().item() == 2
    assert (predictions == labels).sum().item() == 2
    with pytest.raises(RuntimeError, match="mean"):
        labels.mean()
    assert labels.float().mean().item() == 1.25


# ---------------------------------------------------------------------- arithmetic

ARITHMETIC = [
    ("add", lambda a, b: a + b),
    ("radd scalar", lambda a, b: 2.5 + a),
    ("add scalar", lambda a, b: a + 1),
    ("sub", lambda a, b: a - b),
    ("rsub scalar", lambda a, b: 1.5 - b),
    ("mul", lambda a, b: a * b),
    ("rmul scalar", lambda a, b: 3 * a),
    ("div", lambda a, b: a / b),
    ("rdiv scalar", lambda a, b: 2.0 / b),
    ("div scalar", lambda a, b: a / 4),
    ("pow scalar", lambda a, b: b ** 2),
    ("pow tensor", lambda a, b: b ** a),
    ("rpow scalar", lambda a, b: 2.0 ** a),
    ("neg", lambda a, b: -a),
    ("abs", lambda a, b: abs(a)),
    ("methods", lambda a, b: a.add(b).mul(b).sub(a).div(b).neg()),
    ("broadcast", lambda a, b: a[:, :1] * b[:1]),
    ("matmul", lambda a, b: a @ b.transpose(1, 2)),
    ("matmul method", lambda a, b: a[0].matmul(b[0].t())),
    ("matmul fn", lambda a, b: rustorch.matmul(a, b.transpose(-1, -2))),
    ("matmul vector", lambda a, b: a @ b[0, 0]),
]


@pytest.mark.parametrize("name,fn", ARITHMETIC, ids=[a[0] for a in ARITHMETIC])
def test_arithmetic_matches_torch(name, fn):
    rng = np.random.default_rng(len(name))
    a = _normal(rng, (2, 3, 4))
    b = np.abs(_normal(rng, (2, 3, 4))) + 0.5  # positive: safe for division and powers
    _compare(fn, fn, a, b, seed=len(name))


@pytest.mark.parametrize("name,fn", [
    ("add", lambda x, n: n + x), ("add right", lambda x, n: x + n),
    ("sub", lambda x, n: n - x), ("sub right", lambda x, n: x - n),
    ("mul", lambda x, n: n * x), ("div", lambda x, n: n / x), ("div right", lambda x, n: x / n),
    ("matmul", lambda x, n: n.T @ x), ("matmul right", lambda x, n: x @ n.T),
])
def test_arithmetic_with_numpy_arrays_on_both_sides(name, fn):
    rng = np.random.default_rng(len(name) + 40)
    x_np = np.abs(_normal(rng, (3, 4))) + 0.5
    n = _normal(rng, (3, 4))
    x = rustorch.tensor(x_np, requires_grad=True)
    out = fn(x, n)
    assert isinstance(out, rustorch.Tensor) and out.requires_grad
    tx = to_torch(x_np, requires_grad=True)
    t_out = fn(tx, to_torch(n))
    out.sum().backward()
    t_out.sum().backward()
    assert_close(np.asarray(out), t_out)
    assert_close(np.asarray(x.grad), tx.grad)


def test_comparisons_match_torch():
    rng = np.random.default_rng(3)
    a_np, b_np = _normal(rng, (3, 4)), _normal(rng, (3, 4))
    b_np[0, :2] = a_np[0, :2]  # some equal elements
    a, b, ta, tb = rustorch.tensor(a_np), rustorch.tensor(b_np), to_torch(a_np), to_torch(b_np)
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        got = getattr(a, op)(b)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(np.asarray(got), getattr(ta, op)(tb).numpy(), err_msg=op)
    pairs = [(a == b, ta == tb), (a != 0.5, ta != 0.5), (a < b_np, ta < tb), (b_np <= a, tb <= ta),
             (a > 0, ta > 0), (0 >= a, 0 >= ta)]
    for got, want in pairs:
        assert isinstance(got, rustorch.Tensor)
        np.testing.assert_array_equal(np.asarray(got), want.numpy())
    mask = (a > 0) & (b < 0) | ~(a > b)
    np.testing.assert_array_equal(np.asarray(mask), ((ta > 0) & (tb < 0) | ~(ta > tb)).numpy())


# ------------------------------------------------------------------------- elementwise

ELEMENTWISE = [
    ("exp", lambda x: x.exp(), lambda x: x.exp()),
    ("exp fn", lambda x: rustorch.exp(x), lambda x: torch.exp(x)),
    ("log", lambda x: (x * x + 0.1).log(), lambda x: (x * x + 0.1).log()),
    ("sqrt", lambda x: (x * x + 0.1).sqrt(), lambda x: (x * x + 0.1).sqrt()),
    ("sin", lambda x: x.sin(), lambda x: x.sin()),
    ("cos", lambda x: x.cos(), lambda x: x.cos()),
    ("tanh", lambda x: x.tanh(), lambda x: x.tanh()),
    ("sigmoid", lambda x: x.sigmoid(), lambda x: x.sigmoid()),
    ("relu", lambda x: x.relu(), lambda x: x.relu()),
    ("relu fn", lambda x: rustorch.relu(x), lambda x: torch.relu(x)),
    ("clamp", lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7)),
    ("clamp min", lambda x: x.clamp(min=0.1), lambda x: x.clamp(min=0.1)),
    ("clip max", lambda x: x.clip(max=0.2), lambda x: x.clip(max=0.2)),
    ("softmax", lambda x: x.softmax(1), lambda x: x.softmax(1)),
    ("softmax fn", lambda x: rustorch.softmax(x, -1), lambda x: torch.softmax(x, -1)),
    ("log_softmax", lambda x: x.log_softmax(dim=-1), lambda x: x.log_softmax(dim=-1)),
    ("float", lambda x: x.float() * 2, lambda x: x.float() * 2),
    ("to", lambda x: x.to(rustorch.float32).to("cpu"), lambda x: x.to(torch.float32).to("cpu")),
    ("contiguous", lambda x: x.contiguous().cpu(), lambda x: x.contiguous().cpu()),
]


@pytest.mark.parametrize("name,fn,torch_fn", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_matches_torch(name, fn, torch_fn):
    x_np = X_NP.copy()
    x_np.flat[:2] = [0.0, 0.7]  # relu's kink and clamp's boundary: gradient conventions
    _compare(fn, torch_fn, x_np, seed=len(name))


def test_tensor_functions_match_torch():
    rng = np.random.default_rng(5)
    a, b = _normal(rng, (2, 3)), _normal(rng, (2, 3))
    _compare(lambda x, y: rustorch.cat([x, y], dim=1), lambda x, y: torch.cat([x, y], dim=1), a, b)
    _compare(lambda x, y: rustorch.cat((x, y)), lambda x, y: torch.cat((x, y)), a, b)
    _compare(lambda x, y: rustorch.stack([x, y], dim=-1), lambda x, y: torch.stack([x, y], dim=-1), a, b)
    _compare(lambda x, y: rustorch.where(x > y, x, y * 2), lambda x, y: torch.where(x > y, x, y * 2), a, b)
    np.testing.assert_array_equal(np.asarray(rustorch.zeros(2, 3)), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(np.asarray(rustorch.ones((2,))), np.ones(2, np.float32))
    np.testing.assert_array_equal(np.asarray(rustorch.arange(5)), torch.arange(5).numpy())
    np.testing.assert_array_equal(np.asarray(rustorch.full((2,), 1.5)), torch.full((2,), 1.5).numpy())
    np.testing.assert_array_equal(np.asarray(rustorch.zeros_like(rustorch.tensor(a))), np.zeros_like(a))


# ---------------------------------------------------------------------------- indexing

INDEXING = [
    ("int", lambda x: x[1]),
    ("negative int", lambda x: x[-1, 2]),
    ("slice", lambda x: x[:, 1:]),
    ("step slice", lambda x: x[:, ::2, 1:4:2]),
    ("negative slice", lambda x: x[..., -3:-1]),
    ("none", lambda x: x[None, :, None]),
    ("ellipsis", lambda x: x[..., 1]),
    ("ellipsis none", lambda x: x[0, ..., None]),
    ("int array", lambda x: x[np.array([1, 0, 1])]),
    ("int list", lambda x: x[:, [2, 0, 2, 2]]),
    ("int arrays paired", lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])]),
    ("bool mask", lambda x: x[np.array([True, False])]),
    ("bool mask 2-d", lambda x: x[:, np.array([[True, False, True, False]] * 3)]),
    ("bool from comparison", lambda x: x[x > 0.3]),
    ("mixed", lambda x: x[1:, [0, 2], 1:3]),
]


@pytest.mark.parametrize("name,fn", INDEXING, ids=[i[0] for i in INDEXING])
def test_indexing_matches_torch(name, fn):
    def torch_fn(x):
        return fn(x)

    _compare(fn, torch_fn, X_NP, seed=len(name))


def test_indexing_with_index_tensors():
    x, tx = rustorch.tensor(X_NP, requires_grad=True), to_torch(X_NP, requires_grad=True)
    index = rustorch.tensor([2, 0])
    mask = rustorch.tensor(X_NP[:, 0, 0] > 0)
    out = x[:, index] * 2 + x[mask].sum()
    t_out = tx[:, torch.tensor([2, 0])] * 2 + tx[torch.from_numpy(X_NP[:, 0, 0] > 0)].sum()
    out.sum().backward()
    t_out.sum().backward()
    assert_close(np.asarray(out), t_out)
    assert_close(np.asarray(x.grad), tx.grad)


@pytest.mark.parametrize("name,assign", [
    ("int scalar", lambda y, v: y.__setitem__(0, 0.0)),
    ("slice array", lambda y, v: y.__setitem__((slice(None), 1), v[:, 1] * 3)),
    ("ellipsis tensor", lambda y, v: y.__setitem__((Ellipsis, 0), v[..., 1])),
    ("bool mask", lambda y, v: y.__setitem__(y < 0, 0.5)),
    ("int array", lambda y, v: y.__setitem__((1, [0, 2]), v[0, :2] ** 2)),
])
def test_setitem_matches_torch(name, assign):
    """``y[index] = value`` on a non-leaf: the value AND the gradients to both sources."""
    rng = np.random.default_rng(len(name))
    a, b = _normal(rng, (2, 3, 4)), _normal(rng, (2, 3, 4))

    def run(x, v):
        y = x * 1.0
        assign(y, v)
        return y * 2

    _compare(run, run, a, b, seed=len(name))


def test_setitem_on_leaf_without_grad_and_errors():
    x = rustorch.tensor(np.zeros((2, 3), np.float32))
    x[0, 1] = 5.0
    x[1] = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_array_equal(np.asarray(x), [[0, 5, 0], [1, 2, 3]])
    leaf = rustorch.tensor(np.zeros(3, np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        leaf[0] = 1.0
    with rustorch.no_grad():
        leaf[0] = 1.0  # allowed under no_grad, as in torch
    assert float(leaf[0]) == 1.0
    with pytest.raises(TypeError, match="unsupported index"):
        x["a"]


# ---------------------------------------------------------------------------- autograd

def test_detach_and_requires_grad_():
    x = rustorch.tensor(X_NP, requires_grad=True)
    tx = to_torch(X_NP, requires_grad=True)
    d = (x * 3).detach()
    assert not d.requires_grad and d.is_leaf
    np.testing.assert_array_equal(np.asarray(d), X_NP * 3)
    (x * x.detach()).sum().backward()
    (tx * tx.detach()).sum().backward()
    assert_close(np.asarray(x.grad), tx.grad)
    y = rustorch.tensor(X_NP)
    assert not y.requires_grad
    assert y.requires_grad_() is y and y.requires_grad
    (y * 2).sum().backward()
    np.testing.assert_array_equal(np.asarray(y.grad), np.full_like(X_NP, 2.0))
    with pytest.raises(RuntimeError, match="leaf"):
        (y * 2).requires_grad_(False)
    assert y.is_leaf and not (y * 2).is_leaf


def test_backward_with_gradient_for_non_scalar():
    rng = np.random.default_rng(9)
    gradient = _normal(rng, (2, 3, 4))
    x, tx = rustorch.tensor(X_NP, requires_grad=True), to_torch(X_NP, requires_grad=True)
    (x.tanh() * 2).backward(gradient=rustorch.tensor(gradient))
    (tx.tanh() * 2).backward(gradient=to_torch(gradient))
    assert_close(np.asarray(x.grad), tx.grad)
    (x.sin()).backward(gradient)  # a numpy array works too, positionally
    (tx.sin()).backward(to_torch(gradient))
    assert_close(np.asarray(x.grad), tx.grad)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(gradient=np.ones((3,), np.float32))


def test_backward_errors_and_retain_graph():
    x = rustorch.tensor(X_NP, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    x.grad = None
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    tx = to_torch(X_NP, requires_grad=True)
    t_loss = (tx * tx).sum()
    t_loss.backward(retain_graph=True)
    t_loss.backward()
    assert_close(np.asarray(x.grad), tx.grad)  # accumulated twice, as torch
    with pytest.raises(RuntimeError, match="does not require grad"):
        rustorch.tensor(X_NP).sum().backward()


def test_requires_grad_needs_floating_dtype():
    with pytest.raises(RuntimeError, match="floating point"):
        rustorch.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        rustorch.Variable(np.array([1, 2], np.int32), requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        rustorch.tensor([1, 2]).requires_grad_()


def test_gradient_accumulates_over_uses_and_calls():
    x, tx = rustorch.tensor(X_NP, requires_grad=True), to_torch(X_NP, requires_grad=True)
    (x * x + x.exp()).sum().backward()
    (x.sin() * x[0]).sum().backward()
    (tx * tx + tx.exp()).sum().backward()
    (tx.sin() * tx[0]).sum().backward()
    assert_close(np.asarray(x.grad), tx.grad)


def test_leaf_backward_and_unused_leaf_keeps_none():
    x = rustorch.tensor([1.0, 2.0], requires_grad=True)
    unused = rustorch.tensor([3.0], requires_grad=True)
    (x * 2).sum().backward()
    assert unused.grad is None
    s = rustorch.tensor(2.0, requires_grad=True)
    s.backward()
    assert s.grad.item() == 1.0  # d(s)/d(s), as torch


def test_no_grad_results_do_not_require_grad():
    x = rustorch.tensor(X_NP, requires_grad=True)
    with rustorch.no_grad():
        y = x * 2 + 1
        assert not rustorch.is_grad_enabled()
        with rustorch.enable_grad():
            z = x * 2
    assert rustorch.is_grad_enabled()
    assert not y.requires_grad and z.requires_grad
    np.testing.assert_array_equal(np.asarray(y), X_NP * 2 + 1)

    @rustorch.no_grad()
    def double(v):
        return v * 2

    assert not double(x).requires_grad
    rustorch.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        rustorch.set_grad_enabled(True)


def test_format_spec_on_a_0d_tensor_formats_its_number():
    value = rustorch.tensor(2.5)
    assert f"{value:+.2f}" == "+2.50" and "{:.1f}".format(value * 2) == "5.0"
    with pytest.raises(TypeError):
        f"{rustorch.tensor([1.0, 2.0]):.2f}"


def test_range_indexes_as_its_values():
    import torch

    x, t = rustorch.zeros(3, 4), torch.zeros(3, 4)
    labels = [1, 3, 0]
    x[range(3), rustorch.tensor(labels)] = 2.0
    t[range(3), torch.tensor(labels)] = 2.0
    np.testing.assert_array_equal(x.numpy(), t.numpy())
    np.testing.assert_array_equal(x[range(1, 3)].numpy(), t[range(1, 3)].numpy())
