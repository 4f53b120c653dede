"""The loss audit: each term of eqs. (14)–(16), its value and its share of the gradient on the shared backbone.

A real run lasts hours; a loss term that carries almost all of the gradient, or one that grows without bound,
shows in the first steps. :func:`audit_terms` takes one batch's :class:`~vireid_lib.losses.LossResult` (before
the optimiser step) and measures, for every term, the norm of the gradient of its *weighted* contribution to
eq. (16) with respect to the shared ResNet stages (layer2-4, which every modality goes through), and that
norm's share of the sum over terms. :class:`AuditMonitor` keeps the first audit of a run and turns later ones
into warnings. ``vireid check`` (:func:`vireid_lib.check.run_check`) trains a few steps of any preset and prints the audits;
``train.audit_every`` logs them during any run (``"event": "audit"`` lines of ``log.jsonl``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from vireid_lib.checkpoints import load_checkpoint
from vireid_lib.config import Config, LossConfig
from vireid_lib.losses import LossResult

DOMINANCE = 0.8
"""A term whose share of the summed per-term gradient norms exceeds this is reported as dominating."""

GROWTH = 10.0
"""A term whose value exceeds this multiple of its first audited value is reported as growing without bound."""


class TermAudit(NamedTuple):
    """One loss term at one step.

    Attributes:
        value: the unweighted term, as logged.
        weight: its weight in eq. (16) (1 for the global terms; ``alpha * lambda`` for the local ones).
        grad_norm: L2 norm of the gradient of ``weight * value`` on the shared backbone.
        share: ``grad_norm`` over the sum of every term's ``grad_norm`` (0..1).
    """

    value: float
    weight: float
    grad_norm: float
    share: float


def term_weights(cfg: LossConfig) -> dict[str, float]:
    """The weight of each named term in eq. (16): ``L = id + tri + mse + alpha (l1 local_id + l2 center +
    l3 hc)``."""
    return {"id": 1.0, "tri": 1.0, "mse": 1.0, "local_id": cfg.alpha * cfg.lambda_id,
            "center": cfg.alpha * cfg.lambda_center, "hc": cfg.alpha * cfg.lambda_hc}


def shared_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    """The parameters of the shared ResNet stages (layer2-4), which every modality's images train."""
    backbone = getattr(model, "module", model).backbone
    for layer in (backbone.layer2, backbone.layer3, backbone.layer4):
        yield from (p for p in layer.parameters() if p.requires_grad)


def audit_terms(model: nn.Module, result: LossResult, cfg: LossConfig) -> dict[str, TermAudit]:
    """Value, weight, backbone gradient norm and gradient share of every term of ``result``.

    Call it after the forward pass and before ``backward``: the graph is kept (``retain_graph``) and no
    ``.grad`` is touched, so the training step that follows is unchanged.
    """
    params = list(shared_parameters(model))
    weights = term_weights(cfg)
    norms: dict[str, float] = {}
    for name, term in result.terms.items():
        if not term.requires_grad:
            norms[name] = 0.0
            continue
        grads = torch.autograd.grad(weights[name] * term, params, retain_graph=True, allow_unused=True)
        norms[name] = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads if g is not None))
    total = sum(norms.values())
    return {name: TermAudit(float(term.detach()), weights[name], norms[name], norms[name] / total if total else 0.0)
            for name, term in result.terms.items()}


class AuditMonitor:
    """Keeps a run's audits and warns when one term dominates the backbone gradient or keeps growing.

    Args:
        dominance: share above which a term is reported as dominating (:data:`DOMINANCE`).
        growth: multiple of its first audited value above which a term is reported as growing
            (:data:`GROWTH`).
    """

    def __init__(self, dominance: float = DOMINANCE, growth: float = GROWTH) -> None:
        self.dominance, self.growth = dominance, growth
        self.first: dict[str, float] = {}
        self.records: list[dict[str, Any]] = []

    def record(self, step: int, audit: dict[str, TermAudit]) -> list[str]:
        """Store the audit of ``step`` (the number of optimiser steps done before it) and return its
        warnings."""
        warnings = []
        for name, a in audit.items():
            self.first.setdefault(name, a.value)
            if a.share > self.dominance:
                warnings.append(f"step {step}: {name} carries {100 * a.share:.0f}% of the gradient norm on the "
                                f"shared backbone (weighted value {a.weight * a.value:.3g}); the other terms barely "
                                "train it: check its reduction and weight (docs/REPRODUCE.md, loss scales)")
            first = self.first[name]
            if not math.isfinite(a.value) or (abs(first) > 1e-8 and abs(a.value) > self.growth * abs(first)):
                warnings.append(f"step {step}: {name} = {a.value:.4g} is over {self.growth:g}x its first audited "
                                f"value {first:.4g}: it is growing without bound; lower train.lr or use the "
                                f"'mean' reductions")
        self.records.append({"event": "audit", "step": step, "warnings": warnings,
                             "terms": {k: a._asdict() for k, a in audit.items()}})
        return warnings


def format_audit(step: int, audit: dict[str, TermAudit]) -> str:
    """A plain-text table of one audit: term, value, weight, weighted value, gradient norm, share."""
    lines = [f"loss audit at step {step} (gradient on the shared backbone, layer2-4)",
             f"  {'term':<9}{'value':>11}{'weight':>8}{'weighted':>11}{'grad norm':>12}{'share':>8}"]
    for name, a in audit.items():
        lines.append(f"  {name:<9}{a.value:>11.4g}{a.weight:>8.3g}{a.weight * a.value:>11.4g}"
                     f"{a.grad_norm:>12.4g}{100 * a.share:>7.1f}%")
    return "\n".join(lines)


def load_backbone(model: nn.Module, checkpoint: str | Path) -> None:
    """Copy the ResNet (stems and layer2-4) of a ``vireid train`` checkpoint into ``model``; the attention
    blocks and heads keep their fresh initialisation, as with ImageNet weights.

    Raises:
        ValueError: the checkpoint's backbone does not fit ``model`` (another arch or width).
    """
    state = load_checkpoint(checkpoint)["model"]
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    try:
        model.backbone.load_state_dict(backbone, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(f"{checkpoint}: its backbone does not fit this model.arch / model.width ({first}); "
                         "use a checkpoint trained with the same architecture") from None


def fit_auditor(cfg: Config, model: nn.Module, log: Any, echo: Any) -> Any:
    """The ``audit`` callback of :func:`~vireid_lib.training.fit` for ``train.audit_every > 0``: audits at
    step 0 and every ``audit_every`` steps, writes each audit as a JSON line with ``log`` and each warning with
    ``echo``."""
    monitor = AuditMonitor()
    every = cfg.train.audit_every

    def audit(step: int, result: LossResult) -> None:
        if step % every == 0:
            for w in monitor.record(step, audit_terms(model, result, cfg.loss)):
                echo(f"loss audit warning: {w}")
            log(monitor.records[-1])

    return audit


def parse_audit(text: str) -> list[dict[str, Any]]:
    """The audits printed by :func:`format_audit` in ``text`` (e.g. a saved ``vireid check`` output):
    ``[{"step": int, "terms": {name: {"value", "weight", "grad_norm", "share"}}}]``, shares as fractions."""
    audits: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("loss audit at step "):
            audits.append({"step": int(line.split()[4]), "terms": {}})
        elif audits and line.startswith("  ") and line.rstrip().endswith("%"):
            name, value, weight, _, norm, share = line.split()
            audits[-1]["terms"][name] = {"value": float(value), "weight": float(weight), "grad_norm": float(norm),
                                         "share": float(share.rstrip("%")) / 100}
    return audits
