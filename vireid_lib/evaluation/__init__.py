"""Evaluation: the SYSU-MM01 and RegDB ranking metrics, re-ranking, feature extraction, protocol runners
and paper-format reports."""

from vireid_lib.evaluation.extract import extract_features
from vireid_lib.evaluation.metrics import kept_gallery, rank_metrics
from vireid_lib.evaluation.protocols import (
    aggregate_trials,
    evaluate_features,
    evaluate_regdb,
    evaluate_sysu,
    pairwise_distance,
    results_path,
    save_results,
)
from vireid_lib.evaluation.report import PAPER_RESULTS, plot_cmc, results_table
from vireid_lib.evaluation.reranking import k_reciprocal_rerank

__all__ = [
    "PAPER_RESULTS",
    "aggregate_trials",
    "evaluate_features",
    "evaluate_regdb",
    "evaluate_sysu",
    "extract_features",
    "k_reciprocal_rerank",
    "kept_gallery",
    "pairwise_distance",
    "plot_cmc",
    "rank_metrics",
    "results_path",
    "results_table",
    "save_results",
]
