"""Channel augmentation (CAJ semantics) and the training/test pipelines."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from vireid_lib.config import DataConfig
from vireid_lib.data import transforms
from vireid_lib.data.transforms import (IMAGENET_MEAN, IMAGENET_STD, ChannelAdapGray, ChannelExchange,
                                        ChannelRandomErasing, ShiftFlipNormalize, denormalize,
                                        train_transforms)


def rgb_tensor(h=12, w=6):
    g = torch.Generator().manual_seed(5)
    return torch.rand(3, h, w, generator=g)


def outcome(img, out):
    """Which CAJ branch produced ``out``: 'R', 'G', 'B', 'grey' or 'same'."""
    for c, name in enumerate("RGB"):
        if torch.equal(out, img[c:c + 1].expand_as(img)):
            return name
    grey = 0.2989 * img[0] + 0.5870 * img[1] + 0.1140 * img[2]
    if torch.allclose(out, grey.expand_as(img)):
        return "grey"
    assert torch.equal(out, img), "unexpected output"
    return "same"


def test_channel_exchange_copies_one_of_rgb_uniformly_and_keeps_input():
    img = rgb_tensor()
    before = img.clone()
    counts = Counter(outcome(img, ChannelExchange(gray=2)(img)) for _ in range(3000))
    assert set(counts) == {"R", "G", "B"}
    assert all(abs(n / 3000 - 1 / 3) < 0.04 for n in counts.values())
    assert torch.equal(img, before)
    counts = Counter(outcome(img, ChannelExchange(gray=3)(img)) for _ in range(2000))
    assert set(counts) == {"R", "G", "B", "grey"}
    with pytest.raises(ValueError):
        ChannelExchange(gray=5)


def test_channel_adap_gray_branch_frequencies():
    img = rgb_tensor()
    counts = Counter(outcome(img, ChannelAdapGray(probability=0.5)(img)) for _ in range(4000))
    # 1/4 each channel; the fourth quarter splits into grey and unchanged with probability 0.5.
    for name, p in {"R": 0.25, "G": 0.25, "B": 0.25, "grey": 0.125, "same": 0.125}.items():
        assert abs(counts[name] / 4000 - p) < 0.03, (name, counts)
    counts = Counter(outcome(img, ChannelAdapGray(probability=0.0)(img)) for _ in range(400))
    assert "grey" not in counts
    with pytest.raises(ValueError):
        ChannelAdapGray(probability=1.5)


def test_channel_random_erasing_fills_one_rectangle_per_channel():
    img = torch.full((3, 40, 20), 9.0)
    erased = 0
    for _ in range(400):
        out = ChannelRandomErasing(probability=0.5)(img)
        assert torch.equal(img, torch.full((3, 40, 20), 9.0))
        mask = out[0] != 9.0
        if not mask.any():
            assert torch.equal(out, img)
            continue
        erased += 1
        ys, xs = torch.nonzero(mask, as_tuple=True)
        h, w = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
        assert mask.sum() == h * w                      # one filled rectangle
        assert 0.02 * 800 * 0.5 <= h * w <= 0.4 * 800 * 1.5
        for c, fill in enumerate((0.4914, 0.4822, 0.4465)):
            assert torch.allclose(out[c][mask], torch.tensor(fill))
            assert torch.equal(out[c][~mask], img[c][~mask])
    assert 0.4 < erased / 400 < 0.6
    assert torch.equal(ChannelRandomErasing(probability=0.0)(img), img)
    assert not torch.equal(ChannelRandomErasing(probability=1.0)(img), img)


def test_channel_random_erasing_gives_up_when_nothing_fits():
    img = torch.zeros(3, 1, 1)   # no rectangle strictly smaller than 1x1 exists
    assert torch.equal(ChannelRandomErasing(probability=1.0)(img), img)


def pil(h=30, w=14, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_train_pipelines_shapes_modalities_and_torch_seeding():
    pipes = train_transforms(24, 12)
    assert set(pipes) == {"visible", "exchanged", "infrared"}
    img = pil()
    for name, pipe in pipes.items():
        torch.manual_seed(3)
        a = pipe(img)
        torch.manual_seed(3)
        assert torch.equal(a, pipe(img)), name
        assert a.shape == (3, 24, 12) and a.dtype == torch.float32
    # ChannelExchange runs after normalisation, so the exchanged copy's three channels are equal.
    for s in range(20):
        torch.manual_seed(s)
        x = pipes["exchanged"](img)
        assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


def test_padding_is_ten_at_the_paper_width_and_scales():
    assert transforms.padding(144) == 10 and transforms.padding(48) == 3 and transforms.padding(8) == 1
    shift = [t for t in train_transforms(288, 144)["visible"].transforms if isinstance(t, ShiftFlipNormalize)]
    assert shift[0].pad == 10


def _torchvision_pipelines(height, width, erasing):
    """The training pipelines as torchvision's five transforms (Pad, RandomCrop, RandomHorizontalFlip,
    ToTensor, Normalize) write them: the slow reference ShiftFlipNormalize must equal bit for bit."""
    from torchvision import transforms as T
    common = [transforms.ResizeIfNeeded(height, width), T.Pad(transforms.padding(width)),
              T.RandomCrop((height, width)), T.RandomHorizontalFlip(), T.ToTensor(),
              T.Normalize(IMAGENET_MEAN, IMAGENET_STD), ChannelRandomErasing(probability=erasing)]
    return {"visible": T.Compose(common), "exchanged": T.Compose(common + [ChannelExchange(gray=2)]),
            "infrared": T.Compose(common + [ChannelAdapGray(probability=0.5)])}


@pytest.mark.parametrize("height,width,erasing", [(96, 48, 0.0), (96, 48, 0.5), (24, 12, 0.5), (30, 14, 0.0)])
def test_train_pipelines_equal_torchvisions_bit_for_bit(height, width, erasing):
    # A random image at the input size (as the image cache gives it), another at a size that ResizeIfNeeded
    # resizes first, and a ramp of every value 0-255 (wrapping) across the channels.
    fast, slow = train_transforms(height, width, erasing), _torchvision_pipelines(height, width, erasing)
    imgs = [pil(height, width, seed=1), pil(height + 6, width + 2, seed=2),
            Image.fromarray(np.arange(height * width * 3, dtype=np.int64).reshape(height, width, 3).astype(np.uint8))]
    for name in fast:
        for img in imgs:
            for seed in range(60):
                torch.manual_seed(seed)
                a = fast[name](img)
                after = torch.rand(1)               # the generator is left where torchvision leaves it
                torch.manual_seed(seed)
                b = slow[name](img)
                assert torch.equal(a, b), (name, seed)
                assert torch.equal(after, torch.rand(1)), (name, seed)


def test_shift_flip_normalize_crops_pads_and_flips_by_hand():
    # A 4x2 image whose pixel (r, c) holds 10 * (r + 1) + c + 1 in every channel; pad 1.
    vals = np.array([[11, 12], [21, 22], [31, 32], [41, 42]], np.uint8)
    img = Image.fromarray(np.repeat(vals[..., None], 3, axis=2))
    t = transforms.ShiftFlipNormalize(4, 2, pad=1)
    seen = {}
    for seed in range(200):
        torch.manual_seed(seed)
        top, left = (int(torch.randint(0, 3, (1,))) for _ in range(2))
        flip = bool(torch.rand(1) < 0.5)
        torch.manual_seed(seed)
        out = denormalize(t(img))[0].mul(255).round().to(torch.uint8).numpy()   # (4, 2) channel 0
        padded = np.zeros((6, 4), np.uint8)
        padded[1:5, 1:3] = vals
        want = padded[top:top + 4, left:left + 2]
        seen[top, left, flip] = True
        assert np.array_equal(out, want[:, ::-1] if flip else want), (top, left, flip)
    assert len(seen) == 18                           # every window and both flips were drawn
    with pytest.raises(ValueError, match="resize it first"):
        t(pil(5, 2))
    with pytest.raises(ValueError, match="pad must be between 1 and the image's smaller side 2, got 0"):
        transforms.ShiftFlipNormalize(4, 2, pad=0)
    with pytest.raises(ValueError, match="smaller side 2, got 3"):
        transforms.ShiftFlipNormalize(4, 2, pad=3)


def test_test_pipeline_resizes_and_normalises():
    img = Image.fromarray(np.full((30, 14, 3), 255, np.uint8))
    out = transforms.test_transform(24, 12)(img)
    assert torch.equal(out, transforms.build_test_transform(DataConfig(height=24, width=12))(img))
    assert out.shape == (3, 24, 12)
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(out[:, 5, 5], expected, atol=1e-6)
    assert torch.allclose(denormalize(out), torch.ones(3, 24, 12), atol=1e-6)


def test_show_images_accepts_paths_pil_and_tensors(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from vireid_lib.data.preview import show_images
    path = tmp_path / "a.png"
    pil(8, 4).save(path)
    img = transforms.test_transform(8, 4)(pil(8, 4))
    fig = show_images([str(path), pil(8, 4), img, None], titles=["p", "i", "t", ""], ncols=2)
    assert len(fig.axes) == 4 and [a.get_title() for a in fig.axes[:3]] == ["p", "i", "t"]
    assert not fig.axes[3].images
    shown = fig.axes[2].images[0].get_array()
    assert np.allclose(shown, np.asarray(pil(8, 4)) / 255.0, atol=1e-5)   # denormalised back
    with pytest.raises(ValueError):
        show_images([])
