"""Seeded fuzzing of rustorch.load with a few thousand mutated checkpoints.

Mutations at three levels: the pickle inside a well-formed archive (so CRCs are right and the
unpickler, opcode scan and tensor layouts are reached), the zip structure (headers, directory,
end records, truncation, duplicates) and safetensors headers (JSON values, nesting, lengths).
For every input the properties are:

* nothing the file names is executed: no audited event of code execution, process creation or
  module import happens during a load, and the marker file the malicious seeds would create
  never appears;
* the only exception is CheckpointError, raised by a reader that says what is wrong (never the
  generic fallback for an unexpected exception);
* a load that succeeds returns plain data and arrays only;
* memory growth (tracemalloc peak, numpy buffers included) stays within 8x the file plus 2 MiB.
"""
import collections
import io
import json
import pickle
import re
import struct
import sys
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
import torch

from rustorch.serialization import CheckpointError, load, save

SEED = 20240613
PICKLE_MUTANTS = 1500
ZIP_MUTANTS = 900
SAFETENSORS_MUTANTS = 700
GROWTH_FACTOR = 8
GROWTH_SLACK = 2 << 20
FALLBACK = "it could not be read ("

_FORBIDDEN_EVENTS = (
    "exec", "compile", "import", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "subprocess.Popen", "ctypes.dlopen", "pickle.find_class", "os.remove", "os.rename",
    "os.chmod", "shutil.rmtree", "socket.connect", "builtins.input", "code.__new__", "marshal.loads",
)
_audit = {"armed": False, "events": []}


def _hook(event, args):
    if _audit["armed"] and event.startswith(_FORBIDDEN_EVENTS):
        _audit["events"].append((event, repr(args)[:200]))


sys.addaudithook(_hook)


def _zip(records, prefix="archive"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records:
            archive.writestr(f"{prefix}/{name}", data)
    return buffer.getvalue()


def _records(raw):
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return [(info.filename.split("/", 1)[1], archive.read(info)) for info in archive.infolist()]


def _seed_archives(marker):
    """Well-formed archives from torch.save and from our save, and malicious pickles."""
    torch.manual_seed(0)
    base = torch.randn(4, 5)
    linear = torch.nn.Linear(3, 2)
    objects = [
        collections.OrderedDict(w=base, t=base.t(), row=base[1], e=torch.arange(3.0).expand(2, 3)),
        {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2, 3)}},
         "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]},
        linear.state_dict(),
        [torch.tensor([1, 2], dtype=torch.int64), torch.tensor([True]), torch.randn(2).half()],
    ]
    seeds = []
    for obj in objects:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        seeds.append(buffer.getvalue())
    buffer = io.BytesIO()
    save({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(5, np.int64), "s": "x"}, buffer)
    seeds.append(buffer.getvalue())
    command = f"touch {marker}"
    for payload in (
        f"cposix\nsystem\n(V{command}\ntR.".encode(),
        f"cbuiltins\nexec\n(V__import__('os').system({command!r})\ntR.".encode(),
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(cposix\nsystem\nX\x05\x00\x00\x00touchtR.",
    ):
        seeds.append(_zip([("data.pkl", payload), ("version", b"3\n")]))
    return seeds


_INTERESTING = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFE]
_INTERESTING_INTS = [0, 1, -1, 2**31 - 1, -(2**31), 2**30, 50_000_000, 255, 256]


def _mutate_bytes(rng, data, protect=0):
    """1 to 4 random edits; a single in-place edit (which keeps lengths intact) most often."""
    data = bytearray(data)
    single = rng.random() < 0.6
    for _ in range(1 if single else int(rng.integers(2, 5))):
        if len(data) <= protect:
            break
        kind = rng.integers(0, 3) if single else rng.integers(0, 6)
        at = int(rng.integers(protect, len(data)))
        if kind == 0:
            data[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            data[at] = _INTERESTING[int(rng.integers(0, len(_INTERESTING)))]
        elif kind == 2 and at + 4 <= len(data):
            value = _INTERESTING_INTS[int(rng.integers(0, len(_INTERESTING_INTS)))]
            data[at : at + 4] = struct.pack("<i", value)
        elif kind == 3:
            del data[at : at + int(rng.integers(1, 9))]
        elif kind == 4:
            data[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
        else:
            start = int(rng.integers(protect, len(data)))
            data[at:at] = data[start : start + int(rng.integers(1, 40))]
    return bytes(data)


def _retype_int(rng, data):
    """One BININT1 ``K x`` (sizes, strides, offsets, numels) becomes ``J`` with an extreme int32."""
    positions = [i for i in range(2, len(data) - 1) if data[i : i + 1] == b"K"]
    if not positions:
        return data
    at = positions[int(rng.integers(0, len(positions)))]
    value = _INTERESTING_INTS[int(rng.integers(0, len(_INTERESTING_INTS)))]
    return data[:at] + b"J" + struct.pack("<i", value) + data[at + 2 :]


def _pickle_mutants(rng, seeds, count):
    for index in range(count):
        records = _records(seeds[index % len(seeds)])
        pickled = [i for i, (name, _) in enumerate(records) if name == "data.pkl"][0]
        name, data = records[pickled]
        if rng.random() < 0.4:
            data = _retype_int(rng, data)
        else:
            data = _mutate_bytes(rng, data, protect=2 if rng.random() < 0.8 else 0)
        records[pickled] = (name, data)
        if rng.random() < 0.1:  # a storage record of another size
            storages = [i for i, (n, _) in enumerate(records) if n.startswith("data/")]
            if storages:
                i = storages[int(rng.integers(0, len(storages)))]
                records[i] = (records[i][0], records[i][1][: int(rng.integers(0, len(records[i][1]) + 1))])
        yield "pickle", _zip(records)


def _zip_mutants(rng, seeds, count):
    for index in range(count):
        raw = seeds[index % len(seeds)]
        kind = rng.integers(0, 5)
        if kind == 0:  # anywhere
            yield "zip", _mutate_bytes(rng, raw)
        elif kind == 1:  # the central directory and end records
            start = raw.rindex(b"PK\x01\x02", 0, len(raw)) - 200
            data = bytearray(raw)
            tail = _mutate_bytes(rng, bytes(data[max(0, start):]))
            yield "zip", bytes(data[: max(0, start)]) + tail
        elif kind == 2:  # a local header
            offsets = [match.start() for match in re.finditer(b"PK\x03\x04", raw)]
            at = offsets[int(rng.integers(0, len(offsets)))]
            data = bytearray(raw)
            field = at + int(rng.integers(4, 30))
            data[field] = _INTERESTING[int(rng.integers(0, len(_INTERESTING)))]
            yield "zip", bytes(data)
        elif kind == 3:  # truncated
            yield "zip", raw[: int(rng.integers(0, len(raw)))]
        else:  # a record duplicated or renamed
            records = _records(raw)
            i = int(rng.integers(0, len(records)))
            if rng.random() < 0.5:
                records.insert(int(rng.integers(0, len(records) + 1)), records[i])
            else:
                records[i] = ("data/" + str(int(rng.integers(0, 5))), records[i][1])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield "zip", _zip(records)


def _safetensors_seed():
    buffer = io.BytesIO()
    header = {
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
        "c": {"dtype": "U8", "shape": [], "data_offsets": [40, 41]},
        "__metadata__": {"format": "pt"},
    }
    encoded = json.dumps(header).encode()
    body = np.arange(6, dtype="<f4").tobytes() + np.array([1, -2], "<i8").tobytes() + b"\x07"
    buffer.write(struct.pack("<Q", len(encoded)) + encoded + body)
    return header, buffer.getvalue()


_JSON_VALUES = [
    -1, 0, 1, 2**31, 2**62, 2**64, 1.5, "F32", "BOOL", "X", None, True, [], [0], [2**62, 0],
    [1] * 70, {"k": "v"}, [[1]], [0, 2**62],
]


def _safetensors_mutants(rng, count):
    header, raw = _safetensors_seed()
    body = raw[8 + struct.unpack("<Q", raw[:8])[0] :]
    for _ in range(count):
        kind = rng.integers(0, 5)
        if kind == 0:  # raw bytes of header and data
            yield "safetensors", raw[:8] + _mutate_bytes(rng, raw[8:])
            continue
        if kind == 1:  # the length field
            declared = struct.unpack("<Q", raw[:8])[0]
            length = declared + int(rng.choice([-9, -1, 1, 7, 2**40, -declared]))
            yield "safetensors", struct.pack("<Q", max(length, 0)) + raw[8:]
            continue
        mutated = json.loads(json.dumps(header))
        if kind == 2:  # a field of a tensor
            name = ["a", "b", "c"][int(rng.integers(0, 3))]
            field = ["dtype", "shape", "data_offsets"][int(rng.integers(0, 3))]
            mutated[name][field] = _JSON_VALUES[int(rng.integers(0, len(_JSON_VALUES)))]
            encoded = json.dumps(mutated).encode()
        elif kind == 3:  # deep nesting
            depth = int(rng.choice([10, 1000, 100_000]))
            encoded = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
        else:  # a tensor removed or added
            if rng.random() < 0.5:
                del mutated[["a", "b", "c"][int(rng.integers(0, 3))]]
            else:
                mutated["d"] = {"dtype": "F16", "shape": [int(rng.integers(0, 9))], "data_offsets": [41, 41 + 2 * int(rng.integers(0, 9))]}
            encoded = json.dumps(mutated).encode()
        yield "safetensors", struct.pack("<Q", len(encoded)) + encoded + body


_REASONS = (
    ("opcode scan", "data.pkl was refused"), ("allowlist", "not on the allowlist"),
    ("tensor layout", "data.pkl is malformed"), ("unpickler", "data.pkl is corrupt"),
    ("persistent id", "persistent id"), ("zip structure", "well-formed zip"), ("record CRC", "CRC-32"), ("storage record", "record"),
    ("safetensors header", "safetensors header"), ("safetensors tensor", "tensor"),
)


def _reason(message):
    for reason, text in _REASONS:
        if text in message:
            return reason
    return "other"


def _plain(value, depth=0):
    """True if ``value`` holds only containers, scalars and numpy/JAX arrays."""
    if depth > 200:
        return True
    if isinstance(value, (int, float, str, bytes, bool, complex, type(None), np.ndarray)):
        return True
    if type(value).__module__.startswith("jax"):
        return True
    if isinstance(value, dict):
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_plain(item, depth + 1) for item in value)
    return False


def test_fuzzed_checkpoints_are_loaded_or_refused_safely(tmp_path):
    marker = tmp_path / "executed"
    rng = np.random.default_rng(SEED)
    seeds = _seed_archives(marker)
    inputs = [*_pickle_mutants(rng, seeds, PICKLE_MUTANTS), *_zip_mutants(rng, seeds, ZIP_MUTANTS),
              *_safetensors_mutants(rng, SAFETENSORS_MUTANTS)]
    # Lazy imports of the loading path (and of the codecs text opcodes use) happen here, not
    # while the audit hook is armed.
    for codec in ("raw_unicode_escape", "ascii", "latin-1", "utf-8", "cp437"):
        b"x".decode(codec)
    for map_to in ("numpy", "jax", "tensor"):
        load(io.BytesIO(seeds[0]), map_to=map_to)
        load(io.BytesIO(_safetensors_seed()[1]), map_to=map_to)
    outcomes = collections.Counter()
    reasons = collections.Counter()
    worst = (0, 0)
    tracemalloc.start()
    try:
        for index, (level, raw) in enumerate(inputs):
            map_to = "numpy" if index % 4 else "jax"
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            _audit["armed"] = True
            try:
                result = load(io.BytesIO(raw), map_to=map_to)
                outcome = "loaded"
            except CheckpointError as error:
                result, outcome = None, "refused"
                message = str(error)
                assert message.startswith("cannot load checkpoint <file object>: "), message
                assert FALLBACK not in message, (level, index, message)
                reasons[_reason(message)] += 1
            except Exception as error:  # pragma: no cover - the property under test
                pytest.fail(f"{level} mutant {index} raised {type(error).__name__}: {error}")
            finally:
                _audit["armed"] = False
            growth = tracemalloc.get_traced_memory()[1] - before
            assert growth <= GROWTH_FACTOR * len(raw) + GROWTH_SLACK, (level, index, growth, len(raw))
            worst = max(worst, (growth, len(raw)))
            assert not _audit["events"], (level, index, _audit["events"])
            if result is not None:
                assert _plain(result), (level, index)
            del result
            outcomes[(level, outcome)] += 1
    finally:
        tracemalloc.stop()
    assert not marker.exists()
    counts = {f"{level}/{outcome}": n for (level, outcome), n in sorted(outcomes.items())}
    print(f"\nfuzzed {len(inputs)} inputs: {counts}\nrefusals by reader: {dict(reasons.most_common())}\n"
          f"largest traced memory growth {worst[0]} bytes (file of {worst[1]} bytes)")
    assert sum(outcomes.values()) == PICKLE_MUTANTS + ZIP_MUTANTS + SAFETENSORS_MUTANTS
    # Every level reaches both outcomes: the mutations are neither all fatal nor all harmless.
    for level in ("pickle", "zip", "safetensors"):
        assert outcomes[(level, "refused")] > 0 and outcomes[(level, "loaded")] > 0, counts
