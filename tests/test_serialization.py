"""rustorch.serialization: .pth files PyTorch reads and writes, safetensors, atomic writes, safety.

PyTorch itself is the oracle for the .pth format: ``torch.load(weights_only=True)`` must open
our files, and our ``load`` must open files from ``torch.save``. safetensors is checked against
a reader and a writer written here straight from the format's specification.
"""
import collections
import contextlib
import io
import json
import os
import pickle
import pickletools
import stat
import struct
import sys
import zipfile

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import torch

from rustorch.serialization import CheckpointError, load, save
from rustorch.serialization import _atomic, _pickling, _zipformat

DTYPES = [np.float32, np.float64, np.float16, ml_dtypes.bfloat16, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]
TORCH_DTYPES = {
    np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64,
    np.dtype(np.float16): torch.float16, np.dtype(ml_dtypes.bfloat16): torch.bfloat16,
    np.dtype(np.int8): torch.int8, np.dtype(np.int16): torch.int16, np.dtype(np.int32): torch.int32,
    np.dtype(np.int64): torch.int64, np.dtype(np.uint8): torch.uint8, np.dtype(np.bool_): torch.bool,
}
SAFETENSORS_CODES = {
    "F32": np.float32, "F64": np.float64, "F16": np.float16, "BF16": ml_dtypes.bfloat16, "I64": np.int64,
    "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}
NOTHING_RAN = "Nothing in the file was executed"


def random_array(rng, dtype, shape):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    return (rng.standard_normal(shape) * 3).astype(dtype)


def torch_to_numpy(tensor):
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return tensor.numpy()


def assert_same_array(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes()


def assert_same_tree(actual, expected):
    """Structure, container types and values equal; arrays compared bit for bit."""
    if isinstance(expected, (np.ndarray, np.generic, jax.Array)):
        assert_same_array(actual, np.asarray(expected))
    elif isinstance(expected, collections.OrderedDict):
        assert type(actual) is collections.OrderedDict
        assert list(actual) == list(expected)
        for key in expected:
            assert_same_tree(actual[key], expected[key])
    elif isinstance(expected, dict):
        assert type(actual) is dict and list(actual) == list(expected)
        for key in expected:
            assert_same_tree(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_same_tree(a, e)
    elif isinstance(expected, float) and expected != expected:
        assert actual != actual
    else:
        assert type(actual) is type(expected) and actual == expected


def assert_same_as_torch(ours, theirs):
    """Our tree (numpy arrays) against a torch.load result (torch tensors)."""
    if isinstance(theirs, torch.Tensor):
        assert_same_array(ours, torch_to_numpy(theirs))
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for key in theirs:
            assert_same_as_torch(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, e in zip(ours, theirs):
            assert_same_as_torch(a, e)
    elif isinstance(theirs, float) and theirs != theirs:
        assert type(ours) is float and ours != ours
    else:
        assert type(ours) is type(theirs) and ours == theirs


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------

SHAPES = [(), (0,), (5,), (2, 3), (2, 0, 3), (3, 1, 4, 2)]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_round_trip_every_dtype_and_shape(tmp_path, rng, suffix):
    tensors = collections.OrderedDict()
    for dtype in DTYPES:
        for shape in SHAPES:
            tensors[f"{np.dtype(dtype).name}_{'x'.join(map(str, shape)) or 'scalar'}"] = random_array(rng, dtype, shape)
    # Non-contiguous, Fortran-ordered and byte-swapped inputs are written as plain row-major data.
    tensors["transposed"] = random_array(rng, np.float32, (3, 4)).T
    tensors["strided"] = random_array(rng, np.int16, (6, 5))[::2, ::-2]
    tensors["fortran"] = np.asfortranarray(random_array(rng, np.float64, (3, 4)))
    tensors["big_endian"] = random_array(rng, np.float32, (4,)).astype(">f4")
    path = tmp_path / f"ckpt{suffix}"
    save(tensors, path)
    loaded = load(path, map_to="numpy")
    # .pth keeps insertion order; safetensors orders its header by element size, then name.
    assert (list(loaded) == list(tensors)) if suffix == ".pth" else (sorted(loaded) == sorted(tensors))
    for name, array in tensors.items():
        expected = array.astype(array.dtype.newbyteorder("=")) if name == "big_endian" else array
        assert_same_array(loaded[name], expected)
        assert loaded[name].flags.writeable


def test_round_trip_nested_structure(rng):
    obj = {
        "model": collections.OrderedDict(
            [("conv.weight", random_array(rng, np.float32, (4, 1, 3, 3))), ("bn.running_mean", np.zeros(4, np.float32))]
        ),
        "optimizer": {
            "state": {0: {"step": np.array(3.0, np.float32), "exp_avg": random_array(rng, np.float32, (4,))}, 1: {}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False, "params": [0, 1]}],
        },
        "numbers": [0, 1, 255, 256, 65535, 65536, -1, -(2**31), 2**31 - 1, 2**31, 2**63, -(2**70), 10**40],
        "floats": (0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan"), 1e-310),
        "flags": [True, False, None],
        "text": ["", "ascii", "ünïcödé ✓", "\ud800"],
        "empty": ({}, [], (), collections.OrderedDict()),
        "numpy_scalars": [np.float32(1.25), np.int64(-7), np.bool_(True), np.float64(2.5)],
        "jax": jnp.arange(6, dtype=jnp.float32).reshape(2, 3),
    }
    buffer = io.BytesIO()
    save(obj, buffer)
    buffer.seek(0)
    loaded = load(buffer, map_to="numpy")
    expected = dict(obj, numpy_scalars=[np.asarray(v) for v in obj["numpy_scalars"]])
    assert_same_tree(loaded, expected)
    # torch reads the same structure, with tensors in place of the arrays.
    assert_same_as_torch(loaded, torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))


def test_seeded_random_structures_round_trip_through_torch(rng):
    def make(depth):
        choice = rng.integers(0, 9 if depth < 3 else 5)
        if choice == 0:
            return random_array(rng, DTYPES[rng.integers(len(DTYPES))], tuple(rng.integers(0, 4, rng.integers(0, 4))))
        if choice == 1:
            return int(rng.integers(-(2**40), 2**40))
        if choice == 2:
            return float(rng.standard_normal())
        if choice == 3:
            return [None, True, False][rng.integers(3)]
        if choice == 4:
            return "s" * int(rng.integers(0, 5))
        if choice == 5:
            return [make(depth + 1) for _ in range(rng.integers(0, 4))]
        if choice == 6:
            return tuple(make(depth + 1) for _ in range(rng.integers(0, 5)))
        if choice == 7:
            return {int(k) if k % 2 else f"k{k}": make(depth + 1) for k in range(rng.integers(0, 4))}
        return collections.OrderedDict((f"m{k}", make(depth + 1)) for k in range(rng.integers(0, 4)))

    for _ in range(20):
        obj = make(0)
        buffer = io.BytesIO()
        save(obj, buffer)
        assert_same_tree(load(io.BytesIO(buffer.getvalue()), map_to="numpy"), obj)
        assert_same_as_torch(obj, torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))


# --------------------------------------------------------------------------------------------
# Our files in PyTorch
# --------------------------------------------------------------------------------------------


def test_save_and_load_never_import_torch(tmp_path, rng, monkeypatch):
    """With every torch module made unimportable, both formats still save and load."""
    for name in list(sys.modules):
        if name == "torch" or name.startswith("torch."):
            monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError):
        import torch._utils  # noqa: F401
    obj = {"w": random_array(rng, ml_dtypes.bfloat16, (2, 3)), "n": np.array(1, np.int32)}
    for suffix in (".pth", ".safetensors"):
        save(obj, tmp_path / f"no_torch{suffix}")
        loaded = load(tmp_path / f"no_torch{suffix}", map_to="numpy")
        assert_same_array(loaded["w"], obj["w"])
        assert_same_array(loaded["n"], np.array(1, np.int32))


def test_torch_load_weights_only_reads_every_dtype(tmp_path, rng):
    tensors = collections.OrderedDict(
        (f"{np.dtype(d).name}_{i}", random_array(rng, d, shape)) for d in DTYPES for i, shape in enumerate([(), (3, 2)])
    )
    path = tmp_path / "model.pth"
    save(tensors, path)
    for mmap in (False, True):
        theirs = torch.load(path, weights_only=True, mmap=mmap)
        assert type(theirs) is collections.OrderedDict and list(theirs) == list(tensors)
        for name, array in tensors.items():
            assert theirs[name].dtype == TORCH_DTYPES[array.dtype]
            assert not theirs[name].requires_grad
            assert_same_array(torch_to_numpy(theirs[name]), array)


def test_torch_predicted_storage_offsets_match_our_layout(tmp_path, rng, monkeypatch):
    """PyTorch can compute storage offsets from miniz's layout rules instead of reading headers.

    With TORCH_SERIALIZATION_DEBUG=1 it also checks each prediction against the real offset, so
    this passes only if our records sit exactly where torch.save would have put them.
    """
    from torch.utils.serialization import config

    tensors = {f"t{i}": random_array(rng, DTYPES[i % len(DTYPES)], (i % 4, 3)) for i in range(12)}
    path = tmp_path / "offsets.pth"
    save(tensors, path)
    monkeypatch.setenv("TORCH_SERIALIZATION_DEBUG", "1")
    # torch's own override mechanism: monkeypatch.setattr would, on undo under pytest >= 9.2,
    # delete the config attribute and break every later torch.load in the process.
    with config.patch({"load.calculate_storage_offsets": True}):
        assert config.load.calculate_storage_offsets is True
        theirs = torch.load(path, weights_only=True, mmap=True)
    assert config.load.calculate_storage_offsets is False
    for name, array in tensors.items():
        assert_same_array(torch_to_numpy(theirs[name]), array)


def test_zip_layout_is_byte_identical_to_torch_save(tmp_path):
    """Re-writing the records of a torch.save file with our writer reproduces the file exactly."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Linear(5, 4))
    state = model.state_dict()
    state["empty"] = torch.zeros(0)
    path = tmp_path / "reference.pth"
    torch.save(state, path)
    raw = path.read_bytes()
    archive = zipfile.ZipFile(io.BytesIO(raw))
    out = io.BytesIO()
    writer = _zipformat.ZipWriter(out, "reference")
    for info in archive.infolist():
        writer.write_record(info.filename.split("/", 1)[1], archive.read(info))
    writer.finish()
    assert out.getvalue() == raw


def test_our_archive_has_torch_records_and_alignment(tmp_path, rng):
    path = tmp_path / "model_epoch_10.pth"
    save({"a": random_array(rng, np.float32, (3,)), "b": random_array(rng, np.uint8, (5,))}, path)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == [
            "model_epoch_10/data.pkl", "model_epoch_10/.format_version", "model_epoch_10/.storage_alignment",
            "model_epoch_10/byteorder", "model_epoch_10/data/0", "model_epoch_10/data/1",
            "model_epoch_10/version", "model_epoch_10/.data/serialization_id",
        ]
        assert archive.read("model_epoch_10/byteorder") == b"little"
        assert archive.read("model_epoch_10/version") == b"3\n"
        assert archive.read("model_epoch_10/.storage_alignment") == b"64"
        raw = path.read_bytes()
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
            assert (info.header_offset + 30 + name_length + extra_length) % 64 == 0
        assert archive.testzip() is None
    # Only the allowlisted globals appear in the pickle.
    globals_used = {
        arg for op, arg, _ in pickletools.genops(zipfile.ZipFile(path).read("model_epoch_10/data.pkl"))
        if op.name == "GLOBAL"
    }
    assert globals_used == {
        "torch._utils _rebuild_tensor_v2", "torch FloatStorage", "torch ByteStorage", "collections OrderedDict"
    }


def test_zip64_records_are_readable(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(_zipformat, "ZIP64_LIMIT", 100)
    tensors = {f"t{i}": random_array(rng, np.float32, (n,)) for i, n in enumerate([3, 40, 7, 64])}
    path = tmp_path / "zip64.pth"
    save(tensors, path)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
    for name, tensor in torch.load(path, weights_only=True).items():
        assert_same_array(torch_to_numpy(tensor), tensors[name])
    assert_same_tree(load(path, map_to="numpy"), tensors)


def test_num_batches_tracked_is_written_as_int64(tmp_path, rng):
    """A JAX int32 BatchNorm counter becomes torch's int64; other int32 arrays stay int32."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 3)
    )
    model.train()
    model(torch.randn(6, 1, 5, 5))
    state = model.state_dict()
    ours = collections.OrderedDict(
        (k, jnp.asarray(v.numpy(), dtype=jnp.int32) if k.endswith("num_batches_tracked") else jnp.asarray(v.numpy()))
        for k, v in state.items()
    )
    ours["other_counter"] = jnp.asarray(5, dtype=jnp.int32)
    assert ours["1.num_batches_tracked"].dtype == jnp.int32
    path = tmp_path / "cnn.pth"
    save(ours, path)
    theirs = torch.load(path, weights_only=True)
    assert theirs["1.num_batches_tracked"].dtype == torch.int64 and int(theirs["1.num_batches_tracked"]) == 1
    assert theirs["other_counter"].dtype == torch.int32
    del theirs["other_counter"]
    fresh = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 3)
    )
    fresh.load_state_dict(theirs, strict=True)
    model.eval(), fresh.eval()
    x = torch.randn(2, 1, 5, 5)
    assert torch.equal(model(x), fresh(x))
    save({"bn.num_batches_tracked": np.array(2, np.int32)}, tmp_path / "bn.safetensors")
    assert load(tmp_path / "bn.safetensors", map_to="numpy")["bn.num_batches_tracked"].dtype == np.int64


def test_same_array_twice_shares_one_storage(tmp_path, rng):
    weight = random_array(rng, np.float32, (3, 3))
    path = tmp_path / "tied.pth"
    save({"encoder.weight": weight, "decoder.weight": weight}, path)
    theirs = torch.load(path, weights_only=True)
    encoder, decoder = theirs["encoder.weight"], theirs["decoder.weight"]
    assert encoder.untyped_storage().data_ptr() == decoder.untyped_storage().data_ptr()
    assert len([n for n in zipfile.ZipFile(path).namelist() if "/data/" in n]) == 1


def test_jax_arrays_and_rustorch_tensors_are_saved(tmp_path):
    import rustorch.stateful

    obj = {
        "jax_bf16": jnp.asarray([1.5, -2.0], dtype=jnp.bfloat16),
        "jax_int": jnp.arange(3),
        "variable": rustorch.stateful.tensor(np.array([[1.0, 2.0]], np.float32)),
    }
    path = tmp_path / "mixed.pth"
    save(obj, path)
    theirs = torch.load(path, weights_only=True)
    assert theirs["jax_bf16"].dtype == torch.bfloat16
    assert_same_array(torch_to_numpy(theirs["jax_bf16"]), np.asarray(obj["jax_bf16"]))
    assert_same_array(theirs["jax_int"].numpy(), np.arange(3, dtype=np.int32))
    assert_same_array(theirs["variable"].numpy(), np.array([[1.0, 2.0]], np.float32))


# --------------------------------------------------------------------------------------------
# torch.save files in our load
# --------------------------------------------------------------------------------------------


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 4 * 4, 10)
        self.bn1d = torch.nn.BatchNorm1d(10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.bn1d(self.fc(x.flatten(1)))


def test_load_torch_cnn_state_dict(tmp_path):
    torch.manual_seed(0)
    model = SmallCNN()
    for _ in range(2):
        model(torch.randn(8, 1, 8, 8))
    state = model.state_dict()
    path = tmp_path / "cnn.pth"
    torch.save(state, path)
    ours = load(path, map_to="numpy")
    assert_same_as_torch(ours, state)
    assert ours["bn.num_batches_tracked"].dtype == np.int64 and int(ours["bn.num_batches_tracked"]) == 2
    as_jax = load(path, map_to="jax")
    assert isinstance(as_jax["conv.weight"], jax.Array) and as_jax["conv.weight"].dtype == jnp.float32
    assert as_jax["bn.num_batches_tracked"].dtype == jnp.int32 and int(as_jax["bn.num_batches_tracked"]) == 2
    # Round trip back: our save of what we loaded is what torch.save wrote.
    save(ours, tmp_path / "again.pth")
    reloaded = torch.load(tmp_path / "again.pth", weights_only=True)
    assert list(reloaded) == list(state) and all(torch.equal(reloaded[k], state[k]) for k in state)


def test_load_torch_adam_state_dict(tmp_path):
    torch.manual_seed(1)
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), amsgrad=True)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(4, 1, 8, 8)).square().mean().backward()
        optimizer.step()
    state = optimizer.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    ours = load(io.BytesIO(buffer.getvalue()), map_to="numpy")
    assert_same_as_torch(ours, state)
    assert ours["param_groups"][0]["betas"] == (0.9, 0.999)
    assert ours["state"][0]["step"].shape == () and float(ours["state"][0]["step"]) == 3.0
    # And back: torch's optimizer accepts the state we write.
    save(ours, tmp_path / "adam.pth")
    restored = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    restored.load_state_dict(torch.load(tmp_path / "adam.pth", weights_only=True))
    assert torch.equal(restored.state_dict()["state"][2]["exp_avg_sq"], state["state"][2]["exp_avg_sq"])


def test_load_views_strides_and_shared_storages():
    torch.manual_seed(2)
    base = torch.randn(5, 6)
    shared_linear = torch.nn.Linear(3, 3)
    tied = torch.nn.ModuleDict({"a": shared_linear, "b": torch.nn.Linear(3, 3)})
    tied["b"].weight = tied["a"].weight
    obj = {
        "base": base,
        "base_again": base,
        "transposed": base.t(),
        "rows": base[1:4],
        "columns": base[:, 2::3],
        "element": base[3, 4],
        "expanded": torch.arange(3.0).expand(4, 3),
        "narrow_of_big": torch.arange(1000, dtype=torch.int16)[500:503],
        "parameter": torch.nn.Parameter(torch.ones(2, 2)),
        "tied": tied.state_dict(),
        "scalar": torch.tensor(7),
        "half": torch.randn(2, 3).half()[:, ::2],
        "bf16": torch.randn(4).bfloat16(),
        "bool": torch.tensor([True, False]),
    }
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    ours = load(io.BytesIO(buffer.getvalue()), map_to="numpy")
    assert_same_as_torch(ours, {k: (v if isinstance(v, dict) else v.detach()) for k, v in obj.items()})
    # One tensor pickled twice loads as one array; tensors viewing one storage share its memory,
    # as torch.load's do.
    theirs = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert ours["base_again"] is ours["base"]
    assert_same_array(ours["tied"]["a.weight"], ours["tied"]["b.weight"])
    for name in ("transposed", "rows", "columns", "element"):
        assert np.shares_memory(ours[name], ours["base"]), name
        assert theirs[name].untyped_storage().data_ptr() == theirs["base"].untyped_storage().data_ptr()
    assert ours["transposed"].flags.f_contiguous and ours["transposed"].flags.writeable
    # Writing through one view shows in the others, as in torch; a stride-0 expand is read-only.
    ours["rows"][0, 0] = 123.0
    theirs["rows"][0, 0] = 123.0
    assert ours["base"][1, 0] == 123.0 == theirs["base"][1, 0].item()
    assert ours["expanded"].strides == (0, 4) and not ours["expanded"].flags.writeable
    # As JAX arrays, every tensor has its own memory (JAX arrays are immutable values).
    as_jax = load(io.BytesIO(buffer.getvalue()), map_to="jax")
    assert_same_array(as_jax["columns"], np.asarray(obj["columns"]))
    assert_same_array(as_jax["expanded"], np.asarray(obj["expanded"]))


def test_load_big_endian_archive():
    """Storages recorded as big-endian are byte-swapped, as torch.load does."""
    values = np.array([1.5, -2.25, 3e8], np.float32)
    pickle_bytes, storages = _pickling.dumps({"x": values, "b": np.array([7, -8], np.int16)})
    buffer = io.BytesIO()
    writer = _zipformat.ZipWriter(buffer, "archive")
    writer.write_record("data.pkl", pickle_bytes)
    writer.write_record("byteorder", b"big")
    for storage in storages:
        big_endian = storage.array.astype(storage.array.dtype.newbyteorder(">"))
        writer.write_record(f"data/{storage.key}", big_endian.tobytes())
    writer.write_record("version", b"3\n")
    writer.finish()
    ours = load(io.BytesIO(buffer.getvalue()), map_to="numpy")
    theirs = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert_same_array(ours["x"], values)
    assert_same_array(ours["b"], np.array([7, -8], np.int16))
    assert_same_as_torch(ours, theirs)


# --------------------------------------------------------------------------------------------
# map_to
# --------------------------------------------------------------------------------------------


def test_map_to_jax_and_numpy_dtypes(tmp_path):
    obj = {
        "i64": np.array([1, -2], np.int64), "f64": np.array([0.5], np.float64),
        "bf16": np.array([1.5], ml_dtypes.bfloat16), "u8": np.array([200], np.uint8),
    }
    save(obj, tmp_path / "d.pth")
    as_numpy = load(tmp_path / "d.pth", map_to="numpy")
    assert as_numpy["i64"].dtype == np.int64 and as_numpy["f64"].dtype == np.float64
    as_jax = load(tmp_path / "d.pth", map_to="jax")
    assert all(isinstance(v, jax.Array) for v in as_jax.values())
    assert as_jax["i64"].dtype == jnp.int32 and as_jax["f64"].dtype == jnp.float32
    assert as_jax["bf16"].dtype == jnp.bfloat16 and as_jax["u8"].dtype == jnp.uint8
    assert as_jax["i64"].tolist() == [1, -2]


def test_map_to_jax_refuses_int64_overflow(tmp_path):
    save({"big": np.array([2**40], np.int64)}, tmp_path / "big.pth")
    with pytest.raises(ValueError, match="jax_enable_x64"):
        load(tmp_path / "big.pth", map_to="jax")
    assert int(load(tmp_path / "big.pth", map_to="numpy")["big"][0]) == 2**40


def test_map_to_tensor_default(tmp_path):
    import rustorch.stateful

    save({"w": np.arange(4, dtype=np.float32).reshape(2, 2), "n": np.array(3, np.int64)}, tmp_path / "t.pth")
    loaded = load(tmp_path / "t.pth")
    assert isinstance(loaded["w"], rustorch.stateful.Variable)
    assert_same_array(np.asarray(loaded["w"]), np.arange(4, dtype=np.float32).reshape(2, 2))
    assert np.asarray(loaded["n"]).dtype == np.int32 and int(np.asarray(loaded["n"])) == 3


def test_bad_map_to(tmp_path):
    with pytest.raises(ValueError, match="map_to must be one of"):
        load(tmp_path / "whatever.pth", map_to="torch")


# --------------------------------------------------------------------------------------------
# File objects and atomic writes
# --------------------------------------------------------------------------------------------


def test_file_objects(rng):
    tensors = {"a": random_array(rng, np.float32, (2, 2))}
    buffer = io.BytesIO()
    save(tensors, buffer)
    assert zipfile.ZipFile(io.BytesIO(buffer.getvalue())).namelist()[0] == "archive/data.pkl"
    assert_same_tree(load(io.BytesIO(buffer.getvalue()), map_to="numpy"), tensors)

    class WriteOnly:
        def __init__(self):
            self.chunks = []

        def write(self, data):
            self.chunks.append(bytes(data))
            return len(data)

    stream = WriteOnly()
    save(tensors, stream)
    assert_same_tree(load(io.BytesIO(b"".join(stream.chunks)), map_to="numpy"), tensors)
    with pytest.raises(TypeError, match="binary mode"):
        save(tensors, io.StringIO())
    with pytest.raises(TypeError, match="path .* or a binary file object"):
        save(tensors, 42)
    with pytest.raises(TypeError, match="path .* or a binary file object"):
        load(3.5)


def listing(directory):
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_failed_save_keeps_previous_file(tmp_path, rng, monkeypatch, suffix):
    path = tmp_path / f"checkpoint{suffix}"
    first = {"w": random_array(rng, np.float32, (3,))}
    save(first, path)
    original = path.read_bytes()

    class FailingArray:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("device lost")

    # A value that fails while the object is being serialised.
    with pytest.raises(RuntimeError, match="device lost"):
        save({"w": np.ones(3, np.float32), "x": np.ones(2, np.float32), "z": FailingArray()}, path)
    assert path.read_bytes() == original and listing(tmp_path) == [path.name]

    # A failure half-way through writing the file itself (the disk fills up on the 4th write).
    writes = []

    class FullDisk:
        def __init__(self, handle):
            self._handle = handle

        def write(self, data):
            writes.append(len(data))
            if len(writes) == 4:
                raise OSError(28, "No space left on device")
            return self._handle.write(data)

    @contextlib.contextmanager
    def atomic_write_to_full_disk(target):
        with _atomic.atomic_write(target) as handle:
            yield FullDisk(handle)

    monkeypatch.setattr("rustorch.serialization.atomic_write", atomic_write_to_full_disk)
    with pytest.raises(OSError, match="No space left"):
        save({"w": np.ones(3, np.float32), "x": np.ones(2, np.float32)}, path)
    assert len(writes) == 4
    assert path.read_bytes() == original and listing(tmp_path) == [path.name]
    monkeypatch.undo()

    # fsync failing (e.g. an I/O error reported late) also leaves the old file.
    def failing_fsync(descriptor):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        save({"w": np.zeros(3, np.float32)}, path)
    assert path.read_bytes() == original and listing(tmp_path) == [path.name]
    monkeypatch.undo()

    save({"w": np.zeros(3, np.float32)}, path)
    assert_same_array(load(path, map_to="numpy")["w"], np.zeros(3, np.float32))
    assert listing(tmp_path) == [path.name]


def test_save_keeps_permissions_and_follows_symlinks(tmp_path):
    target = tmp_path / "real.pth"
    save({"a": np.ones(1, np.float32)}, target)
    os.chmod(target, 0o600)
    link = tmp_path / "link.pth"
    link.symlink_to(target)
    save({"a": np.zeros(1, np.float32)}, link)
    assert link.is_symlink() and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert_same_array(load(target, map_to="numpy")["a"], np.zeros(1, np.float32))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({"a": np.ones(1)}, tmp_path / "missing" / "x.pth")


# --------------------------------------------------------------------------------------------
# Bad values on save
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"a": {1, 2}}, r"obj\['a'\] is a set"),
        ({"a": [b"bytes"]}, r"obj\['a'\]\[0\] is a bytes"),
        ({"a": np.array([1 + 2j])}, "dtype complex128"),
        ({"a": np.array(["x"], dtype=object)}, "dtype object"),
        ({"a": np.array([1], np.uint32)}, "dtype uint32"),
        ({(1, 2): np.ones(1)}, "keys must be str or int"),
        ({True: np.ones(1)}, "keys must be str or int"),
        (object(), "is a object"),
    ],
)
def test_save_rejects_unsupported_values(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        save(obj, tmp_path / "bad.pth")
    assert listing(tmp_path) == []


def test_save_rejects_self_reference(tmp_path):
    loop = [np.ones(1)]
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        save({"loop": loop}, tmp_path / "loop.pth")


@pytest.mark.parametrize(
    "obj, match",
    [
        ({"a": {"nested": np.ones(1)}}, r"only arrays.*\.pth"),
        ([np.ones(1)], r"flat dict.*\.pth"),
        ({1: np.ones(1)}, "names must be str"),
        ({"a": 1.0}, r"only arrays.*\.pth"),
        ({"__metadata__": np.ones(1)}, "reserved"),
        ({"c": np.ones(1, np.complex64)}, "dtype complex64"),
    ],
)
def test_safetensors_save_needs_flat_dict_of_arrays(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        save(obj, tmp_path / "bad.safetensors")
    assert listing(tmp_path) == []


# --------------------------------------------------------------------------------------------
# safetensors against the specification
# --------------------------------------------------------------------------------------------


def spec_read(raw):
    """A safetensors reader written from the README: header length, JSON, contiguous buffer."""
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    buffer = raw[8 + n :]
    metadata = header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(buffer[begin:end], dtype=SAFETENSORS_CODES[info["dtype"]]).reshape(info["shape"])
    return n, header, metadata, tensors


def spec_write(tensors, metadata=None, order=None):
    """A safetensors writer written from the README, in the given tensor order, without padding."""
    header, chunks, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    codes = {np.dtype(v): k for k, v in SAFETENSORS_CODES.items()}
    for name in order or list(tensors):
        array = np.array(tensors[name], order="C")  # ascontiguousarray would make 0-d arrays 1-d
        header[name] = {
            "dtype": codes[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]
        }
        chunks.append(array.tobytes())
        offset += array.nbytes
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def test_safetensors_writer_follows_spec_and_matches_torch(tmp_path, rng):
    tensors = {f"{np.dtype(d).name}": random_array(rng, d, (2, 3)) for d in DTYPES}
    tensors["scalar"] = np.array(1.5, np.float32)
    tensors["empty"] = np.zeros((0, 4), np.int8)
    torch_tensors = {
        k: torch.from_numpy(v.view(np.int16)).view(torch.bfloat16) if v.dtype == ml_dtypes.bfloat16 else torch.from_numpy(v)
        for k, v in tensors.items()
    }
    path = tmp_path / "spec.safetensors"
    save(tensors, path)
    raw = path.read_bytes()
    n, header, metadata, read = spec_read(raw)
    assert n % 8 == 0 and metadata is None
    spans = sorted(tuple(info["data_offsets"]) for info in header.values())
    assert spans[0][0] == 0 and spans[-1][1] == len(raw) - 8 - n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    for name, info in header.items():
        itemsize = np.dtype(SAFETENSORS_CODES[info["dtype"]]).itemsize
        assert info["data_offsets"][0] % itemsize == 0
        assert_same_array(read[name], torch_to_numpy(torch_tensors[name]))


def test_safetensors_reader_reads_spec_files(rng):
    tensors = {
        "b": rng.integers(-1000, 1000, 3), "a": random_array(rng, ml_dtypes.bfloat16, (2, 2)), "z": np.zeros((), np.bool_)
    }
    raw = spec_write(tensors, metadata={"format": "pt", "note": "ünïcödé"}, order=["z", "b", "a"])
    loaded = load(io.BytesIO(raw), map_to="numpy")
    assert sorted(loaded) == sorted(tensors)
    for name in tensors:
        assert_same_array(loaded[name], tensors[name])
    as_jax = load(io.BytesIO(raw), map_to="jax")
    assert as_jax["a"].dtype == jnp.bfloat16 and as_jax["b"].dtype == jnp.int32


def _header(entries, metadata=None):
    header = dict(entries)
    if metadata is not None:
        header["__metadata__"] = metadata
    return json.dumps(header).encode()


def _file(header_bytes, data=b"", length=None):
    return struct.pack("<Q", len(header_bytes) if length is None else length) + header_bytes + data


F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "raw, match",
    [
        (_file(_header({"a": F32_2}), bytes(8), length=10**6), "runs past|claims 1000000 bytes"),
        (_file(b"{" + b" " * 20, length=200_000_000), "100000000-byte limit"),
        (_file(b"{not json", b""), "not valid UTF-8 JSON"),
        (_file(b'{"a": 1, "a": 2}', b""), "appears twice"),
        (
            _file(_header({"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}), bytes(2)),
            "unknown or unsupported dtype 'F8_E4M3'",
        ),
        (_file(_header({"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}), bytes(8)), "unsupported dtype 'C64'"),
        (_file(_header({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}), bytes(8)),
         "field 'shape' of tensor 'a' must be a sequence of non-negative ints, got \\[2.0\\]"),
        (_file(_header({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}), bytes(8)), "field 'shape' of tensor 'a'"),
        (_file(_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}), bytes(8)),
         "field 'data_offsets' of tensor 'a' is invalid"),
        # Hostile headers: deep nesting (json's recursion), a shape numpy cannot represent although
        # it has no elements (torch.empty accepts it), more dimensions than numpy allows.
        (_file(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "header is JSON nested too deeply"),
        (_file(_header({"a": {"dtype": "F32", "shape": [0, 2**62], "data_offsets": [0, 0]}})),
         r"field 'shape' of tensor 'a' \[0, 4611686018427387904\] describes more than"),
        (_file(_header({"a": {"dtype": "U8", "shape": [1] * 70, "data_offsets": [0, 1]}}), bytes(1)),
         "field 'shape' of tensor 'a' has 70 dimensions, more than the 64"),
        (_file(_header({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}), bytes(8)), "needs 12 bytes"),
        (_file(_header({"a": {"dtype": "F32", "shape": [2]}}), bytes(8)), "needs 'dtype', 'shape' and 'data_offsets'"),
        (_file(_header({"a": F32_2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}), bytes(12)), "overlaps"),
        (
            _file(_header({"a": F32_2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}), bytes(20)),
            "hole at bytes \\[8, 12\\)",
        ),
        (_file(_header({"a": F32_2}), bytes(12)), "followed by bytes no tensor covers"),
        (_file(_header({"a": F32_2}), bytes(6)), "truncated"),
        (_file(_header({"a": F32_2}, metadata={"k": 1}), bytes(8)), "__metadata__ must map strings to strings"),
    ],
)
def test_safetensors_bad_headers(raw, match):
    with pytest.raises(CheckpointError, match=match) as info:
        load(io.BytesIO(raw), map_to="numpy")
    assert NOTHING_RAN in str(info.value)


def test_safetensors_truncation_and_header_fuzz(tmp_path, rng):
    path = tmp_path / "fuzz.safetensors"
    save({"w": random_array(rng, np.float32, (3, 2)), "n": np.array(4, np.int64)}, path)
    raw = path.read_bytes()
    for cut in [0, 3, 7, 8, 9, 30, len(raw) // 2, len(raw) - 1]:
        with pytest.raises(CheckpointError):
            load(io.BytesIO(raw[:cut]), map_to="numpy")
    (n,) = struct.unpack("<Q", raw[:8])
    for position in range(0, 8 + n):
        damaged = bytearray(raw)
        damaged[position] ^= 0x5A
        try:
            result = load(io.BytesIO(bytes(damaged)), map_to="numpy")
        except CheckpointError:
            continue
        assert isinstance(result, dict)


# --------------------------------------------------------------------------------------------
# Damaged .pth files
# --------------------------------------------------------------------------------------------


def test_truncated_pth_raises(tmp_path, rng):
    path = tmp_path / "model.pth"
    obj = {"w": random_array(rng, np.float32, (4, 4)), "b": random_array(rng, np.int64, (4,))}
    save(obj, path)
    raw = path.read_bytes()
    for cut in [0, 2, 4, 30, 64, 100, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 22, len(raw) - 1]:
        with pytest.raises(CheckpointError) as info:
            load(io.BytesIO(raw[:cut]), map_to="numpy")
        assert NOTHING_RAN in str(info.value)


def test_every_corrupted_byte_is_detected_or_harmless(tmp_path, rng):
    """Flip bytes all over a .pth: load raises CheckpointError or returns the original data.

    The CRC-32 of every record protects data and pickle; damage to headers either breaks the
    archive (detected) or hits bytes nobody reads (timestamps, alignment padding).
    """
    obj = collections.OrderedDict(w=random_array(rng, np.float32, (3, 2)), n=np.array(2, np.int64))
    buffer = io.BytesIO()
    save(obj, buffer)
    raw = buffer.getvalue()
    outcomes = collections.Counter()
    for position in range(0, len(raw), 3):
        damaged = bytearray(raw)
        damaged[position] ^= 0xA5
        try:
            result = load(io.BytesIO(bytes(damaged)), map_to="numpy")
        except CheckpointError:
            outcomes["error"] += 1
            continue
        assert_same_tree(result, obj)
        outcomes["harmless"] += 1
    assert outcomes["error"] > 0 and outcomes["harmless"] > 0


def _archive(pickle_bytes, records=None, prefix="archive"):
    """A .pth archive built with the standard zipfile module (not our writer)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", pickle_bytes)
        for key, data in (records or {}).items():
            archive.writestr(f"{prefix}/data/{key}", data)
        archive.writestr(f"{prefix}/version", b"3\n")
    return buffer.getvalue()


def _tensor_pickle(key="0", numel=2, size=(2,), stride=(1,), offset=0, storage="FloatStorage"):
    """Protocol-0 text of a torch tensor pickle: _rebuild_tensor_v2 on a persistent storage id."""
    size_text = "(" + "".join(f"I{s}\n" for s in size) + "t"
    stride_text = "(" + "".join(f"I{s}\n" for s in stride) + "t"
    return (
        "ctorch._utils\n_rebuild_tensor_v2\n("
        f"(Vstorage\nctorch\n{storage}\nV{key}\nVcpu\nI{numel}\ntQ"
        f"I{offset}\n{size_text}{stride_text}I00\nccollections\nOrderedDict\n(tRtR."
    ).encode()


def test_hand_built_archive_loads():
    raw = _archive(_tensor_pickle(), {"0": np.array([1.5, 2.5], np.float32).tobytes()})
    assert_same_array(load(io.BytesIO(raw), map_to="numpy"), np.array([1.5, 2.5], np.float32))


@pytest.mark.parametrize(
    "pickle_bytes, records, match",
    [
        (_tensor_pickle(key="1"), {"0": bytes(8)}, "record 'archive/data/1' is missing"),
        (_tensor_pickle(), {"0": bytes(4)}, "holds 4 bytes where the pickle expects 8"),
        (_tensor_pickle(size=(3,)), {"0": bytes(8)}, "storage '0' of size \\(3,\\), stride \\(1,\\) and offset 0 reaches element 2 of a storage that has only 2 elements"),
        (_tensor_pickle(size=(2, 2), stride=(1,)), {"0": bytes(8)}, "stride .* of a different length"),
        (_tensor_pickle(offset=5, size=(0,)), {"0": bytes(8)}, "starts at element 5"),
        (
            _tensor_pickle(storage="ComplexFloatStorage"), {"0": bytes(16)},
            "torch.ComplexFloatStorage, which is not on the allowlist",
        ),
        (b"\x80\x02X\x03\x00\x00\x00abc", {}, "data.pkl was refused: it ends without a STOP opcode"),
        (b"(I1\nI2\nQ.", {}, "persistent id"),
        (b"ctorch._utils\n_rebuild_tensor_v2\n}b.", {}, "set the state of"),
        (b"ccollections\nOrderedDict\n(I1\ne.", {}, "corrupt"),
        (b"ctorch\nFloatStorage\n.", {}, "leaves <torch.FloatStorage stand-in> in the data"),
    ],
)
def test_malformed_archives_raise(pickle_bytes, records, match):
    with pytest.raises(CheckpointError, match=match) as info:
        load(io.BytesIO(_archive(pickle_bytes, records)), map_to="numpy")
    assert NOTHING_RAN in str(info.value)


def test_compressed_records_are_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02" + b"N" * 10**6 + b"0.")
        archive.writestr("archive/version", b"3\n")
    assert len(buffer.getvalue()) < 10**5
    with pytest.raises(CheckpointError, match="data.pkl is compressed"):
        load(io.BytesIO(buffer.getvalue()), map_to="numpy")


def test_other_files_are_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"a": torch.ones(2)}, buffer, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="legacy PyTorch format.*_use_new_zipfile_serialization=True"):
        load(io.BytesIO(buffer.getvalue()), map_to="numpy")
    with pytest.raises(CheckpointError, match="bare pickle"):
        load(io.BytesIO(pickle.dumps({"a": 1}, protocol=2)), map_to="numpy")
    with pytest.raises(CheckpointError, match="file is empty"):
        load(io.BytesIO(b""), map_to="numpy")
    with pytest.raises(CheckpointError, match="neither a PyTorch zip checkpoint nor a safetensors"):
        load(io.BytesIO(b"hello world, not a checkpoint"), map_to="numpy")
    # The records torch.jit.save writes (its data.pkl names __torch__ classes compiled from code/).
    script = io.BytesIO()
    with zipfile.ZipFile(script, "w") as archive:
        archive.writestr("scripted/data/0", bytes(16))
        archive.writestr("scripted/data.pkl", b"\x80\x02c__torch__.torch.nn.modules.linear\nLinear\n)\x81.")
        archive.writestr("scripted/code/__torch__/torch/nn/modules/linear.py", b"class Linear(Module): ...")
        archive.writestr("scripted/constants.pkl", b"\x80\x02).")
        archive.writestr("scripted/version", b"3\n")
    with pytest.raises(CheckpointError, match="TorchScript archive.*torch.jit.load"):
        load(io.BytesIO(script.getvalue()), map_to="numpy")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pth")


# --------------------------------------------------------------------------------------------
# Malicious pickles: refused, and nothing runs
# --------------------------------------------------------------------------------------------


def _malicious_payloads(marker):
    command = f"touch {marker}"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"

    class Reduce:
        def __init__(self, func, *args):
            self.func, self.args = func, args

        def __reduce__(self):
            return self.func, self.args

    import builtins
    import subprocess

    def pickled(obj, protocol):
        return pickle.dumps(obj, protocol=protocol)

    return {
        "os.system via GLOBAL+REDUCE": f"cos\nsystem\n(V{command}\ntR.".encode(),
        "posix.system (pickle.dumps of __reduce__)": pickled(Reduce(os.system, command), 2),
        "builtins.eval": pickled(Reduce(builtins.eval, code), 2),
        "builtins.exec (protocol 4, STACK_GLOBAL)": pickled(Reduce(builtins.exec, code), 4),
        "__builtin__.eval (python 2 name)": f"c__builtin__\neval\n(V{code}\ntR.".encode(),
        "subprocess.call": pickled(Reduce(subprocess.call, ["touch", str(marker)]), 2),
        "nested inside a state dict": (
            b"\x80\x02ccollections\nOrderedDict\n)R(Vweight\n" + f"cposix\nsystem\n(V{command}\ntR".encode() + b"u."
        ),
        "torch.load lookalike": f"ctorch.serialization\nload\n(V{marker}\ntR.".encode(),
        "torch.storage._load_from_bytes": b"ctorch.storage\n_load_from_bytes\n(C\x00tR.",
        "torch._utils attribute chain": f"ctorch._utils\n_rebuild_tensor_v2.__globals__\n(V{command}\ntR.".encode(),
        "torch.nn.Module": b"ctorch.nn\nModule\n)R.",
        "INST opcode": f"(V{command}\niposix\nsystem\n.".encode(),
        "OBJ opcode": f"(cposix\nsystem\nV{command}\no.".encode(),
        "EXT1 opcode": b"\x80\x02\x82\x01)R.",
        "huge memo index": b"\x80\x02N\x72\xf0\xff\xff\xff.",
    }


def test_malicious_pickles_are_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    for name, payload in _malicious_payloads(marker).items():
        for raw in (_archive(payload), _archive(payload, prefix="looks_legit")):
            with pytest.raises(CheckpointError) as info:
                load(io.BytesIO(raw), map_to="numpy")
            message = str(info.value)
            assert NOTHING_RAN in message, name
            assert any(reason in message for reason in ("not on the allowlist", "opcode", "memo index")), message
            assert not marker.exists(), name
        # The same bytes as a bare pickle file are refused before any unpickling.
        bare = tmp_path / "bare.pkl"
        bare.write_bytes(payload)
        with pytest.raises(CheckpointError):
            load(bare, map_to="numpy")
        assert not marker.exists(), name
    # The sanity check of the test itself: unpickling the first payload normally does run it.
    pickle.loads(_malicious_payloads(marker)["os.system via GLOBAL+REDUCE"])
    assert marker.exists()


def test_refusal_messages_name_the_global():
    with pytest.raises(CheckpointError, match=r"global posix\.system, which is not on the allowlist") as info:
        load(io.BytesIO(_archive(b"cposix\nsystem\n(Vtrue\ntR.")), map_to="numpy")
    assert "torch.load(path, weights_only=True)" not in str(info.value)
    with pytest.raises(CheckpointError, match=r"torch\.nn\.Module.*torch\.load\(path, weights_only=True\)"):
        load(io.BytesIO(_archive(b"ctorch.nn\nModule\n)R.")), map_to="numpy")


def test_stand_ins_cannot_be_modified_by_a_file():
    """BUILD with slot state on an allowlisted stand-in is refused and leaves it unchanged."""
    stand_in = _pickling.ALLOWED_GLOBALS[("torch._utils", "_rebuild_tensor_v2")]
    payload = b"ctorch._utils\n_rebuild_tensor_v2\n(N}Vbuild\nNstb."
    with pytest.raises(CheckpointError, match="set the state"):
        load(io.BytesIO(_archive(payload)), map_to="numpy")
    assert stand_in.build is _pickling._rebuild_tensor_v2
    assert not hasattr(stand_in, "__dict__")
    assert issubclass(CheckpointError, ValueError) and issubclass(CheckpointError, pickle.UnpicklingError)


# --------------------------------------------------------------------------------------------
# Hostile and malformed inputs: memory bounded by the file, clear refusals (torch beside)
# --------------------------------------------------------------------------------------------


def _binary_tensor(numel, size, stride):
    """The protocol-2 opcodes (no STOP) of one float tensor over storage '0', as torch.save writes."""
    def ints(values):
        return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"

    return (
        b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
        b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ" + struct.pack("<i", numel) + b"tQK\x00"
        + ints(size) + ints(stride) + b"\x89}tR"
    )


def _views_pickle(count, numel, size, stride):
    """A torch-style pickle: a list of ``count`` tensors over the one FloatStorage '0'."""
    return b"\x80\x02](" + _binary_tensor(numel, size, stride) * count + b"e."


def _peak_traced(function):
    import tracemalloc

    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_views_share_their_storage_and_memory_stays_bounded_by_the_file():
    """A 1-float storage viewed as 50,000,000 elements with stride 0, and 300 tensors over one
    1 MB storage: torch.load returns views (no copy); so does map_to='numpy'. JAX arrays cannot
    share memory, so map_to='jax' refuses instead of allocating 200 MB / 300 MB."""
    expanded = _archive(_views_pickle(1, 1, (50_000_000,), (0,)), {"0": np.float32(2.5).tobytes()})
    many = _archive(_views_pickle(300, 262_144, (262_144,), (1,)), {"0": np.arange(262_144, dtype=np.float32).tobytes()})
    theirs = torch.load(io.BytesIO(expanded), weights_only=True)[0]
    assert theirs.shape == (50_000_000,) and theirs.stride() == (0,)
    theirs = torch.load(io.BytesIO(many), weights_only=True)
    assert len({t.untyped_storage().data_ptr() for t in theirs}) == 1

    ours, peak = _peak_traced(lambda: load(io.BytesIO(expanded), map_to="numpy"))
    assert ours[0].shape == (50_000_000,) and ours[0].strides == (0,) and ours[0][-1] == 2.5
    assert not ours[0].flags.writeable
    assert peak < 1 << 20, peak
    ours, peak = _peak_traced(lambda: load(io.BytesIO(many), map_to="numpy"))
    assert all(np.shares_memory(t, ours[0]) for t in ours) and ours[299][7] == 7.0
    assert peak < 3 * len(many), (peak, len(many))

    for raw, largest in ((expanded, 200_000_000), (many, 1_048_576)):
        with pytest.raises(CheckpointError, match=(
            rf"<file object>: its tensors would need \d+\+ bytes of copies to become JAX arrays, more than "
            rf"4x the {len(raw)}-byte file plus 1 MiB: views that share a storage \(the largest so far, "
            rf"obj\[\d+\], {largest} bytes\).*Load with map_to='numpy'")):
            _peak_traced(lambda: load(io.BytesIO(raw), map_to="jax"))
    # A few views of one storage are fine as JAX arrays: each gets its own copy.
    few = _archive(_views_pickle(3, 4, (2,), (2,)), {"0": np.arange(4, dtype=np.float32).tobytes()})
    as_jax = load(io.BytesIO(few), map_to="jax")
    assert [np.asarray(t).tolist() for t in as_jax] == [[0.0, 2.0]] * 3


def test_whole_storages_become_jax_arrays_without_a_copy(tmp_path):
    """Each storage is read once into a 64-byte-aligned buffer that jax.device_put adopts on CPU;
    peak memory of loading is about the file's size (torch.load: the same)."""
    state = {f"w{i}": np.full((1 << 18,), i, np.float32) for i in range(8)}  # 8 MiB
    path = tmp_path / "big.pth"
    save(state, path)
    size = os.path.getsize(path)
    loaded, peak = _peak_traced(lambda: load(path, map_to="jax"))
    assert all(float(loaded[f"w{i}"][-1]) == i for i in range(8))
    assert peak < 1.25 * size, (peak, size)
    loaded, peak = _peak_traced(lambda: load(path, map_to="tensor"))
    assert peak < 1.25 * size, (peak, size)


def test_duplicate_records_and_inconsistent_local_headers_are_refused():
    """torch.load reads the first of two archive/data.pkl records; we refuse the archive."""
    first = _tensor_pickle(numel=1, size=(1,))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("archive/data.pkl", first)
        archive.writestr("archive/data/0", np.float32(1.0).tobytes())
        archive.writestr("archive/data.pkl", b"\x80\x02K\x07.")
        archive.writestr("archive/version", b"3\n")
    raw = buffer.getvalue()
    assert torch.load(io.BytesIO(raw), weights_only=True) == 7  # torch silently takes one of the two
    with pytest.raises(CheckpointError, match=r"<file object>: it is not a well-formed zip archive: the record "
                                              r"archive/data.pkl appears twice in the central directory"):
        load(io.BytesIO(raw), map_to="numpy")
    good = _archive(first, {"0": np.float32(1.0).tobytes()})
    offset = good.index(b"archive/data/0")  # the local header's name: central directory disagrees
    renamed = good[:offset] + b"archive/data/9" + good[offset + 14 :]
    with pytest.raises(CheckpointError, match="the local header of archive/data/0 names b'archive/data/9' instead"):
        load(io.BytesIO(renamed), map_to="numpy")
    header = good.rindex(b"PK\x03\x04", 0, offset)  # local CRC field changed
    changed = good[: header + 14] + b"\x00\x00\x00\x00" + good[header + 18 :]
    with pytest.raises(CheckpointError, match=r"the local header of archive/data/0 gives size 4, compressed size 4 "
                                              r"and CRC 0x0; the central directory says 4, 4 and 0x"):
        load(io.BytesIO(changed), map_to="numpy")


def test_tensor_dict_keys_are_refused():
    """torch.load accepts a tensor inside a dict key; the key then holds a real tensor. We have no
    hashable array type to put there, so the file is refused rather than leaking a placeholder."""
    tensor = _binary_tensor(1, (1,), (1,))
    payload = b"\x80\x02}(" + tensor + b"\x85K\x01u."
    raw = _archive(payload, {"0": np.float32(1.0).tobytes()})
    theirs = torch.load(io.BytesIO(raw), weights_only=True)
    assert isinstance(next(iter(theirs))[0], torch.Tensor)
    with pytest.raises(CheckpointError, match=r"the pickle uses \(<tensor float32\[1\]>,\) as a key of the dict at obj"):
        load(io.BytesIO(raw), map_to="numpy")
    in_set = b"\x80\x02\x8f(" + tensor + b"\x85\x90."
    with pytest.raises(CheckpointError, match="inside a set"):
        load(io.BytesIO(_archive(in_set, {"0": np.float32(1.0).tobytes()})), map_to="numpy")


@pytest.mark.parametrize(
    "pickle_bytes, match",
    [
        (_tensor_pickle(size=(0, 2**62), stride=(1, 1)), r"size of the tensor over storage '0' \(0, 4611686018427387904\) "
                                                          "describes more than"),
        (_tensor_pickle(size=(1,) * 70, stride=(1,) * 70), "has 70 dimensions, more than the 64"),
        (_tensor_pickle(size=(2,), stride=(2**70,)), "reaches element 1180591620717411303424 of a storage"),
        (_tensor_pickle(offset=-1), "invalid storage offset -1"),
    ],
)
def test_tensor_layouts_are_checked_before_any_allocation(pickle_bytes, match):
    raw = _archive(pickle_bytes, {"0": bytes(8)})
    with pytest.raises(CheckpointError, match=match) as info:
        load(io.BytesIO(raw), map_to="numpy")
    assert str(info.value).startswith("cannot load checkpoint <file object>: the pickle data.pkl is malformed")


def test_many_small_ints_load_at_least_as_fast_as_torch(tmp_path):
    """A data.pkl of many small ints: the opcode check is linear (one regular expression over
    the runs of fixed-size opcodes), so we stay well within 2x of torch.load's time and memory."""
    import time

    path = tmp_path / "ints.pth"
    path.write_bytes(_archive(pickle.dumps([i % 200 for i in range(200_000)], protocol=2)))
    start = time.perf_counter()
    theirs = torch.load(path, weights_only=True)
    torch_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ours = load(path, map_to="numpy")
    our_seconds = time.perf_counter() - start
    assert ours == theirs
    assert our_seconds < 2 * torch_seconds + 0.05, (our_seconds, torch_seconds)
    _, our_peak = _peak_traced(lambda: load(path, map_to="numpy"))
    _, torch_peak = _peak_traced(lambda: torch.load(path, weights_only=True))
    assert our_peak < 2 * torch_peak, (our_peak, torch_peak)


def test_saving_a_module_says_to_save_its_state_dict(tmp_path):
    import rustorch

    model = rustorch.nn.Linear(2, 3)
    for target in (tmp_path / "model.pth", tmp_path / "model.safetensors", io.BytesIO()):
        with pytest.raises(TypeError, match=r"(?s)save: obj is a Linear object; .*not objects.*\n"
                                            r"    rustorch.save\(model.state_dict\(\), f\)") as info:
            save(model, target)
        assert "model.load_state_dict(rustorch.load(f))" in str(info.value)
    with pytest.raises(TypeError, match=r"(?s)obj\['model'\] is a Linear object.*obj\['model'\].state_dict\(\)"):
        save({"model": model, "epoch": 3}, tmp_path / "both.pth")
    optimizer = rustorch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"obj\['optimizer'\] is a SGD object"):
        save({"optimizer": optimizer}, tmp_path / "both.pth")
    assert listing(tmp_path) == []
    save(model.state_dict(), tmp_path / "model.pth")
    assert set(torch.load(tmp_path / "model.pth", weights_only=True)) == {"weight", "bias"}


_ATOMIC_PATH = os.path.join(os.path.dirname(_atomic.__file__), "_atomic.py")
_CHILD_PRELUDE = (
    "import importlib.util, os, signal, sys\n"
    f"spec = importlib.util.spec_from_file_location('atomic', {_ATOMIC_PATH!r})\n"
    "atomic = importlib.util.module_from_spec(spec); spec.loader.exec_module(atomic)\n"
)


def _child(code, **kwargs):
    import subprocess

    return subprocess.Popen([sys.executable, "-c", _CHILD_PRELUDE + code], **kwargs)


def test_stale_temporaries_of_a_killed_save_are_removed_by_the_next_save(tmp_path):
    """A save killed mid-write leaves its hidden temporary (torch.save, writing in place, leaves a
    truncated checkpoint instead). The next save of the same target removes it, but never the
    temporary of a save still running, nor files that only look alike."""
    import subprocess

    target = tmp_path / "ckpt.pth"
    save({"w": np.ones(2, np.float32)}, target)
    killed = _child(
        f"with atomic.atomic_write({str(target)!r}) as f:\n"
        "    f.write(b'partial'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert killed.wait() == -9
    stale = [name for name in listing(tmp_path) if name.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].startswith(".ckpt.pth.")
    running = _child(
        f"with atomic.atomic_write({str(target)!r}) as f:\n"
        "    f.write(b'in progress'); f.flush(); print('ready', flush=True); sys.stdin.read()\n"
        "    raise SystemExit(3)\n",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        assert running.stdout.readline() == b"ready\n"
        live = [name for name in listing(tmp_path) if name.endswith(".tmp") and name not in stale]
        lookalikes = [".ckpt.pth.backup.tmp", ".other.pth.0123456789ab.tmp", ".ckpt.pth.0123456789AB.tmp"]
        for name in lookalikes:
            (tmp_path / name).write_bytes(b"keep")
        save({"w": np.zeros(2, np.float32)}, target)
        assert listing(tmp_path) == sorted([target.name, *live, *lookalikes])
    finally:
        running.stdin.close()
        running.stdout.close()
        assert running.wait() == 3
    assert listing(tmp_path) == sorted([target.name, *lookalikes])
    assert_same_array(load(target, map_to="numpy")["w"], np.zeros(2, np.float32))


def test_saving_over_a_file_we_may_not_write_raises_permission_error_like_open(tmp_path):
    """torch.save(obj, path) opens path with open(path, 'wb'); saving over a read-only file must
    fail the same way (not replace it through a rename) and succeed wherever open would (root)."""
    import subprocess
    import tempfile

    def outcome(code, user=None):
        folder = tempfile.mkdtemp()
        os.chmod(folder, 0o777)
        target = os.path.join(folder, "ro.pth")
        with open(target, "wb") as f:
            f.write(b"original")
        os.chmod(target, 0o444)
        try:
            child = _child(
                f"target = {target!r}\n"
                + (f"os.setuid({user})\n" if user is not None else "")
                + "try:\n"
                f"    {code}\n"
                "    print('ok')\n"
                "except OSError as error:\n"
                "    print(type(error).__name__, error.errno, error.filename == target)\n",
                stdout=subprocess.PIPE,
            )
            out, _ = child.communicate()
            assert child.returncode == 0
            with open(target, "rb") as f:
                content = f.read()
            return out.decode().strip(), content == b"original", sorted(os.listdir(folder))
        finally:
            for name in os.listdir(folder):
                os.unlink(os.path.join(folder, name))
            os.rmdir(folder)

    ours = "with atomic.atomic_write(target) as f: f.write(b'new')"
    theirs = "with open(target, 'wb') as f: f.write(b'new')"
    users = [None] + ([65534] if os.geteuid() == 0 else [])
    for user in users:
        assert outcome(ours, user) == outcome(theirs, user)
    if os.geteuid() != 0 or len(users) > 1:
        assert outcome(ours, users[-1])[:2] == (f"PermissionError {errno_eacces()} True", True)


def errno_eacces():
    import errno

    return errno.EACCES


def test_error_messages_name_the_file_and_the_record(tmp_path):
    path = tmp_path / "model.pth"
    save({"w": np.arange(4, dtype=np.float32)}, path)
    raw = bytearray(path.read_bytes())
    start = raw.index(np.arange(4, dtype=np.float32).tobytes())
    raw[start] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=rf"^cannot load checkpoint '{path}': the record model/data/0 is "
                                              r"corrupt: its CRC-32 is 0x[0-9a-f]{8}, the archive says 0x[0-9a-f]{8}\."):
        load(path)
    with open(path, "rb") as handle, pytest.raises(CheckpointError, match=f"'{path}'"):
        load(handle)
    path.write_bytes(bytes(raw[: start + 2]))
    with pytest.raises(CheckpointError, match=rf"'{path}': it is not a well-formed zip archive: it has no zip "
                                              r"end-of-central-directory record"):
        load(path)
    # Failing writes name the target, not the temporary file.
    with pytest.raises(OSError, match=rf"save: cannot write '{tmp_path / 'full.pth'}': No space") as info:
        with _atomic.atomic_write(str(tmp_path / "full.pth")):
            raise OSError(28, "No space left on device")
    assert info.value.errno == 28 and info.value.filename == str(tmp_path / "full.pth")


class _WholeNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)


def test_safe_globals_are_accepted_but_never_build_objects(tmp_path):
    Net = _WholeNet
    path = tmp_path / "whole.pth"
    torch.save(Net(), path)
    import rustorch.serialization as serialization

    serialization.add_safe_globals([torch.nn.Linear])
    try:
        with serialization.safe_globals([Net]):
            assert serialization.get_safe_globals() == [torch.nn.Linear, Net]
            with pytest.raises(serialization.CheckpointError, match="model.state_dict"):
                load(path)
        assert serialization.get_safe_globals() == [torch.nn.Linear]
    finally:
        serialization.clear_safe_globals()
    assert serialization.get_safe_globals() == []
    with pytest.raises(TypeError, match="safe globals"):
        serialization.add_safe_globals(["os.system"])
