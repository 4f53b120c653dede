"""Evaluation: the SYSU-MM01 and RegDB ranking metrics, re-ranking, feature extraction and protocol runners."""

from vireid_lib.evaluation.metrics import rank_metrics

__all__ = ["rank_metrics"]
