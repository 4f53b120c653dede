"""``vireid export``: the ONNX graphs give PyTorch's test features (within 1e-4) and the same rankings, checked with
ONNX Runtime on the synthetic test set (skipped when onnx / onnxruntime are not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from vireid_lib.cli import main
from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.training import fit

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from vireid_lib.evaluation import extract_features  # noqa: E402
from vireid_lib.export import OPSET, export_onnx, onnx_features, verify_onnx  # noqa: E402
from vireid_lib.checkpoints import load_model  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny trained SYSU-layout run with both attention modules, flip averaging and normalisation."""
    cfg = Config(
        name="tiny-export",
        data=DataConfig(dataset="sysu", height=32, width=16, num_workers=0, cache=False, synthetic_smoke=True),
        model=ModelConfig(arch="resnet10", width=8, parts=2, local_dim=8, mca_stages=(2, 3)),
        loss=LossConfig(),
        train=TrainConfig(epochs=1, lr=0.01, warmup_epochs=1, ids_per_batch=2, per_modality=2, max_steps_per_epoch=2,
                          eval_every=0, device="cpu"),
        eval=EvalConfig(batch_size=32, flip=True, normalize=True),
    )
    out = tmp_path_factory.mktemp("run")
    fit(cfg, out, progress=False, reader=open_dataset(cfg.data), eval_fn=lambda *_: {})
    return out / "last.pt"


def test_onnx_features_and_rankings_equal_pytorch(checkpoint, tmp_path):
    paths = export_onnx(checkpoint, tmp_path, "both")
    assert [p.name for p in paths] == ["last.visible.onnx", "last.infrared.onnx"]
    v = verify_onnx(checkpoint, {"visible": paths[0], "infrared": paths[1]}, ["data.synthetic_smoke=true"])
    assert v["images"] > 50
    assert v["max_abs_diff"] <= 1e-4, v
    # identical rankings, up to the order of ties at float32 precision (TIE_TOLERANCE)
    assert v["rankings_identical"] and v["max_swap_gap"] <= 1e-5, v
    assert v["queries"] > 20 and v["gallery"] > 10


def test_graph_batch_is_dynamic_and_metadata_says_what_is_inside(checkpoint, tmp_path):
    (path,) = export_onnx(checkpoint, tmp_path, "thermal")
    assert path.name == "last.infrared.onnx"
    model, cfg = load_model(checkpoint)
    records = open_dataset(cfg.data).query()[:5]
    ref = extract_features(model, records, cfg.data, flip=True, normalize=True, progress=False).numpy()
    for batch in (1, 2, 5):  # exported with a batch of 2
        got = onnx_features(path, records, cfg.data.height, cfg.data.width, batch_size=batch)
        assert np.abs(got - ref).max() <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # normalised inside the graph
    graph = onnx.load(str(path))
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["modality"] == "infrared" and meta["flip_in_graph"] == "True"
    assert meta["l2_normalized_in_graph"] == "True" and (meta["height"], meta["width"]) == ("32", "16")
    assert {o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}


def test_cli_export_verify(checkpoint, tmp_path, capsys):
    assert main(["export", str(checkpoint), "--out", str(tmp_path), "--verify", "--smoke"]) == 0
    text = capsys.readouterr().out
    assert "rankings of" in text and "identical" in text and "max |difference|" in text
    assert main(["export", str(checkpoint), "--out", str(tmp_path), "--modality", "visible", "--verify"]) == 2
    assert "--modality both" in capsys.readouterr().err


def test_documented_opset_is_the_one_written(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"opset {OPSET}" in readme
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert f"opset {OPSET}" in capsys.readouterr().out.replace("\n", " ")
