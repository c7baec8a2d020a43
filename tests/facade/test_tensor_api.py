"""Parity of the Tensor methods and torch.* functions with PyTorch, on random shapes and dims.

Each case is a function of the library (``rustorch`` or ``torch``) and its input tensors; both
libraries run it, outputs must agree, and for floating inputs the gradients of a random
cotangent must agree too.
"""
import math
import warnings

import numpy as np
import pytest
import torch

import rustorch
from tests.torch_compare import assert_close


def _to_lib(lib, array, grad):
    if lib is torch:
        t = torch.from_numpy(np.array(array, copy=True))
        return t.requires_grad_(True) if grad else t
    return rustorch.tensor(array, requires_grad=grad)


def _outputs(out):
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def compare(fn, *arrays, grad=True, rtol=1e-5, atol_scale=1e-6, seed=0, names=None):
    """Run ``fn(lib, *tensors)`` in both libraries; compare outputs and input gradients.

    ``fn`` may return a list of outputs (``names`` labels them in failure messages): many ops
    are then checked by one compiled program and one backward pass."""
    rng = np.random.default_rng(seed)
    wants = [grad and np.asarray(a).dtype.kind == "f" for a in arrays]
    rt_in = [_to_lib(rustorch, a, w) for a, w in zip(arrays, wants)]
    th_in = [_to_lib(torch, a, w) for a, w in zip(arrays, wants)]
    rt_out = _outputs(fn(rustorch, *rt_in))
    th_out = _outputs(fn(torch, *th_in))
    assert len(rt_out) == len(th_out)
    names = names or [f"output {i}" for i in range(len(th_out))]
    for name, r, t in zip(names, rt_out, th_out):
        if isinstance(t, torch.Tensor):
            assert tuple(r.shape) == tuple(t.shape), (name, r.shape, t.shape)
            r_np, t_np = np.asarray(r.detach()), t.detach().numpy()
            if t_np.dtype.kind == "f":
                assert_close(r_np, t_np, rtol, atol_scale, err_msg=name)
            else:
                assert r_np.dtype.kind == t_np.dtype.kind or (t_np.dtype == np.int64 and r_np.dtype.kind == "i"), \
                    (r_np.dtype, t_np.dtype)
                np.testing.assert_array_equal(r_np, t_np, err_msg=name)
        else:
            assert r == t, (name, r, t)
    if not any(wants):
        return
    rt_loss, th_loss = 0, 0
    for r, t in zip(rt_out, th_out):
        if isinstance(t, torch.Tensor) and t.requires_grad and t.dtype.is_floating_point:
            cot = rng.standard_normal(tuple(t.shape)).astype(np.float32)
            rt_loss = rt_loss + (r * rustorch.tensor(cot)).sum()
            th_loss = th_loss + (t * torch.from_numpy(cot)).sum()
    if isinstance(th_loss, int):
        return
    rt_loss.backward()
    th_loss.backward()
    for r, t, w in zip(rt_in, th_in, wants):
        if w:
            if t.grad is None:
                assert r.grad is None or not np.any(np.asarray(r.grad))
            else:
                assert_close(np.asarray(r.grad), t.grad, rtol, atol_scale, err_msg="gradient")


def _normal(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------------------- elementwise

_DOMAINS = {
    "log": "pos", "log2": "pos", "log10": "pos", "sqrt": "pos", "rsqrt": "pos", "lgamma": "pos",
    "digamma": "pos", "log1p": "pos", "asin": "unit", "acos": "unit", "atanh": "unit", "arcsin": "unit",
    "arccos": "unit", "arctanh": "unit", "erfinv": "unit", "acosh": "gt1", "arccosh": "gt1", "reciprocal": "pos",
}
_UNARY = ["abs", "neg", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin", "cos",
          "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sigmoid", "floor",
          "ceil", "trunc", "frac", "sign", "sgn", "reciprocal", "square", "erf", "erfc", "erfinv", "lgamma",
          "digamma", "deg2rad", "rad2deg", "isnan", "isinf", "isfinite", "logical_not", "signbit", "round",
          "relu", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "negative", "absolute", "fix"]


_NO_GRAD = ("floor", "ceil", "trunc", "sign", "sgn", "round", "isnan", "isinf", "isfinite", "logical_not",
            "signbit", "fix")


@pytest.mark.parametrize("domain", ["pos", "unit", "gt1", None])
def test_unary_methods_and_functions(domain):
    """Every unary op of its input domain, as a method and as a torch.* function, on a random
    shape; values, and gradients where they are defined."""
    names = [n for n in _UNARY if _DOMAINS.get(n) == domain]
    rng = np.random.default_rng(len(names))
    shape = tuple(rng.integers(1, 5, size=rng.integers(0, 4)))
    x = _normal(rng, shape)
    if domain == "pos":
        x = np.abs(x) + 0.5
    elif domain == "unit":
        x = np.tanh(x) * 0.9
    elif domain == "gt1":
        x = np.abs(x) + 1.5
    def run(lib, t):
        outs = []
        for n in names:
            source = t.detach() if n in _NO_GRAD and lib is torch else t
            outs += [getattr(source, n)(), getattr(lib, n)(source)]
        return outs
    labels = [f"{n} {form}" for n in names for form in ("method", "function")]
    compare(run, x, rtol=2e-5, names=labels)


def test_unary_on_integers_promotes_as_torch():
    x = np.arange(1, 7, dtype=np.int32).reshape(2, 3)
    for name in ["exp", "sqrt", "sin", "log1p", "sigmoid", "reciprocal", "rsqrt", "abs", "neg", "floor", "sign",
                 "square"]:
        rt = getattr(rustorch.tensor(x), name)()
        th = getattr(torch.from_numpy(x.astype(np.int64)), name)()
        assert (np.asarray(rt).dtype.kind == "f") == th.dtype.is_floating_point, name
        assert_close(np.asarray(rt).astype(np.float64), th.double(), err_msg=name)


_BINARY = ["maximum", "minimum", "fmax", "fmin", "atan2", "arctan2", "hypot", "logaddexp", "logaddexp2",
           "copysign", "fmod", "remainder", "eq", "ne", "lt", "le", "gt", "ge", "greater", "less_equal",
           "true_divide", "floor_divide", "xlogy"]


_NO_GRAD_BINARY = ("eq", "ne", "lt", "le", "gt", "ge", "greater", "less_equal", "floor_divide", "copysign", "fmod",
                   "remainder")


def test_binary_broadcasting():
    rng = np.random.default_rng(7)
    a = _normal(rng, (3, 1, 4))
    b = np.abs(_normal(rng, (2, 4))) + 0.5

    def run(lib, x, y):
        outs = []
        for n in _BINARY:
            u, v = (x.detach(), y.detach()) if n in _NO_GRAD_BINARY and lib is torch else (x, y)
            outs += [getattr(u, n)(v), getattr(lib, n)(u, v)]
        return outs
    compare(run, a, b, names=[f"{n} {form}" for n in _BINARY for form in ("method", "function")])
    compare(lambda lib, x, y: [x.maximum(-y), lib.atan2(-y, x), x.fmod(-y), x.remainder(-y)], a, b)


def test_add_sub_alpha_and_div_rounding_modes():
    rng = np.random.default_rng(1)
    a, b = _normal(rng, (3, 4)), _normal(rng, (4,)) + 3
    compare(lambda lib, x, y: x.add(y, alpha=2.5), a, b)
    compare(lambda lib, x, y: lib.sub(x, y, alpha=-0.5), a, b)
    compare(lambda lib, x, y: x.div(y, rounding_mode="floor"), a, b, grad=False)
    compare(lambda lib, x, y: x.div(y, rounding_mode="trunc"), a, b, grad=False)
    ia = np.array([7, -7, 5, -9], np.int32)
    ib = np.array([2, 2, -3, 4], np.int32)
    for mode in ("trunc", "floor", None):
        rt = rustorch.tensor(ia).div(rustorch.tensor(ib), rounding_mode=mode)
        th = torch.from_numpy(ia).div(torch.from_numpy(ib), rounding_mode=mode)
        np.testing.assert_allclose(np.asarray(rt), th.numpy())


@pytest.mark.parametrize("operands,expected", [
    ((np.zeros(3, np.int32), 2.5), torch.float32),
    ((np.zeros(3, np.float16), np.float32(1)), torch.float16),
    ((np.zeros(3, np.int32), np.zeros((), np.float32)), torch.float32),
    ((np.zeros(3, np.bool_), 3), torch.int64),
    ((np.zeros(3, np.float32), np.zeros(3, np.float16)), torch.float32),
])
def test_result_type_matches_torch(operands, expected):
    rt_ops = [rustorch.tensor(o) if isinstance(o, np.ndarray) else o for o in operands]
    th_ops = [torch.from_numpy(o) if isinstance(o, np.ndarray) else o for o in operands]
    if isinstance(operands[1], np.generic):  # a numpy scalar is a 0-d tensor to torch
        rt_ops[1] = rustorch.tensor(np.asarray(operands[1]))
        th_ops[1] = torch.tensor(operands[1])
    assert torch.result_type(*th_ops) == expected
    got = rustorch.result_type(*rt_ops)
    want = {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int32}[expected]
    assert got == np.dtype(want)


def test_maximum_promotes_int_and_float():
    a = np.array([1, 5, 3], np.int32)
    b = np.array([2.5, 0.5, 3.5], np.float32)
    rt = rustorch.maximum(rustorch.tensor(a), rustorch.tensor(b))
    np.testing.assert_allclose(np.asarray(rt), [2.5, 5, 3.5])
    assert rt.dtype == np.float32


def test_clamp_variants_lerp_addcmul_addcdiv_addmm():
    rng = np.random.default_rng(2)
    x, y, z = _normal(rng, (3, 4)), _normal(rng, (3, 4)), np.abs(_normal(rng, (3, 4))) + 1
    compare(lambda lib, t: t.clamp_min(-0.3), x)
    compare(lambda lib, t: lib.clamp_max(t, 0.2), x)
    compare(lambda lib, a, b: a.lerp(b, 0.3), x, y)
    compare(lambda lib, a, b: lib.lerp(a, b, 0.8), x, y)
    compare(lambda lib, a, b, c: a.addcmul(b, c, value=0.5), x, y, z)
    compare(lambda lib, a, b, c: lib.addcdiv(a, b, c, value=-2), x, y, z)
    m1, m2 = _normal(rng, (3, 5)), _normal(rng, (5, 4))
    compare(lambda lib, a, b, c: lib.addmm(a, b, c, beta=0.5, alpha=2), x, m1, m2)


# ------------------------------------------------------------------------------- reductions

def _random_case(seed, min_ndim=1):
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(min_ndim, 4))
    shape = tuple(int(s) for s in rng.integers(2, 5, size=ndim))
    dim = int(rng.integers(-ndim, ndim))
    keepdim = bool(rng.integers(0, 2))
    return rng, shape, dim, keepdim


@pytest.mark.parametrize("seed", range(3))
def test_reductions_over_random_dims(seed):
    rng, shape, dim, keepdim = _random_case(seed * 31)
    x = _normal(rng, shape)
    names = ["sum", "mean", "prod", "std", "var", "logsumexp", "amax", "amin"]

    def run(lib, t):
        outs = [getattr(t, n)(dim, keepdim=keepdim) for n in names]
        outs += [getattr(lib, n)(t) for n in ("sum", "mean", "prod", "std", "var")]
        return outs + [t.norm(dim=dim, keepdim=keepdim), lib.norm(t)]
    compare(run, x, names=names + ["sum all", "mean all", "prod all", "std all", "var all", "norm dim", "norm"])


def test_norm_orders():
    rng = np.random.default_rng(5)
    x = _normal(rng, (3, 4))
    orders = [1, 2, 3, math.inf, -math.inf, "fro"]
    compare(lambda lib, t: [t.norm(p=p) for p in orders] + [t.norm(p, 1, True) for p in orders], x)
    compare(lambda lib, t: [t.norm(0), t.norm(0, 0)], x, grad=False)


def test_norm_gradient_is_zero_at_zero():
    x = rustorch.zeros(3, requires_grad=True)
    x.norm().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), np.zeros(3))


def test_multi_dim_reductions_and_correction():
    rng = np.random.default_rng(6)
    x = _normal(rng, (3, 4, 5))
    compare(lambda lib, t: t.sum((0, 2), keepdim=True), x)
    compare(lambda lib, t: t.amax((0, -1)), x)
    compare(lambda lib, t: t.var(1, correction=0), x)
    compare(lambda lib, t: t.std(dim=(1, 2), unbiased=False), x)
    compare(lambda lib, t: lib.std_mean(t, 1), x)
    compare(lambda lib, t: lib.var_mean(t, 2, keepdim=True), x)
    compare(lambda lib, t: t.sum(dtype=lib.float32), x)


@pytest.mark.parametrize("seed", range(2))
def test_cumulative_ops(seed):
    rng, shape, dim, _ = _random_case(seed + 100)
    x = _normal(rng, shape)
    compare(lambda lib, t: [t.cumsum(dim), lib.cumprod(t, dim), t.logcumsumexp(dim), *t.cummax(dim),
                            *t.cummin(dim)], x)


def test_all_any_count_nonzero():
    x = np.array([[0, 1, 2], [0, 0, 3]], np.int32)
    compare(lambda lib, t: [t.all(), t.any(1), t.all(0, keepdim=True), t.bool().any(), t.count_nonzero(),
                            t.count_nonzero(1)], x, grad=False)


@pytest.mark.parametrize("seed", range(2))
def test_sort_argsort_topk_median(seed):
    rng, shape, dim, keepdim = _random_case(seed + 200)
    x = _normal(rng, shape)
    k = int(rng.integers(1, shape[dim] + 1))
    compare(lambda lib, t: [*t.sort(dim), *lib.sort(t, dim, descending=True),
                            t.argsort(dim, descending=bool(seed % 2)), *t.topk(k, dim),
                            *lib.topk(t, k, dim, largest=False), t.median(), *t.median(dim, keepdim)], x)


def test_topk_k_out_of_range():
    with pytest.raises(RuntimeError, match="out of range"):
        rustorch.zeros(3).topk(4)


# ------------------------------------------------------------------------------- shape ops

@pytest.mark.parametrize("seed", range(3))
def test_narrow_chunk_split_unbind(seed):
    rng, shape, dim, _ = _random_case(seed + 300)
    x = _normal(rng, shape)
    size = shape[dim]
    start = int(rng.integers(-size, size))
    length = int(rng.integers(0, size - (start % size) + 1))
    chunks = int(rng.integers(1, 5))
    sections = [1, size - 1]
    compare(lambda lib, t: [t.narrow(dim, start, length), *t.chunk(chunks, dim), *lib.split(t, 2, dim),
                            *t.split(sections, dim), *t.unbind(dim), *lib.tensor_split(t, 2, dim)], x)


def test_narrow_errors():
    x = rustorch.zeros(3, 4)
    with pytest.raises(RuntimeError, match="exceeds dimension size"):
        x.narrow(1, 2, 3)
    with pytest.raises(IndexError):
        x.narrow(2, 0, 1)


@pytest.mark.parametrize("seed", range(2))
def test_repeat_expand_flip_roll_movedim(seed):
    rng, shape, dim, _ = _random_case(seed + 400, min_ndim=2)
    x = _normal(rng, shape)
    reps = tuple(int(r) for r in rng.integers(1, 3, size=len(shape) + 1))
    compare(lambda lib, t: [
        t.repeat(*reps), t.flip(dim), lib.flip(t, [0, dim]) if dim % len(shape) != 0 else t.flip(0),
        t.roll(2, dim), t.roll(-3), t.roll((1, 2), (0, -1)), t.movedim(0, dim), lib.movedim(t, (0, 1), (-1, 0)),
        t.swapaxes(0, dim), t.view(-1), t.unsqueeze(0).expand(3, *shape), t.repeat_interleave(2, dim),
        t.repeat_interleave(3), t.fliplr(), t.flipud()], x)


def test_repeat_with_fewer_sizes_than_dims_raises():
    with pytest.raises(RuntimeError, match="can not be smaller"):
        rustorch.zeros(2, 3).repeat(2)


def test_tril_triu_diag():
    rng = np.random.default_rng(7)
    x = _normal(rng, (2, 4, 5))
    compare(lambda lib, t: [out for d in (-1, 0, 2) for out in (
        t.tril(d), lib.triu(t, d), t[0].diag(d), t[0, 0].diag(d), t.diagonal(d, 1, 2))] + [t[1].trace()], x)


@pytest.mark.parametrize("seed", range(2))
def test_gather_scatter_index_select(seed):
    rng, shape, dim, _ = _random_case(seed + 500)
    x = _normal(rng, shape)
    size = shape[dim]
    index_shape = tuple(int(rng.integers(1, s + 1)) for s in shape)
    index = rng.integers(0, size, size=index_shape).astype(np.int64)
    compare(lambda lib, t, i: [t.gather(dim, i), lib.gather(t, dim, i)], x, index)
    src = _normal(rng, index_shape)
    # scatter with duplicate indices is order-dependent in torch; use a permutation
    perm_index = np.argsort(rng.random(shape), axis=dim % len(shape)).astype(np.int64)
    compare(lambda lib, t, i, s: t.scatter(dim, i, s), x, perm_index, _normal(rng, shape))
    compare(lambda lib, t, i, s: t.scatter_add(dim, i, s), x, index, src)
    compare(lambda lib, t, i: t.scatter(dim, i, 2.5), x, perm_index)
    select = rng.integers(0, size, size=5).astype(np.int64)
    compare(lambda lib, t, i: t.index_select(dim, i), x, select)
    compare(lambda lib, t, i, s: t.index_add(dim, i, s),
            x, select, _normal(rng, tuple(5 if d == dim % len(shape) else s for d, s in enumerate(shape))))
    compare(lambda lib, t, i: lib.take(t, i), x, select)


def test_index_errors_are_raised_not_clamped():
    x = rustorch.zeros(3, 4)
    with pytest.raises(IndexError, match="out of bounds"):
        x.gather(1, rustorch.tensor([[4], [0], [1]]))
    with pytest.raises(IndexError, match="out of bounds"):
        x.gather(1, rustorch.tensor([[-1], [0], [1]]))
    with pytest.raises(IndexError):
        x.index_select(0, rustorch.tensor([3]))
    with pytest.raises(IndexError):
        x.scatter(0, rustorch.tensor([[3, 0, 0, 0]]), 1.0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.sum(2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.cumsum(-3)
    with pytest.raises(RuntimeError, match="int64"):
        x.gather(0, rustorch.tensor([[0.5]]))


def test_masked_fill_where_masked_select():
    rng = np.random.default_rng(8)
    x = _normal(rng, (3, 4))
    mask = rng.random((1, 4)) > 0.5
    compare(lambda lib, t, m: t.masked_fill(m, -1.5), x, mask)
    compare(lambda lib, t, m: lib.masked_fill(t, m, float("-inf")).softmax(-1) if False else t.masked_fill(m, 0.),
            x, mask)
    compare(lambda lib, t, m, y: lib.where(m, t, y), x, mask, _normal(rng, (3, 4)))
    compare(lambda lib, t, m: t.where(m, 0.0), x, mask)
    compare(lambda lib, t, m: t.masked_select(m), x, mask)
    with pytest.raises(RuntimeError, match="boolean"):
        rustorch.tensor(x).masked_fill(rustorch.tensor(mask.astype(np.int32)), 0.0)


def test_nonzero_unique():
    x = np.array([[0, 2, 0], [3, 3, 0]], np.int32)
    compare(lambda lib, t: t.nonzero(), x, grad=False)
    compare(lambda lib, t: lib.nonzero(t, as_tuple=True), x, grad=False)
    compare(lambda lib, t: t.unique(), x, grad=False)
    compare(lambda lib, t: t.unique(return_inverse=True, return_counts=True), x, grad=False)


# ------------------------------------------------------------------------- linear algebra

def test_mm_bmm_mv_dot_outer_einsum():
    rng = np.random.default_rng(9)
    a, b = _normal(rng, (3, 4)), _normal(rng, (4, 5))
    p, q = _normal(rng, (2, 3, 4)), _normal(rng, (2, 4, 5))
    v = _normal(rng, (4,))
    compare(lambda lib, x, y, u, w, z: [
        x.mm(y), lib.mm(x, y), lib.bmm(u, w), x.mv(z), lib.dot(z, z * 2), lib.outer(z, x[0]),
        lib.einsum("bij,bjk->bik", u, w), lib.einsum("ij,jk", [x, y]), lib.tensordot(x, y, dims=([1], [0]))],
        a, b, p, q, v)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        rustorch.tensor(a).mm(rustorch.tensor(a))
    with pytest.raises(RuntimeError, match="matrix"):
        rustorch.tensor(p).mm(rustorch.tensor(q))
    with pytest.raises(RuntimeError, match="batch"):
        rustorch.tensor(p).bmm(rustorch.tensor(np.zeros((3, 4, 5), np.float32)))


# ------------------------------------------------------------------------------ comparison

def test_allclose_isclose_equal():
    a = np.array([1.0, 2.0, np.nan], np.float32)
    b = np.array([1.0 + 1e-6, 2.1, np.nan], np.float32)
    compare(lambda lib, x, y: lib.isclose(x, y), a, b, grad=False)
    compare(lambda lib, x, y: x.isclose(y, equal_nan=True, atol=0.2), a, b, grad=False)
    compare(lambda lib, x, y: x[:1].allclose(y[:1]), a, b, grad=False)
    compare(lambda lib, x, y: lib.allclose(x, y), a, b, grad=False)
    compare(lambda lib, x, y: x.equal(x), a[:2], b, grad=False)
    compare(lambda lib, x, y: lib.equal(x, y), a[:2], b[:2], grad=False)
    compare(lambda lib, x, y: x.equal(x[:1]), a, b, grad=False)


# ------------------------------------------------------------------------------- creation

@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_like_and_new_factories(dtype):
    x = np.ones((2, 3), dtype)
    rt, th = rustorch.tensor(x), torch.from_numpy(x)
    for name in ("zeros_like", "ones_like", "empty_like"):
        r, t = getattr(rustorch, name)(rt), getattr(torch, name)(th)
        assert tuple(r.shape) == tuple(t.shape) and r.dtype == x.dtype
        if name != "empty_like":
            np.testing.assert_array_equal(np.asarray(r), t.numpy())
    r = rustorch.full_like(rt, 1)
    np.testing.assert_array_equal(np.asarray(r), torch.full_like(th, 1).numpy())
    for name in ("new_zeros", "new_ones"):
        r, t = getattr(rt, name)(4, 2), getattr(th, name)(4, 2)
        assert tuple(r.shape) == (4, 2) and r.dtype == x.dtype
        np.testing.assert_array_equal(np.asarray(r), t.numpy())
    assert rt.new_empty((5,)).shape == (5,)
    np.testing.assert_array_equal(np.asarray(rt.new_full((2, 2), 1)), th.new_full((2, 2), 1).numpy())
    assert rt.new_tensor([1, 0]).dtype == x.dtype
    assert rt.new_zeros(3, dtype=rustorch.float32).dtype == np.float32


def test_randn_like_rand_like_randint_like_shapes_and_dtypes():
    x = rustorch.zeros(3, 4)
    for fn in (rustorch.randn_like, rustorch.rand_like):
        r = fn(x)
        assert r.shape == (3, 4) and r.dtype == np.float32
    rustorch.manual_seed(0)
    a = rustorch.randn_like(x)
    rustorch.manual_seed(0)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(rustorch.randn_like(x)))
    r = rustorch.randint_like(x, 3, 7)
    assert r.shape == (3, 4) and 3 <= r.min().item() and r.max().item() < 7
    assert 0 <= rustorch.rand_like(x).min().item() < 1


@pytest.mark.parametrize("args,kwargs", [((5,), {}), ((1, 4), {}), ((0, 1, 0.25), {}), ((2, -3, -1), {}),
                                         ((0.5, 3), {}), ((4,), {"dtype": "float32"}), ((1, 2, 0.1), {})])
def test_arange_matches_torch(args, kwargs):
    rt = rustorch.arange(*args, **{k: getattr(rustorch, v) for k, v in kwargs.items()})
    th = torch.arange(*args, **{k: getattr(torch, v) for k, v in kwargs.items()})
    assert rt.shape == tuple(th.shape)
    assert_close(np.asarray(rt).astype(np.float64), th.double())
    assert (np.asarray(rt).dtype.kind == "f") == th.dtype.is_floating_point


@pytest.mark.parametrize("start,end,steps", [(0, 1, 5), (-3.5, 10, 7), (2, 2, 1), (0, 1, 0), (1, -1, 100)])
def test_linspace_eye_full_empty(start, end, steps):
    assert_close(np.asarray(rustorch.linspace(start, end, steps)), torch.linspace(start, end, steps))
    np.testing.assert_array_equal(np.asarray(rustorch.eye(3)), torch.eye(3).numpy())
    np.testing.assert_array_equal(np.asarray(rustorch.eye(2, 4)), torch.eye(2, 4).numpy())
    for fill in (1.5, 3, True):
        r, t = rustorch.full((2, 3), fill), torch.full((2, 3), fill)
        np.testing.assert_array_equal(np.asarray(r), t.numpy())
        assert np.asarray(r).dtype.kind == t.numpy().dtype.kind
    assert rustorch.empty(2, 3).shape == (2, 3)
    assert rustorch.zeros((2, 3), dtype=rustorch.int32).dtype == np.int32


def test_clone_keeps_history_and_detach():
    x = rustorch.tensor([1.0, 2.0], requires_grad=True)
    y = (x.clone() * 3).sum()
    y.backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [3.0, 3.0])
    with rustorch.no_grad():
        assert not x.clone().requires_grad
    c = rustorch.tensor([1, 2]).clone()
    assert not c.requires_grad and c.tolist() == [1, 2]


def test_cat_stack_promote_and_check():
    a = rustorch.tensor(np.ones((2, 3), np.float32))
    b = rustorch.tensor(np.ones((1, 3), np.int32))
    assert rustorch.cat([a, b]).dtype == np.float32
    assert rustorch.cat([a, b]).shape == (3, 3)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        rustorch.cat([a, rustorch.zeros(2, 2)])
    with pytest.raises(RuntimeError, match="equal size"):
        rustorch.stack([a, b])
    compare(lambda lib, x, y: lib.hstack([x, y]), np.ones((2, 3), np.float32), np.zeros((2, 1), np.float32))
    compare(lambda lib, x, y: lib.vstack([x, y]), np.ones(3, np.float32), np.zeros((2, 3), np.float32))


def test_size_is_a_tuple_with_numel():
    s = rustorch.zeros(2, 3, 4).shape
    assert s == (2, 3, 4) and isinstance(s, tuple) and s.numel() == 24
    assert isinstance(s[1:], rustorch.Size) and s[1:] == (3, 4)
    assert repr(s) == "rustorch.Size([2, 3, 4])"
    assert rustorch.zeros(2).size() == (2,)


def test_metadata_methods():
    x = rustorch.zeros(2, 3, 4)
    t = torch.zeros(2, 3, 4)
    assert x.stride() == t.stride() and x.stride(1) == t.stride(1)
    assert x.is_floating_point() and not rustorch.zeros(2, dtype=rustorch.int32).is_floating_point()
    assert x.element_size() == 4 and x.nelement() == 24 and x.ndimension() == 3 and x.is_contiguous()
    assert x.bfloat16().dtype == rustorch.bfloat16
    assert x.short().dtype == np.int16 and x.byte().dtype == np.uint8 and x.char().dtype == np.int8
    assert rustorch.zeros(2, dtype=rustorch.int32).type_as(x).dtype == np.float32
    assert rustorch.numel(x) == 24 and rustorch.is_tensor(x) and not rustorch.is_tensor(np.zeros(2))


def test_inference_mode_and_threads():
    x = rustorch.ones(2, requires_grad=True)
    with rustorch.inference_mode():
        assert not (x * 2).requires_grad
        assert rustorch.is_inference_mode_enabled()
    with rustorch.inference_mode(False):
        assert (x * 2).requires_grad

    @rustorch.inference_mode()
    def f(t):
        return t * 2

    @rustorch.inference_mode
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad and (x * 2).requires_grad
    previous = rustorch.get_num_threads()
    rustorch.set_num_threads(3)
    assert rustorch.get_num_threads() == 3
    rustorch.set_num_threads(previous)
    with pytest.raises(RuntimeError):
        rustorch.set_num_threads(0)


def test_multinomial_and_bernoulli():
    rustorch.manual_seed(1)
    w = rustorch.tensor([[0.0, 1.0, 0.0, 3.0], [1.0, 1.0, 1.0, 1.0]])
    draws = rustorch.multinomial(w, 2)
    assert draws.shape == (2, 2)
    assert set(draws[0].tolist()) == {1, 3}
    assert len(set(draws[1].tolist())) == 2
    with_replacement = rustorch.multinomial(w, 50, replacement=True)
    assert set(with_replacement[0].tolist()) <= {1, 3}
    with pytest.raises(RuntimeError):
        rustorch.multinomial(w, 5)
    p = rustorch.full((2000,), 0.3)
    sample = rustorch.bernoulli(p)
    assert set(np.unique(np.asarray(sample)).tolist()) <= {0.0, 1.0}
    assert abs(float(sample.mean().item()) - 0.3) < 0.05


def test_functions_accept_keywords_and_python_numbers():
    x = rustorch.tensor([[1.0, -2.0], [3.0, 4.0]])
    assert rustorch.sum(x, dim=1).tolist() == [-1.0, 7.0]
    assert rustorch.max(x, dim=0).indices.tolist() == [1, 1]
    assert rustorch.min(x) .item() == -2.0
    assert rustorch.abs(x).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert rustorch.clamp(x, min=0).tolist() == [[1.0, 0.0], [3.0, 4.0]]
    assert rustorch.exp(rustorch.tensor(0.0)).item() == 1.0


def test_complex_views_and_polar():
    rng = np.random.default_rng(12)
    pairs = _normal(rng, (3, 2))
    magnitude, angle = np.abs(_normal(rng, (3,))), _normal(rng, (3,))
    z = rustorch.view_as_complex(rustorch.tensor(pairs))
    tz = torch.view_as_complex(torch.from_numpy(pairs.copy()))
    np.testing.assert_allclose(np.asarray(z), tz.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(rustorch.view_as_real(z)), torch.view_as_real(tz).numpy(), rtol=1e-6)
    p = rustorch.polar(rustorch.tensor(magnitude), rustorch.tensor(angle))
    tp = torch.polar(torch.from_numpy(magnitude), torch.from_numpy(angle))
    np.testing.assert_allclose(np.asarray(p), tp.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="complex"):
        rustorch.view_as_real(rustorch.zeros(2))
    with pytest.raises(RuntimeError, match="size 2"):
        rustorch.view_as_complex(rustorch.zeros(3))


@pytest.mark.parametrize("bounds, low, high", [((), 0, 2 ** 24), ((7,), 0, 6), ((-3, 4), -3, 3)])
def test_random_fills_the_torch_range(bounds, low, high):
    x, reference = rustorch.zeros(4000), torch.zeros(4000)
    assert x.random_(*bounds) is x
    reference.random_(*bounds)
    values = np.asarray(x)
    assert values.dtype == np.float32 and values.min() >= low and values.max() <= high
    assert np.array_equal(values, np.round(values))
    if high - low < 10:  # every value of a small range is drawn, as torch draws them
        assert set(np.unique(values)) == set(np.unique(reference.numpy())) == set(range(low, high + 1))
    with pytest.raises(RuntimeError, match="from"):
        rustorch.zeros(3).random_(5, 5)
    with pytest.raises(RuntimeError, match="from"):
        torch.zeros(3).random_(5, 5)


def test_scatter_in_place_matches_torch(rng):
    src = rng.standard_normal((3, 5)).astype(np.float32)
    index = rng.integers(0, 4, (2, 5))
    for reduce in (None, "add", "multiply"):
        ours, theirs = rustorch.ones(4, 5), torch.ones(4, 5)
        kwargs = {} if reduce is None else {"reduce": reduce}
        assert ours.scatter_(0, rustorch.tensor(index), rustorch.tensor(src[:2]), **kwargs) is ours
        with warnings.catch_warnings():  # torch deprecates reduce= with a tensor src (still supported)
            warnings.simplefilter("ignore", UserWarning)
            theirs.scatter_(0, torch.from_numpy(index), torch.from_numpy(src[:2]), **kwargs)
        if reduce is None:  # duplicate indices leave the last write undefined in both: compare once-written rows
            unique_columns = [c for c in range(5) if index[0, c] != index[1, c]]
            np.testing.assert_array_equal(np.asarray(ours)[:, unique_columns], theirs.numpy()[:, unique_columns])
        else:
            np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), rtol=1e-6)
    ours, theirs = rustorch.zeros(2, 3), torch.zeros(2, 3)
    ours.scatter_(1, rustorch.tensor([[2], [0]]), value=4.5)
    theirs.scatter_(1, torch.tensor([[2], [0]]), value=4.5)
    np.testing.assert_array_equal(np.asarray(ours), theirs.numpy())


def test_detach_in_place_ends_the_history(rng):
    w = rustorch.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    tw = torch.tensor(np.asarray(w.detach()), requires_grad=True)
    h, th = w * 2, tw * 2
    assert h.detach_() is h
    th.detach_()
    assert (h.requires_grad, h.is_leaf) == (th.requires_grad, th.is_leaf) == (False, True)
    np.testing.assert_array_equal(np.asarray(h), th.numpy())
    view, tview = (w * 1)[1:], (tw * 1)[1:]
    with pytest.raises(RuntimeError, match="detach views in-place"):
        view.detach_()
    with pytest.raises(RuntimeError, match="detach views in-place"):
        tview.detach_()
