"""Evaluation: the SYSU-MM01 and RegDB ranking metrics, re-ranking, feature extraction and protocol runners."""

from vireid_lib.evaluation.metrics import rank_metrics
from vireid_lib.evaluation.reranking import k_reciprocal_rerank

__all__ = ["k_reciprocal_rerank", "rank_metrics"]
