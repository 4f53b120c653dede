"""The losses of eqs. (9)–(16): one function per equation and the objective that weighs them.

Every function takes the rows of one training batch: features ``(B, D)``, integer ``labels (B,)`` and, for
the centre-based losses, one modality string per row (``"visible"``, ``"infrared"``, ``"exchanged"``).

Reductions. Eqs. (9) and (10) are averaged over the rows of the batch, as in the code of Ye et al. (CAJ,
ICCV 2021) that the paper follows; the written sums differ by the constant batch size only. Eqs. (11)–(13)
are summed over identities as written (DECISIONS §7); every other reading is a named option of
:class:`~vireid_lib.config.LossConfig` (``center_triplet_reduction``, ``center_negatives``,
``center_reduction``, ``mse_reduction``), listed in ``docs/REPRODUCE.md``.

Centres. The centre of identity ``i`` in modality ``m`` is the mean feature of the rows with that label and
modality. Rows are grouped by label, so the sampler's identity-contiguous order is not required and the
losses do not depend on the order of identities in the batch. An identity that lacks one modality in the
batch (possible with a sampler that cannot fill a modality) simply drops out of every term that needs its
centre in that modality; its other centres still serve as negatives in eq. (11). A term with no identity
left is zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vireid_lib import EXCHANGED, INFRARED, VISIBLE
from vireid_lib.config import LossConfig

if TYPE_CHECKING:
    from vireid_lib.models.build import ModelOutput

TRAINING_MODALITIES = (VISIBLE, EXCHANGED, INFRARED)


class LossResult(NamedTuple):
    """The objective's value and its named terms (for logging).

    Attributes:
        total: the scalar to back-propagate, eq. (16).
        terms: every unweighted term by name: ``id``, ``tri``, ``mse`` (global branch, eq. (14)) and, with
            the local branch, ``local_id``, ``center``, ``hc`` (eq. (15)).
    """

    total: Tensor
    terms: dict[str, Tensor]


def euclidean_distances(x: Tensor, y: Tensor) -> Tensor:
    """Euclidean distances between the rows of ``x (M, D)`` and ``y (N, D)``, shape ``(M, N)``.

    Squared distances are clamped at 1e-12 before the square root so the gradient stays finite at 0
    (CAJ's ``pdist_torch``).
    """
    d2 = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2.0 * x @ y.t()
    return d2.clamp(min=1e-12).sqrt()


def identity_loss(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Identity (cross-entropy) loss, eq. (9), averaged over the batch.

    Args:
        logits: ``(B, D)`` class scores ``W_k^T x_i``.
        labels: ``(B,)`` training identities in ``0..D-1``.
        label_smoothing: epsilon of label smoothing (paper: 0, i.e. eq. (9) exactly).
    """
    return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)


def batch_hard_triplet(features: Tensor, labels: Tensor, margin: float = 0.3) -> Tensor:
    """Batch-hard triplet loss, eq. (10) (Hermans et al., 2017; CAJ's ``--method base``).

    The paper's default. CAJ's published recipe (Ye et al., ICCV 2021, ``--method adp --square 1``) trains
    with :func:`adp_triplet` instead, and its default ``agw`` method with :func:`weighted_triplet`.

    Every row of the batch is an anchor; its hardest positive is the farthest row with the same label and
    its hardest negative the nearest row with another label, both taken over all rows of the batch, so
    with the batch ``[visible; exchanged; infrared]`` positives and negatives span the modalities
    (DECISIONS §7). The loss is ``[rho + d(a, p) - d(a, n)]_+`` averaged over anchors; anchors without any
    negative are skipped.

    Args:
        features: ``(B, D)`` pooled global features (before the BN neck, DECISIONS §5).
        labels: ``(B,)`` identities.
        margin: rho (paper: 0.3).
    """
    dist = euclidean_distances(features, features)  # (B, B)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)  # (B, B)
    hardest_pos = dist.masked_fill(~same, float("-inf")).amax(1)
    hardest_neg = dist.masked_fill(same, float("inf")).amin(1)
    valid = torch.isfinite(hardest_neg)
    if not valid.any():
        return features.sum() * 0.0
    return F.relu(margin + hardest_pos[valid] - hardest_neg[valid]).mean()


def _softmax_weights(dist: Tensor, mask: Tensor) -> Tensor:
    """Softmax of ``dist`` over the entries where ``mask`` is true, per row (zero elsewhere)."""
    max_v = (dist * mask).amax(1, keepdim=True)
    e = torch.exp(dist - max_v) * mask
    return e / (e.sum(1, keepdim=True) + 1e-6)


def weighted_triplet(features: Tensor, labels: Tensor) -> Tensor:
    """Weighted-regularised triplet loss of CAJ / AGW (Ye et al.), the option ``triplet="weighted"``.

    Replaces eq. (10)'s hardest positive and negative by softmax-weighted averages of all positive
    distances (weights growing with the distance) and all negative distances (weights growing as the
    distance shrinks), and the margin hinge by the soft margin ``log(1 + exp(d_p - d_n))``, averaged over
    anchors. It has no margin parameter.

    Args:
        features: ``(B, D)`` pooled global features.
        labels: ``(B,)`` identities.
    """
    dist = euclidean_distances(features, features)  # (B, B)
    is_pos = (labels.unsqueeze(0) == labels.unsqueeze(1)).to(dist.dtype)  # (B, B)
    is_neg = 1.0 - is_pos
    dist_ap = dist * is_pos
    dist_an = dist * is_neg
    far_pos = (dist_ap * _softmax_weights(dist_ap, is_pos)).sum(1)
    close_neg = (dist_an * _softmax_weights(-dist_an, is_neg)).sum(1)
    return F.softplus(far_pos - close_neg).mean()


def adp_triplet(features: Tensor, labels: Tensor, alpha: float = 1.0, gamma: float = 1.0,
                square: bool = True) -> Tensor:
    """CAJ's ``TripletLoss_ADP`` (Ye et al., ICCV 2021), the option ``triplet="adp"``.

    As :func:`weighted_triplet`, with the softmax weights taken over ``alpha * d`` (positives) and
    ``-alpha * d`` (negatives): per anchor ``p = sum_j w_j d(a, p_j)`` and ``n = sum_k w_k d(a, n_k)``.
    With ``square`` (CAJ's ``--square 1``, its published recipe) the per-anchor loss is
    ``log(1 + exp(s))`` with ``s = min(gamma (p - n)^2, 88)`` when ``p > n`` (wrong order: the penalty
    grows with the squared gap) and ``log(1 + exp(-s))`` otherwise (right order: the reward grows with it);
    without it, ``log(1 + exp(-gamma (n - p)))``. Averaged over anchors.

    Args:
        features: ``(B, D)`` pooled global features.
        labels: ``(B,)`` identities.
        alpha: sharpness of the softmax weights (CAJ: 1).
        gamma: scale of the gap (CAJ: 1).
        square: square the gap (CAJ's ``--square 1``).
    """
    dist = euclidean_distances(features, features)  # (B, B)
    is_pos = (labels.unsqueeze(0) == labels.unsqueeze(1)).to(dist.dtype)  # (B, B)
    is_neg = 1.0 - is_pos
    dist_ap = dist * is_pos
    dist_an = dist * is_neg
    far_pos = (dist_ap * _softmax_weights(dist_ap * alpha, is_pos)).sum(1)
    close_neg = (dist_an * _softmax_weights(-dist_an * alpha, is_neg)).sum(1)
    if not square:
        return F.softplus(-gamma * (close_neg - far_pos)).mean()
    s = (gamma * (far_pos - close_neg).pow(2)).clamp(max=88.0)
    sign = torch.where(far_pos > close_neg, 1.0, -1.0)
    return F.softplus(sign * s).mean()


class Centres(NamedTuple):
    """Per-identity mean features of one modality.

    Attributes:
        labels: ``(I,)`` the identities present, sorted.
        centres: ``(I, D)`` their mean features.
    """

    labels: Tensor
    centres: Tensor


def modality_centres(features: Tensor, labels: Tensor, modalities: Sequence[str]) -> dict[str, Centres]:
    """The centre ``c_i^m`` of every identity ``i`` in every modality ``m`` present in the batch.

    Args:
        features: ``(B, D)``.
        labels: ``(B,)`` identities.
        modalities: ``B`` modality names.

    Returns:
        A mapping from modality name to its :class:`Centres`; modalities absent from the batch are absent.
    """
    names = list(modalities)
    out: dict[str, Centres] = {}
    for m in dict.fromkeys(names):
        rows = torch.tensor([n == m for n in names], device=features.device)
        ids, inverse = torch.unique(labels[rows], sorted=True, return_inverse=True)
        sums = features.new_zeros(len(ids), features.shape[1]).index_add_(0, inverse, features[rows])
        counts = torch.bincount(inverse, minlength=len(ids)).to(features.dtype)
        out[m] = Centres(ids, sums / counts.unsqueeze(1))
    return out


def _paired(a: Centres, b: Centres) -> tuple[Tensor, Tensor, Tensor]:
    """The identities present in both ``a`` and ``b`` and their centres, aligned row by row."""
    common = a.labels[torch.isin(a.labels, b.labels)]
    ia = torch.searchsorted(a.labels, common)
    ib = torch.searchsorted(b.labels, common)
    return common, a.centres[ia], b.centres[ib]


CENTRE_TRIPLETS = ((VISIBLE, INFRARED), (INFRARED, VISIBLE), (EXCHANGED, INFRARED))
"""The (anchor, positive) modality pairs of the three terms of eq. (11)."""


def centre_triplet(features: Tensor, labels: Tensor, modalities: Sequence[str], margin: float = 0.3,
                   reduction: str = "sum", negatives: str = "all") -> Tensor:
    """Centre triplet loss, eq. (11).

    For each of the three anchor/positive pairs (visible, infrared), (infrared, visible) and (exchanged,
    infrared), and each identity ``i`` with both centres:
    ``[rho + ||c_i^a - c_i^p|| - min_{j != i} ||c_i^a - c_j^n||]_+``. With ``negatives="all"`` (default)
    ``c_j^n`` ranges over the centres of every other identity in every modality (visible, infrared,
    exchanged), as in the hetero-centre triplet loss (Liu et al., IEEE TMM 2021), whose code the paper's
    loss follows; with ``"other_modality"`` only over the centres of the modalities other than the
    anchor's, the literal reading of the paper's text ("centres of the other modalities"). Summed over
    identities and the three terms (eq. (11) as written), or averaged over them (HcTri's
    ``MarginRankingLoss`` mean).

    Args:
        features: ``(B, D)`` concatenated stripe embeddings of the local branch (DECISIONS §6).
        labels: ``(B,)`` identities.
        modalities: ``B`` modality names.
        margin: rho (paper: 0.3).
        reduction: ``"sum"`` or ``"mean"`` over the (identity, term) hinges (``LossConfig.
            center_triplet_reduction``).
        negatives: ``"all"`` or ``"other_modality"`` (``LossConfig.center_negatives``).
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if negatives not in ("all", "other_modality"):
        raise ValueError(f"negatives must be 'all' or 'other_modality', got {negatives!r}")
    centres = modality_centres(features, labels, modalities)
    total, count = features.sum() * 0.0, 0
    for anchor_mod, pos_mod in CENTRE_TRIPLETS:
        if anchor_mod not in centres or pos_mod not in centres:
            continue
        pool = [c for m, c in centres.items() if negatives == "all" or m != anchor_mod]
        all_labels = torch.cat([c.labels for c in pool])  # (M,)
        all_centres = torch.cat([c.centres for c in pool])  # (M, D)
        ids, anchor, positive = _paired(centres[anchor_mod], centres[pos_mod])
        d_pos = (anchor - positive).pow(2).sum(1).clamp(min=1e-12).sqrt()
        d_all = euclidean_distances(anchor, all_centres)  # (I, M)
        d_neg = d_all.masked_fill(ids.unsqueeze(1) == all_labels.unsqueeze(0), float("inf")).amin(1)
        valid = torch.isfinite(d_neg)
        total = total + F.relu(margin + d_pos[valid] - d_neg[valid]).sum()
        count += int(valid.sum())
    return total / max(count, 1) if reduction == "mean" else total


def hetero_centre(features: Tensor, labels: Tensor, modalities: Sequence[str], reduction: str = "sum") -> Tensor:
    """Hetero-centre loss, eq. (12): ``sum_i ||c_i^v - c_i^t||^2`` (Zhu et al., Neurocomputing 2020).

    The same formula gives eq. (13) when applied to the pooled global feature (:func:`centre_mse`).

    Args:
        features: ``(B, D)``.
        labels: ``(B,)`` identities.
        modalities: ``B`` modality names; only visible and infrared rows count.
        reduction: ``"sum"`` over the D feature dimensions (eq. (12) as written) or ``"mean"`` (divided by D,
            the option ``LossConfig.center_reduction="mean"``).
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    centres = modality_centres(features, labels, modalities)
    if VISIBLE not in centres or INFRARED not in centres:
        return features.sum() * 0.0
    _, v, t = _paired(centres[VISIBLE], centres[INFRARED])
    total = (v - t).pow(2).sum()
    return total / features.shape[1] if reduction == "mean" else total


def centre_mse(pooled: Tensor, labels: Tensor, modalities: Sequence[str], reduction: str = "sum") -> Tensor:
    """MSE loss, eq. (13): ``sum_i ||x_i^v - x_i^t||^2`` between each identity's visible and infrared
    centres of the pooled global feature (DECISIONS §7).

    Args:
        pooled: ``(B, C)`` pooled global features (before the BN neck).
        labels: ``(B,)`` identities.
        modalities: ``B`` modality names.
        reduction: ``"sum"`` over the C dimensions (as written) or ``"mean"`` (divided by C).
    """
    return hetero_centre(pooled, labels, modalities, reduction)


def _check_batch(out: ModelOutput, labels: Tensor, modalities: Sequence[str]) -> None:
    b = out.pooled.shape[0]
    if labels.ndim != 1 or labels.shape[0] != b:
        raise ValueError(f"labels must have shape ({b},) to match the model output, got {tuple(labels.shape)}")
    if len(modalities) != b:
        raise ValueError(f"modalities must name each of the {b} rows, got {len(modalities)} names")
    unknown = set(modalities) - set(TRAINING_MODALITIES)
    if unknown:
        raise ValueError(f"unknown modality names {sorted(unknown)}; use {list(TRAINING_MODALITIES)}")


class Objective(nn.Module):
    """The training objective, eqs. (14)–(16).

    ``L_global = L_id + L_tri + L_mse`` (eq. (14)) on the global branch: identity loss on ``logits``,
    triplet (eq. (10), or CAJ's weighted or ADP variant) and MSE (eq. (13)) on ``pooled``.
    ``L_local = l1 L_id + l2 L_center + l3 L_hc`` (eq. (15)) on the local branch: the identity loss summed
    over the P stripe classifiers (as in PCB), centre triplet (eq. (11)) and hetero-centre (eq. (12)) on the
    concatenated stripe embeddings. ``L = L_global + alpha L_local`` (eq. (16)). With
    ``center_reduction="mean"`` eq. (12), and eq. (13) unless ``mse_reduction`` says otherwise, is divided
    by the feature size. Without the local branch
    (the "Base" variant) only the global terms are computed.

    Args:
        loss_cfg: margins, label smoothing, triplet variant and the weights alpha, l1, l2, l3.
        local_branch: whether the model has the local branch (``ModelConfig.local_branch``).
    """

    def __init__(self, loss_cfg: LossConfig, local_branch: bool) -> None:
        super().__init__()
        if loss_cfg.triplet not in ("batch_hard", "weighted", "adp"):
            raise ValueError(f"loss.triplet must be 'batch_hard', 'weighted' or 'adp', got {loss_cfg.triplet!r}")
        if loss_cfg.mse_reduction not in ("same", "sum", "mean"):
            raise ValueError(f"loss.mse_reduction must be 'same', 'sum' or 'mean', got {loss_cfg.mse_reduction!r}")
        self.cfg = loss_cfg
        self.local_branch = local_branch

    def forward(self, out: ModelOutput, labels: Tensor, modalities: Sequence[str]) -> LossResult:
        """Evaluate the objective on one batch.

        Args:
            out: the model's output for the ``3N`` rows ``[visible; exchanged; infrared]``.
            labels: ``(3N,)`` identity of each row.
            modalities: ``3N`` modality names, one per row.
        """
        _check_batch(out, labels, modalities)
        cfg = self.cfg
        pooled = out.pooled.float()
        if cfg.triplet == "weighted":
            tri = weighted_triplet(pooled, labels)
        elif cfg.triplet == "adp":
            tri = adp_triplet(pooled, labels, cfg.adp_alpha, cfg.adp_gamma, cfg.adp_square)
        else:
            tri = batch_hard_triplet(pooled, labels, cfg.margin)
        terms = {
            "id": identity_loss(out.logits.float(), labels, cfg.label_smoothing),
            "tri": tri,
            "mse": centre_mse(pooled, labels, modalities,
                              cfg.center_reduction if cfg.mse_reduction == "same" else cfg.mse_reduction),
        }
        total = terms["id"] + terms["tri"] + terms["mse"]
        if self.local_branch:
            if out.parts is None or out.part_logits is None:
                raise ValueError("the objective expects the local branch (parts, part_logits) but the model "
                                 "output has none; build the model with model.local_branch=true")
            b, p, _ = out.part_logits.shape
            part_logits = out.part_logits.float().reshape(b * p, -1)  # (B*P, num_classes)
            local_id = identity_loss(part_logits, labels.repeat_interleave(p), cfg.label_smoothing) * p
            parts = out.parts.float().reshape(b, -1)  # (B, P*local_dim)
            terms["local_id"] = local_id
            terms["center"] = centre_triplet(parts, labels, modalities, cfg.center_margin,
                                             cfg.center_triplet_reduction, cfg.center_negatives)
            terms["hc"] = hetero_centre(parts, labels, modalities, cfg.center_reduction)
            local = cfg.lambda_id * terms["local_id"] + cfg.lambda_center * terms["center"] \
                + cfg.lambda_hc * terms["hc"]
            total = total + cfg.alpha * local
        return LossResult(total, terms)
