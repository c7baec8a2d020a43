"""rustorch.datasets.MNIST on the real files: checksums, known statistics, layouts, errors and
downloads from a local HTTP server (the sandbox has loopback only)."""
import functools
import gzip
import http.server
import os
import pathlib
import shutil
import threading
import time

import numpy as np
import pytest
import torch

import rustorch.stateful as rs
from rustorch.datasets import MNIST, DownloadError, mnist_mirrors, parse_idx, read_idx
from rustorch.utils.data import DataLoader, Subset, TensorDataset, default_collate

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TEST_NAMES = NAMES[2:]


@pytest.fixture(scope="module")
def data_root():
    """The real MNIST folder: $RUSTORCH_DATA, else ../shared/data/mnist beside the checkout."""
    env = os.environ.get("RUSTORCH_DATA")
    root = pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    if not all((root / (n + ".gz")).is_file() or (root / n).is_file() for n in NAMES):
        pytest.fail(f"the MNIST files are not in {root}; set RUSTORCH_DATA to their folder")
    return root


@pytest.fixture(scope="module")
def train(data_root):
    return MNIST(data_root, train=True)


@pytest.fixture(scope="module")
def test_split(data_root):
    return MNIST(data_root, train=False)


def _real_file(root, name):
    raw = root / name
    return raw if raw.is_file() else root / (name + ".gz")


def _raw_bytes(root, name):
    path = _real_file(root, name)
    content = path.read_bytes()
    return gzip.decompress(content) if path.suffix == ".gz" else content


# --- the real data ---------------------------------------------------------------------------

def test_train_split_known_facts(train):
    assert len(train) == 60000
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.shape == (60000,) and train.targets.dtype == np.int32
    assert train.targets[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(train.targets, minlength=10).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    # Exact moments from the histogram of the 256 pixel values (no 47M-element float copy).
    counts = np.bincount(train.data.ravel(), minlength=256).astype(np.float64)
    values = np.arange(256) / 255
    mean = (counts * values).sum() / counts.sum()
    std = np.sqrt((counts * (values - mean) ** 2).sum() / counts.sum())
    assert round(float(mean), 4) == 0.1307
    assert round(float(std), 4) == 0.3081
    assert not train.data.flags.writeable and not train.targets.flags.writeable
    assert train.classes[5] == "5 - five" and train.class_to_idx["9 - nine"] == 9


def test_test_split_and_samples(test_split):
    assert len(test_split) == 10000 and test_split.data.shape == (10000, 28, 28)
    assert np.bincount(test_split.targets, minlength=10).sum() == 10000
    image, label = test_split[0]
    assert isinstance(image, np.ndarray) and image.shape == (28, 28) and image.dtype == np.uint8
    assert type(label) is int and label == int(test_split.targets[0])
    image, label = test_split[-1]
    np.testing.assert_array_equal(image, test_split.data[9999])


def test_root_from_environment_and_layouts(data_root, tmp_path, monkeypatch, test_split):
    monkeypatch.setenv("RUSTORCH_DATA", str(data_root))
    np.testing.assert_array_equal(MNIST(train=False).targets, test_split.targets)
    for layout in ("mnist", os.path.join("MNIST", "raw")):
        folder = tmp_path / layout
        folder.mkdir(parents=True)
        for name in TEST_NAMES:
            real = _real_file(data_root, name)
            (folder / real.name).symlink_to(real)
        ds = MNIST(tmp_path, train=False)
        np.testing.assert_array_equal(ds.data, test_split.data)
        shutil.rmtree(tmp_path / layout.split(os.sep)[0])


def test_raw_files_read_like_gzip(data_root, tmp_path, test_split):
    for name in TEST_NAMES:
        (tmp_path / name).write_bytes(_raw_bytes(data_root, name))
    ds = MNIST(tmp_path, train=False)
    np.testing.assert_array_equal(ds.data, test_split.data)
    np.testing.assert_array_equal(ds.targets, test_split.targets)
    np.testing.assert_array_equal(read_idx(tmp_path / TEST_NAMES[1]), test_split.targets)


def test_arrays_match_torchvision_normalisation(test_split):
    images, labels = test_split.arrays()
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.float32
    assert labels.dtype == np.int32
    # torchvision: ToTensor() (float / 255) then Normalize((0.1307,), (0.3081,)), in float32.
    head = torch.from_numpy(np.array(test_split.data[:2000]))
    expected = head.float().div(255).sub(torch.as_tensor(0.1307)).div(torch.as_tensor(0.3081))
    np.testing.assert_array_equal(images[:2000, 0], expected.numpy())
    plain, one_hot = test_split.arrays(normalize=False, one_hot=True)
    np.testing.assert_array_equal(plain[:2000, 0], head.float().div(255).numpy())
    assert one_hot.shape == (10000, 10) and one_hot.dtype == np.float32
    np.testing.assert_array_equal(one_hot.argmax(1), test_split.targets)
    assert one_hot.sum() == 10000
    with pytest.raises(TypeError, match="floating dtype"):
        test_split.arrays(dtype=np.int32)


def test_loader_over_tensor_dataset_and_epoch_time(train):
    ds = train.tensor_dataset()
    assert isinstance(ds, TensorDataset)
    loader = DataLoader(ds, batch_size=64, shuffle=True, generator=0)
    assert len(loader) == 938 and len(DataLoader(ds, batch_size=64, drop_last=True)) == 937
    start = time.perf_counter()
    count, seen = 0, np.zeros(10, np.int64)
    for images, labels in loader:
        count += 1
        seen += np.bincount(np.asarray(labels), minlength=10)
    elapsed = time.perf_counter() - start
    assert count == 938 and tuple(images.shape) == (32, 1, 28, 28)
    assert np.asarray(images).dtype == np.float32 and np.asarray(labels).dtype == np.int32
    assert seen.tolist() == np.bincount(train.targets).tolist()
    # One shuffled epoch, conversion to tensors included; well under a second on an idle core.
    assert elapsed < 10, f"one MNIST epoch took {elapsed:.2f} s"


def test_loader_over_mnist_itself(train):
    images, labels = next(iter(DataLoader(train, batch_size=5)))
    assert tuple(images.shape) == (5, 28, 28) and np.asarray(images).dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(labels), [5, 0, 4, 1, 9])
    head = Subset(train, list(range(200)))
    fast = [[np.asarray(t) for t in b] for b in DataLoader(head, batch_size=32, shuffle=True, generator=3)]
    slow = [[np.asarray(t) for t in b]
            for b in DataLoader(head, batch_size=32, shuffle=True, generator=3, collate_fn=default_collate)]
    for a, b in zip(fast, slow):
        for u, v in zip(a, b):
            assert u.dtype == v.dtype
            np.testing.assert_array_equal(u, v)


def test_transforms_apply_per_sample(data_root):
    ds = MNIST(data_root, train=False, transform=lambda img: img.astype(np.float32)[None] / 255,
               target_transform=lambda y: y + 10)
    image, label = ds[0]
    assert image.shape == (1, 28, 28) and label == int(ds.targets[0]) + 10
    images, labels = next(iter(DataLoader(ds, batch_size=4)))
    assert np.asarray(images).dtype == np.float32 and tuple(images.shape) == (4, 1, 28, 28)
    np.testing.assert_array_equal(np.asarray(labels), ds.targets[:4] + 10)
    assert isinstance(images, rs.Variable)


# --- errors --------------------------------------------------------------------------------

def test_missing_root_and_files(tmp_path, monkeypatch):
    monkeypatch.delenv("RUSTORCH_DATA", raising=False)
    with pytest.raises(ValueError, match="set RUSTORCH_DATA .* or pass root=, or download=True"):
        MNIST()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MNIST(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte \(or train-images-idx3-ubyte.gz\) not found.*download=True"):
        MNIST(tmp_path)
    with pytest.raises(TypeError, match="train must be a bool"):
        MNIST(tmp_path, train="yes")
    with pytest.raises(TypeError, match="transform must be callable"):
        MNIST(tmp_path, transform=3)


def test_download_without_root_uses_the_user_cache(data_root, tmp_path, monkeypatch, test_split):
    monkeypatch.delenv("RUSTORCH_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # Mirrors nobody can reach: valid files already in the cache must not be fetched.
    monkeypatch.setenv("RUSTORCH_MNIST_MIRRORS", "http://127.0.0.1:1/")
    raw = tmp_path / "rustorch" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in NAMES:
        real = _real_file(data_root, name)
        (raw / real.name).symlink_to(real)
    ds = MNIST(train=False, download=True)
    assert ds.root == str(tmp_path / "rustorch")
    np.testing.assert_array_equal(ds.targets, test_split.targets)


def test_corrupt_files(data_root, tmp_path):
    images = tmp_path / (TEST_NAMES[0] + ".gz")
    images.symlink_to(_real_file(data_root, TEST_NAMES[0]))
    labels = bytearray(_raw_bytes(data_root, TEST_NAMES[1]))
    labels[100] ^= 0xFF
    (tmp_path / TEST_NAMES[1]).write_bytes(bytes(labels))
    with pytest.raises(RuntimeError, match=(
            r"checksum mismatch for .*t10k-labels-idx1-ubyte: the sha256 of its uncompressed content "
            r"is [0-9a-f]{64}, expected ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2\. "
            r".*delete it and download it again")):
        MNIST(tmp_path, train=False)
    (tmp_path / TEST_NAMES[1]).unlink()
    packed = _real_file(data_root, TEST_NAMES[1]).read_bytes()
    (tmp_path / (TEST_NAMES[1] + ".gz")).write_bytes(packed[: len(packed) // 2])
    with pytest.raises(RuntimeError, match="cannot decompress .*corrupt or truncated: delete it"):
        MNIST(tmp_path, train=False)


def test_parse_idx_roundtrip_and_errors(rng):
    for code, dtype in ((0x08, np.uint8), (0x09, np.int8), (0x0B, ">i2"), (0x0C, ">i4"),
                        (0x0D, ">f4"), (0x0E, ">f8")):
        shape = tuple(int(d) for d in rng.integers(1, 5, size=int(rng.integers(1, 4))))
        values = rng.uniform(-100, 100, shape).astype(dtype)
        header = bytes([0, 0, code, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes()
        parsed = parse_idx(header + values.tobytes())
        assert parsed.shape == shape and parsed.dtype == np.dtype(dtype).newbyteorder("=")
        np.testing.assert_array_equal(parsed, values)
    good = bytes([0, 0, 8, 1]) + np.asarray([3], ">u4").tobytes() + b"\x01\x02\x03"
    assert parse_idx(good).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="says shape \\(3,\\) of uint8 \\(11 bytes in all\\) but the file has 10 bytes"):
        parse_idx(good[:-1], "f")
    with pytest.raises(ValueError, match="not an IDX file"):
        parse_idx(b"\x01" + good[1:])
    with pytest.raises(ValueError, match="unknown IDX dtype byte 0x07"):
        parse_idx(good[:2] + b"\x07" + good[3:])


def test_gzip_bomb_named_as_mnist_file_is_refused_with_bounded_memory(tmp_path):
    """A small .gz inflating far beyond the official size is refused before or while inflating,
    never inflated whole: memory stays bounded by the official size (torchvision has no such
    check: it would inflate the whole stream before comparing anything)."""
    import tracemalloc
    import zlib

    bomb = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    packed = bomb.compress(bytes(64 << 20)) + bomb.flush()
    assert len(packed) < 100_000
    # 1. An honest trailer (64 MiB) already says too much: refused before inflating anything.
    (tmp_path / (NAMES[0] + ".gz")).write_bytes(packed)
    # 2. A trailer lying about the size: inflating stops one byte past the official size.
    lying = packed[:-4] + (8 + 60000).to_bytes(4, "little")
    (tmp_path / (NAMES[1] + ".gz")).write_bytes(lying)
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError, match="gzip trailer announces 67108864 bytes of content, more "
                                               "than the 47040016"):
            MNIST(tmp_path, train=True)
        from rustorch.datasets import _mnist
        with pytest.raises(RuntimeError, match=r"train-labels-idx1-ubyte\.gz: it inflates to more than 60008 bytes"):
            _mnist._load_verified(str(tmp_path / (NAMES[1] + ".gz")), NAMES[1])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak
    # read_idx (no name, no checksum): the IDX header must announce a size the file can hold.
    header = bytes([0, 0, 8, 1]) + (2**31).to_bytes(4, "big")
    (tmp_path / "huge.gz").write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(ValueError, match="announces 2147483656 bytes, more than a .*-byte gzip file can hold"):
        read_idx(tmp_path / "huge.gz")
    (tmp_path / "short.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + b"\x01\x02"))
    with pytest.raises(ValueError, match="the content has 10 bytes, but 11 were expected"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "long.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(5000)))
    with pytest.raises(RuntimeError, match="inflates to more than 11 bytes"):
        read_idx(tmp_path / "long.gz")


def test_file_rewritten_in_place_is_verified_again(data_root, tmp_path):
    """Same size, same modification time, different bytes: the in-process cache must not hide it."""
    for name in TEST_NAMES:
        (tmp_path / name).write_bytes(_raw_bytes(data_root, name))
    first = MNIST(tmp_path, train=False)
    again = MNIST(tmp_path, train=False)
    assert again.data is first.data  # the same bytes: the verified array is reused
    labels = tmp_path / TEST_NAMES[1]
    before = os.stat(labels)
    content = bytearray(labels.read_bytes())
    content[-1] ^= 0x01
    with open(labels, "r+b") as f:  # in place: same inode, same size
        f.write(content)
    os.utime(labels, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(labels)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    with pytest.raises(RuntimeError, match="checksum mismatch for .*t10k-labels-idx1-ubyte"):
        MNIST(tmp_path, train=False)


# --- downloads from a local server ---------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list = []

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server(data_root, tmp_path_factory):
    """A loopback HTTP server with mirrors good/, truncated/, garbage/, bomb/ (64 KiB inflating
    to 64 MiB) and wrong/ (valid gzip, wrong content); missing/ gives 404s."""
    served = tmp_path_factory.mktemp("served")
    for folder in ("good", "truncated", "garbage", "wrong", "bomb"):
        (served / folder).mkdir()
    bomb = gzip.compress(bytes(64 << 20), compresslevel=6)
    for name in NAMES:
        packed = _real_file(data_root, name)
        packed = packed.read_bytes() if packed.suffix == ".gz" else gzip.compress(packed.read_bytes())
        (served / "good" / (name + ".gz")).write_bytes(packed)
        (served / "truncated" / (name + ".gz")).write_bytes(packed[: len(packed) // 3])
        (served / "garbage" / (name + ".gz")).write_bytes(b"<html>not here</html>" * 50)
        (served / "wrong" / (name + ".gz")).write_bytes(gzip.compress(b"\0\0\x08\x01" + bytes(8)))
        (served / "bomb" / (name + ".gz")).write_bytes(bomb)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def loopback(monkeypatch):
    """Keep requests to the local server off any proxy configured in the environment."""
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")


def test_download_skips_404_mirror_and_reuses_files(server, loopback, tmp_path, monkeypatch, train,
                                                    test_split):
    monkeypatch.setenv("RUSTORCH_MNIST_MIRRORS", f"{server}/missing/, {server}/good")
    _Handler.requests.clear()
    ds = MNIST(tmp_path, train=False, download=True)
    raw = tmp_path / "MNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(n + ".gz" for n in NAMES)
    assert sorted(_Handler.requests) == sorted(
        [f"/missing/{n}.gz" for n in NAMES] + [f"/good/{n}.gz" for n in NAMES])
    np.testing.assert_array_equal(ds.data, test_split.data)
    np.testing.assert_array_equal(MNIST(tmp_path, train=True, download=True).targets, train.targets)
    assert len(_Handler.requests) == 8  # valid files are not fetched again


def test_download_failures_listed_and_nothing_left(server, loopback, tmp_path, monkeypatch):
    monkeypatch.setenv("RUSTORCH_MNIST_MIRRORS", ",".join(
        [f"{server}/missing/", f"{server}/truncated/", f"{server}/garbage/", f"{server}/wrong/",
         f"{server}/bomb/", "http://127.0.0.1:1/"]))
    with pytest.raises(DownloadError) as info:
        MNIST(tmp_path, download=True)
    message = str(info.value)
    first = "train-images-idx3-ubyte.gz"
    assert f"{server}/missing/{first}: HTTP 404" in message
    assert f"{server}/truncated/{first}: EOFError: the gzip stream ends early" in message
    assert f"{server}/garbage/{first}: not a valid gzip stream" in message
    assert f"{server}/wrong/{first}: sha256 of the decompressed content is" in message
    # 64 KiB inflating to 64 MiB: abandoned one chunk past the 47,040,016 bytes of the real file.
    assert f"{server}/bomb/{first}: ValueError: the content inflates to more than 47040016 bytes" in message
    assert f"http://127.0.0.1:1/{first}: cannot connect" in message
    assert os.listdir(tmp_path / "MNIST" / "raw") == []


def test_download_replaces_a_corrupt_file_only(server, loopback, data_root, tmp_path, monkeypatch,
                                               test_split):
    monkeypatch.setenv("RUSTORCH_MNIST_MIRRORS", f"{server}/good/")
    for name in NAMES[:3]:
        real = _real_file(data_root, name)
        (tmp_path / real.name).symlink_to(real)
    (tmp_path / NAMES[3]).write_bytes(b"\0\0\x08\x01" + bytes(8))
    _Handler.requests.clear()
    ds = MNIST(tmp_path, train=False, download=True)
    assert _Handler.requests == [f"/good/{NAMES[3]}.gz"]
    assert not (tmp_path / NAMES[3]).exists() and (tmp_path / (NAMES[3] + ".gz")).is_file()
    np.testing.assert_array_equal(ds.targets, test_split.targets)


def test_mirror_list(monkeypatch):
    monkeypatch.delenv("RUSTORCH_MNIST_MIRRORS", raising=False)
    assert mnist_mirrors() == ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                               "https://storage.googleapis.com/cvdf-datasets/mnist/"]
    monkeypatch.setenv("RUSTORCH_MNIST_MIRRORS", "http://a/x, http://b/y/")
    assert mnist_mirrors() == ["http://a/x/", "http://b/y/"]
    monkeypatch.setenv("RUSTORCH_MNIST_MIRRORS", " , ")
    with pytest.raises(ValueError, match="names no URL"):
        mnist_mirrors()
