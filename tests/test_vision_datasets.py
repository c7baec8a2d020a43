"""rustorch.vision.datasets and utils: the real MNIST through the pytorch/examples pipeline,
generated FashionMNIST/CIFAR files, the restricted CIFAR unpickler, FakeData, ImageFolder,
the numpy image backend, make_grid and save_image."""
import gc
import gzip
import io
import multiprocessing
import os
import pathlib
import pickle
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import rustorch.stateful as rs
import rustorch.vision as vision
from rustorch.utils.data import DataLoader
from rustorch.vision import datasets, transforms, utils
from rustorch.vision.datasets.cifar import load_batch

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(scope="module")
def mnist_dir():
    """The real MNIST files: $RUSTORCH_DATA, else ../shared/data/mnist beside the checkout."""
    env = os.environ.get("RUSTORCH_DATA")
    root = pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    if not all((root / (n + ".gz")).is_file() or (root / n).is_file() for n in NAMES):
        pytest.fail(f"the MNIST files are not in {root}; set RUSTORCH_DATA to their folder")
    return root


@pytest.fixture
def torchvision_root(tmp_path, mnist_dir):
    """``root/MNIST/raw/*`` as torchvision lays it out, by symlinks to the real files."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in mnist_dir.iterdir():
        if "ubyte" in f.name:
            (raw / f.name).symlink_to(f)
    return tmp_path / "data"


@pytest.fixture
def numpy_backend():
    vision.set_image_backend("numpy")
    yield
    vision.set_image_backend("PIL")


def test_pytorch_examples_mnist_pipeline(torchvision_root, monkeypatch):
    """pytorch/examples mnist/main.py's data code, with torchvision -> rustorch.vision."""
    work = torchvision_root.parent / "mnist"  # the example's folder, beside ../data
    work.mkdir()
    monkeypatch.chdir(work)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset1 = datasets.MNIST("../data", train=True, download=False, transform=transform)
    dataset2 = datasets.MNIST("../data", train=False, transform=transform)
    assert len(dataset1) == 60000 and len(dataset2) == 10000
    kwargs = {"batch_size": 64}
    kwargs.update({"num_workers": 1, "pin_memory": True, "shuffle": True})
    train_loader = DataLoader(dataset1, **kwargs)
    test_loader = DataLoader(dataset2, batch_size=1000)
    assert len(train_loader) == 938 and len(test_loader) == 10
    it = iter(train_loader)
    seen = []
    for _ in range(3):
        data, target = next(it)
        assert isinstance(data, rs.Variable) and isinstance(target, rs.Variable)
        assert data.shape == (64, 1, 28, 28) and np.asarray(data).dtype == np.float32
        assert target.shape == (64,) and np.asarray(target).dtype == np.int32
        seen.append(np.asarray(target))
    del it
    gc.collect()
    assert multiprocessing.active_children() == []
    data, target = next(iter(test_loader))
    x = np.asarray(data)
    # The first test image through ToTensor + Normalize, by the definitions.
    expected = (np.asarray(dataset2.data)[0].astype(np.float32) / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081)
    np.testing.assert_array_equal(x[0, 0], expected)
    assert np.asarray(target)[:5].tolist() == [7, 2, 1, 0, 4]
    # Normalised with the training statistics, the test split has mean ~0 and std ~1.
    assert abs(x.mean()) < 0.1 and abs(x.std() - 1) < 0.1


def test_mnist_items_attributes_and_layouts(mnist_dir, torchvision_root, numpy_backend):
    flat = datasets.MNIST(str(mnist_dir), train=False)
    tv = datasets.MNIST(torchvision_root, train=False)
    img, label = tv[0]
    assert isinstance(img, np.ndarray) and img.shape == (28, 28) and img.dtype == np.uint8 and label == 7
    np.testing.assert_array_equal(flat.data, tv.data)
    assert isinstance(tv.data, rs.Variable) and isinstance(tv.targets, rs.Variable)
    assert tv.data.shape == (10000, 28, 28) and np.asarray(tv.targets).dtype == np.int32
    assert tv.class_to_idx["3 - three"] == 3
    # What programs do with them (pytorch/examples siamese_network, filtering by label):
    images = tv.data.unsqueeze(1).clone()
    assert images.shape == (10000, 1, 28, 28) and images[3].clone().float().shape == (1, 28, 28)
    labels = np.array(tv.targets.clone(), dtype=None, copy=None)
    sevens = np.where(labels == 7)[0]
    tv.data, tv.targets = tv.data[:100], tv.targets[:100]
    assert len(tv) == 100 and tv[0][1] == 7
    tv.data, tv.targets = np.asarray(flat.data)[sevens], np.asarray(flat.targets)[sevens]
    assert len(tv) == len(sevens) and {tv[i][1] for i in range(0, len(tv), 97)} == {7}
    vision.set_image_backend("PIL")
    img, _ = tv[0]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(img), tv.data[0])


def test_missing_files_and_download_errors(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match=r"Dataset not found\. You can use download=True") as info:
        datasets.MNIST(tmp_path, train=True)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value) and "train-images-idx3-ubyte(.gz)" in str(info.value)
    monkeypatch.setenv("RUSTORCH_MNIST_MIRRORS", "http://127.0.0.1:9/")  # nothing listens there
    with pytest.raises(RuntimeError, match="Downloading failed") as info:
        datasets.MNIST(tmp_path, train=False, download=True)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)
    with pytest.raises(RuntimeError, match="FashionMNIST: Dataset not found. This build cannot download"):
        datasets.FashionMNIST(tmp_path, download=True)
    with pytest.raises(RuntimeError, match="cifar-10-batches-py"):
        datasets.CIFAR10(tmp_path, download=True)


def _idx(array: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_fashion_mnist_from_generated_files(tmp_path, rng):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([9, 0, 3, 3, 1], np.uint8)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(_idx(labels))
    ds = datasets.FashionMNIST(tmp_path, train=False, transform=transforms.ToTensor())
    assert len(ds) == 5 and ds.classes[9] == "Ankle boot"
    x, y = ds[0]
    np.testing.assert_array_equal(np.asarray(x)[0], images[0] / np.float32(255))
    assert y == 9 and [ds[i][1] for i in range(5)] == labels.tolist()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(_idx(labels[:4]))
    with pytest.raises(RuntimeError, match="do not match labels"):
        datasets.FashionMNIST(tmp_path, train=False)
    (tmp_path / "KMNIST").mkdir()
    (raw / "t10k-images-idx3-ubyte.gz").rename(tmp_path / "KMNIST" / "t10k-images-idx3-ubyte.gz")
    (tmp_path / "KMNIST" / "t10k-labels-idx1-ubyte").write_bytes(_idx(labels))
    with pytest.raises(RuntimeError, match=r"KMNIST: Dataset not found.*KMNIST/raw"):
        datasets.KMNIST(tmp_path / "KMNIST" / "missing", train=False)
    kmnist = datasets.KMNIST(tmp_path / "KMNIST", train=False)  # the flat layout
    assert len(kmnist) == 5 and kmnist.classes[kmnist[0][1]] == "wo"


def _cifar_files(root, rng, n_per_batch=4, legacy_module=False, hundred=False):
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    names = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    arrays = {}
    for name in names:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 100 if hundred else 10, n_per_batch).tolist()
        entry = {"data": data, ("fine_labels" if hundred else "labels"): labels,
                 "batch_label": name, "filenames": [f"img{i}.png" for i in range(n_per_batch)]}
        blob = pickle.dumps(entry, protocol=2)
        if legacy_module:  # as the original files, written by numpy 1 / Python 2
            blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (folder / name).write_bytes(blob)
        arrays[name] = (data, labels)
    meta_name, key = ("meta", "fine_label_names") if hundred else ("batches.meta", "label_names")
    classes = [f"class{i}" for i in range(100 if hundred else 10)]
    (folder / meta_name).write_bytes(pickle.dumps({key: classes}, protocol=4))
    return arrays, classes


@pytest.mark.parametrize("legacy_module", [False, True])
def test_cifar10_from_generated_batches(tmp_path, rng, legacy_module):
    arrays, classes = _cifar_files(tmp_path, rng, legacy_module=legacy_module)
    train = datasets.CIFAR10(tmp_path, train=True)
    test = datasets.CIFAR10(tmp_path, train=False, transform=transforms.ToTensor())
    assert len(train) == 20 and len(test) == 4 and train.classes == classes
    data, labels = arrays["data_batch_2"]
    img, label = train[5]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (32, 32)
    np.testing.assert_array_equal(np.asarray(img), data[1].reshape(3, 32, 32).transpose(1, 2, 0))
    assert label == labels[1] and isinstance(train.targets, list)
    x, _ = test[0]
    np.testing.assert_array_equal(np.asarray(x), arrays["test_batch"][0][0].reshape(3, 32, 32) / np.float32(255))
    images, targets = next(iter(DataLoader(test, batch_size=4, num_workers=1)))
    assert images.shape == (4, 3, 32, 32) and np.asarray(targets).tolist() == arrays["test_batch"][1]


def test_cifar100_and_protocol_5_pickles(tmp_path, rng):
    arrays, _ = _cifar_files(tmp_path, rng, hundred=True)
    ds = datasets.CIFAR100(tmp_path, train=True)
    assert len(ds) == 4 and ds[2][1] == arrays["train"][1][2] and len(ds.classes) == 100
    path = tmp_path / "p5"
    path.write_bytes(pickle.dumps({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3)}, protocol=5))
    np.testing.assert_array_equal(load_batch(str(path))["data"], np.arange(6).reshape(2, 3))


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_loader_refuses_code_and_objects(tmp_path):
    evil = tmp_path / "evil"
    evil.write_bytes(pickle.dumps({"data": _Boom()}))
    with pytest.raises(pickle.UnpicklingError, match=r"refers to posix\.system, which a CIFAR batch never holds"):
        load_batch(str(evil))
    objects = tmp_path / "objects"
    objects.write_bytes(pickle.dumps({"data": np.array([1, "a"], dtype=object)}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="object array"):
        load_batch(str(objects))
    folder = tmp_path / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["batches.meta"]:
        (folder / name).write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1],
                                                  "label_names": ["a", "b"]}))
    with pytest.raises(RuntimeError, match=r"'data' should be uint8 \[N, 3072\]"):
        datasets.CIFAR10(tmp_path / "root")


def test_fake_data_and_numpy_backend(numpy_backend):
    ds = datasets.FakeData(size=6, image_size=(3, 10, 12), num_classes=4,
                           transform=transforms.Compose([transforms.RandomCrop(8), transforms.ToTensor()]))
    x, y = ds[2]
    assert np.asarray(x).shape == (3, 8, 8) and 0 <= y < 4
    raw = datasets.FakeData(size=6, image_size=(1, 5, 5))
    a, b = raw[3][0], raw[3][0]
    assert isinstance(a, np.ndarray) and a.shape == (5, 5)
    np.testing.assert_array_equal(a, b)
    batches = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert [tuple(b[0].shape) for b in batches] == [(4, 3, 8, 8), (2, 3, 8, 8)]
    with pytest.raises(IndexError):
        raw[6]
    with pytest.raises(ValueError, match="Invalid image backend"):
        vision.set_image_backend("accimage")


def test_image_folder(tmp_path, rng):
    for cls, count in (("cat", 2), ("dog", 3)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = datasets.ImageFolder(tmp_path, transform=transforms.ToTensor())
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert ds.targets == [0, 0, 1, 1, 1] and len(ds.imgs) == 5
    x, y = ds[3]
    np.testing.assert_array_equal(np.asarray(x), np.asarray(Image.open(tmp_path / "dog" / "1.png")).transpose(2, 0, 1) / np.float32(255))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes empty"):
        datasets.ImageFolder(tmp_path)
    assert len(datasets.ImageFolder(tmp_path, allow_empty=True)) == 5
    texts = datasets.DatasetFolder(tmp_path, loader=lambda p: open(p).read(), extensions=(".txt",), allow_empty=True)
    assert texts.samples == [(str(tmp_path / "dog" / "notes.txt"), 1)]


def _read_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    w, h, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 2: 3, 6: 4}[color]
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(h, 1 + w * channels)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(h, w, channels)


def test_make_grid_as_torchvision_defines_it(rng):
    batch = rng.random((5, 1, 4, 3)).astype(np.float32)
    grid = np.asarray(utils.make_grid(rs.tensor(batch), nrow=2, padding=1, pad_value=0.5))
    assert grid.shape == (3, 3 * 5 + 1, 2 * 4 + 1)
    np.testing.assert_array_equal(grid[:, 1:5, 5:8], np.repeat(batch[1], 3, 0))   # row 0, column 1
    np.testing.assert_array_equal(grid[:, 11:15, 1:4], np.repeat(batch[4], 3, 0))  # row 2, column 0
    assert (grid[:, 11:15, 5:8] == 0.5).all() and (grid[:, 0] == 0.5).all()
    x = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    normed = np.asarray(utils.make_grid([rs.tensor(x[0]), rs.tensor(x[1])], padding=0, normalize=True))
    t = torch.from_numpy(x).clone()
    t.clamp_(min=float(t.min()), max=float(t.max())).sub_(float(t.min())).div_(float(t.max()) - float(t.min()))
    np.testing.assert_allclose(normed, torch.cat([t[0], t[1]], 2).numpy(), rtol=1e-6)
    single = np.asarray(utils.make_grid(rs.tensor(x[:1])))
    np.testing.assert_array_equal(single, x[0])


def test_save_image_with_pillow_and_with_the_png_writer(tmp_path, rng, monkeypatch):
    batch = rng.random((3, 3, 4, 5)).astype(np.float32)
    expected = np.clip(np.asarray(utils.make_grid(rs.tensor(batch))) * np.float32(255) + np.float32(0.5), 0, 255)
    expected = expected.astype(np.uint8).transpose(1, 2, 0)
    utils.save_image(rs.tensor(batch), tmp_path / "pil.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "pil.png")), expected)
    from rustorch.vision import _image
    monkeypatch.setattr(_image, "Image", None)
    utils.save_image(rs.tensor(batch), tmp_path / "own.png")
    data = (tmp_path / "own.png").read_bytes()
    np.testing.assert_array_equal(_read_png(data), expected)
    monkeypatch.undo()
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), expected)
    monkeypatch.setattr(_image, "Image", None)
    with pytest.raises(ImportError, match="needs Pillow"):
        utils.save_image(rs.tensor(batch), tmp_path / "x.jpg")
    with pytest.raises(ImportError, match="needs Pillow"):
        datasets.ImageFolder(tmp_path)
    gray = rng.integers(0, 256, (3, 4), dtype=np.uint8)
    buf = io.BytesIO()
    utils.write_png(gray, buf)
    np.testing.assert_array_equal(_read_png(buf.getvalue())[:, :, 0], gray)


@pytest.mark.slow
def test_everything_runs_without_pillow(tmp_path, mnist_dir):
    """In a process where Pillow cannot be imported: numpy items, transforms, loader workers,
    the PNG writer, and clear errors where Pillow is needed."""
    script = f"""
import sys
sys.modules["PIL"] = None  # import PIL now raises ImportError
sys.path.insert(0, {os.getcwd()!r})
import numpy as np
import rustorch.vision as vision
from rustorch.utils.data import DataLoader
from rustorch.vision import datasets, transforms, utils
assert vision.get_image_backend() == "numpy"
t = transforms.Compose([transforms.RandomCrop(28, padding=2), transforms.RandomHorizontalFlip(),
                        transforms.Resize(14), transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
ds = datasets.MNIST({str(mnist_dir)!r}, train=False, transform=t)
img, label = datasets.MNIST({str(mnist_dir)!r}, train=False)[0]
assert isinstance(img, np.ndarray) and img.shape == (28, 28) and label == 7
x, y = next(iter(DataLoader(ds, batch_size=8, num_workers=1)))
assert x.shape == (8, 1, 14, 14)
utils.save_image(x, {str(tmp_path / "grid.png")!r}, normalize=True)
for call in (lambda: datasets.ImageFolder({str(tmp_path)!r}), lambda: transforms.ToPILImage()(x[0]),
             lambda: utils.save_image(x, {str(tmp_path / "grid.jpg")!r})):
    try:
        call()
    except ImportError as err:
        assert "Pillow" in str(err), err
    else:
        raise AssertionError("expected ImportError")
print("ok")
"""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "grid.png")).shape[2], 3)
