"""Facade Embedding, LayerNorm/GroupNorm/RMSNorm, RNN/LSTM/GRU and cells against torch.nn.

Every test builds the torch module, loads its state dict into the rustorch twin (the state-dict
contract: same keys, shapes and numbers), and compares outputs, hidden states, input and
parameter gradients in float32.
"""
import warnings

import numpy as np
import pytest
import torch

import rustorch
from rustorch import nn
from rustorch.nn.utils import rnn as rnn_utils
from tests.facade.facade_utils import assert_param_grads
from tests.torch_compare import assert_close, to_torch

RTOL = 2e-5


def load_from_torch(rt_module, th_module):
    state = {k: v.detach().numpy() for k, v in th_module.state_dict().items()}
    assert list(rt_module.state_dict()) == list(state)
    rt_module.load_state_dict(state)


def backward_both(outs, t_outs, rng):
    """Backpropagate the same random cotangents through matching output lists."""
    rt_total, th_total = 0, 0
    for out, t_out in zip(outs, t_outs):
        cot = rng.standard_normal(out.shape).astype(np.float32)
        rt_total = rt_total + (out * rustorch.tensor(cot)).sum()
        th_total = th_total + (t_out * to_torch(cot)).sum()
    rt_total.backward()
    th_total.backward()


# ---------------------------------------------------------------------------- embedding

@pytest.mark.parametrize("padding_idx,scale_grad_by_freq", [(None, False), (2, False), (-1, True)])
def test_embedding_matches_torch(rng, padding_idx, scale_grad_by_freq):
    th = torch.nn.Embedding(7, 4, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    rt = nn.Embedding(7, 4, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    if padding_idx is not None:
        assert np.all(np.asarray(rt.weight)[padding_idx] == 0)
    load_from_torch(rt, th)
    idx = rng.integers(0, 7, (3, 5))
    idx[0, :3] = 6
    idx[1, 1] = 2
    out, t_out = rt(rustorch.tensor(idx)), th(torch.from_numpy(idx))
    assert_close(np.asarray(out), t_out)
    backward_both([out], [t_out], rng)
    assert_param_grads(rt, th, RTOL)


def test_embedding_max_norm_renormalises_weight_in_place(rng):
    th = torch.nn.Embedding(6, 5, max_norm=1.5, norm_type=3.0)
    rt = nn.Embedding(6, 5, max_norm=1.5, norm_type=3.0)
    load_from_torch(rt, th)
    idx = np.array([[0, 2, 2], [5, 1, 0]])
    out, t_out = rt(rustorch.tensor(idx)), th(torch.from_numpy(idx))
    assert_close(np.asarray(out), t_out, RTOL)
    assert_close(np.asarray(rt.weight), th.weight, RTOL)  # rows 3, 4 untouched, others renormed
    backward_both([out], [t_out], rng)
    assert_param_grads(rt, th, RTOL)


def test_embedding_from_pretrained_and_errors():
    weights = np.arange(12, dtype=np.float32).reshape(4, 3)
    emb = nn.Embedding.from_pretrained(rustorch.tensor(weights))
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(np.asarray(emb(rustorch.tensor([3, 1]))), weights[[3, 1]])
    assert nn.Embedding.from_pretrained(rustorch.tensor(weights), freeze=False).weight.requires_grad
    with pytest.raises(IndexError, match="out of range"):
        emb(rustorch.tensor([0, 4]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match="sparse"):
        nn.Embedding(4, 2, sparse=True)
    with pytest.raises(TypeError, match="integer"):
        emb(rustorch.tensor([0.0, 1.0]))


def test_functional_embedding_form(rng):
    w = rng.standard_normal((5, 3)).astype(np.float32)
    idx = np.array([4, 0, 4])
    out = rustorch.nn.functional.embedding(rustorch.tensor(idx), rustorch.tensor(w), padding_idx=0)
    expected = torch.nn.functional.embedding(torch.from_numpy(idx), to_torch(w), padding_idx=0)
    assert_close(np.asarray(out), expected)


# ------------------------------------------------------------------------ normalisation

@pytest.mark.parametrize("shape,normalized,affine,bias", [
    ((4, 6), 6, True, True), ((2, 3, 4, 5), (4, 5), True, False), ((3, 7), [7], False, True)])
def test_layer_norm_matches_torch(rng, shape, normalized, affine, bias):
    th = torch.nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias)
    rt = nn.LayerNorm(normalized, eps=1e-4, elementwise_affine=affine, bias=bias)
    with torch.no_grad():
        for p in th.parameters():
            p.copy_(torch.randn(p.shape))
    load_from_torch(rt, th)
    x_np = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    x, tx = rustorch.tensor(x_np, requires_grad=True), to_torch(x_np, True)
    out, t_out = rt(x), th(tx)
    assert_close(np.asarray(out), t_out, RTOL)
    backward_both([out], [t_out], rng)
    assert_close(np.asarray(x.grad), tx.grad, RTOL, 1e-5)
    assert_param_grads(rt, th, RTOL, 1e-5)


def test_group_norm_and_rms_norm_match_torch(rng):
    x_np = rng.standard_normal((3, 6, 4, 2)).astype(np.float32)
    for th, rt in ((torch.nn.GroupNorm(3, 6), nn.GroupNorm(3, 6)),
                   (torch.nn.RMSNorm([4, 2]), nn.RMSNorm([4, 2])),
                   (torch.nn.RMSNorm(2, eps=1e-3, elementwise_affine=False), nn.RMSNorm(2, eps=1e-3,
                                                                                       elementwise_affine=False))):
        with torch.no_grad():
            for p in th.parameters():
                p.copy_(torch.randn(p.shape))
        load_from_torch(rt, th)
        x, tx = rustorch.tensor(x_np, requires_grad=True), to_torch(x_np, True)
        out, t_out = rt(x), th(tx)
        assert_close(np.asarray(out), t_out, RTOL)
        backward_both([out], [t_out], rng)
        assert_close(np.asarray(x.grad), tx.grad, RTOL, 1e-5)
        assert_param_grads(rt, th, RTOL, 1e-5)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(5)(rustorch.randn(2, 4))


# ---------------------------------------------------------------------------- recurrent

RNN_CONFIGS = [
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(num_layers=2, proj_size=3, batch_first=True)),
    ("LSTM", dict(bias=False)),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(num_layers=1)),
    ("RNN", dict(nonlinearity="relu", num_layers=2)),
    ("RNN", dict(bidirectional=True, bias=False)),
]


def _pair(kind, input_size, hidden, **kw):
    th = getattr(torch.nn, kind)(input_size, hidden, **kw)
    rt = getattr(nn, kind)(input_size, hidden, **kw)
    load_from_torch(rt, th)
    return rt, th


def _states(kind, out):
    output, hidden = out
    return [output] + (list(hidden) if kind == "LSTM" else [hidden])


@pytest.mark.parametrize("kind,kw", RNN_CONFIGS)
def test_rnn_family_matches_torch(rng, kind, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "LSTM with projections is not supported with oneDNN"
        rt, th = _pair(kind, 5, 6, **kw)
        batch_first = kw.get("batch_first", False)
        shape = (3, 7, 5) if batch_first else (7, 3, 5)
        x_np = rng.standard_normal(shape).astype(np.float32)
        num_dirs = 2 if kw.get("bidirectional") else 1
        h_size = kw.get("proj_size", 0) or 6
        h0_np = rng.standard_normal((kw.get("num_layers", 1) * num_dirs, 3, h_size)).astype(np.float32)
        c0_np = rng.standard_normal((kw.get("num_layers", 1) * num_dirs, 3, 6)).astype(np.float32)
        x, tx = rustorch.tensor(x_np, requires_grad=True), to_torch(x_np, True)
        h0, th0 = rustorch.tensor(h0_np, requires_grad=True), to_torch(h0_np, True)
        c0, tc0 = rustorch.tensor(c0_np, requires_grad=True), to_torch(c0_np, True)
        hx, thx = ((h0, c0), (th0, tc0)) if kind == "LSTM" else (h0, th0)
        outs, t_outs = _states(kind, rt(x, hx)), _states(kind, th(tx, thx))
        for out, t_out in zip(outs, t_outs):
            assert_close(np.asarray(out), t_out, RTOL)
        backward_both(outs, t_outs, rng)
    assert_close(np.asarray(x.grad), tx.grad, RTOL, 1e-5)
    assert_close(np.asarray(h0.grad), th0.grad, RTOL, 1e-5)
    if kind == "LSTM":
        assert_close(np.asarray(c0.grad), tc0.grad, RTOL, 1e-5)
    assert_param_grads(rt, th, RTOL, 1e-5)


def test_unbatched_input_and_default_state(rng):
    rt, th = _pair("GRU", 4, 5, num_layers=2)
    x_np = rng.standard_normal((6, 4)).astype(np.float32)
    out, h = rt(rustorch.tensor(x_np))
    t_out, t_h = th(to_torch(x_np))
    assert out.shape == (6, 5) and h.shape == (2, 5)
    assert_close(np.asarray(out), t_out, RTOL)
    assert_close(np.asarray(h), t_h, RTOL)


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequences_match_torch(rng, enforce_sorted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rt, th = _pair("LSTM", 3, 4, num_layers=2, bidirectional=True)
        lengths = [6, 4, 4, 1] if enforce_sorted else [2, 6, 1, 4]
        x_np = rng.standard_normal((6, 4, 3)).astype(np.float32)
        x, tx = rustorch.tensor(x_np, requires_grad=True), to_torch(x_np, True)
        packed = rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
        t_packed = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, enforce_sorted=enforce_sorted)
        np.testing.assert_array_equal(np.asarray(packed.batch_sizes), t_packed.batch_sizes.numpy())
        if not enforce_sorted:
            np.testing.assert_array_equal(np.asarray(packed.sorted_indices), t_packed.sorted_indices.numpy())
            np.testing.assert_array_equal(np.asarray(packed.unsorted_indices), t_packed.unsorted_indices.numpy())
        assert_close(np.asarray(packed.data), t_packed.data)
        out, (h, c) = rt(packed)
        t_out, (t_h, t_c) = th(t_packed)
        assert isinstance(out, rnn_utils.PackedSequence)
        assert_close(np.asarray(out.data), t_out.data, RTOL)
        padded, out_lengths = rnn_utils.pad_packed_sequence(out, batch_first=True, total_length=7)
        t_padded, t_lengths = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=True, total_length=7)
        np.testing.assert_array_equal(np.asarray(out_lengths), t_lengths.numpy())
        outs, t_outs = [padded, h, c], [t_padded, t_h, t_c]
        for o, t in zip(outs, t_outs):
            assert_close(np.asarray(o), t, RTOL)
        backward_both(outs, t_outs, rng)
    assert_close(np.asarray(x.grad), tx.grad, RTOL, 1e-5)
    assert_param_grads(rt, th, RTOL, 1e-5)


def test_pad_sequence_and_errors(rng):
    seqs = [rng.standard_normal((n, 2)).astype(np.float32) for n in (3, 5, 1)]
    for batch_first in (False, True):
        for side in ("right", "left"):
            out = rnn_utils.pad_sequence([rustorch.tensor(s) for s in seqs], batch_first, -1.0, side)
            expected = torch.nn.utils.rnn.pad_sequence([to_torch(s) for s in seqs], batch_first, -1.0, side)
            assert_close(np.asarray(out), expected)
    with pytest.raises(RuntimeError, match="enforce_sorted"):
        rnn_utils.pack_padded_sequence(rustorch.randn(4, 2, 1), [2, 4])
    unpacked = rnn_utils.unpack_sequence(rnn_utils.pack_sequence([rustorch.tensor(s) for s in seqs], False))
    for got, want in zip(unpacked, seqs):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_rnn_dropout_between_layers_only_in_training():
    rustorch.manual_seed(0)
    model = nn.LSTM(3, 8, num_layers=3, dropout=0.5)
    x = rustorch.randn(5, 2, 3)
    a, b = model(x)[0].detach().numpy(), model(x)[0].detach().numpy()
    assert not np.allclose(a, b)  # a new mask per call
    model.eval()
    c, d = model(x)[0].detach().numpy(), model(x)[0].detach().numpy()
    np.testing.assert_array_equal(c, d)
    model.dropout = 0.0
    model.train()
    np.testing.assert_allclose(model(x)[0].detach().numpy(), c, rtol=1e-6)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(2, 3, dropout=0.2)
    with pytest.raises(ValueError, match="proj_size"):
        nn.GRU(2, 3, proj_size=1)


def test_rnn_training_compiles_once_and_parameters_layout():
    model = nn.LSTM(4, 6, num_layers=2)
    assert [p.shape for p in model.all_weights[1]] == [(24, 6), (24, 6), (24,), (24,)]
    model.flatten_parameters()
    opt = rustorch.optim.SGD(model.parameters(), lr=0.1)
    x = rustorch.randn(5, 3, 4)
    losses = []
    before = None
    for step in range(4):
        opt.zero_grad()
        out, _ = model(x)
        loss = (out * out).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step == 1:  # the second step's program adds the first optimizer update
            before = rustorch.compile_count()
    assert rustorch.compile_count() == before
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(rng, kind):
    th = getattr(torch.nn, kind)(4, 5)
    rt = getattr(nn, kind)(4, 5)
    load_from_torch(rt, th)
    x_np = rng.standard_normal((3, 4)).astype(np.float32)
    h_np = rng.standard_normal((3, 5)).astype(np.float32)
    x, tx = rustorch.tensor(x_np, requires_grad=True), to_torch(x_np, True)
    h, th_h = rustorch.tensor(h_np, requires_grad=True), to_torch(h_np, True)
    if kind == "LSTMCell":
        outs, t_outs = list(rt(x, (h, h))), list(th(tx, (th_h, th_h)))
    else:
        outs, t_outs = [rt(x, h)], [th(tx, th_h)]
    for o, t in zip(outs, t_outs):
        assert_close(np.asarray(o), t, RTOL)
    backward_both(outs, t_outs, rng)
    assert_close(np.asarray(x.grad), tx.grad, RTOL, 1e-5)
    assert_close(np.asarray(h.grad), th_h.grad, RTOL, 1e-5)
    assert_param_grads(rt, th, RTOL, 1e-5)
    unbatched = rt(rustorch.tensor(x_np[0]))
    t_unbatched = th(to_torch(x_np[0]))
    for o, t in zip(unbatched if kind == "LSTMCell" else [unbatched],
                    t_unbatched if kind == "LSTMCell" else [t_unbatched]):
        assert_close(np.asarray(o), t, RTOL)


def test_torch_saved_lstm_checkpoint_loads_and_matches(tmp_path, rng):
    th = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    torch.save(th.state_dict(), tmp_path / "lstm.pth")
    rt = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    rt.load_state_dict(rustorch.load(str(tmp_path / "lstm.pth")))
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    out, (h, c) = rt(rustorch.tensor(x))
    t_out, (t_h, t_c) = th(to_torch(x))
    for o, t in ((out, t_out), (h, t_h), (c, t_c)):
        assert_close(np.asarray(o.detach()), t, RTOL)
    rustorch.save(rt.state_dict(), str(tmp_path / "back.pth"))
    th.load_state_dict(torch.load(tmp_path / "back.pth"))  # and back into torch, weights_only
