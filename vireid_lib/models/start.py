"""Starting weights shipped with the package: the CPU-scale stand-in for the paper's ImageNet start.

The paper (section 2.2) starts its two-stream ResNet50 from ImageNet weights: a network that has seen many
visible images and never an infrared one, nor a person matched across modalities. ImageNet weights cannot be
fetched everywhere this project runs, and none exist for the ``cpu-demo`` network (a resnet10 at width 32).
``synthetic-visible`` takes their place: the ``cpu-demo`` network trained from random weights on the
*visible* images of another synthetic set (dataset seed :data:`PRETRAIN_SEED`, other people than any set the
project evaluates), its infrared stem fed visible images too (:class:`~vireid_lib.data.views.VisibleOnly`),
then written as a torchvision-style ResNet state dict of its visible stem and shared layer2-4, exactly the form
of an ImageNet file (both stems start from the one stem, as with ImageNet). ``benchmarks/pretrain_start.py``
builds it; the JSON beside the file records how, and the file's SHA-256, checked on every load.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import torch

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
"""Where the shipped starting weights and their records live (package data)."""
STARTS = {"synthetic-visible": "synthetic_visible_resnet10_w32",
          "synthetic-visible-long": "synthetic_visible_long_resnet10_w32"}
"""Each named start (a ``model.pretrained`` value) and the stem of its ``.pt`` file and ``.json`` record.
``synthetic-visible-long`` is the same recipe for twice the steps (docs/CPU_RECIPE.md, candidate start B): shipped
so that ``--set model.pretrained=synthetic-visible-long`` reaches it; the ``cpu-demo`` preset and every committed
table still start from ``synthetic-visible``."""
PRETRAIN_SEED = 100
"""The synthetic dataset seed the ``synthetic-visible`` start trains on: no evaluated set uses it."""


def synthetic_seed_of(data: Any) -> int | None:
    """The synthetic dataset seed a :class:`~vireid_lib.config.DataConfig` reads: its own seed without a root,
    the seed in the root's generator statistics for a synthetic set written to a folder (``vireid synth``),
    None for a real dataset."""
    from vireid_lib.data.synthetic import STATS_FILE   # lazily: the data package is not the model's to import

    if data.root is None:
        return data.synthetic_seed
    stats = Path(data.root) / STATS_FILE
    try:
        return json.loads(stats.read_text()).get("seed") if stats.is_file() else None
    except (OSError, ValueError):
        return None


def check_start_data(cfg: Any) -> None:
    """Refuse to train a network that starts from a shipped start on its own pretraining people: the synthetic
    set of dataset seed :data:`PRETRAIN_SEED` (in either layout, which draw the same people), generated on the
    fly or written to a folder.

    Raises:
        ValueError: ``cfg`` (a :class:`~vireid_lib.config.Config`) starts from a shipped start and uses that set.
    """
    if cfg.model.pretrained in STARTS and synthetic_seed_of(cfg.data) == PRETRAIN_SEED:
        raise ValueError(f"model.pretrained={cfg.model.pretrained!r} was trained on the people of synthetic dataset "
                         f"seed {PRETRAIN_SEED}; pick another data.synthetic_seed or set model.pretrained=null")


def start_files(name: str) -> tuple[Path, Path]:
    """The weights file and the record of the named start ``name``.

    Raises:
        ValueError: ``name`` is not a shipped start.
    """
    if name not in STARTS:
        raise ValueError(f"model.pretrained={name!r} is not a shipped start; choose one of {sorted(STARTS)}, "
                         "'imagenet', a path to a ResNet state dict, or null")
    stem = WEIGHTS_DIR / STARTS[name]
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def start_record(name: str) -> dict[str, Any]:
    """The record of the named start: what built it (command, config, data, steps, machine) and its SHA-256.

    Raises:
        ValueError: not a shipped start, or its record is missing or unreadable.
    """
    _, record = start_files(name)
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{record}: the record of start {name!r} is missing or unreadable ({type(e).__name__}); "
                         "rebuild it with python benchmarks/pretrain_start.py") from None


def start_state_dict(name: str, arch: str, width: int) -> dict[str, torch.Tensor]:
    """The named start's ResNet state dict, for a network of ``arch`` at ``width``.

    Raises:
        ValueError: another architecture or width than the start's, a record or file that is missing, or a
            file whose SHA-256 is not the one its record names (changed since it was built).
    """
    path, _ = start_files(name)
    record = start_record(name)
    if (record["arch"], record["width"]) != (arch, width):
        raise ValueError(f"model.pretrained={name!r} holds a {record['arch']} at width {record['width']}, not "
                         f"{arch} at width {width}: set model.pretrained=null or give a state dict of this network")
    if not path.is_file():
        raise ValueError(f"{path}: the weights of start {name!r} are missing; reinstall the package or rebuild "
                         "them with python benchmarks/pretrain_start.py")
    if file_sha256(path) != record["sha256"]:
        raise ValueError(f"{path}: its SHA-256 is not the one {path.with_suffix('.json').name} records; the file "
                         "changed since it was built: restore it or rebuild both with python "
                         "benchmarks/pretrain_start.py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def resnet_state_dict(model_state: dict[str, torch.Tensor], stem: str = "visible") -> dict[str, torch.Tensor]:
    """A torchvision-style ResNet state dict (``conv1``, ``bn1``, ``layer1``-``layer4``) from a
    :class:`~vireid_lib.models.build.VIReIDNet` state dict: ``stem``'s stem and the shared layer2-4.

    Raises:
        ValueError: the state dict holds no backbone of that stem.
    """
    prefix = f"backbone.stems.{stem}."
    out = {k[len(prefix):]: v for k, v in model_state.items() if k.startswith(prefix)}
    if not out:
        raise ValueError(f"the state dict holds no backbone stem {stem!r}; is it a vireid model's?")
    out.update({k[len("backbone."):]: v for k, v in model_state.items() if k.startswith("backbone.layer")})
    return out
