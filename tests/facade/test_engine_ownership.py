"""Graph ownership: backward() frees exactly the graph it differentiated; BatchNorm updates
belong to the graph that recorded them. Each pattern is a real training loop, compared with torch."""
import threading

import numpy as np
import pytest
import torch

import rustorch
from rustorch import nn
from tests.facade.engine_utils import backend_compiles, torch_copy
from tests.torch_compare import assert_close


def _pair(build_rt, build_th):
    rt = build_rt()
    return rt, torch_copy(rt, build_th())


def _assert_modules(rt, th, rtol=2e-5):
    rt_state = rt.state_dict()
    for name, value in th.state_dict().items():
        assert_close(np.asarray(rt_state[name]).astype(np.float64), value.double(), rtol, err_msg=name)


def test_truncated_bptt_detach_of_carried_state(rng):
    """word_language_model: h = h.detach() of last step's state after backward()."""
    rt = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4))
    th = torch_copy(rt, torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 4)))
    rt_opt = rustorch.optim.SGD(rt.parameters(), lr=0.1)
    th_opt = torch.optim.SGD(th.parameters(), lr=0.1)
    rt_h, th_h = rustorch.zeros(2, 4), torch.zeros(2, 4)
    compiles = []
    for step in range(4):
        rt_h, th_h = rt_h.detach(), th_h.detach()
        for t in range(3):
            x = rng.standard_normal((2, 3), dtype=np.float32)
            rt_h = (rt[0](rustorch.tensor(x)) + rt[1](rt_h)).tanh()
            th_h = (th[0](torch.from_numpy(x)) + th[1](th_h)).tanh()
        rt_loss, th_loss = (rt_h * rt_h).sum(), (th_h * th_h).sum()
        rt_opt.zero_grad()
        th_opt.zero_grad()
        rt_loss.backward()
        th_loss.backward()
        rt_opt.step()
        th_opt.step()
        assert_close(rt_loss.item(), th_loss.item())
        compiles.append(backend_compiles())
    _assert_modules(rt, th)
    assert compiles[-1] == compiles[1]  # one program per step shape, replayed


def _generator():
    return nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))


def _discriminator():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))


def _th_generator():
    return torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 3))


def _th_discriminator():
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 1))


def test_gan_detached_fake_then_generator_backward(rng):
    """dcgan: D(fake.detach()).backward(), then D(fake).backward() for G."""
    G, tG = _pair(_generator, _th_generator)
    D, tD = _pair(_discriminator, _th_discriminator)
    # SGD: the bias before a BatchNorm gets a float32-noise gradient that Adam would amplify.
    oD, toD = rustorch.optim.SGD(D.parameters(), lr=0.1), torch.optim.SGD(tD.parameters(), lr=0.1)
    oG, toG = rustorch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(tG.parameters(), lr=0.1)
    crit, tcrit = nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()
    compiles = []
    for _ in range(3):
        real = rng.standard_normal((6, 3), dtype=np.float32)
        noise = rng.standard_normal((6, 2), dtype=np.float32)
        losses = []
        for (g, d, og, od, c, T) in ((G, D, oG, oD, crit, rustorch), (tG, tD, toG, toD, tcrit, torch)):
            d.zero_grad()
            err_real = c(d(T.tensor(real)).view(-1), T.ones(6))
            err_real.backward()
            fake = g(T.tensor(noise))
            err_fake = c(d(fake.detach()).view(-1), T.zeros(6))
            err_fake.backward()
            od.step()
            g.zero_grad()
            err_g = c(d(fake).view(-1), T.ones(6))
            err_g.backward()
            og.step()
            losses.append([err_real.item(), err_fake.item(), err_g.item()])
        assert_close(np.array(losses[0]), np.array(losses[1]), 2e-5)
        compiles.append(backend_compiles())
    _assert_modules(G, tG, 1e-4)
    _assert_modules(D, tD, 1e-4)
    assert compiles[-1] == compiles[1]


def test_two_forward_passes_alive_through_batchnorm(rng):
    # BatchNorm first: a bias just before a BatchNorm has a float32-noise gradient.
    rt, th = _pair(lambda: nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
                   lambda: torch.nn.Sequential(torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                               torch.nn.Linear(4, 2)))
    x1 = rng.standard_normal((5, 3), dtype=np.float32)
    x2 = rng.standard_normal((5, 3), dtype=np.float32)
    for model, T in ((rt, rustorch), (th, torch)):
        l1 = model(T.tensor(x1)).sum()
        l2 = (model(T.tensor(x2)) ** 2).sum()
        l1.backward()
        l2.backward()
    for (name, p), (_, tp) in zip(rt.named_parameters(), th.named_parameters()):
        assert_close(np.asarray(p.grad), tp.grad, err_msg=name)
    _assert_modules(rt, th)


def test_backward_frees_only_its_own_graph(rng):
    layer = nn.Linear(3, 2)
    x = rustorch.tensor(rng.standard_normal((4, 3), dtype=np.float32))
    shared = layer(x)
    a, b = shared.sum(), (shared * shared).sum()
    a.backward()  # frees a's graph, which is also b's
    with pytest.raises(rustorch.stateful._graph.BackwardTwiceError, match="second time"):
        b.backward()
    other = layer(x).mean()  # a new graph through the same parameters is untouched
    other.backward()
    with pytest.raises(RuntimeError, match="second time"):
        other.backward()


def test_forward_only_input_of_a_freed_graph_is_computed_not_freed(rng):
    layer = nn.Linear(3, 3)
    x = rustorch.tensor(rng.standard_normal((2, 3), dtype=np.float32))
    h = layer(x)
    h_value = np.asarray(h.detach())
    h.sum().backward()
    detached = h.detach()
    loss = (layer(detached) * 2).sum()
    loss.backward()  # does not go through the freed graph
    np.testing.assert_allclose(np.asarray(detached), h_value)


def test_batchnorm_update_belongs_to_its_graph(rng):
    bn_a, bn_b = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    xa = rustorch.tensor(rng.standard_normal((4, 3), dtype=np.float32), requires_grad=True)
    xb = rustorch.tensor(rng.standard_normal((4, 3), dtype=np.float32), requires_grad=True)
    out_a, out_b = bn_a(xa), bn_b(xb)
    out_a.sum().backward()
    assert bn_a.num_batches_tracked._value is not None
    assert bn_b.running_mean._value is None  # b's pending update was not pulled into a's program
    (out_b * out_b).sum().backward()  # and b's graph was not freed by a's backward
    assert int(bn_b.num_batches_tracked.item()) == 1


def _train_in_thread(seed, results, errors):
    try:
        rng = np.random.default_rng(seed)
        rt, th = _pair(lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)),
                       lambda: torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                                   torch.nn.ReLU(), torch.nn.Linear(4, 1)))
        batches = [rng.standard_normal((6, 3), dtype=np.float32) for _ in range(4)]
        opt = rustorch.optim.SGD(rt.parameters(), lr=0.05)
        for x in batches:
            opt.zero_grad()
            (rt(rustorch.tensor(x)) ** 2).mean().backward()
            opt.step()
        results[seed] = (rt, th, batches)
    except BaseException as error:  # noqa: BLE001 - reported by the main thread
        errors.append(error)


def test_two_threads_train_two_batchnorm_models(rng):
    results, errors = {}, []
    threads = [threading.Thread(target=_train_in_thread, args=(seed, results, errors)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for rt, th, batches in results.values():
        opt = torch.optim.SGD(th.parameters(), lr=0.05)
        for x in batches:
            opt.zero_grad()
            (th(torch.from_numpy(x)) ** 2).mean().backward()
            opt.step()
        _assert_modules(rt, th, 1e-4)
