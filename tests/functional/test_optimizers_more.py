"""Functional RMSprop, Adagrad, Adadelta, Adamax, NAdam and RAdam against torch.optim.

Each sweep (the harness of ``test_optimizers.run_sweep``) runs one static structure over
random hyperparameter configurations at once through one jitted ``lax.scan`` of
``jax.vmap(opt.update)``: 25 steps on a three-leaf pytree, random gradient dropping (traced
``has_grad`` masks here, ``p.grad = None`` in torch) and hyperparameter changes mid-run, with
parameters and every per-parameter state entry compared with torch's ``foreach=False`` run.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import rustorch.functional as F
from rustorch.functional._radam import _rho
from tests.functional.test_optimizers import STEPS, run_sweep
from tests.torch_compare import assert_close, to_torch


def _log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _betas(rng):
    return (float(rng.choice([0.0, 0.3, rng.uniform(0.5, 0.95)])), float(rng.uniform(0.9, 0.9995)))


# name -> (functional factory, torch class, random constructor kwargs, random mid-run changes)
SAMPLERS = {
    "rmsprop": (F.rmsprop, torch.optim.RMSprop,
                lambda r, momentum: dict(lr=_log_uniform(r, 1e-3, 3e-2), alpha=float(r.uniform(0.8, 0.999)),
                                         eps=_log_uniform(r, 1e-8, 1e-3), weight_decay=float(r.choice([0.0, 0.05])),
                                         momentum=float(r.uniform(0.3, 0.95)) if momentum else 0.0),
                lambda r, momentum: dict(lr=_log_uniform(r, 1e-3, 3e-2), alpha=float(r.uniform(0.5, 0.99)),
                                         **({"momentum": float(r.uniform(0.0, 0.9))} if momentum else {}))),
    "adagrad": (F.adagrad, torch.optim.Adagrad,
                lambda r, _: dict(lr=_log_uniform(r, 1e-2, 0.3), lr_decay=float(r.choice([0.0, 0.01, 0.2])),
                                  weight_decay=float(r.choice([0.0, 0.1])),
                                  initial_accumulator_value=float(r.choice([0.0, 0.1, 1.0])),
                                  eps=_log_uniform(r, 1e-10, 1e-4)),
                lambda r, _: dict(lr=_log_uniform(r, 1e-2, 0.3), lr_decay=float(r.uniform(0, 0.1)))),
    "adadelta": (F.adadelta, torch.optim.Adadelta,
                 lambda r, _: dict(lr=float(r.uniform(0.5, 2.0)), rho=float(r.uniform(0.5, 0.99)),
                                   eps=_log_uniform(r, 1e-7, 1e-4), weight_decay=float(r.choice([0.0, 0.1]))),
                 lambda r, _: dict(lr=float(r.uniform(0.1, 1.0)), rho=float(r.uniform(0.8, 1.0)))),
    "adamax": (F.adamax, torch.optim.Adamax,
               lambda r, _: dict(lr=_log_uniform(r, 1e-3, 3e-2), betas=_betas(r),
                                 eps=_log_uniform(r, 1e-8, 1e-3), weight_decay=float(r.choice([0.0, 0.1]))),
               lambda r, _: dict(lr=_log_uniform(r, 1e-3, 3e-2), betas=_betas(r))),
    "nadam": (F.nadam, torch.optim.NAdam,
              lambda r, _: dict(lr=_log_uniform(r, 1e-3, 3e-2), betas=_betas(r), eps=_log_uniform(r, 1e-8, 1e-3),
                                weight_decay=float(r.choice([0.0, 0.1])),
                                momentum_decay=float(r.choice([4e-3, r.uniform(0, 0.1)]))),
              lambda r, _: dict(lr=_log_uniform(r, 1e-3, 3e-2), momentum_decay=float(r.uniform(0, 0.01)))),
    "radam": (F.radam, torch.optim.RAdam,
              lambda r, _: dict(lr=_log_uniform(r, 1e-3, 3e-2), betas=(float(r.uniform(0.5, 0.95)),
                                                                         float(r.choice([0.9, 0.99, 0.999]))),
                                eps=_log_uniform(r, 1e-8, 1e-3), weight_decay=float(r.choice([0.0, 0.1]))),
              lambda r, _: dict(lr=_log_uniform(r, 1e-3, 3e-2), weight_decay=float(r.choice([0.0, 0.05])))),
}

FIELDS = {
    "rmsprop": lambda static, momentum: ("step", "square_avg")
    + (("momentum_buffer",) if momentum else ()) + (("grad_avg",) if static["centered"] else ()),
    "adagrad": lambda static, momentum: ("step", "sum"),
    "adadelta": lambda static, momentum: ("step", "square_avg", "acc_delta"),
    "adamax": lambda static, momentum: ("step", "exp_avg", "exp_inf"),
    "nadam": lambda static, momentum: ("step", "mu_product", "exp_avg", "exp_avg_sq"),
    "radam": lambda static, momentum: ("step", "exp_avg", "exp_avg_sq"),
}

# (name, static options, whether RMSprop keeps momentum buffers)
STRUCTURES = [
    ("rmsprop", dict(centered=False, maximize=False), False),
    ("rmsprop", dict(centered=True, maximize=False), True),
    ("rmsprop", dict(centered=False, maximize=True), True),
    ("rmsprop", dict(centered=True, maximize=True), False),
    ("adagrad", dict(maximize=False), False),
    ("adagrad", dict(maximize=True), False),
    ("adadelta", dict(maximize=False), False),
    ("adadelta", dict(maximize=True), False),
    ("adamax", dict(maximize=False), False),
    ("adamax", dict(maximize=True), False),
    ("nadam", dict(decoupled_weight_decay=False, maximize=False), False),
    ("nadam", dict(decoupled_weight_decay=True, maximize=True), False),
    ("radam", dict(decoupled_weight_decay=False, maximize=True), False),
    ("radam", dict(decoupled_weight_decay=True, maximize=False), False),
]


@pytest.mark.parametrize("name,static,momentum", STRUCTURES,
                         ids=[f"{n}-{'-'.join(k for k, v in s.items() if v) or 'plain'}{'-momentum' * m}"
                              for n, s, m in STRUCTURES])
def test_matches_torch_on_random_configurations(name, static, momentum):
    factory, torch_cls, sample, sample_changes = SAMPLERS[name]
    seed = STRUCTURES.index((name, static, momentum))
    rng = np.random.default_rng(100 + seed)
    configs = [
        dict(init=sample(rng, momentum)),
        dict(init=sample(rng, momentum), masked=True),
        dict(init=sample(rng, momentum), masked=True,
             schedule={int(rng.integers(3, 12)): sample_changes(rng, momentum),
                       int(rng.integers(13, 20)): dict(replace_lr=_log_uniform(rng, 1e-3, 1e-2))}),
    ]
    run_sweep(factory, torch_cls, static, configs, FIELDS[name](static, momentum), seed=seed)


COMPLEX_CASES = [
    (F.rmsprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    (F.adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.5)),
    (F.adadelta, torch.optim.Adadelta, dict(weight_decay=0.1)),
    (F.adamax, torch.optim.Adamax, dict(lr=0.01, weight_decay=0.1)),
    (F.nadam, torch.optim.NAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (F.radam, torch.optim.RAdam, dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("factory,cls,kwargs", COMPLEX_CASES, ids=[c[0].__name__ for c in COMPLEX_CASES])
def test_complex_parameters_match_torch(factory, cls, kwargs, rng):
    cplx = lambda: (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(np.complex64)
    p0 = cplx()
    tp = to_torch(p0, requires_grad=True)
    topt = cls([tp], foreach=False, **kwargs)
    opt = factory(**kwargs)
    params = jnp.asarray(p0)
    state = opt.init(params)
    update = jax.jit(opt.update)
    for _ in range(STEPS):
        g = cplx()
        tp.grad = to_torch(g)
        topt.step()
        params, state = update(jnp.asarray(g), state, params)
    assert params.dtype == jnp.complex64
    assert_close(params, tp)
    for field, value in topt.state[tp].items():
        assert_close(getattr(state, field), value, err_msg=field)


@pytest.mark.parametrize("factory,cls,kwargs", COMPLEX_CASES[:2] + COMPLEX_CASES[4:],
                         ids=[c[0].__name__ for c in COMPLEX_CASES[:2] + COMPLEX_CASES[4:]])
def test_bfloat16_parameters_match_torch(factory, cls, kwargs, rng):
    """bf16 leaves compute in float32 and round where torch stores a bf16 tensor; a value on a
    bf16 rounding boundary (XLA fuses a*b+c) may land one ulp away and carry that on, so a
    few elements may differ by up to two ulps."""
    p0 = rng.standard_normal(256).astype(np.float32)
    tp = to_torch(p0, dtype=torch.bfloat16, requires_grad=True)
    topt = cls([tp], foreach=False, **kwargs)
    opt = factory(**kwargs)
    params = jnp.asarray(p0).astype(jnp.bfloat16)
    state = opt.init(params)
    update = jax.jit(opt.update)
    for _ in range(10):
        g = rng.standard_normal(256).astype(np.float32)
        tp.grad = to_torch(g, dtype=torch.bfloat16)
        topt.step()
        params, state = update(jnp.asarray(g).astype(jnp.bfloat16), state, params)
    assert params.dtype == jnp.bfloat16
    ours = np.asarray(params.astype(jnp.float32))
    theirs = tp.detach().float().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=2**-6, atol=2**-13)
    assert np.mean(ours == theirs) > 0.9


def test_radam_rho_is_accurate_where_torch_formula_cancels():
    """``rho_t`` against the double-precision formula, including the early steps where its
    two terms cancel to 3 digits and the rectification switches on (``rho_t > 5``)."""
    for beta2 in [0.9, 0.99, 0.999, 0.9999, 0.0, 0.5]:
        steps = np.array([1, 2, 5, 6, 7, 10, 100, 1000, 10**4, 10**5], np.float64)
        omb2 = 1.0 - beta2
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = (2 / omb2 - 1) - 2 * steps * beta2**steps / (1 - beta2**steps)
        _, ours = jax.jit(_rho)(jnp.float32(omb2), jnp.asarray(steps, jnp.float32))
        np.testing.assert_allclose(np.asarray(ours), expected, rtol=2e-6, atol=1e-6, err_msg=f"beta2={beta2}")


def test_jit_vmap_compile_once_and_lr_lives_in_the_state(rng):
    """A jitted, vmapped update over four states with their own learning rates compiles once
    while lr, alpha and momentum change every step, matches the per-state updates, and
    every state leaf keeps its shape, dtype and weak type."""
    opt = F.rmsprop(lr=0.01, momentum=0.5, centered=True)
    rows = [{"w": jnp.asarray(rng.standard_normal((3, 2)), jnp.float32)} for _ in range(4)]
    states = [F.with_hyperparams(opt.init(p), lr=0.01 * (i + 1)) for i, p in enumerate(rows)]
    stack = lambda trees: jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)
    params, state = jax.device_put(stack(rows)), jax.device_put(stack(states))
    traces = []

    @jax.jit
    def update(grads, state, params):
        traces.append(1)
        return jax.vmap(opt.update)(grads, state, params)

    single = jax.jit(opt.update)
    avals = [(x.shape, x.dtype, x.weak_type) for x in jax.tree_util.tree_leaves(state)]
    for t in range(6):
        changes = dict(lr=0.002 * (t + 1), alpha=0.9 - 0.05 * t, momentum=0.1 * t)
        states = [F.with_hyperparams(s, **changes) for s in states]
        state = state._replace(hyperparams=stack([s.hyperparams for s in states]))
        grads = [{"w": jnp.asarray(rng.standard_normal((3, 2)), jnp.float32)} for _ in rows]
        params, state = update(stack(grads), state, params)
        rows, states = zip(*[single(g, s, p) for g, s, p in zip(grads, states, rows)])
        assert [(x.shape, x.dtype, x.weak_type) for x in jax.tree_util.tree_leaves(state)] == avals
    assert len(traces) == 1
    for i, row in enumerate(rows):
        assert_close(params["w"][i], row["w"], rtol=1e-6)


BAD = [
    (F.rmsprop, torch.optim.RMSprop, dict(alpha=-0.1), "Invalid alpha value"),
    (F.rmsprop, torch.optim.RMSprop, dict(momentum=-0.1), "Invalid momentum value"),
    (F.rmsprop, torch.optim.RMSprop, dict(eps=-1.0), "Invalid epsilon value"),
    (F.adagrad, torch.optim.Adagrad, dict(lr_decay=-0.1), "Invalid lr_decay value"),
    (F.adagrad, torch.optim.Adagrad, dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value"),
    (F.adagrad, torch.optim.Adagrad, dict(lr=-1.0), "Invalid learning rate"),
    (F.adadelta, torch.optim.Adadelta, dict(rho=1.5), "Invalid rho value"),
    (F.adadelta, torch.optim.Adadelta, dict(weight_decay=-1.0), "Invalid weight_decay value"),
    (F.adamax, torch.optim.Adamax, dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0"),
    (F.nadam, torch.optim.NAdam, dict(momentum_decay=-1.0), "Invalid momentum_decay value"),
    (F.nadam, torch.optim.NAdam, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
    (F.radam, torch.optim.RAdam, dict(eps=-1.0), "Invalid epsilon value"),
]


@pytest.mark.parametrize("factory,cls,kwargs,message", BAD, ids=[f"{b[0].__name__}-{b[3]}" for b in BAD])
def test_rejects_what_torch_rejects(factory, cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


def test_defaults_are_torch_defaults():
    import inspect

    for factory, cls in [(F.rmsprop, torch.optim.RMSprop), (F.adagrad, torch.optim.Adagrad),
                         (F.adadelta, torch.optim.Adadelta), (F.adamax, torch.optim.Adamax),
                         (F.nadam, torch.optim.NAdam), (F.radam, torch.optim.RAdam)]:
        theirs = cls([torch.zeros(2, requires_grad=True)]).defaults
        for name, param in inspect.signature(factory).parameters.items():
            assert theirs[name] == param.default, f"{factory.__name__}.{name}"


def test_state_errors_name_the_problem():
    params = {"a": jnp.zeros(3)}
    with pytest.raises(ValueError, match="no momentum buffers"):
        F.with_hyperparams(F.rmsprop().init(params), momentum=0.9)
    with pytest.raises(TypeError, match="unknown Adagrad hyperparameter"):
        F.with_hyperparams(F.adagrad().init(params), betas=(0.9, 0.9))
    with pytest.raises(ValueError, match="Invalid rho value"):
        F.with_hyperparams(F.adadelta().init(params), rho=2.0)
    with pytest.raises(ValueError, match="need state.grad_avg"):
        F.rmsprop(centered=True).update(params, F.rmsprop().init(params), params)
    with pytest.raises(TypeError, match="expected a NAdamState"):
        F.nadam().update(params, F.radam().init(params), params)
    state = F.with_hyperparams(F.nadam().init(params), betas=(0.5, 0.25), lr=0.1)
    assert [float(state.hyperparams.beta1), float(state.hyperparams.one_minus_beta2)] == [0.5, 0.75]
    assert all(x.dtype == jnp.float32 and not x.weak_type for x in state.hyperparams)
