"""docs/REPRODUCE.md section 7: every row of the choices table states the defaults the code has."""

import json
import re
from pathlib import Path

from vireid_lib.ablation import NEUTRAL_DEFAULTS
from vireid_lib.config import Config
from vireid_lib.presets import preset

DOC = Path(__file__).resolve().parents[1] / "docs" / "REPRODUCE.md"
MARKER = "<!-- choices: checked by tests/test_reproduce_choices.py -->"


def _rows():
    text = DOC.read_text()
    assert MARKER in text, "REPRODUCE.md lost its choices table"
    lines = text.split(MARKER, 1)[1].strip().splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(cells)
    return rows


def _value(cfg, key):
    section, field = key.split(".")
    return getattr(getattr(cfg, section), field)


def _shown(v):
    return v if isinstance(v, str) else json.dumps(v)


def test_every_row_states_the_code_defaults():
    rows = _rows()
    assert len(rows) >= 15
    configs = {"Config()": Config(), "paper-sysu": preset("paper-sysu"), "paper-regdb": preset("paper-regdb")}
    for choice, key, _values, *columns in rows:
        key = re.fullmatch(r"`([a-z_.]+)`", key).group(1)
        for (name, cfg), shown in zip(configs.items(), columns):
            assert shown == f"`{_shown(_value(cfg, key))}`", (choice, key, name)


def test_every_new_option_has_a_row():
    keys = {re.fullmatch(r"`([a-z_.]+)`", r[1]).group(1) for r in _rows()}
    new = {f"{s}.{k}" for s, k in NEUTRAL_DEFAULTS}
    old = {"loss.triplet", "loss.center_triplet_reduction", "loss.center_reduction", "model.mca_scale",
           "model.pca_mode", "model.pretrained", "eval.sysu_shots", "train.amp", "train.channels_last"}
    assert (new | old) <= keys, sorted((new | old) - keys)
