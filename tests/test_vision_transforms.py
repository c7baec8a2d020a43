"""rustorch.vision.transforms against exact definitions, torch ops (torchvision is not installable
beside torch 2.13 here) and Pillow; on PIL images, numpy images and tensors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as tF
from PIL import Image

import rustorch.stateful as rs
from rustorch.utils.data import DataLoader, Dataset
from rustorch.utils.data._convert import HostArray, host_arrays
from rustorch.vision import transforms as T
from rustorch.vision.transforms import functional as F


def _np(x):
    return np.asarray(x)


def _rgb(rng, h=7, w=9):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- conversions ---------------------------------------------------------------------------

def test_to_tensor_is_chw_float_over_255(rng):
    rgb = _rgb(rng)
    gray = rgb[:, :, 0].copy()
    for img, pixels in ((Image.fromarray(rgb), rgb), (rgb, rgb), (Image.fromarray(gray), gray[:, :, None]),
                        (gray, gray[:, :, None])):
        out = T.ToTensor()(img)
        assert isinstance(out, rs.Variable)
        expected = torch.from_numpy(pixels).permute(2, 0, 1).float().div(255).numpy()
        assert _np(out).dtype == np.float32
        np.testing.assert_array_equal(_np(out), expected)
    floats = rng.random((4, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(_np(T.ToTensor()(floats)), floats.transpose(2, 0, 1))
    pil = T.PILToTensor()(Image.fromarray(rgb))
    assert _np(pil).dtype == np.uint8
    np.testing.assert_array_equal(_np(pil), rgb.transpose(2, 0, 1))
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()([1, 2, 3])
    back = T.ToPILImage()(T.ToTensor()(Image.fromarray(rgb)))
    np.testing.assert_array_equal(np.asarray(back), rgb)


def test_to_tensor_in_host_mode_returns_host_arrays(rng):
    rgb = _rgb(rng)
    with host_arrays():
        out = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.25,) * 3)])(rgb)
    assert isinstance(out, HostArray)
    np.testing.assert_array_equal(out, (rgb.transpose(2, 0, 1).astype(np.float32) / 255 - np.float32(0.5)) / np.float32(0.25))


def test_normalize_matches_torch(rng):
    for channels in (1, 3):
        x = rng.standard_normal((2, channels, 5, 4)).astype(np.float32)
        mean = rng.random(channels).tolist()
        std = (rng.random(channels) + 0.1).tolist()
        out = T.Normalize(mean, std)(rs.tensor(x))
        expected = (torch.from_numpy(x) - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
        np.testing.assert_array_equal(_np(out), expected.numpy())
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        T.Normalize([0], [1])(rs.tensor(np.zeros((1, 2, 2), np.int32)))
    with pytest.raises(ValueError, match=r"Expected tensor to be a tensor image of size \(..., C, H, W\)"):
        T.Normalize([0], [1])(rs.tensor(np.zeros((2, 2), np.float32)))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0], [0])(rs.tensor(np.zeros((1, 2, 2), np.float32)))
    with pytest.raises(TypeError, match="img should be Tensor Image"):
        T.Normalize([0], [1])(np.zeros((2, 2, 1), np.float32))


# --- geometry ------------------------------------------------------------------------------

def test_flips_on_every_kind(rng):
    rgb = _rgb(rng)
    tensor = rs.tensor(rgb.transpose(2, 0, 1).astype(np.float32))
    for flip, axis in ((T.RandomHorizontalFlip(1.0), 1), (T.RandomVerticalFlip(1.0), 0)):
        np.testing.assert_array_equal(np.asarray(flip(Image.fromarray(rgb))), np.flip(rgb, axis))
        np.testing.assert_array_equal(flip(rgb), np.flip(rgb, axis))
        np.testing.assert_array_equal(_np(flip(tensor)), np.flip(rgb, axis).transpose(2, 0, 1))
    assert T.RandomHorizontalFlip(0.0)(rgb) is rgb
    rs.manual_seed(0)
    flips = [T.RandomHorizontalFlip()(rgb) is not rgb for _ in range(400)]
    assert 150 < sum(flips) < 250


@pytest.mark.parametrize("mode,torch_mode", [("constant", "constant"), ("edge", "replicate"),
                                             ("reflect", "reflect")])
def test_pad_matches_torch_pad(rng, mode, torch_mode):
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    for padding in (2, (1, 3), (1, 2, 3, 4)):
        ltrb = F._padding_ltrb(padding)
        out = T.Pad(padding, fill=0, padding_mode=mode)(rs.tensor(x))
        expected = tF.pad(torch.from_numpy(x), (ltrb[0], ltrb[2], ltrb[1], ltrb[3]), mode=torch_mode)
        np.testing.assert_array_equal(_np(out), expected.numpy())
    rgb = _rgb(rng)
    pil = np.asarray(T.Pad((1, 2, 3, 4), fill=7, padding_mode=mode)(Image.fromarray(rgb)))
    arr = T.Pad((1, 2, 3, 4), fill=7, padding_mode=mode)(rgb)
    np.testing.assert_array_equal(pil, arr)
    assert arr.shape == (7 + 6, 9 + 4, 3)


def test_pad_symmetric_fill_and_errors():
    a = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    out = _np(F.pad(rs.tensor(a), [2, 1], padding_mode="symmetric"))
    np.testing.assert_array_equal(out[0, 1], [1, 0, 0, 1, 2, 2, 1])
    rgb = np.zeros((2, 2, 3), np.uint8)
    filled = F.pad(rgb, 1, fill=(10, 20, 30))
    np.testing.assert_array_equal(filled[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(filled[1, 1], [0, 0, 0])
    with pytest.raises(ValueError, match="Padding mode should be either"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match="1, 2, or 4 element tuple"):
        T.Pad((1, 2, 3))


def test_random_crop(rng):
    gray = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    crop = T.RandomCrop(28, padding=4)
    padded = np.pad(gray, 4)
    rs.manual_seed(3)
    first = [crop(Image.fromarray(gray)) for _ in range(5)]
    rs.manual_seed(3)
    again = [crop(gray) for _ in range(5)]  # numpy images draw the same crops
    for pil, arr in zip(first, again):
        assert pil.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(pil), arr)
        windows = [(i, j) for i in range(9) for j in range(9)
                   if np.array_equal(padded[i:i + 28, j:j + 28], arr)]
        assert windows, "every crop is a window of the padded image"
    tensor = rs.tensor(rng.standard_normal((3, 10, 12)).astype(np.float32))
    assert _np(T.RandomCrop((4, 5))(tensor)).shape == (3, 4, 5)
    np.testing.assert_array_equal(_np(T.RandomCrop((10, 12))(tensor)), _np(tensor))
    needed = T.RandomCrop((12, 15), pad_if_needed=True)(tensor)
    assert _np(needed).shape == (3, 12, 15)
    with pytest.raises(ValueError, match=r"Required crop size \(11, 5\) is larger than input image size \(10, 12\)"):
        T.RandomCrop((11, 5))(tensor)


def test_center_crop_as_torchvision_defines_it(rng):
    a = np.arange(5 * 6, dtype=np.float32).reshape(1, 5, 6)
    np.testing.assert_array_equal(_np(T.CenterCrop(3)(rs.tensor(a)))[0], a[0, 1:4, 2:5])
    np.testing.assert_array_equal(_np(T.CenterCrop((2, 4))(rs.tensor(a)))[0], a[0, 2:4, 1:5])
    padded = _np(T.CenterCrop((7, 9))(rs.tensor(a)))[0]  # pads (1, 1, 2, 1) then nothing to crop
    assert padded.shape == (7, 9)
    np.testing.assert_array_equal(padded[1:6, 1:7], a[0])
    assert padded[0].sum() == 0 and padded[:, 0].sum() == 0 and padded[:, 7:].sum() == 0
    rgb = _rgb(rng, 10, 10)
    np.testing.assert_array_equal(np.asarray(T.CenterCrop(4)(Image.fromarray(rgb))), T.CenterCrop(4)(rgb))


@pytest.mark.parametrize("antialias", [True, False])
def test_resize_bilinear_matches_torch_interpolate(rng, antialias):
    for _ in range(6):
        h, w = (int(v) for v in rng.integers(4, 40, 2))
        oh, ow = (int(v) for v in rng.integers(3, 50, 2))
        x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
        out = T.Resize((oh, ow), antialias=antialias)(rs.tensor(x))
        expected = tF.interpolate(torch.from_numpy(x), size=(oh, ow), mode="bilinear",
                                  align_corners=False, antialias=antialias)
        np.testing.assert_allclose(_np(out), expected.numpy(), rtol=1e-5, atol=1e-5)  # inputs ~N(0, 1)


def test_resize_nearest_uint8_and_sizes(rng):
    x = rng.standard_normal((1, 2, 9, 14)).astype(np.float32)
    out = T.Resize((5, 20), interpolation=T.InterpolationMode.NEAREST)(rs.tensor(x))
    np.testing.assert_array_equal(_np(out), tF.interpolate(torch.from_numpy(x), size=(5, 20), mode="nearest").numpy())
    # An int resizes the smaller edge, keeping the aspect ratio: int(size * long / short).
    assert _np(T.Resize(7)(rs.tensor(x))).shape == (1, 2, 7, int(7 * 14 / 9))
    assert T.Resize(6)(Image.fromarray(_rgb(rng, 9, 14))).size == (int(6 * 14 / 9), 6)
    assert T.Resize(6, max_size=8)(_rgb(rng, 9, 14)).shape[:2] == (int(8 * 6 / 9), 8)
    u8 = rng.integers(0, 256, (1, 3, 17, 11), dtype=np.uint8)
    ours = _np(T.Resize((8, 5))(rs.tensor(u8)))
    theirs = tF.interpolate(torch.from_numpy(u8), size=(8, 5), mode="bilinear", antialias=True).numpy()
    assert ours.dtype == np.uint8 and np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    rgb = _rgb(rng, 9, 14)
    assert T.Resize((9, 14))(rgb) is rgb
    with pytest.raises(TypeError, match="Size should be int or sequence"):
        T.Resize((1, 2, 3))


def test_random_resized_crop(rng):
    rs.manual_seed(1)
    rgb = _rgb(rng, 30, 40)
    for img in (Image.fromarray(rgb), rgb, rs.tensor(rgb.transpose(2, 0, 1).astype(np.float32))):
        out = T.RandomResizedCrop(16)(img)
        assert F.get_dimensions(out) == [3, 16, 16]
    # Impossible areas fall back to the central crop of the closest allowed ratio.
    i, j, h, w = T.RandomResizedCrop.get_params(rgb, scale=(2.0, 3.0), ratio=(1.0, 1.0))
    assert (i, j, h, w) == (0, 5, 30, 30)


# --- colour (torchvision's tensor formulas, written with torch ops) ------------------------

def _torch_gray(img):
    r, g, b = img.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)


def _torch_blend(img1, img2, ratio):
    bound = 1.0 if img1.is_floating_point() else 255.0
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, bound).to(img1.dtype)


def _torch_rgb2hsv(img):
    r, g, b = img.unbind(dim=-3)
    maxc = torch.max(img, dim=-3).values
    minc = torch.min(img, dim=-3).values
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_divisor = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_divisor, (maxc - g) / cr_divisor, (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), dim=-3)


def _torch_hsv2rgb(img):
    h, s, v = img.unbind(dim=-3)
    i = torch.floor(h * 6.0)
    f = (h * 6.0) - i
    i = i.to(dtype=torch.int32)
    p = torch.clamp((v * (1.0 - s)), 0.0, 1.0)
    q = torch.clamp((v * (1.0 - s * f)), 0.0, 1.0)
    t = torch.clamp((v * (1.0 - s * (1.0 - f))), 0.0, 1.0)
    i = i % 6
    mask = i.unsqueeze(dim=-3) == torch.arange(6).view(-1, 1, 1)
    a1 = torch.stack((v, q, p, p, t, v), dim=-3)
    a2 = torch.stack((t, v, v, q, p, p), dim=-3)
    a3 = torch.stack((p, p, t, v, v, q), dim=-3)
    a4 = torch.stack((a1, a2, a3), dim=-4)
    return torch.einsum("...ijk, ...xijk -> ...xjk", mask.to(dtype=img.dtype), a4)


def test_color_adjustments_match_torchvision_tensor_formulas(rng):
    x = rng.random((2, 3, 6, 5)).astype(np.float32)
    t = torch.from_numpy(x)
    for factor in (0.0, 0.5, 1.3):
        np.testing.assert_allclose(_np(F.adjust_brightness(rs.tensor(x), factor)),
                                   _torch_blend(t, torch.zeros_like(t), factor).numpy(), rtol=1e-6, atol=1e-7)
        mean = torch.mean(_torch_gray(t), dim=(-3, -2, -1), keepdim=True)
        np.testing.assert_allclose(_np(F.adjust_contrast(rs.tensor(x), factor)),
                                   _torch_blend(t, mean, factor).numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(_np(F.adjust_saturation(rs.tensor(x), factor)),
                                   _torch_blend(t, _torch_gray(t), factor).numpy(), rtol=1e-6, atol=1e-6)
    for hue in (-0.4, 0.1, 0.5):
        hsv = _torch_rgb2hsv(t)
        hsv = torch.stack((torch.remainder(hsv[..., 0, :, :] + hue, 1.0), hsv[..., 1, :, :], hsv[..., 2, :, :]), dim=-3)
        np.testing.assert_allclose(_np(F.adjust_hue(rs.tensor(x), hue)), _torch_hsv2rgb(hsv).numpy(),
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(T.Grayscale(3)(rs.tensor(x))), _torch_gray(t).expand(2, 3, 6, 5).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"hue_factor \(0.7\) is not in \[-0.5, 0.5\]"):
        F.adjust_hue(rs.tensor(x), 0.7)


def test_color_jitter_and_grayscale_on_images(rng):
    rgb = _rgb(rng)
    rs.manual_seed(2)
    jitter = T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
    for img in (Image.fromarray(rgb), rgb):
        out = jitter(img)
        assert F.get_dimensions(out) == [3, 7, 9]
    assert T.ColorJitter().brightness is None
    assert T.ColorJitter(brightness=0.5).brightness == (0.5, 1.5)
    with pytest.raises(ValueError, match="hue values should be between"):
        T.ColorJitter(hue=0.7)
    assert np.asarray(T.Grayscale()(Image.fromarray(rgb))).shape == (7, 9)
    assert T.Grayscale(3)(rgb).shape == (7, 9, 3)
    np.testing.assert_array_equal(F.adjust_brightness(rgb, 1.0), rgb)


def test_rotation_by_90_degrees(rng):
    a = rng.standard_normal((2, 7, 7)).astype(np.float32)
    np.testing.assert_allclose(_np(F.rotate(rs.tensor(a), 90)), np.rot90(a, 1, axes=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(_np(F.rotate(rs.tensor(a), 90, T.InterpolationMode.BILINEAR)),
                               np.rot90(a, 1, axes=(1, 2)), atol=1e-5)
    gray = rng.integers(0, 256, (7, 7), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(F.rotate(Image.fromarray(gray), 90)), F.rotate(gray, 90))
    rs.manual_seed(0)
    assert F.get_dimensions(T.RandomRotation(30)(gray)) == [1, 7, 7]


# --- inside a loader -----------------------------------------------------------------------

class _Images(Dataset):
    def __init__(self, transform):
        self.transform = transform

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return self.transform(np.full((3, 3), i * 10, np.uint8)), i


def test_lambda_receives_real_tensors_with_num_workers_0_and_threads():
    seen = []

    def record(x):
        seen.append(type(x))
        return x.reshape(-1)

    transform = T.Compose([T.ToTensor(), T.Lambda(record)])
    assert transform.host_safe is False and T.Compose([T.ToTensor()]).host_safe is True
    for kwargs in ({}, {"num_workers": 1, "multiprocessing_context": "thread"}):
        seen.clear()
        images, labels = next(iter(DataLoader(_Images(transform), batch_size=4, **kwargs)))
        assert seen == [rs.Variable] * 4
        np.testing.assert_allclose(_np(images), np.repeat(np.arange(4) * 10 / 255, 9).reshape(4, 9).astype(np.float32))


def test_gaussian_blur_matches_torch_conv(rng):
    x = rng.random((2, 3, 9, 11)).astype(np.float32)
    for (kx, ky), (sx, sy) in (((3, 3), (1.0, 1.0)), ((5, 3), (0.7, 1.8))):
        out = F.gaussian_blur(rs.tensor(x), [kx, ky], [sx, sy])

        def k1d(k, s):
            t = torch.linspace(-(k - 1) * 0.5, (k - 1) * 0.5, steps=k)
            pdf = torch.exp(-0.5 * (t / s).pow(2))
            return pdf / pdf.sum()

        kernel = torch.mm(k1d(ky, sy)[:, None], k1d(kx, sx)[None, :]).expand(3, 1, ky, kx)
        padded = tF.pad(torch.from_numpy(x), [kx // 2, kx // 2, ky // 2, ky // 2], mode="reflect")
        expected = tF.conv2d(padded, kernel, groups=3)
        np.testing.assert_allclose(_np(out), expected.numpy(), rtol=1e-5, atol=1e-6)
    rgb = _rgb(rng)
    blurred = T.GaussianBlur(3, sigma=1.0)(Image.fromarray(rgb))
    np.testing.assert_array_equal(np.asarray(blurred), F.gaussian_blur(rgb, 3, 1.0))
    with pytest.raises(ValueError, match="odd and positive"):
        T.GaussianBlur(4)


def test_random_erasing_and_dtype_conversion(rng):
    x = rng.random((3, 20, 20)).astype(np.float32) + 1
    rs.manual_seed(4)
    out = _np(T.RandomErasing(p=1.0, value=0)(rs.tensor(x)))
    erased = out == 0
    rows, cols = np.where(erased[0])
    assert erased.any() and (erased == erased[0]).all()
    assert erased[0].sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a rectangle
    assert 0.02 * 400 - 20 <= erased[0].sum() <= 0.33 * 400 + 20
    assert T.RandomErasing(p=0.0)(rs.tensor(x)) is not None
    noisy = _np(T.RandomErasing(p=1.0, value="random")(rs.tensor(x)))
    assert (noisy != x).any() and noisy.shape == x.shape
    with pytest.raises(ValueError, match="should be 'random'"):
        T.RandomErasing(value="noise")
    u8 = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    np.testing.assert_array_equal(_np(T.ConvertImageDtype(np.float32)(rs.tensor(u8))), u8 / np.float32(255))
    back = _np(F.convert_image_dtype(rs.tensor(u8 / np.float32(255)), np.uint8))
    expected = (torch.from_numpy(u8 / np.float32(255)) * (255 + 1.0 - 1e-3)).to(torch.uint8).numpy()
    np.testing.assert_array_equal(back, expected)
    rs.manual_seed(0)
    orders = {tuple(_np(T.RandomOrder([T.Lambda(lambda t: t * 2), T.Lambda(lambda t: t + 1)])(rs.tensor(np.ones(1, np.float32)))))
              for _ in range(20)}
    assert orders == {(3.0,), (4.0,)}
    choose = T.RandomChoice([T.Lambda(lambda t: t * 2), T.Lambda(lambda t: t + 1)], p=[0.5, 0.5])
    picks = {float(_np(choose(rs.tensor(np.full(1, 3, np.float32))))[0]) for _ in range(20)}
    assert picks == {6.0, 4.0}
    never = T.RandomChoice([T.Lambda(lambda t: t * 2), T.Lambda(lambda t: t + 1)], p=[0.0, 1.0])
    assert {float(_np(never(rs.tensor(np.full(1, 3, np.float32))))[0]) for _ in range(10)} == {4.0}


def test_compose_hands_real_tensors_to_user_code_between_host_runs(rng):
    rgb = _rgb(rng)
    seen = []

    def record(x):
        seen.append(type(x))
        return x * 2

    chain = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3), T.Lambda(record), T.CenterCrop(3)])
    out = chain(rgb)
    assert isinstance(out, rs.Variable) and seen == [rs.Variable]
    step = T.Normalize((0.5,) * 3, (0.5,) * 3)(T.ToTensor()(rgb))
    np.testing.assert_array_equal(_np(out), _np(T.CenterCrop(3)(step * 2)))
