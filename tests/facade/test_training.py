"""The plan's program: its CNN (Conv-BN-ReLU-MaxPool-Dropout x2, Flatten, Linear-BN-ReLU-Dropout,
Linear), CrossEntropyLoss and Adam, as ``rustorch.Sequential`` and as a ``rustorch.Module``
subclass, trained side by side with torch; and the training-loop behaviour a PyTorch user relies
on: no recompilation after warm-up, train/eval, dropout masks and seeds, gradient accumulation,
parameters without gradients, ``zero_grad``, ``no_grad`` and the validation idioms.

Images are 1x12x12 (the plan's 28x28 needs 64*7*7 features; 12x12 gives 64*3*3) to keep the
suite fast; the architecture is otherwise the plan's.
"""
import copy

import numpy as np
import pytest
import torch

import rustorch
from tests.facade.facade_utils import assert_params, cnn_class, cnn_sequential, copy_weights
from tests.torch_compare import assert_close, to_torch

BATCH, SIDE, CLASSES = 8, 12, 10
NO_DROPOUT = (0.0, 0.0, 0.0)

def _twin_cnn(kind, p=NO_DROPOUT):
    if kind == "sequential":
        rt, th = cnn_sequential(rustorch.nn, p, SIDE), cnn_sequential(torch.nn, p, SIDE)
    else:
        rt, th = cnn_class(rustorch.nn)(p, SIDE), cnn_class(torch.nn)(p, SIDE)
    copy_weights(rt, th)
    return rt, th


def _batch(rng, one_hot=False):
    images = rng.standard_normal((BATCH, 1, SIDE, SIDE)).astype(np.float32)
    labels = rng.integers(0, CLASSES, BATCH).astype(np.int64)
    if one_hot:
        return images, np.eye(CLASSES, dtype=np.float32)[labels]
    return images, labels


def _as64(value):
    if isinstance(value, torch.Tensor):
        return value.detach().double().numpy()
    return np.asarray(value, np.float64)


def _assert_like_torch(actual, t32, t64, err_msg):
    """``actual`` equals torch's float32 result ``t32`` of the same computation to float32
    precision (rtol 1e-5), give or take its conditioning, measured as torch's own float32 error.

    Through this network, per-channel BatchNorm over a batch of 8 divides by small batch
    standard deviations and cancels means, so one-ulp differences in a conv or matmul (another
    summation order) grow to ~1e-5 relative in some gradient entries, for torch as much as for
    rustorch. The float64 result ``t64`` of the same computation measures that error; the bound
    allows three times torch's own deviation on top of the float32 bound, so it is the float32
    bound wherever torch is accurate.
    """
    actual, t32, t64 = _as64(actual), _as64(t32), _as64(t64)
    floor = 3 * float(np.abs(t32 - t64).max()) if t32.size else 0.0
    scale = max(float(np.abs(t32).max()), 1.0) if t32.size else 1.0
    np.testing.assert_allclose(actual, t32, rtol=1e-5, atol=1e-6 * scale + floor, err_msg=err_msg)


def _torch_loss(model, images, target, dtype):
    t_target = to_torch(target)
    t_target = t_target.to(dtype) if t_target.is_floating_point() else t_target
    return torch.nn.CrossEntropyLoss()(model(to_torch(images).to(dtype)), t_target)


class _CnnRun:
    """A rustorch CNN trained side by side with its torch twin, and compared at every step.

    * Same computation: before each step, torch *probes* in float32 and float64 are loaded with
      rustorch's current parameters and buffers and run on the same batch; rustorch's loss,
      gradients and updated BatchNorm buffers must equal the float32 probe's (see
      :func:`_assert_like_torch`; the float64 probe measures the conditioning).
    * Same trajectory: the torch twin takes its own Adam steps from the same initial weights;
      rustorch's parameters must stay within the bound of :meth:`step`.
    """

    def __init__(self, kind, lr=None):
        self.rt, self.th = _twin_cnn(kind)
        self.probes = [copy.deepcopy(self.th), copy.deepcopy(self.th).double()]
        self.lr = lr
        self.grad_error = {}  # per parameter: elementwise running max of |rustorch - twin| gradients
        self.param_bound = {name: 0.0 for name, _ in self.rt.named_parameters()}
        if lr is not None:
            self.opt = rustorch.Adam(self.rt.parameters(), lr=lr, betas=(0.9, 0.999))
            self.t_opt = torch.optim.Adam(self.th.parameters(), lr=lr, betas=(0.9, 0.999), foreach=False)

    def load_probes(self):
        state = {k: torch.from_numpy(np.array(v)) for k, v in self.rt.state_dict().items()}
        for probe in self.probes:
            probe.load_state_dict(state)  # copy_ casts to each probe's dtype
            probe.train(self.rt.training)
            probe.zero_grad()

    def forward_backward(self, images, target):
        """One forward and backward pass of rustorch, the probes and (when training) the twin;
        compares the losses."""
        data = rustorch.Variable(rustorch.tensor(images), requires_grad=False)  # the plan's spelling
        labels = rustorch.Variable(rustorch.tensor(target), requires_grad=False)
        loss = rustorch.CrossEntropyLoss()(self.rt(data), labels)
        loss.backward()
        losses = [_torch_loss(probe, images, target, dtype)
                  for probe, dtype in zip(self.probes, (torch.float32, torch.float64))]
        for probe_loss in losses:
            probe_loss.backward()
        _assert_like_torch(loss.item(), *losses, "loss")
        if self.lr is not None:
            _torch_loss(self.th, images, target, torch.float32).backward()

    def _triples(self, named):
        return zip(named(self.rt), *(named(probe) for probe in self.probes))

    def assert_grads(self):
        for (name, p), (_, tp), (_, tp64) in self._triples(lambda m: m.named_parameters()):
            _assert_like_torch(p.grad, tp.grad, tp64.grad, f"grad of {name}")
        if self.lr is not None:
            for (name, p), (_, tp) in zip(self.rt.named_parameters(), self.th.named_parameters()):
                difference = np.abs(_as64(p.grad) - _as64(tp.grad))
                self.grad_error[name] = np.maximum(self.grad_error.get(name, 0.0), difference)

    def assert_buffers(self):
        for (name, b), (_, tb), (_, tb64) in self._triples(lambda m: m.named_buffers()):
            if name.endswith("num_batches_tracked"):
                assert int(b) == int(tb), name
            else:
                _assert_like_torch(b, tb, tb64, name)

    def zero_grad(self):
        self.opt.zero_grad()
        self.t_opt.zero_grad()

    def step(self):
        """One Adam step of rustorch and the twin, then the parameter bound for the trajectory.

        Adam divides each gradient entry by its running RMS, so a gradient difference ``d``
        moves a parameter by up to about ``lr * d / (sqrt(v_hat) + eps)``: negligible where the
        gradient is well above rounding noise, but up to ``lr`` per step where the true gradient
        is ~0. Biases followed by BatchNorm have a gradient of exactly zero in exact arithmetic:
        both libraries compute rounding noise of arbitrary sign for them, which Adam normalises
        into a full step. The moments average past gradients, so the running maximum of ``d``
        bounds their difference; a factor 3 covers the change of ``v_hat`` itself.
        """
        self.opt.step()
        self.t_opt.step()
        beta1, beta2 = self.t_opt.param_groups[0]["betas"]
        eps = self.t_opt.param_groups[0]["eps"]
        for name, tp in self.th.named_parameters():
            state = self.t_opt.state[tp]
            v_hat = _as64(state["exp_avg_sq"]) / (1 - beta2 ** float(state["step"]))
            self.param_bound[name] = self.param_bound[name] + 3 * self.lr * self.grad_error[name] / (
                np.sqrt(v_hat) + eps)

    def assert_params(self):
        """Parameters equal the twin's to float32 precision plus the Adam bound of :meth:`step`."""
        for (name, p), (_, tp) in zip(self.rt.named_parameters(), self.th.named_parameters()):
            actual, expected = _as64(p), _as64(tp)
            tolerance = 1e-5 * np.abs(expected) + 1e-6 * max(float(np.abs(expected).max()), 1.0)
            excess = np.abs(actual - expected) - tolerance - self.param_bound[name]
            assert excess.max() <= 0, (
                f"{name}: {int((excess > 0).sum())} entries off torch's by more than the bound, "
                f"worst excess {excess.max():.3g}")


# --------------------------------------------------------------------------- parity

# Sequential and the Module subclass record the same ops, so the two pairings cover both
# architectures and both kinds of target at half the cost of all four.
@pytest.mark.parametrize("kind,targets", [("sequential", "indices"), ("module", "one_hot")])
def test_plan_cnn_adam_steps_match_torch(kind, targets):
    run = _CnnRun(kind, lr=0.001)
    rng = np.random.default_rng(0)
    for step in range(3):
        images, target = _batch(rng, one_hot=targets == "one_hot")
        run.zero_grad()
        run.load_probes()
        run.forward_backward(images, target)
        run.assert_grads()
        run.assert_buffers()
        run.step()
        run.assert_params()
    run.rt.eval()
    run.load_probes()
    images, _ = _batch(rng)
    with rustorch.no_grad(), torch.no_grad():
        _assert_like_torch(run.rt(rustorch.tensor(images)), *(probe(to_torch(images).to(dtype)) for probe, dtype
                                                            in zip(run.probes, (torch.float32, torch.float64))),
                           "eval output")


def test_gradient_accumulation_over_two_backward_calls_matches_torch():
    run = _CnnRun("module")
    run.load_probes()
    rng = np.random.default_rng(1)
    for _ in range(2):
        run.forward_backward(*_batch(rng))
    run.assert_grads()
    run.assert_buffers()
    assert int(run.rt.bn1.num_batches_tracked) == 2


# -------------------------------------------------------------------- the training loop

def test_fifty_step_loop_compiles_only_during_warm_up():
    """The plan's loop, with dropout on, a DataLoader, a validation pass every 10 steps and an
    LR change at step 20: the number of compiled programs is the same at step 5 and step 50."""
    rustorch.manual_seed(0)
    model = cnn_sequential(rustorch.nn, side=SIDE)
    criterion = rustorch.CrossEntropyLoss()
    optimizer = rustorch.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999))
    rng = np.random.default_rng(2)
    images = rng.standard_normal((BATCH * 4, 1, SIDE, SIDE)).astype(np.float32)
    labels = rng.integers(0, CLASSES, BATCH * 4).astype(np.int64)
    loader = rustorch.DataLoader(rustorch.TensorDataset(rustorch.tensor(images), rustorch.tensor(labels)),
                                 batch_size=BATCH, shuffle=True)
    val_x, val_y = rustorch.tensor(images[:BATCH]), rustorch.tensor(labels[:BATCH])
    counts, losses, step = {}, [], 0
    while step < 50:
        for data, target in loader:
            model.train()
            optimizer.zero_grad()
            loss = criterion(model(data), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if step % 10 == 0:
                model.eval()
                with rustorch.no_grad():
                    output = model(val_x)
                    val_loss = criterion(output, val_y).item()
                    correct = output.argmax(dim=1).eq(val_y).sum().item()
                assert np.isfinite(val_loss) and 0 <= correct <= BATCH
            if step == 20:
                before = rustorch.compile_count()
                optimizer.set_lr(0.0005)
            if step == 21:
                assert rustorch.compile_count() == before, "set_lr recompiled something"
            step += 1
            counts[step] = rustorch.compile_count()
            if step == 50:
                break
    assert counts[5] == counts[50], f"recompiled after warm-up: {counts}"
    assert optimizer.lr == 0.0005
    assert all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < np.mean(losses[:10])  # it learns the 32 training images


def _small_net():
    """Linear-BN-ReLU-Dropout-Linear: the CNN's train/eval-sensitive parts, cheap to compile."""
    nn = rustorch.nn
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


def test_eval_after_train_changes_the_output_and_is_deterministic():
    rustorch.manual_seed(1)
    model = _small_net()
    x = rustorch.tensor(np.random.default_rng(3).standard_normal((BATCH, 6)).astype(np.float32))
    model.train()
    train_out = np.asarray(model(x))
    model.eval()
    assert not model.training and not model[1].training and not model[3].training
    eval_out = np.asarray(model(x))
    assert not np.allclose(train_out, eval_out)
    np.testing.assert_array_equal(np.asarray(model(x)), eval_out)  # no randomness, no state change
    model.train()
    assert model.training and model[3].training
    assert not np.allclose(np.asarray(model(x)), train_out)  # a new dropout mask each call


def test_dropout_masks_differ_between_steps_and_repeat_after_manual_seed():
    x = rustorch.tensor(np.ones((4, 50), np.float32))
    dropout = rustorch.nn.Dropout(0.5)

    def masks():
        return [np.asarray(dropout(x)) != 0 for _ in range(3)]

    rustorch.manual_seed(42)
    first = masks()
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    rustorch.manual_seed(42)
    second = masks()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    rustorch.manual_seed(43)
    assert not np.array_equal(masks()[0], first[0])


def test_seeded_training_runs_repeat_exactly():
    def run():
        rustorch.manual_seed(7)
        model = _small_net()
        optimizer = rustorch.optim.Adam(model.parameters(), lr=0.01)
        rng = np.random.default_rng(4)
        losses = []
        for _ in range(3):
            x_np = rng.standard_normal((BATCH, 6)).astype(np.float32)
            labels = rng.integers(0, 3, BATCH)
            optimizer.zero_grad()
            loss = rustorch.nn.CrossEntropyLoss()(model(rustorch.tensor(x_np)), rustorch.tensor(labels))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses, np.asarray(model[4].weight)

    losses, weight = run()
    again, weight_again = run()
    assert losses == again
    np.testing.assert_array_equal(weight, weight_again)


def test_unused_parameter_keeps_no_grad_and_adam_leaves_it_alone():
    class WithSpareHead(rustorch.nn.Module):
        def __init__(self, nn):
            super().__init__()
            self.body = nn.Linear(6, 4)
            self.spare = nn.Linear(4, 2)  # never called in forward

        def forward(self, x):
            return self.body(x).relu()

    class TorchWithSpareHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Linear(6, 4)
            self.spare = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.body(x).relu()

    rt, th = WithSpareHead(rustorch.nn), TorchWithSpareHead()
    copy_weights(rt, th)
    spare_before = np.asarray(rt.spare.weight)
    optimizer = rustorch.optim.Adam(rt.parameters(), lr=0.01, weight_decay=0.1)
    t_optimizer = torch.optim.Adam(th.parameters(), lr=0.01, weight_decay=0.1, foreach=False)
    rng = np.random.default_rng(5)
    for _ in range(4):
        x_np = rng.standard_normal((3, 6)).astype(np.float32)
        optimizer.zero_grad()
        t_optimizer.zero_grad()
        (rt(rustorch.tensor(x_np)) ** 2).mean().backward()
        (th(to_torch(x_np)) ** 2).mean().backward()
        assert rt.spare.weight.grad is None and rt.spare.bias.grad is None
        optimizer.step()
        t_optimizer.step()
    assert_params(rt, th)
    np.testing.assert_array_equal(np.asarray(rt.spare.weight), spare_before)
    assert rt.spare.weight not in optimizer.state and th.spare.weight not in t_optimizer.state
    assert set(map(id, optimizer.state)) == {id(rt.body.weight), id(rt.body.bias)}


def test_zero_grad_sets_gradients_to_none():
    rt, _ = _twin_cnn("sequential")
    optimizer = rustorch.optim.Adam(rt.parameters())
    images, labels = _batch(np.random.default_rng(6))
    rustorch.CrossEntropyLoss()(rt(rustorch.tensor(images)), rustorch.tensor(labels)).backward()
    assert all(p.grad is not None for p in rt.parameters())
    optimizer.zero_grad()
    assert all(p.grad is None for p in rt.parameters())
    rustorch.CrossEntropyLoss()(rt(rustorch.tensor(images)), rustorch.tensor(labels)).backward()
    rt.zero_grad()
    assert all(p.grad is None for p in rt.parameters())


def test_validation_idioms_match_torch():
    """``no_grad`` outputs without gradients, ``loss.item()``, ``output.argmax(dim=1)`` and
    ``pred.eq(target).sum().item()`` give torch's numbers in a validation pass."""
    rt, th = _twin_cnn("module", p=(0.25, 0.25, 0.5))
    rng = np.random.default_rng(7)
    with torch.no_grad():
        th.train()
        for _ in range(2):  # give the running statistics something to hold
            images, _ = _batch(rng)
            th(to_torch(images))
    rt.load_state_dict({k: v.numpy() for k, v in th.state_dict().items()})
    rt.eval()
    th.eval()
    criterion, t_criterion = rustorch.nn.CrossEntropyLoss(reduction="sum"), torch.nn.CrossEntropyLoss(reduction="sum")
    total, t_total, correct, t_correct = 0.0, 0.0, 0, 0
    for _ in range(2):
        images, labels = _batch(rng)
        data, target = rustorch.tensor(images), rustorch.tensor(labels)
        with rustorch.no_grad():
            output = rt(data)
            assert not output.requires_grad
            total += criterion(output, target).item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
            assert (output.argmax(dim=1) == target).sum().item() == pred.eq(target.view_as(pred)).sum().item()
        with torch.no_grad():
            t_output = th(to_torch(images))
            t_total += t_criterion(t_output, to_torch(labels)).item()
            t_pred = t_output.argmax(dim=1, keepdim=True)
            t_correct += t_pred.eq(to_torch(labels).view_as(t_pred)).sum().item()
        np.testing.assert_array_equal(np.asarray(pred), t_pred.numpy())
    assert isinstance(correct, int) and correct == t_correct
    assert_close(total, t_total)
    x = rustorch.tensor(images, requires_grad=True)
    with rustorch.no_grad():
        assert not rt(x).requires_grad
    rt.train()
    assert rt(x).requires_grad
