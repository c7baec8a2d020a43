"""Facade MultiheadAttention and Transformer layers against torch.nn, with torch's weights loaded
through ``load_state_dict``: outputs, attention weights, input and parameter gradients.

torch warns that a float attention mask beside a boolean key-padding mask is deprecated; the
tests mix them on purpose (both are still supported), so that warning is ignored here."""
import warnings

import numpy as np
import pytest
import torch

import rustorch
from rustorch import nn
from tests.facade.facade_utils import assert_param_grads
from tests.facade.test_sequence_layers import backward_both, load_from_torch
from tests.torch_compare import assert_close, to_torch

RTOL = 2e-5

pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
              pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")]


def _randomise(th):
    with torch.no_grad():
        for p in th.parameters():
            p.copy_(torch.randn(p.shape) * 0.5)


@pytest.mark.parametrize("kw,need_weights,average", [
    (dict(), True, True),
    (dict(kdim=3, vdim=5, batch_first=True), True, False),
    (dict(add_bias_kv=True, add_zero_attn=True), False, True),
    (dict(bias=False, batch_first=True), False, True),
])
def test_multihead_attention_matches_torch(rng, kw, need_weights, average):
    th = torch.nn.MultiheadAttention(8, 2, **kw)
    rt = nn.MultiheadAttention(8, 2, **kw)
    assert [n for n, _ in rt.named_parameters()] == [n for n, _ in th.named_parameters()]
    _randomise(th)
    load_from_torch(rt, th)
    bf = kw.get("batch_first", False)
    lead_q, lead_k = ((3, 4), (3, 6)) if bf else ((4, 3), (6, 3))
    arrays = [rng.standard_normal(lead_q + (8,)), rng.standard_normal(lead_k + (kw.get("kdim", 8),)),
              rng.standard_normal(lead_k + (kw.get("vdim", 8),))]
    arrays = [a.astype(np.float32) for a in arrays]
    kpm = np.zeros((3, 6), bool)
    kpm[1, 4:] = True
    attn_mask = rng.standard_normal((4, 6)).astype(np.float32)
    rt_in = [rustorch.tensor(a, requires_grad=True) for a in arrays]
    th_in = [to_torch(a, True) for a in arrays]
    out, w = rt(*rt_in, key_padding_mask=rustorch.tensor(kpm), attn_mask=rustorch.tensor(attn_mask),
                need_weights=need_weights, average_attn_weights=average)
    t_out, t_w = th(*th_in, key_padding_mask=torch.from_numpy(kpm), attn_mask=to_torch(attn_mask),
                    need_weights=need_weights, average_attn_weights=average)
    assert (w is None) == (t_w is None)
    outs, t_outs = ([out], [t_out]) if w is None else ([out, w], [t_out, t_w])
    backward_both(outs, t_outs, rng)  # first, so that one program computes outputs and gradients
    for o, t in zip(outs, t_outs):
        assert_close(np.asarray(o), t, RTOL)
    for a, b in zip(rt_in, th_in):
        assert_close(np.asarray(a.grad), b.grad, RTOL, 1e-5)
    assert_param_grads(rt, th, RTOL, 1e-5)


def test_multihead_attention_initialisation_and_unbatched(rng):
    rt = nn.MultiheadAttention(6, 3, add_bias_kv=True)
    np.testing.assert_array_equal(np.asarray(rt.in_proj_bias), 0)
    np.testing.assert_array_equal(np.asarray(rt.out_proj.bias), 0)
    bound = np.sqrt(6 / (6 + 18))
    assert np.abs(np.asarray(rt.in_proj_weight)).max() <= bound
    assert rt.bias_k.shape == (1, 1, 6)
    th = torch.nn.MultiheadAttention(6, 3, add_bias_kv=True)
    load_from_torch(rt, th)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    out, w = rt(*(rustorch.tensor(x),) * 3)
    t_out, t_w = th(*(to_torch(x),) * 3)
    assert_close(np.asarray(out), t_out, RTOL)
    assert_close(np.asarray(w), t_w, RTOL)


@pytest.mark.parametrize("norm_first,activation,batch_first", [
    (False, "relu", False), (True, "gelu", True)])
def test_encoder_and_decoder_layers_match_torch_in_eval(rng, norm_first, activation, batch_first):
    kw = dict(dim_feedforward=16, dropout=0.1, activation=activation, batch_first=batch_first, norm_first=norm_first)
    for th, rt, decoder in ((torch.nn.TransformerEncoderLayer(8, 2, **kw), nn.TransformerEncoderLayer(8, 2, **kw), False),
                            (torch.nn.TransformerDecoderLayer(8, 2, **kw), nn.TransformerDecoderLayer(8, 2, **kw), True)):
        _randomise(th)
        load_from_torch(rt, th)
        th.eval()
        rt.eval()
        shape = (2, 5, 8) if batch_first else (5, 2, 8)
        x_np = rng.standard_normal(shape).astype(np.float32)
        m_np = rng.standard_normal((2, 4, 8) if batch_first else (4, 2, 8)).astype(np.float32)
        mask = np.triu(np.full((5, 5), -np.inf, np.float32), 1)
        kpm = np.zeros((2, 5), bool)
        kpm[0, 3:] = True
        x, tx = rustorch.tensor(x_np, requires_grad=True), to_torch(x_np, True)
        if decoder:
            out = rt(x, rustorch.tensor(m_np), tgt_mask=rustorch.tensor(mask), tgt_key_padding_mask=rustorch.tensor(kpm))
            t_out = th(tx, to_torch(m_np), tgt_mask=to_torch(mask), tgt_key_padding_mask=torch.from_numpy(kpm))
        else:
            out = rt(x, src_mask=rustorch.tensor(mask), src_key_padding_mask=rustorch.tensor(kpm))
            t_out = th(tx, src_mask=to_torch(mask), src_key_padding_mask=torch.from_numpy(kpm))
        backward_both([out], [t_out], rng)
        assert_close(np.asarray(out), t_out, RTOL, 1e-5)
        assert_close(np.asarray(x.grad), tx.grad, RTOL, 1e-5)
        assert_param_grads(rt, th, 5e-5, 1e-5)


def test_transformer_state_dict_from_torch_and_forward(rng):
    torch.manual_seed(0)
    th = torch.nn.Transformer(8, 2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16, dropout=0.0)
    rt = nn.Transformer(8, 2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16, dropout=0.0)
    load_from_torch(rt, th)
    src = rng.standard_normal((6, 2, 8)).astype(np.float32)
    tgt = rng.standard_normal((4, 2, 8)).astype(np.float32)
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    t_mask = torch.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(np.asarray(mask), t_mask.numpy())
    out = rt(rustorch.tensor(src), rustorch.tensor(tgt), tgt_mask=mask)
    t_out = th(to_torch(src), to_torch(tgt), tgt_mask=t_mask)
    backward_both([out], [t_out], rng)
    assert_close(np.asarray(out), t_out, RTOL, 1e-5)
    assert_param_grads(rt, th, 5e-5, 1e-5)


def test_encoder_copies_share_initial_weights_and_dropout_trains():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    encoder = nn.TransformerEncoder(layer, 2)
    a, b = encoder.layers[0].linear1.weight, encoder.layers[1].linear1.weight
    assert a is not b
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = rustorch.randn(3, 2, 8)
    with rustorch.no_grad():
        train1, train2 = layer(x).numpy(), layer(x).numpy()
        layer.eval()
        eval1, eval2 = layer(x).numpy(), layer(x).numpy()
    assert not np.allclose(train1, train2)
    np.testing.assert_array_equal(eval1, eval2)


def test_functional_attention_forms(rng):
    q, k, v = (rng.standard_normal((2, 3, 4, 5)).astype(np.float32) for _ in range(3))
    out = rustorch.nn.functional.scaled_dot_product_attention(*(rustorch.tensor(a) for a in (q, k, v)), is_causal=True)
    expected = torch.nn.functional.scaled_dot_product_attention(*(to_torch(a) for a in (q, k, v)), is_causal=True)
    assert_close(np.asarray(out), expected, RTOL)
    x = rng.standard_normal((2, 5)).astype(np.float32)
    assert_close(np.asarray(rustorch.nn.functional.gelu(rustorch.tensor(x), approximate="tanh")),
                 torch.nn.functional.gelu(to_torch(x), approximate="tanh"))


def test_encoder_inference_zeroes_padded_positions_as_torch_fast_path(rng):
    kw = dict(dim_feedforward=16, dropout=0.0, batch_first=True)
    th = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, **kw), 1, norm=torch.nn.LayerNorm(8))
    rt = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, **kw), 1, norm=nn.LayerNorm(8))
    _randomise(th)
    load_from_torch(rt, th)
    th.eval()
    rt.eval()
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    kpm = np.zeros((2, 5), bool)
    kpm[1, 3:] = True
    with torch.no_grad():
        expected = th(to_torch(x), src_key_padding_mask=torch.from_numpy(kpm))
    with rustorch.no_grad():
        out = rt(rustorch.tensor(x), src_key_padding_mask=rustorch.tensor(kpm))
    assert_close(np.asarray(out), expected, RTOL, 1e-5)
    # With gradients wanted, torch takes the ordinary path: padded positions are computed.
    assert_close(np.asarray(rt(rustorch.tensor(x), src_key_padding_mask=rustorch.tensor(kpm)).detach()),
                 th(to_torch(x), src_key_padding_mask=torch.from_numpy(kpm)), RTOL, 1e-5)
