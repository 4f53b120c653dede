"""Feature extraction with a tiny model that obeys the ModelOutput contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vireid_lib.data.records import Record
from vireid_lib.config import EvalConfig
from vireid_lib.evaluation.extract import extract_features, feature_options
from vireid_lib.models.build import ModelOutput


class HalvesNet(nn.Module):
    """pooled = (mean of the left half, mean of the right half) per channel, so flipping swaps them."""

    def __init__(self, local: bool = True) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.local = local
        self.calls: list[tuple[str, int, bool]] = []

    def forward(self, x: torch.Tensor, modality: str) -> ModelOutput:
        self.calls.append((modality, len(x), self.training))
        w = x.shape[-1] // 2
        left, right = x[..., :w].mean((2, 3)), x[..., w:].mean((2, 3))  # (B, 3) each
        pooled = torch.cat([left, right], 1) * self.scale  # (B, 6)
        parts = torch.stack([left, right], 1) if self.local else None  # (B, 2, 3)
        return ModelOutput(pooled, pooled * 2 + 1, torch.zeros(len(x), 2), parts, None)


def to_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)  # (3, H, W)


@pytest.fixture
def records(tmp_path):
    out = []
    for i, (left, right, modality) in enumerate([(0, 255, "visible"), (51, 102, "infrared"),
                                                  (255, 0, "visible"), (102, 204, "infrared"),
                                                  (153, 51, "visible")]):
        a = np.zeros((8, 4, 3), np.uint8)
        a[:, :2], a[:, 2:] = left, right
        path = tmp_path / f"{i}.png"
        Image.fromarray(a).save(path)
        out.append(Record(str(path), pid=i, camid=1, modality=modality))
    return out


def test_order_streams_and_pooled_values(records):
    model = HalvesNet()
    f = extract_features(model, records, to_tensor, batch_size=2, flip=False, normalize=False, feature="pool",
                         progress=False)
    assert f.shape == (5, 6) and f.dtype == torch.float32
    # Record 1 (infrared): left 0.2, right 0.4 in every channel, in the input order despite grouping.
    assert f[1].tolist() == pytest.approx([0.2] * 3 + [0.4] * 3)
    assert f[2].tolist() == pytest.approx([1.0] * 3 + [0.0] * 3)
    # Each batch went through one stream: 3 visible images in batches of 2, then 2 infrared.
    assert [(m, n) for m, n, _ in model.calls] == [("visible", 2), ("visible", 1), ("infrared", 2)]


def test_flip_averaging_bn_feature_and_normalisation(records):
    model = HalvesNet()
    f = extract_features(model, records, to_tensor, flip=True, normalize=False, feature="bn", progress=False)
    # bn = 2 * pooled + 1; flip swaps halves: sum = 2 * (left + right) + 2 in all six entries.
    assert f[3].tolist() == pytest.approx([2 * (0.4 + 0.8) + 2] * 6)
    fn = extract_features(model, records, to_tensor, flip=True, normalize=True, progress=False)
    assert torch.allclose(fn.norm(dim=1), torch.ones(5))
    assert torch.allclose(fn[3], f[3] / f[3].norm())


def test_local_and_both_branches(records):
    model = HalvesNet()
    local = extract_features(model, records, to_tensor, flip=False, normalize=False, branch="local",
                             progress=False)
    assert local.shape == (5, 6) and local[1].tolist() == pytest.approx([0.2] * 3 + [0.4] * 3)
    both = extract_features(model, records, to_tensor, flip=False, normalize=True, branch="both", progress=False)
    assert both.shape == (5, 12)
    assert torch.allclose(both.norm(dim=1), torch.ones(5))
    # Each part was normalised before concatenation: the two halves have equal norm.
    assert torch.allclose(both[:, :6].norm(dim=1), both[:, 6:].norm(dim=1))


def test_eval_mode_during_extraction_and_restored_after(records):
    model = HalvesNet().train()
    extract_features(model, records, to_tensor, progress=False)
    assert all(not training for _, _, training in model.calls)
    assert model.training


def test_bad_inputs(records):
    model = HalvesNet(local=False)
    with pytest.raises(ValueError, match="needs the local branch"):
        extract_features(model, records, to_tensor, branch="local", progress=False)
    with pytest.raises(ValueError, match="no records"):
        extract_features(model, [], to_tensor, progress=False)
    with pytest.raises(ValueError, match="modalities \\['exchanged'\\]"):
        extract_features(model, [records[0]._replace(modality="exchanged")], to_tensor, progress=False)
    with pytest.raises(ValueError, match="feature must be"):
        extract_features(model, records, to_tensor, feature="fc", progress=False)
    with pytest.raises(ValueError, match="branch must be"):
        extract_features(model, records, to_tensor, branch="parts", progress=False)


def test_data_config_selects_the_test_pipeline_and_missing_files_are_named(records, tmp_path):
    from vireid_lib.config import DataConfig

    model = HalvesNet()
    f = extract_features(model, records[:1], DataConfig(height=8, width=4), flip=False, normalize=False,
                         feature="pool", progress=False)
    # ImageNet normalisation of record 0 (left 0, right 1): channel 0 -> (0 - 0.485) / 0.229, (1 - 0.485) / 0.229.
    assert f[0, 0].item() == pytest.approx(-0.485 / 0.229, abs=1e-4)
    assert f[0, 3].item() == pytest.approx(0.515 / 0.229, abs=1e-4)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        extract_features(model, [records[0]._replace(path=str(tmp_path / "missing.png"))], to_tensor,
                         progress=False)


def test_non_finite_features_are_reported_with_the_image(records):
    model = HalvesNet()
    with torch.no_grad():
        model.scale.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"NaN or infinite features for 5 of 5 images \(first: .*0.png\)"):
        extract_features(model, records, to_tensor, feature="pool", progress=False)


def test_an_eval_config_is_unpacked_into_the_extraction_arguments_in_one_place(records):
    cfg = EvalConfig(batch_size=2, flip=False, normalize=False, feature="pool", branch="global")
    assert feature_options(cfg) == {"batch_size": 2, "flip": False, "normalize": False, "feature": "pool",
                                    "branch": "global"}
    model = HalvesNet()
    got = extract_features(model, records, to_tensor, **feature_options(cfg), progress=False)
    want = extract_features(model, records, to_tensor, batch_size=2, flip=False, normalize=False, feature="pool",
                            progress=False)
    assert torch.equal(got, want)
    assert not torch.equal(got, extract_features(model, records, to_tensor, progress=False))



class NoWeights(HalvesNet):
    """HalvesNet without a parameter (its scale a plain number): nothing to move, nothing to infer a device from."""

    def __init__(self) -> None:
        super().__init__()
        del self.scale
        self.scale = 1.0


def test_a_model_without_parameters_runs_where_asked_or_on_the_cpu(records):
    for device in (None, "cpu"):
        f = extract_features(NoWeights(), records, to_tensor, flip=False, normalize=False, feature="pool",
                             device=device, progress=False)
        assert f[1].tolist() == pytest.approx([0.2] * 3 + [0.4] * 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a device the model cannot be moved to")
def test_a_failed_move_leaves_the_model_and_the_kernel_flags_as_they_were(records):
    """Asked for CUDA where there is none, the extraction fails, and cuDNN's flags, the model's mode and its
    device are those from before (they are set inside the try whose finally restores them)."""
    cudnn = torch.backends.cudnn
    before = cudnn.deterministic, cudnn.benchmark
    model = HalvesNet().train()
    with pytest.raises((AssertionError, RuntimeError)):
        extract_features(model, records, to_tensor, device="cuda:0", progress=False)
    assert (cudnn.deterministic, cudnn.benchmark) == before and model.training
    assert model.scale.device.type == "cpu"
