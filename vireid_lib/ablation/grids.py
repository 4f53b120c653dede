"""The grids of the ablations: their cells (``section.key=value`` overrides of a preset), the runs they plan
(cell x seed), and the keys and paths that name a run's result and its shared training folder."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from vireid_lib.config import Config, apply_overrides
from vireid_lib.data.synthetic import GENERATOR_VERSION
from vireid_lib.presets import VARIANTS, preset

ABLATION_SMOKE = ("data.synthetic_identities=null", "data.synthetic_smoke=true", "data.height=96", "data.width=32",
                  "data.num_workers=0", "model.local_dim=16", "train.epochs=1", "train.max_steps_per_epoch=1",
                  "train.ids_per_batch=2", "train.per_modality=2", "train.lr=0.001", "eval.flip=false",
                  "eval.batch_size=64")
"""What ``--smoke`` changes: one training step on the tiny synthetic set, small enough a step that the
network stays finite. The input keeps a height of 96, whose 6-row final map is divided by every part count
of Figure 4 (1, 2, 3, 6)."""


class Cell(NamedTuple):
    """One cell of a grid: a name and its config overrides."""

    name: str
    overrides: tuple[str, ...]

    @property
    def slug(self) -> str:
        """The cell's folder name."""
        return self.name.replace("=", "-").replace("/", "-").replace(" ", "")


def _variant_overrides(name: str) -> tuple[str, ...]:
    return tuple(f"model.{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in VARIANTS[name].items())


GRIDS: dict[str, tuple[Cell, ...]] = {
    "table3": tuple(Cell(name, _variant_overrides(name)) for name in VARIANTS),
    "table4": tuple(Cell(branch, (f"eval.branch={branch}",)) for branch in ("global", "local", "both")),
    "parts": tuple(Cell(f"P={p}", (f"model.parts={p}",)) for p in (1, 2, 3, 6)),
    "options": (Cell("default", ()), Cell("pca_mode=gate", ("model.pca_mode=gate",)),
                Cell("mca_scale=learnable", ("model.mca_scale=learnable",)),
                Cell("triplet=weighted", ("loss.triplet=weighted",)),
                Cell("triplet=adp", ("loss.triplet=adp",)),
                Cell("center_negatives=other_modality", ("loss.center_negatives=other_modality",)),
                Cell("mse_reduction=mean", ("loss.mse_reduction=mean",)),
                Cell("attention_init=identity", ("model.attention_init=identity",)),
                Cell("attention_lr_mult=0.1", ("train.attention_lr_mult=0.1",))),
}
"""The grids. table3: the variants of the paper's Table 3. table4: the test feature from the global branch,
the local branch or both (the full model). parts: the stripe count P of Figure 4 (PCA and the local branch
together). options: each decision of DECISIONS §12 that has an option, changed one at a time from the
default (PCA add vs gate, MCA scale none vs learnable, batch-hard vs weighted or ADP triplet, eq. (11)'s negatives,
eq. (13)'s reduction, MCA/PCA's identity start and their learning-rate group; docs/REPRODUCE.md lists them)."""

NEUTRAL_DEFAULTS: dict[tuple[str, str], Any] = {
    ("loss", "mse_reduction"): "same", ("loss", "center_negatives"): "all", ("loss", "adp_alpha"): 1.0,
    ("loss", "adp_gamma"): 1.0, ("loss", "adp_square"): True, ("model", "attention_init"): "default",
    ("train", "attention_lr_mult"): None, ("train", "select"): "last", ("train", "audit_every"): 0,
    ("eval", "sysu_gallery"): "auto", ("data", "synthetic_outdoor_daylight"): 0.0,
    ("train", "adamw_kernel"): "default",
}
"""Config fields added after results were committed (issue 11), at the values that compute what the code
computed before they existed: left out of the hashes while they hold them, so earlier training folders and
evaluation caches keep their keys."""


def record_config(d: dict[str, Any]) -> Config:
    """The config of a grid run's record: a field added since the record was written takes its
    :data:`NEUTRAL_DEFAULTS` value, what the code computed before the field existed (every committed grid ran with
    AdamW's default kernel, whatever today's default), not today's default. A record that cannot be read so is
    refused, not misread: a grid on the ``cpu-demo`` preset run between the fused kernel's arrival and the field's
    reads as the default kernel and differs from today's planned run, which the runner then refuses as stale.

    Raises:
        ValueError: for unknown sections or keys, or values of the wrong type (:meth:`Config.from_dict`).
    """
    d = copy.deepcopy(d)
    for (section, key), value in NEUTRAL_DEFAULTS.items():
        if isinstance(d.get(section), dict):
            d[section].setdefault(key, value)
    return Config.from_dict(d)


def _drop_neutral(d: dict[str, Any]) -> dict[str, Any]:
    for (section, key), value in NEUTRAL_DEFAULTS.items():
        if section in d and key in d[section] and d[section][key] == value:
            d[section].pop(key)
    return d


class Run(NamedTuple):
    """One training-and-evaluation of a grid: a cell with one seed and its full configuration."""

    grid: str
    cell: Cell
    seed: int
    cfg: Config


# ---------------------------------------------------------------------------------------------- planning

def ablation_config(smoke: bool = False, overrides: Sequence[str] = (), base: str = "ablation") -> Config:
    """The base configuration of every grid: the preset ``base`` (``ablation``, the synthetic CPU schedule;
    ``paper-regdb`` for the paper's recipe on real data), the smoke sizes when ``smoke``, then ``overrides``
    (``section.key=value``)."""
    return apply_overrides(preset(base), [*(ABLATION_SMOKE if smoke else ()), *overrides])


def plan(grid: str, seeds: Sequence[int] = (0, 1, 2), *, smoke: bool = False, overrides: Sequence[str] = (),
         base: str = "ablation", cells: Sequence[str] | None = None) -> list[Run]:
    """The runs of a grid, seed-major (every cell with the first seed, then the second, ...), so a grid
    stopped early has all its cells with fewer seeds rather than some cells with none.

    Args:
        grid: ``table3``, ``table4``, ``parts`` or ``options``.
        seeds: training seeds (``train.seed``); the synthetic dataset stays the same.
        smoke: tiny sizes (tests, CI).
        overrides: ``section.key=value`` changes to the base config; a cell's own overrides win.
        base: the preset the grid starts from.
        cells: only these cells, by name (default: every cell of the grid), to give the noisier cells more
            seeds than the others.

    Raises:
        ValueError: for an unknown grid, preset or cell, no seeds, negative or repeated seeds.
    """
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {sorted(GRIDS)}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("give at least one seed (e.g. --seeds 0 1 2)")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct non-negative integers, got {seeds}")
    names = [c.name for c in GRIDS[grid]]
    if cells is not None:
        unknown = [c for c in cells if c not in names]
        if unknown or not cells or len(set(cells)) != len(cells):
            raise ValueError(f"--cells {' '.join(cells)}: give distinct cells of grid {grid!r}, among {names}"
                             + (f" ({', '.join(map(repr, unknown))} is not one)" if unknown else ""))
    chosen = [c for c in GRIDS[grid] if cells is None or c.name in cells]
    cfg = ablation_config(smoke, overrides, base)
    return [Run(grid, cell, seed, apply_overrides(cfg, [*cell.overrides, f"train.seed={seed}"]))
            for seed in seeds for cell in chosen]


def finished_seeds(out: str | Path, grid: str) -> list[int]:
    """The seeds with at least one result file under ``<out>/<grid>/<cell>/seed<k>.json``, in order."""
    found = {int(p.stem[4:]) for p in Path(out, grid).glob("*/seed*.json") if p.stem[4:].isdecimal()}
    return sorted(found)


def _hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def train_key(cfg: Config) -> str:
    """A hash of everything that changes what training computes: the config without its name, its
    ``eval`` section and the settings that only change speed or logging (workers, cache, device, tensorboard)."""
    d = _drop_neutral(cfg.to_dict())
    d.pop("name")
    d.pop("eval")
    for section, key in (("data", "num_workers"), ("data", "cache"), ("train", "device"), ("train", "tensorboard")):
        d[section].pop(key)
    if cfg.train.optimizer != "adamw":   # the AdamW kernel changes nothing of an SGD run
        d["train"].pop("adamw_kernel", None)
    if not d["data"]["synthetic_smoke"]:   # a field added later: at its default it keeps the earlier keys
        d["data"].pop("synthetic_smoke")
    if cfg.data.root is None:   # synthetic data: another generator version is other data
        d["synthetic_generator_version"] = GENERATOR_VERSION
    return _hash(d)


def train_dir(work: str | Path, cfg: Config) -> Path:
    """The training folder of ``cfg`` under ``work``: ``<train key>-seed<seed>``."""
    return Path(work) / f"{train_key(cfg)}-seed{cfg.train.seed}"


def eval_key(cfg: Config) -> str:
    """A hash of ``cfg``'s ``eval`` section (its neutral fields left out): the name of the cached evaluation
    ``eval-<key>.json`` in a training folder."""
    return _hash(_drop_neutral({"eval": dataclasses.asdict(cfg.eval)})["eval"])


def result_path(out: str | Path, run: Run) -> Path:
    """Where the result JSON of ``run`` goes: ``<out>/<grid>/<cell>/seed<k>.json``."""
    return Path(out) / run.grid / run.cell.slug / f"seed{run.seed}.json"
