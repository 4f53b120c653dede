"""MODEL_CARD.md: written by training, rewritten by ``vireid evaluate``, its numbers those of the results files."""

from __future__ import annotations

import json

import pytest

from vireid_lib.ablation import metrics_of
from vireid_lib.cli import main
from vireid_lib.model_card import gallery_protocol, render_card

yaml = pytest.importorskip("yaml")

TINY = ["--set", "data.height=32", "--set", "data.width=16", "--set", "data.num_workers=0",
        "--set", "data.cache=false",
        "--set", "model.arch=resnet10", "--set", "model.width=8", "--set", "model.pretrained=null",
        "--set", "model.parts=2",
        "--set", "model.local_dim=8",
        "--set", "model.mca_stages=3", "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=1",
        "--set", "train.ids_per_batch=2", "--set", "train.per_modality=2", "--set", "train.eval_every=1",
        "--set", "train.device=cpu", "--set", "eval.sysu_trials=2", "--set", "eval.flip=false"]


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def _card_numbers(meta: dict, checkpoint: str) -> dict[str, float]:
    out = {}
    for result in meta["model-index"][0]["results"]:
        for m in result["metrics"]:
            if result["dataset"]["args"]["checkpoint"] == checkpoint:
                out[f"{result['dataset']['name']}/{m['type']}"] = m["value"]
    return out


def test_card_follows_training_and_evaluation(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--smoke", "--quiet", "--out", str(run), *TINY]) == 0
    card = (run / "MODEL_CARD.md").read_text()
    meta = _front_matter(card)
    assert meta["library_name"] == "vireid" and "synthetic-data" in meta["tags"]
    # the numbers in the metadata are the results file's, in percent
    results = json.loads((run / "last.results.json").read_text())["results"]
    expected = {f"synthetic SYSU-MM01 {s.split('/')[1]}-search/{k}": round(100 * v, 2)
                for s, row in metrics_of(results).items() for k, v in row.items()}
    assert _card_numbers(meta, "last.pt") == expected
    for section in ("## Model Details", "## Uses", "## Bias, Risks, and Limitations", "## Training Details",
                    "## Evaluation", "## Technical Specifications", "[`config.json`](config.json)"):
        assert section in card, section
    assert "Teaching and testing only" in card
    assert "single-shot (1 per identity and camera), mean over 2 draws of the reference code's draw" in card
    assert {r["dataset"]["args"]["gallery"] for r in meta["model-index"][0]["results"]} == \
        {"single-shot, mean of 2 reference draws"}
    assert "checkpoint policy last" in card and "training time:" in card and "not recorded" not in card
    assert "| `last.pt` | 1 | 1 |" in card and "| `best.pt` | 1 | 1 |" in card
    from vireid_lib.evaluation.report import people_line
    assert people_line(results) and people_line(results) in card   # the people's error beside the table
    # evaluate with other settings: new results, and the card follows them
    assert main(["evaluate", str(run / "last.pt"), "--smoke", "--quiet", "--set", "eval.flip=true"]) == 0
    results2 = json.loads((run / "last.results.json").read_text())["results"]
    assert results2 != results
    meta2 = _front_matter((run / "MODEL_CARD.md").read_text())
    assert _card_numbers(meta2, "last.pt") == {f"synthetic SYSU-MM01 {s.split('/')[1]}-search/{k}": round(100 * v, 2)
                                               for s, row in metrics_of(results2).items() for k, v in row.items()}
    assert "Evaluated on" not in (run / "MODEL_CARD.md").read_text()  # the training data, nothing to add
    assert not list(run.glob(".MODEL_CARD.md.*"))  # the atomic writer left no temporary file
    assert render_card(run) == (run / "MODEL_CARD.md").read_text()


def test_gallery_protocol_names():
    assert gallery_protocol({"protocol": "regdb", "trial": 3, "v2t": {}}, {}) == \
        "RegDB: the trial's fixed test split (trial 3), no draw"
    text = gallery_protocol({"protocol": "sysu", "shots": 10, "num_trials": 10}, {})
    assert text.startswith("SYSU-MM01 gallery: multi-shot (10 per identity and camera), mean over 10 draws")
    assert "the official draw" in gallery_protocol({"protocol": "sysu", "draw": "official", "shots": 1}, {})
    assert gallery_protocol({"all": {}}, {"sysu_shots": 10, "sysu_trials": 3}, short=True) == \
        "multi-shot, mean of 3 reference draws"


def test_card_without_a_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        render_card(tmp_path)


def test_results_on_other_data_are_named(tmp_path):
    from vireid_lib.config import Config

    cfg = Config()
    (tmp_path / "config.json").write_text(cfg.to_json())
    other = cfg.to_dict()
    other["data"]["root"] = "/data/SYSU-MM01"
    cmc = [0.5] * 20
    result = {"protocol": "sysu", "shots": 1, "num_trials": 10,
              "all": {"mean": {"cmc": cmc, "mAP": 0.4, "mINP": 0.3}}}
    (tmp_path / "last.pt").write_bytes(b"")  # unreadable: listed as such, the card is still written
    (tmp_path / "last.results.json").write_text(json.dumps({"results": result, "config": other}))
    card = render_card(tmp_path)
    assert "Evaluated on real SYSU-MM01 at `/data/SYSU-MM01`" in card
    assert "| SYSU-MM01 all-search | 50.00 | 50.00 | 50.00 | 40.00 | 30.00 |" in card
    assert "| `last.pt` | unreadable |" in card and "Out-of-Scope Use" in card


def test_the_card_names_the_synthetic_size_from_the_config():
    from vireid_lib.model_card import _data_line

    base = {"dataset": "sysu", "root": None, "synthetic_seed": 0, "synthetic_ir_correlation": 0.9}
    assert "the tiny smoke size" in _data_line({"data": {**base, "synthetic_smoke": True}})[0]
    assert "the layout's default number of identities" in _data_line({"data": {**base, "synthetic_smoke": False}})[0]
    assert "300 identities" in _data_line({"data": {**base, "synthetic_identities": 300}})[0]
