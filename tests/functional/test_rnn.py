"""rnn and the cell functions against torch.nn.RNN/LSTM/GRU: outputs, final states, gradients of
the input, the initial state and every weight; lengths (packed sequences); one scan per layer
and direction; jit and vmap."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from rustorch import functional as F
from tests.torch_compare import assert_close, to_torch

RTOL = 2e-5
MODES = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN_TANH": torch.nn.RNN}


def _weights(module, num_layers, bidirectional):
    groups = []
    for layer in range(num_layers):
        for suffix in ("", "_reverse")[: 1 + bidirectional]:
            def get(stem):
                p = getattr(module, f"{stem}_l{layer}{suffix}", None)
                return None if p is None else jnp.asarray(p.detach().numpy())
            groups.append(F.RNNWeights(get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"),
                                       get("weight_hr")))
    return groups


@pytest.mark.parametrize("mode,kw", [("LSTM", dict(num_layers=2, bidirectional=True)),
                                     ("LSTM", dict(proj_size=2, batch_first=True)),
                                     ("GRU", dict(num_layers=2)), ("RNN_TANH", dict(bidirectional=True))])
def test_rnn_matches_torch_with_lengths(rng, mode, kw):
    torch.manual_seed(1)
    module = MODES[mode](3, 4, **kw)
    num_layers, bidirectional = kw.get("num_layers", 1), kw.get("bidirectional", False)
    weights = _weights(module, num_layers, bidirectional)
    batch_first = kw.get("batch_first", False)
    x = rng.standard_normal((3, 5, 3) if batch_first else (5, 3, 3)).astype(np.float32)
    lengths = np.array([5, 2, 4])
    run = jax.jit(lambda x, w: F.rnn(x, None, w, mode=mode, num_layers=num_layers, bidirectional=bidirectional,
                                     batch_first=batch_first, lengths=jnp.asarray(lengths)))
    (out, state), vjp = jax.vjp(run, jnp.asarray(x), weights)
    h_n = state[0] if mode == "LSTM" else state
    cot_out = rng.standard_normal(out.shape).astype(np.float32)
    cot_state = jax.tree_util.tree_map(lambda s: jnp.asarray(rng.standard_normal(s.shape).astype(np.float32)), state)
    grad_x, grad_w = vjp((jnp.asarray(cot_out), cot_state))
    tx = to_torch(x, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.from_numpy(lengths), batch_first=batch_first,
                                                         enforce_sorted=False)
        t_packed, t_state = module(packed)
    t_out, _ = torch.nn.utils.rnn.pad_packed_sequence(t_packed, batch_first=batch_first, total_length=5)
    t_states = list(t_state) if mode == "LSTM" else [t_state]
    loss = (t_out * to_torch(cot_out)).sum()
    for t, c in zip(t_states, jax.tree_util.tree_leaves(cot_state)):
        loss = loss + (t * to_torch(np.asarray(c))).sum()
    loss.backward()
    assert_close(np.asarray(out), t_out, RTOL)
    assert_close(np.asarray(h_n), t_states[0], RTOL)
    assert_close(np.asarray(grad_x), tx.grad, RTOL, 1e-5)
    names = [n for n, _ in module.named_parameters()]
    flat = [g for group in grad_w for g in group if g is not None]
    for name, g in zip(names, flat):
        assert_close(np.asarray(g), module.get_parameter(name).grad, RTOL, 1e-5, err_msg=name)


@pytest.mark.parametrize("cell,torch_cell", [(F.lstm_cell, torch.nn.LSTMCell), (F.gru_cell, torch.nn.GRUCell),
                                             (F.rnn_relu_cell, lambda i, h: torch.nn.RNNCell(i, h, nonlinearity="relu"))])
def test_cells_match_torch_and_vmap(rng, cell, torch_cell):
    module = torch_cell(3, 4)
    w = [jnp.asarray(p.detach().numpy()) for p in module.parameters()]
    x = rng.standard_normal((2, 3)).astype(np.float32)
    out = jax.jit(lambda x: cell(x, None, *w))(jnp.asarray(x))
    expected = module(to_torch(x))
    for o, t in zip(jax.tree_util.tree_leaves(out), expected if isinstance(expected, tuple) else [expected]):
        assert_close(np.asarray(o), t, RTOL)
    mapped = jax.vmap(lambda row: cell(row, None, *w))(jnp.asarray(x))  # unbatched form under vmap
    for a, b in zip(jax.tree_util.tree_leaves(mapped), jax.tree_util.tree_leaves(out)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_time_loop_is_one_scan_and_vmap(rng):
    w = [F.RNNWeights(*(jnp.asarray(rng.standard_normal(s).astype(np.float32)) for s in ((8, 2), (8, 8), (8,), (8,))))]
    f = lambda x: F.rnn(x, None, w, mode="RNN_TANH")[0]  # noqa: E731
    for steps in (35, 350):
        jaxpr = jax.make_jaxpr(f)(jnp.zeros((steps, 1, 2), jnp.float32))
        assert str(jaxpr).count("scan[") == 1
        assert len(str(jaxpr)) < 20000  # not unrolled
    x = jnp.asarray(rng.standard_normal((3, 6, 2)).astype(np.float32))
    lstm_w = [F.RNNWeights(*(jnp.asarray(rng.standard_normal(s).astype(np.float32)) for s in ((8, 2), (8, 2))))]
    per_sequence = jax.vmap(lambda seq: F.rnn(seq, None, lstm_w, mode="LSTM")[0])(x)  # unbatched [L, H_in]
    batched = F.rnn(x, None, lstm_w, mode="LSTM", batch_first=True)[0]
    np.testing.assert_allclose(per_sequence, batched, rtol=1e-6, atol=1e-6)


def test_dropout_between_layers_and_errors(rng):
    w = [F.RNNWeights(jnp.ones((4, 2)) * 0.1, jnp.ones((4, 4)) * 0.1), F.RNNWeights(jnp.ones((4, 4)) * 0.1,
                                                                               jnp.ones((4, 4)) * 0.1)]
    x = jnp.asarray(rng.standard_normal((5, 3, 2)).astype(np.float32))
    run = lambda key, training: F.rnn(x, None, w, mode="RNN_TANH", num_layers=2, dropout=0.5,  # noqa: E731
                                      training=training, key=key)[0]
    a, b = run(jax.random.key(0), True), run(jax.random.key(1), True)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(run(None, False), F.rnn(x, None, w, mode="RNN_TANH", num_layers=2)[0])
    with pytest.raises(ValueError, match="PRNG key"):
        run(None, True)
    with pytest.raises(ValueError, match="input_size"):
        F.rnn(jnp.ones((5, 3, 3)), None, w, mode="RNN_TANH", num_layers=2)
    with pytest.raises(ValueError, match="hx"):
        F.rnn(x, jnp.zeros((2, 4, 4)), w, mode="RNN_TANH", num_layers=2)
