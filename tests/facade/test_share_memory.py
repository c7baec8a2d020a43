"""``Module.share_memory()``: processes train one set of weights, as PyTorch's Hogwild."""
import multiprocessing
import pickle

import numpy as np

import rustorch
from _spawn_targets import sgd_steps_on_shared


def test_processes_update_the_shared_weights_in_turn():
    rustorch.manual_seed(0)
    model = rustorch.nn.Linear(3, 1)
    assert model.share_memory() is model
    w0, b0 = model.weight.detach().numpy().copy(), model.bias.detach().numpy().copy()
    context = multiprocessing.get_context("spawn")
    for steps in (2, 3):  # one process after the other: no race, the updates add up
        process = context.Process(target=sgd_steps_on_shared, args=(model, steps))
        process.start()
        process.join()
        assert process.exitcode == 0
    model(rustorch.ones(1, 3))  # a forward call reads what the processes wrote
    # loss = sum over 2 rows of (w . 1 + b): dL/dw = 2 per weight, dL/db = 2; 5 steps of lr 0.1
    np.testing.assert_allclose(model.weight.detach().numpy(), w0 - 5 * 0.1 * 2, rtol=1e-6)
    np.testing.assert_allclose(model.bias.detach().numpy(), b0 - 5 * 0.1 * 2, rtol=1e-6)


def test_a_step_in_this_process_writes_the_shared_values():
    model = rustorch.nn.Linear(3, 1).share_memory()
    twin = pickle.loads(pickle.dumps(model))  # attaches to the same blocks, by name
    sgd_steps_on_shared(model, 1)
    twin(rustorch.ones(1, 3))
    np.testing.assert_array_equal(twin.weight.detach().numpy(), model.weight.detach().numpy())
    assert rustorch.nn.Linear(2, 2).share_memory().weight.shape == (2, 2)


def test_a_tensor_pickles_after_detach():
    weight = rustorch.nn.Linear(3, 1).weight
    weight.detach()  # aliases are process-local weak references: not part of the pickle
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(weight)).detach().numpy(), weight.detach().numpy())
