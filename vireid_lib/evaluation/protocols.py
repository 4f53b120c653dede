"""The test protocols (DECISIONS §10): SYSU-MM01 (all/indoor search, 10 random gallery draws) and RegDB
(visible->thermal and thermal->visible per trial, 10 trials each with its own model).

Results are plain dicts of fractions (JSON-ready): a metric dict ``{"cmc": [...], "mAP", "mINP",
"num_valid_queries"}`` per setting, and over trials a summary ``{"mean": metric dict, "std": metric dict,
"per_trial": [metric dicts]}``. The runners add each setting's ``"people"`` table
(:func:`~vireid_lib.evaluation.people.person_table`: each test person's weight, Rank-1 and mAP), from which
:func:`~vireid_lib.evaluation.people.people_se` gives the error of a number over draws of the test people,
which the ± over gallery draws does not measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from vireid_lib.checkpoints import results_path  # noqa: F401  (where a checkpoint's results go; re-exported)
from vireid_lib.config import Config, DataConfig, EvalConfig
from vireid_lib.data.records import Record
from vireid_lib.data.sysu_official import resolve_protocol
from vireid_lib.data.transforms import build_test_transform
from vireid_lib.distributed import evaluation_device
from vireid_lib.evaluation.extract import Transform, extract_features, feature_options
from vireid_lib.evaluation.metrics import rank_metrics
from vireid_lib.evaluation.people import person_table
from vireid_lib.evaluation.report import headline_metrics
from vireid_lib.evaluation.reranking import k_reciprocal_rerank
from vireid_lib.io import atomic_write_json

SYSU_MODES = ("all", "indoor")
REGDB_DIRECTIONS = ("v2t", "t2v")


def pairwise_distance(qf: Any, gf: Any, metric: Literal["cosine", "euclidean"] = "cosine") -> np.ndarray:
    """``(Q, G)`` distances between feature rows.

    ``"cosine"`` is ``1 - q.g``: on L2-normalised features it ranks like the reference code's ``-q.g``.

    Raises:
        ValueError: for an unknown metric or feature sizes that differ.
    """
    q = torch.as_tensor(qf, dtype=torch.float32)
    g = torch.as_tensor(gf, dtype=torch.float32)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {tuple(q.shape)} and {tuple(g.shape)}")
    if metric == "cosine":
        return (1 - q @ g.T).numpy()
    if metric == "euclidean":
        return torch.cdist(q, g).numpy()
    raise ValueError(f"unknown metric {metric!r}; choose 'cosine' or 'euclidean'")


def evaluate_features(
    qf: Any,
    gf: Any,
    queries: Sequence[Record],
    gallery: Sequence[Record],
    *,
    protocol: Literal["sysu", "regdb"],
    rerank: bool = False,
    metric: Literal["cosine", "euclidean"] = "cosine",
) -> dict[str, Any]:
    """A metric dict for query and gallery features (optionally k-reciprocal re-ranked)."""
    return _metric_dict(_ranked(qf, gf, queries, gallery, protocol=protocol, rerank=rerank, metric=metric))


def _ranked(qf: Any, gf: Any, queries: Sequence[Record], gallery: Sequence[Record], *,
            protocol: Literal["sysu", "regdb"], rerank: bool, metric: Literal["cosine", "euclidean"] = "cosine"
            ) -> dict[str, Any]:
    """:func:`rank_metrics` of the features, its per-query arrays included."""
    if rerank:
        # The re-ranking code expects (squarable) Euclidean distances between all images.
        distmat = k_reciprocal_rerank(pairwise_distance(qf, gf, "euclidean"), pairwise_distance(qf, qf, "euclidean"),
                                      pairwise_distance(gf, gf, "euclidean"))
    else:
        distmat = pairwise_distance(qf, gf, metric)
    return rank_metrics(distmat, [r.pid for r in queries], [r.pid for r in gallery], [r.camid for r in queries],
                        [r.camid for r in gallery], protocol=protocol)


def _metric_dict(m: Mapping[str, Any]) -> dict[str, Any]:
    return {"cmc": m["cmc"].tolist(), "mAP": m["mAP"], "mINP": m["mINP"], "num_valid_queries": m["num_valid_queries"]}


def _summary(ranked: Sequence[Mapping[str, Mapping[str, Any]]], queries: Sequence[Record]) -> dict[str, Any]:
    """:func:`aggregate_trials` of per-draw ranked results (``{setting: rank_metrics}`` per draw), each setting
    with its ``"people"`` table over the draws."""
    summary = aggregate_trials([{s: _metric_dict(m) for s, m in draw.items()} for draw in ranked])
    pids = [r.pid for r in queries]
    for s in ranked[0]:
        summary[s]["people"] = person_table([draw[s] for draw in ranked], pids)
    return summary


def _features(model: nn.Module, records: Sequence[Record], transform: Transform, eval_cfg: EvalConfig,
              device: str | torch.device | None, progress: bool, num_workers: int) -> torch.Tensor:
    return extract_features(model, records, transform, **feature_options(eval_cfg), device=device,
                            num_workers=num_workers, progress=progress)


def _pool(galleries: Any) -> tuple[list[Record], dict[str, int]]:
    """Every image of several gallery draws once, in first-seen order, and each path's index in it: features
    do not depend on the draw, so each image is embedded once however many draws hold it."""
    index: dict[str, int] = {}
    pool: list[Record] = []
    for records in galleries:
        for r in records:
            if r.path not in index:
                index[r.path] = len(pool)
                pool.append(r)
    return pool, index


def evaluate_sysu(
    model: nn.Module,
    reader: Any,
    eval_cfg: EvalConfig | None = None,
    data_cfg: DataConfig | None = None,
    *,
    modes: Sequence[str] = SYSU_MODES,
    trials: int | None = None,
    shots: int | None = None,
    transform: Transform | None = None,
    metric: Literal["cosine", "euclidean"] = "cosine",
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """SYSU-MM01: all-search and/or indoor-search over random gallery draws (trials ``0..trials-1``).

    Query features are extracted once. Each gallery image is embedded once too, however many trials and
    modes draw it (features do not depend on the draw), so ten trials cost little more than one.

    Args:
        model: the network.
        reader: a ``SYSUMM01`` reader (``.query()``, ``.gallery(mode, trial, shots)``).
        eval_cfg: feature and protocol settings (default ``EvalConfig()``).
        data_cfg: input size for the default test transform (default ``DataConfig()``).
        modes: ``"all"`` and/or ``"indoor"``.
        trials: number of gallery draws (default ``eval_cfg.sysu_trials``, the protocol's 10).
        shots: gallery images per identity and camera (default ``eval_cfg.sysu_shots``; 1 or 10).
        transform: test transform (default: the data package's test pipeline for ``data_cfg``).
        metric: feature distance, ``"cosine"`` or ``"euclidean"``.
        device: where to run the model (default: the model's device).
        progress: show progress bars.

    The gallery draws follow ``eval_cfg.sysu_gallery``: ``"official"`` (the dataset's
    ``exp/rand_perm_cam.mat``), ``"reference"`` (AGW/CAJ's seeded draw) or ``"auto"`` (official when the file is
    there); the result's ``"gallery"`` names the one used.

    Returns:
        ``{"protocol": "sysu", "gallery", "shots", "num_trials", <mode>: summary, ...}`` with a summary per mode
        (and its ``"people"`` table over the draws).

    Raises:
        ValueError: for an unknown mode or fewer than one trial.
        FileNotFoundError: ``sysu_gallery="official"`` without the permutation file.
    """
    eval_cfg = eval_cfg or EvalConfig()
    data_cfg = data_cfg or DataConfig()
    trials = eval_cfg.sysu_trials if trials is None else trials
    shots = eval_cfg.sysu_shots if shots is None else shots
    bad = [m for m in modes if m not in SYSU_MODES]
    if bad or not modes:
        raise ValueError(f"modes must be a non-empty subset of {SYSU_MODES}, got {list(modes)}")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    transform = transform or default_transform(data_cfg)
    workers = data_cfg.num_workers

    gallery_protocol = resolve_protocol(eval_cfg.sysu_gallery, getattr(reader, "root", None))
    draw = {"protocol": "official"} if gallery_protocol == "official" else {}
    queries = list(reader.query())
    galleries = {(m, t): list(reader.gallery(mode=m, trial=t, shots=shots, **draw))
                 for m in modes for t in range(trials)}
    pool, unique = _pool(galleries.values())
    qf = _features(model, queries, transform, eval_cfg, device, progress, workers)
    pool_f = _features(model, pool, transform, eval_cfg, device, progress, workers)

    ranked = [{m: _ranked(qf, pool_f[[unique[r.path] for r in galleries[m, t]]], queries, galleries[m, t],
                          protocol="sysu", rerank=eval_cfg.rerank, metric=metric) for m in modes}
              for t in range(trials)]
    summary = _summary(ranked, queries)
    return {"protocol": "sysu", "gallery": gallery_protocol, "shots": shots, "num_trials": trials, **summary}


def evaluate_within_visible(
    model: nn.Module,
    reader: Any,
    eval_cfg: EvalConfig | None = None,
    data_cfg: DataConfig | None = None,
    *,
    trials: int | None = None,
    transform: Transform | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The within-visible diagnostic of a SYSU-MM01-layout reader (``reader.within_visible``): indoor
    visible queries against a single-shot outdoor visible gallery, averaged over ``trials`` draws (default
    ``eval_cfg.sysu_trials``). Reported beside the cross-modality protocol, never instead of it.

    Returns:
        ``{"protocol": "within-visible", "num_trials", "visible": summary}`` (with its ``"people"`` table).
    """
    eval_cfg = eval_cfg or EvalConfig()
    data_cfg = data_cfg or DataConfig()
    trials = eval_cfg.sysu_trials if trials is None else trials
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    transform = transform or default_transform(data_cfg)
    draws = [reader.within_visible(t) for t in range(trials)]
    queries = draws[0][0]
    pool, index = _pool(gallery for _, gallery in draws)
    qf = _features(model, queries, transform, eval_cfg, device, progress, data_cfg.num_workers)
    pool_f = _features(model, pool, transform, eval_cfg, device, progress, data_cfg.num_workers)
    ranked = [{"visible": _ranked(qf, pool_f[[index[r.path] for r in gallery]], queries, gallery,
                                  protocol="regdb", rerank=eval_cfg.rerank)} for _, gallery in draws]
    return {"protocol": "within-visible", **_summary(ranked, queries)}


def evaluate_regdb(
    model: nn.Module,
    reader: Any,
    eval_cfg: EvalConfig | None = None,
    data_cfg: DataConfig | None = None,
    *,
    directions: Sequence[str] = REGDB_DIRECTIONS,
    transform: Transform | None = None,
    metric: Literal["cosine", "euclidean"] = "cosine",
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """RegDB, one trial: visible->thermal and/or thermal->visible (combine trials with
    :func:`aggregate_trials`; each trial has its own model).

    Args:
        model: the network trained on this trial's split.
        reader: a ``RegDB`` reader (``.trial``, ``.query(direction)``, ``.gallery(direction)``).
        eval_cfg: feature settings (default ``EvalConfig()``).
        data_cfg: input size for the default test transform (default ``DataConfig()``).
        directions: ``"v2t"`` and/or ``"t2v"``.
        transform: test transform (default: the data package's test pipeline for ``data_cfg``).
        metric: feature distance, ``"cosine"`` or ``"euclidean"``.
        device: where to run the model.
        progress: show progress bars.

    Returns:
        ``{"protocol": "regdb", "trial", <direction>: metric dict, ...}``, each metric dict with its ``"people"``
        table.

    Raises:
        ValueError: for an unknown direction.
    """
    eval_cfg = eval_cfg or EvalConfig()
    data_cfg = data_cfg or DataConfig()
    bad = [d for d in directions if d not in REGDB_DIRECTIONS]
    if bad or not directions:
        raise ValueError(f"directions must be a non-empty subset of {REGDB_DIRECTIONS}, got {list(directions)}")
    transform = transform or default_transform(data_cfg)
    # Both directions use the same two image sets: embed each image once.
    visible, thermal = list(reader.query("v2t")), list(reader.query("t2v"))
    vf = _features(model, visible, transform, eval_cfg, device, progress, data_cfg.num_workers)
    tf = _features(model, thermal, transform, eval_cfg, device, progress, data_cfg.num_workers)
    by_path = {r.path: i for i, r in enumerate(visible)} | {r.path: i for i, r in enumerate(thermal)}
    result: dict[str, Any] = {"protocol": "regdb", "trial": getattr(reader, "trial", None)}
    for d in directions:
        queries, gallery = list(reader.query(d)), list(reader.gallery(d))
        q_feats = vf if d == "v2t" else tf
        g_feats = tf if d == "v2t" else vf
        ranked = _ranked(q_feats[[by_path[r.path] for r in queries]], g_feats[[by_path[r.path] for r in gallery]],
                         queries, gallery, protocol="regdb", rerank=eval_cfg.rerank, metric=metric)
        result[d] = {**_metric_dict(ranked), "people": person_table([ranked], [r.pid for r in queries])}
    return result


def evaluate(model: nn.Module, cfg: Config, reader: Any, *, progress: bool = True,
             device: str | torch.device | None = None) -> dict[str, Any]:
    """The full test protocol of ``cfg.data.dataset`` (the model is put in evaluation mode): SYSU-MM01 all- and
    indoor-search over ``cfg.eval.sysu_trials`` gallery draws (:func:`evaluate_sysu`), or RegDB both
    directions on the reader's trial (:func:`evaluate_regdb`).

    The model runs on ``device``, by default :func:`~vireid_lib.distributed.evaluation_device` (CUDA when the
    run did not ask for the CPU and CUDA is here), wherever it lies, and is left where it was: a checkpoint
    loads onto the CPU, and evaluated there on a GPU machine it would be slow and would not give the numbers
    its run recorded there. To repeat a record made on the CPU, pass ``device="cpu"``: the GPU's kernels round
    otherwise."""
    model.eval()
    device = evaluation_device(cfg.train) if device is None else device
    if cfg.data.dataset == "sysu":
        return evaluate_sysu(model, reader, cfg.eval, cfg.data, device=device, progress=progress)
    return evaluate_regdb(model, reader, cfg.eval, cfg.data, device=device, progress=progress)


def evaluate_trial0(model: nn.Module, cfg: Config, reader: Any) -> dict[str, float]:
    """The periodic evaluation during training (model selection, ``train.select``): SYSU-MM01 all-search on
    gallery trial 0, or RegDB visible->thermal on the reader's trial. Returns fractions: ``mAP``, ``mINP``,
    ``rank1``, ``rank10``, ``rank20`` (:func:`~vireid_lib.evaluation.report.headline_metrics`)."""
    if cfg.data.dataset == "sysu":
        m = evaluate_sysu(model, reader, cfg.eval, cfg.data, modes=("all",), trials=1, progress=False)["all"]
    else:
        m = evaluate_regdb(model, reader, cfg.eval, cfg.data, directions=("v2t",), progress=False)["v2t"]
    return headline_metrics(m)


def aggregate_trials(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation (numpy's, ddof=0) over trials, for every setting the trials share.

    Args:
        results: one result per trial, each mapping setting names (``"all"``, ``"v2t"``, ...) to metric
            dicts; other entries (``"protocol"``, ``"trial"``) are carried over as lists or dropped.

    Returns:
        ``{setting: {"mean", "std", "per_trial"}}`` plus ``"trials"`` (the trial ids when present) and
        ``"num_trials"``; for RegDB results also ``"protocol": "regdb"``.

    Raises:
        ValueError: for no results or trials that do not share their settings.
    """
    if not results:
        raise ValueError("no trial results to aggregate")
    settings = [k for k, v in results[0].items() if isinstance(v, Mapping) and "cmc" in v]
    for r in results:
        have = [k for k, v in r.items() if isinstance(v, Mapping) and "cmc" in v]
        if sorted(have) != sorted(settings):
            raise ValueError(f"trials differ in their settings: {sorted(settings)} vs {sorted(have)}")
    out: dict[str, Any] = {}
    for s in settings:
        runs = [r[s] for r in results]
        cmc = np.array([r["cmc"] for r in runs], dtype=float)
        out[s] = {
            "mean": {"cmc": cmc.mean(0).tolist(), "mAP": float(np.mean([r["mAP"] for r in runs])),
                     "mINP": float(np.mean([r["mINP"] for r in runs]))},
            "std": {"cmc": cmc.std(0).tolist(), "mAP": float(np.std([r["mAP"] for r in runs])),
                    "mINP": float(np.std([r["mINP"] for r in runs]))},
            "per_trial": [dict(r) for r in runs],
        }
    if all("trial" in r for r in results):
        out["trials"] = [r["trial"] for r in results]
    if results[0].get("protocol") == "regdb":
        out["protocol"] = "regdb"
    out["num_trials"] = len(results)
    return out


def save_results(results: Mapping[str, Any], path: str | Path, cfg: Config | None = None, *,
                 data: Mapping[str, Any] | None = None, checkpoint: Mapping[str, Any] | None = None) -> Path:
    """Write results with what produced them as one JSON file, atomically: ``{"results", "config", "data",
    "checkpoint"}``.

    ``results_path(checkpoint)`` gives the conventional place next to a checkpoint.

    Args:
        results: the protocol result.
        path: the JSON file.
        cfg: the configuration evaluated (with the data settings used).
        data: what data it was evaluated on (:func:`vireid_lib.provenance.describe_data`: synthetic or real, size,
            seed).
        checkpoint: which weights (:func:`vireid_lib.provenance.checkpoint_info`: path, epoch, step, SHA-256).
    """
    payload = {"results": results, "config": cfg.to_dict() if cfg is not None else None,
               "data": dict(data) if data is not None else None,
               "checkpoint": dict(checkpoint) if checkpoint is not None else None}
    return atomic_write_json(path, payload)


def default_transform(data_cfg: DataConfig) -> Transform:
    """The test pipeline (resize, to tensor, ImageNet normalisation) for ``data_cfg``'s input size."""
    return build_test_transform(data_cfg)
