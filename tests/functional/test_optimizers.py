"""Functional Adam, AdamW and SGD against torch.optim, fed identical gradients.

Each sweep runs one static optimizer structure (adam/adamw x amsgrad x maximize; sgd without
momentum / with momentum / nesterov x maximize) over several hyperparameter configurations at
once: the configurations differ only in state-carried hyperparameters, so one compiled
``jax.vmap(opt.update)`` inside a ``lax.scan`` serves them all. Every configuration runs 25
steps on a pytree of three leaves with different shapes; some drop gradients at random (torch:
``p.grad = None``; here: a traced ``has_grad``), including a leaf whose first steps are skipped,
and some change hyperparameters mid-run (torch: ``param_groups[0][...] = x``; here:
``with_hyperparams`` or ``_replace`` on the state). Parameters AND torch's per-parameter state
are compared. ``foreach=False`` pins torch to the single-tensor implementation rustorch follows.
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import rustorch.functional as F
from tests.torch_compare import assert_close, to_torch

STEPS = 25
TREE = {"conv": (3, 2, 2, 2), "fc": {"w": (4, 3), "b": (4,)}}
TREEDEF = jax.tree_util.tree_structure(TREE, is_leaf=lambda x: isinstance(x, tuple))
SHAPES = TREEDEF.flatten_up_to(TREE)


def _tree(leaves):
    return TREEDEF.unflatten(leaves)


def _normal(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


ADAM_FIELDS = ("step", "exp_avg", "exp_avg_sq")
TORCH_SETTABLE = {"lr", "betas", "eps", "weight_decay", "momentum", "dampening"}


def _masks(rng, steps, masked, leaves=len(SHAPES)):
    """Per-step, per-leaf gradient presence. Leaf 0 skips its first 3 steps and the last leaf
    its first 20; the others drop their gradient a third of the time."""
    if not masked:
        return np.ones((steps, leaves), bool)
    m = rng.random((steps, leaves)) > 0.35
    m[:3, 0] = False
    m[:20, -1] = False
    return m


def run_sweep(factory, torch_cls, static, configs, fields, seed):
    """Run every configuration through rustorch (one compiled scan) and torch; compare.

    ``configs`` entries: ``init`` (constructor kwargs), ``schedule`` ({step: changes}; the
    key ``replace_lr`` sets lr through ``state._replace``), ``masked`` (drop gradients).
    """
    rng = np.random.default_rng(seed)
    k = len(configs)
    p0 = [_normal(rng, (k, *s)) for s in SHAPES]
    grads = [_normal(rng, (STEPS, k, *s)) for s in SHAPES]
    masks = np.stack([_masks(rng, STEPS, c.get("masked", False)) for c in configs], axis=1)

    # rustorch: per-configuration states (hyperparameters validated by the constructor), and
    # the hyperparameters each step will see, built with the public state API.
    opt = factory(**static, **configs[0]["init"])  # the others share its static structure
    states, schedules = [], []
    for i, cfg in enumerate(configs):
        state = factory(**static, **cfg["init"]).init(_tree([jnp.asarray(p[i]) for p in p0]))
        states.append(state)
        per_step = []
        for t in range(STEPS):
            changes = dict(cfg.get("schedule", {}).get(t, {}))
            if "replace_lr" in changes:
                lr = jnp.float32(changes.pop("replace_lr"))
                state = state._replace(hyperparams=state.hyperparams._replace(lr=lr))
            if changes:
                state = F.with_hyperparams(state, **changes)
            per_step.append(state.hyperparams)
        schedules.append(per_step)
    # numpy stacking: eager jnp.stack would compile once per argument count and shape.
    stack = lambda trees: jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)
    state = stack(states)
    hps = stack([stack([schedules[i][t] for i in range(k)]) for t in range(STEPS)])

    @jax.jit
    def trajectory(params, state, grads, masks, hps):
        def body(carry, xs):
            params, state = carry
            g, m, hp = xs
            return jax.vmap(opt.update)(g, state._replace(hyperparams=hp), params, m), None

        return jax.lax.scan(body, (params, state), (grads, masks, hps))[0]

    mask_tree = _tree([jnp.asarray(masks[:, :, j]) for j in range(len(SHAPES))])
    params, state = trajectory(
        _tree([jnp.asarray(p) for p in p0]), state, _tree([jnp.asarray(g) for g in grads]),
        mask_tree, hps,
    )

    for i, cfg in enumerate(configs):
        tparams = [to_torch(p[i], requires_grad=True) for p in p0]
        topt = torch_cls(tparams, foreach=False, **static, **cfg["init"])
        for t in range(STEPS):
            changes = dict(cfg.get("schedule", {}).get(t, {}))
            if "replace_lr" in changes:
                changes["lr"] = float(np.float32(changes.pop("replace_lr")))
            topt.param_groups[0].update(changes)
            for j, p in enumerate(tparams):
                p.grad = to_torch(grads[j][t, i]) if masks[t, i, j] else None
            topt.step()
        ours = jax.tree_util.tree_leaves(params)
        for j, p in enumerate(tparams):
            where = f"config {i} leaf {j}"
            assert_close(ours[j][i], p, err_msg=where)
            for field in fields:
                leaf = TREEDEF.flatten_up_to(getattr(state, field))[j][i]
                theirs = topt.state[p].get(field)
                if theirs is None:  # torch never stepped it: ours must be untouched
                    assert not np.any(np.asarray(leaf)), f"{where}: {field} moved"
                else:
                    assert_close(leaf, theirs, err_msg=f"{where}: {field}")
    return state


ADAM_CONFIGS = [
    dict(init=dict(lr=0.05)),
    # beta1 < 0.5 takes lerp's other formula; big eps; coupled/decoupled decay on.
    dict(init=dict(lr=0.05, weight_decay=0.1, betas=(0.3, 0.5), eps=1e-3), masked=True),
    dict(
        init=dict(lr=0.02, weight_decay=0.0, betas=(0.8, 0.95)),
        schedule={8: dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3), 16: dict(replace_lr=0.003),
                  20: dict(weight_decay=0.05)},
        masked=True,
    ),
    dict(init=dict(lr=0.05, weight_decay=0.05, betas=(0.0, 0.999), eps=1e-6),
         schedule={12: dict(weight_decay=0.0, lr=0.01)}),
]


@pytest.mark.parametrize("amsgrad,maximize", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_matches_torch(name, amsgrad, maximize):
    factory, cls = (F.adam, torch.optim.Adam) if name == "adam" else (F.adamw, torch.optim.AdamW)
    fields = ADAM_FIELDS + (("max_exp_avg_sq",) if amsgrad else ())
    state = run_sweep(factory, cls, dict(amsgrad=amsgrad, maximize=maximize), ADAM_CONFIGS,
                      fields, seed=[amsgrad, maximize, name == "adam"].count(True))
    steps = np.stack([np.asarray(s) for s in jax.tree_util.tree_leaves(state.step)])
    assert steps.dtype == np.float32 and steps[:, 1].min() < steps[:, 1].max()


SGD_CONFIGS = {
    "plain": [
        dict(init=dict(lr=0.05)),
        dict(init=dict(lr=0.1, weight_decay=0.1), masked=True,
             schedule={10: dict(lr=0.01), 18: dict(replace_lr=0.2, weight_decay=0.0)}),
    ],
    "momentum": [
        dict(init=dict(lr=0.05, momentum=0.9)),
        dict(init=dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1), masked=True),
        # momentum 0 makes torch bypass (and keep) the buffers; dampening is then re-applied.
        dict(init=dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01), masked=True,
             schedule={5: dict(lr=0.2, dampening=0.0), 10: dict(momentum=0.0),
                       15: dict(momentum=0.5, weight_decay=0.0), 20: dict(replace_lr=0.01, dampening=0.7)}),
    ],
    "nesterov": [
        dict(init=dict(lr=0.05, momentum=0.9)),
        dict(init=dict(lr=0.05, momentum=0.5, weight_decay=0.1), masked=True,
             schedule={12: dict(momentum=0.95, lr=0.02)}),
    ],
}


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("kind", ["plain", "momentum", "nesterov"])
def test_sgd_matches_torch(kind, maximize):
    static = dict(maximize=maximize, nesterov=kind == "nesterov")
    configs = SGD_CONFIGS[kind]
    if kind == "plain":
        fields = ()
    else:
        fields = ("momentum_buffer",)
    run_sweep(F.sgd, torch.optim.SGD, static, configs, fields, seed=len(kind) + maximize)


def _avals(tree):
    return [(x.shape, x.dtype, x.weak_type) for x in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize(
    "name,make,torch_make",
    [
        ("adam", lambda: F.adam(lr=0.05, amsgrad=True, weight_decay=0.1),
         lambda ps: torch.optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.1, foreach=False)),
        ("sgd", lambda: F.sgd(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.1),
         lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.1,
                                    foreach=False)),
    ],
)
def test_jit_compiles_once_and_matches_eager_and_static_masks(name, make, torch_make, rng):
    """A jitted update with traced masks and lr changes compiles once, keeps every state leaf's
    shape/dtype/weak_type, and agrees with the eager update given the same masks as Python
    bools (static skips) or as ``None`` gradients, and with torch."""
    opt = make()
    # Leaves of one shape: eager JAX compiles every primitive once per shape.
    shapes = [(4, 3)] * 3
    treedef = jax.tree_util.tree_structure({"a": 0, "b": [0, 0]})
    tree = treedef.unflatten
    p0 = [_normal(rng, s) for s in shapes]
    params = tree([jnp.asarray(p) for p in p0])
    state = opt.init(params)
    eager_params, eager_state = params, state
    avals = (_avals(params), _avals(state))
    tparams = [to_torch(p, requires_grad=True) for p in p0]
    topt = torch_make(tparams)
    traces = []

    @jax.jit
    def update(grads, state, params, has_grad):
        traces.append(1)
        return opt.update(grads, state, params, has_grad)

    masks = _masks(rng, 12, masked=True, leaves=3)
    masks[:, -1] = rng.random(12) > 0.5  # let the None-gradient leaf step now and then
    for t in range(12):
        gs = [_normal(rng, s) for s in shapes]
        if t % 4 == 3:
            lr = 0.01 * (t + 1)
            state = F.with_hyperparams(state, lr=lr)
            eager_state = F.with_hyperparams(eager_state, lr=lr)
            topt.param_groups[0]["lr"] = lr
        for p, g, m in zip(tparams, gs, masks[t]):
            p.grad = to_torch(g) if m else None
        topt.step()
        params, state = update(
            tree([jnp.asarray(g) for g in gs]), state, params, tree([jnp.asarray(m) for m in masks[t]])
        )
        assert (_avals(params), _avals(state)) == avals
        # Eager: the last leaf's absence as a None gradient, the others' as Python bools.
        eager_grads = [jnp.asarray(g) for g in gs]
        if not masks[t][-1]:
            eager_grads[-1] = None
        eager_params, eager_state = opt.update(
            tree(eager_grads), eager_state, eager_params, tree([bool(m) for m in masks[t]])
        )
    assert len(traces) == 1 and update._cache_size() == 1
    assert all(not x.weak_type for x in jax.tree_util.tree_leaves(state.hyperparams))
    # XLA contracts a*b+c into one FMA under jit, so jit and eager may differ in the last bit.
    for a, b in zip(jax.tree_util.tree_leaves((params, state)),
                    jax.tree_util.tree_leaves((eager_params, eager_state))):
        assert_close(a, b, rtol=1e-6)
    for ours, theirs in zip(jax.tree_util.tree_leaves(eager_params), tparams):
        assert_close(ours, theirs)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_complex_parameters_match_torch(name, rng):
    shape = (3, 4)
    if name == "adam":
        factory, cls, kwargs = F.adam, torch.optim.Adam, dict(lr=0.05, weight_decay=0.1, amsgrad=True)
    else:
        factory, cls = F.sgd, torch.optim.SGD
        kwargs = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)
    cplx = lambda: (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
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


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_bfloat16_parameters_match_torch(name, rng):
    """bf16 leaves compute in float32 and round wherever torch stores a bf16 tensor (and where
    torch's ``add`` rounds its scalar to bf16)."""
    if name == "adam":
        factory, cls, kwargs = F.adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)
    else:
        factory, cls = F.sgd, torch.optim.SGD
        kwargs = dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)
    p0 = _normal(rng, (256,))
    tp = to_torch(p0, dtype=torch.bfloat16, requires_grad=True)
    topt = cls([tp], foreach=False, **kwargs)
    opt = factory(**kwargs)
    params = jnp.asarray(p0).astype(jnp.bfloat16)
    state = opt.init(params)
    update = jax.jit(opt.update)
    for _ in range(10):
        g = _normal(rng, (256,))
        tp.grad = to_torch(g, dtype=torch.bfloat16)
        topt.step()
        params, state = update(jnp.asarray(g).astype(jnp.bfloat16), state, params)
    assert params.dtype == jnp.bfloat16
    ours = np.asarray(params.astype(jnp.float32))
    theirs = tp.detach().float().numpy()
    # A float32 intermediate that lands on a bf16 rounding boundary may round the other way
    # (XLA fuses a*b+c into an FMA): allow one bf16 ulp on a few elements.
    np.testing.assert_allclose(ours, theirs, rtol=2**-7, atol=2**-14)
    assert np.mean(ours == theirs) > 0.95


def test_sgd_lr_default_is_torch_default():
    default = torch.optim.SGD([torch.zeros(2, requires_grad=True)]).defaults["lr"]
    assert float(F.sgd().init({"w": jnp.zeros(2)}).hyperparams.lr) == np.float32(default)


BAD_ADAM = [
    (dict(lr=-1e-3), "Invalid learning rate"),
    (dict(lr=float("nan")), "Invalid learning rate"),
    (dict(eps=-1.0), "Invalid epsilon value"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
    (dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0"),
    (dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value"),
]


@pytest.mark.parametrize("kwargs,message", BAD_ADAM)
def test_adam_rejects_what_torch_rejects(kwargs, message):
    for ours, theirs in [(F.adam, torch.optim.Adam), (F.adamw, torch.optim.AdamW)]:
        with pytest.raises(ValueError, match=message):
            theirs([torch.zeros(2, requires_grad=True)], **kwargs)
        with pytest.raises(ValueError, match=message):
            ours(**kwargs)


BAD_SGD = [
    (dict(lr=-0.1), "Invalid learning rate"),
    (dict(momentum=-0.5), "Invalid momentum value"),
    (dict(weight_decay=-1.0), "Invalid weight_decay value"),
    (dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov momentum requires"),
]


@pytest.mark.parametrize("kwargs,message", BAD_SGD)
def test_sgd_rejects_what_torch_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        torch.optim.SGD([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=message):
        F.sgd(**kwargs)


def test_with_hyperparams():
    adam_state = F.adam().init({"w": jnp.zeros(3)})
    with pytest.raises(ValueError, match="Invalid learning rate"):
        F.with_hyperparams(adam_state, lr=-1.0)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        F.with_hyperparams(adam_state, betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        F.with_hyperparams(adam_state, eps=jnp.float32(-1.0))
    with pytest.raises(TypeError, match="unknown Adam hyperparameter"):
        F.with_hyperparams(adam_state, momentum=0.9)
    with pytest.raises(TypeError, match="betas must be a pair"):
        F.with_hyperparams(adam_state, betas=0.9)
    with pytest.raises(TypeError, match="lr must be a real number"):
        F.with_hyperparams(adam_state, lr="0.1")
    with pytest.raises(TypeError, match="lr must be a scalar"):
        F.with_hyperparams(adam_state, lr=jnp.ones(2))
    with pytest.raises(TypeError, match="expected an optimizer state"):
        F.with_hyperparams({"lr": 1.0}, lr=0.1)
    plain = F.sgd(lr=0.1).init({"w": jnp.zeros(3)})
    with pytest.raises(ValueError, match="no momentum buffers"):
        F.with_hyperparams(plain, momentum=0.9)
    with pytest.raises(TypeError, match="unknown SGD hyperparameter"):
        F.with_hyperparams(plain, betas=(0.9, 0.9))
    assert float(F.with_hyperparams(plain, lr=0.5).hyperparams.lr) == 0.5
    # Stored values are float32 scalars that are not weakly typed (no retrace on change).
    for x in F.with_hyperparams(adam_state, lr=0.5, eps=1e-3).hyperparams:
        assert x.dtype == jnp.float32 and x.shape == () and not x.weak_type
    # Betas and dampening are stored as 1 - value (rounded once) and read back exactly here.
    state = F.with_hyperparams(adam_state, betas=(0.5, 0.25))
    assert [float(b) for b in state.hyperparams.betas] == [0.5, 0.25]
    assert float(state.hyperparams.one_minus_beta2) == 0.75
    assert float(F.adam().init({}).hyperparams.one_minus_beta2) == np.float32(1 - 0.999)
    sgd_state = F.with_hyperparams(F.sgd(momentum=0.9).init({"w": jnp.zeros(3)}), dampening=0.5)
    assert float(sgd_state.hyperparams.dampening) == 0.5


def test_update_rejects_mismatched_inputs():
    opt = F.adam()
    params = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
    state = opt.init(params)
    with pytest.raises(ValueError, match="grads must have the structure of params"):
        opt.update({"a": jnp.zeros(3)}, state, params)
    with pytest.raises(ValueError, match="gradient at \\['b'\\] has shape"):
        opt.update({"a": jnp.zeros(3), "b": jnp.zeros(4)}, state, params)
    with pytest.raises(ValueError, match="has_grad must have the structure of params"):
        opt.update(params, state, params, has_grad=[True, False])
    with pytest.raises(TypeError, match="has_grad leaves must be Python bools"):
        opt.update(params, state, params, has_grad={"a": 1, "b": True})
    with pytest.raises(ValueError, match="state.exp_avg must have the structure of params"):
        opt.update(params, state._replace(exp_avg={"a": jnp.zeros(3)}), params)
    with pytest.raises(TypeError, match="expected an AdamState"):
        opt.update(params, F.sgd().init(params), params)
    with pytest.raises(ValueError, match="amsgrad=True but the state has no max_exp_avg_sq"):
        F.adam(amsgrad=True).update(params, state, params)
    with pytest.raises(ValueError, match="uses momentum but the state has no momentum buffers"):
        F.sgd(momentum=0.9).update(params, F.sgd().init(params), params)
    with pytest.raises(ValueError, match="no momentum but the state has momentum buffers"):
        F.sgd().update(params, F.sgd(momentum=0.9).init(params), params)
    with pytest.raises(TypeError, match="every parameter must be a floating-point array"):
        opt.init({"a": jnp.zeros(3, jnp.int32)})
    with pytest.raises(TypeError, match="amsgrad must be True or False"):
        F.adam(amsgrad=1)
    with pytest.raises(TypeError, match="betas must be a pair"):
        F.adamw(betas=(0.9,))
