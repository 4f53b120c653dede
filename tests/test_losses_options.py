"""The loss options of issue 11 against literal per-sample loops: eq. (11)'s reduction and negatives, eq. (12)
and eq. (13)'s separate reductions, and CAJ's ADP triplet."""

import math
from collections import namedtuple

import pytest
import torch

from vireid_lib.config import LossConfig
from vireid_lib.losses import Objective, adp_triplet, centre_triplet

V, X, T = "visible", "exchanged", "infrared"
Out = namedtuple("Out", "pooled bn logits parts part_logits")


def _dist(a, b):
    return math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


def _centres(feats, labels, mods):
    groups = {}
    for f, l, m in zip(feats.tolist(), labels.tolist(), mods):
        groups.setdefault((m, l), []).append(f)
    return {k: [sum(c) / len(v) for c in zip(*v)] for k, v in groups.items()}


def ref_centre_triplet(feats, labels, mods, margin, reduction, negatives):
    """Eq. (11) one identity and one term at a time."""
    c = _centres(feats, labels, mods)
    hinges = []
    for am, pm in ((V, T), (T, V), (X, T)):
        for (m, i), ca in c.items():
            if m != am or (pm, i) not in c:
                continue
            negs = [_dist(ca, cn) for (n, j), cn in c.items()
                    if j != i and (negatives == "all" or n != am)]
            if negs:
                hinges.append(max(0.0, margin + _dist(ca, c[(pm, i)]) - min(negs)))
    return sum(hinges) / len(hinges) if reduction == "mean" else sum(hinges)


def ref_adp(feats, labels, alpha, gamma, square):
    """CAJ's TripletLoss_ADP one anchor at a time, with its softmax as written there: the shift is the row's
    maximum of ``x * mask`` (masked entries count as 0, so it is 0 for the negatives' ``-alpha d``) and 1e-6
    is added to the denominator."""
    total = 0.0
    for a in range(len(feats)):
        pos = [_dist(feats[a], feats[p]) for p in range(len(feats)) if labels[p] == labels[a]]
        neg = [_dist(feats[a], feats[n]) for n in range(len(feats)) if labels[n] != labels[a]]
        shift_p = max([0.0] + [alpha * x for x in pos])
        shift_n = max([0.0] + [-alpha * x for x in neg])
        wp = [math.exp(alpha * d - shift_p) for d in pos]
        wn = [math.exp(-alpha * d - shift_n) for d in neg]
        p = sum(d * w for d, w in zip(pos, wp)) / (sum(wp) + 1e-6)
        n = sum(d * w for d, w in zip(neg, wn)) / (sum(wn) + 1e-6)
        if square:
            s = min(gamma * (p - n) ** 2, 88.0)
            total += math.log(1.0 + math.exp(s if p > n else -s))
        else:
            total += math.log(1.0 + math.exp(-gamma * (n - p)))
    return total / len(feats)


def _batch(ids=4, k=3, dim=5, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(ids).repeat_interleave(k)
    n = len(labels)
    feats = scale * torch.randn(3 * n, dim, generator=g, dtype=torch.float64)
    return feats, labels.repeat(3), [V] * n + [X] * n + [T] * n


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("negatives", ["all", "other_modality"])
def test_centre_triplet_options_match_the_literal_loop(seed, reduction, negatives):
    feats, labels, mods = _batch(seed=seed)
    for margin in (0.3, 3.0):
        got = centre_triplet(feats, labels, mods, margin, reduction, negatives).item()
        assert got == pytest.approx(ref_centre_triplet(feats, labels, mods, margin, reduction, negatives),
                                    rel=1e-9, abs=1e-12)


def test_centre_triplet_negatives_differ_when_the_nearest_negative_is_in_the_anchors_modality():
    # identity 0 visible centre sits next to identity 1's visible centre and far from every infrared one:
    # "all" takes that same-modality neighbour as the hardest negative, "other_modality" may not
    f = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.0, 3.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    mods = [V, V, X, X, T, T]
    ref_all = ref_centre_triplet(f, labels, mods, 0.3, "sum", "all")
    ref_other = ref_centre_triplet(f, labels, mods, 0.3, "sum", "other_modality")
    assert ref_all != pytest.approx(ref_other)
    assert centre_triplet(f, labels, mods, 0.3, "sum", "all").item() == pytest.approx(ref_all)
    assert centre_triplet(f, labels, mods, 0.3, "sum", "other_modality").item() == pytest.approx(ref_other)
    # hand values without exchanged rows, other-modality negatives: a visible anchor's only negative is the
    # other identity's infrared centre, an infrared anchor's the other identity's visible centre
    vt = centre_triplet(f[[0, 1, 4, 5]], labels[[0, 1, 4, 5]], [V, V, T, T], 0.3, "sum", "other_modality")
    d_pos0, d_neg0 = 5.0, math.dist((0, 0), (5, 3))
    d_pos1, d_neg1 = math.dist((0.1, 0), (5, 3)), math.dist((0.1, 0), (5, 0))
    hand = max(0, 0.3 + d_pos0 - d_neg0) + max(0, 0.3 + d_pos1 - d_neg1)  # visible anchors
    hand += max(0, 0.3 + 5.0 - math.dist((5, 0), (0.1, 0))) + max(0, 0.3 + d_pos1 - math.dist((5, 3), (0, 0)))
    assert vt.item() == pytest.approx(hand)


def test_centre_triplet_rejects_unknown_options():
    feats, labels, mods = _batch()
    with pytest.raises(ValueError, match="negatives"):
        centre_triplet(feats, labels, mods, negatives="infrared")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("square", [True, False])
@pytest.mark.parametrize("alpha,gamma", [(1.0, 1.0), (2.0, 0.5)])
def test_adp_triplet_matches_the_literal_loop(seed, square, alpha, gamma):
    feats, labels, _ = _batch(seed=seed)
    f, l = feats.tolist(), labels.tolist()
    got = adp_triplet(feats, labels, alpha, gamma, square).item()
    # rel 1e-7: the self-distance is sqrt(1e-12) in the library (a finite gradient), 0 in the loop
    assert got == pytest.approx(ref_adp(f, l, alpha, gamma, square), rel=1e-7)


def test_adp_triplet_hand_values_and_clamp():
    # two identities on a line at 0, 1 | 3, 4. As in CAJ each anchor is its own positive (distance 0), so
    # every anchor's positives are at 0 and 1: p = (0 * 1 + 1 * e) / (1 + e). Anchors 0 and 4 see negatives
    # at 3 and 4, anchors 1 and 3 at 2 and 3, weighted by exp(-d): n = (3e + 4) / (e + 1) or (2e + 3) / (e + 1)
    feats = torch.tensor([[0.0], [1.0], [3.0], [4.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1])
    e = math.e
    p = e / (1 + e)
    n_far, n_near = (3 * e + 4) / (e + 1), (2 * e + 3) / (e + 1)
    hand = (math.log(1 + math.exp(-(p - n_far) ** 2)) + math.log(1 + math.exp(-(p - n_near) ** 2))) / 2
    # rel 1e-4: CAJ's 1e-6 in the softmax denominators, against sum(exp(-d)) ~ 0.07 for the negatives
    assert adp_triplet(feats, labels).item() == pytest.approx(hand, rel=1e-4)
    hand_linear = (math.log(1 + math.exp(-(n_far - p))) + math.log(1 + math.exp(-(n_near - p)))) / 2
    assert adp_triplet(feats, labels, square=False).item() == pytest.approx(hand_linear, rel=1e-4)
    # wrong order at a 100-unit gap: the squared gap is clamped at 88, so the loss stays finite
    bad = torch.tensor([[0.0], [100.0], [0.0], [100.0]], dtype=torch.float64, requires_grad=True)
    loss = adp_triplet(bad, torch.tensor([0, 0, 1, 1]))
    assert math.isfinite(loss.item()) and loss.item() == pytest.approx(math.log(1 + math.exp(88.0)))


def _fake_output(b=24, c=8, classes=4, parts=3, local_dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return Out(pooled=r(b, c), bn=r(b, c), logits=r(b, classes), parts=r(b, parts, local_dim),
               part_logits=r(b, parts, classes))


def test_objective_reduces_eq12_and_eq13_separately():
    _, labels, mods = _batch(ids=4, k=2)
    out = _fake_output()
    summed = Objective(LossConfig(), True)(out, labels, mods).terms
    cases = {
        ("sum", "mean"): (1 / 8, 1.0),
        ("mean", "sum"): (1.0, 1 / 15),
        ("mean", "same"): (1 / 8, 1 / 15),
        ("sum", "same"): (1.0, 1.0),
    }
    for (hc_red, mse_red), (mse_f, hc_f) in cases.items():
        t = Objective(LossConfig(center_reduction=hc_red, mse_reduction=mse_red), True)(out, labels, mods).terms
        assert t["mse"].item() == pytest.approx(summed["mse"].item() * mse_f, rel=1e-6), (hc_red, mse_red)
        assert t["hc"].item() == pytest.approx(summed["hc"].item() * hc_f, rel=1e-6), (hc_red, mse_red)


def test_objective_wires_the_new_options():
    _, labels, mods = _batch(ids=4, k=2)
    out = _fake_output()
    t = Objective(LossConfig(triplet="adp", adp_square=False, center_negatives="other_modality",
                             center_triplet_reduction="mean"), True)(out, labels, mods).terms
    assert t["tri"].item() == pytest.approx(ref_adp(out.pooled.tolist(), labels.tolist(), 1.0, 1.0, False), rel=1e-5)
    flat = out.parts.reshape(len(labels), -1).double()
    assert t["center"].item() == pytest.approx(
        ref_centre_triplet(flat, labels, mods, 0.3, "mean", "other_modality"), rel=1e-5)
    with pytest.raises(ValueError, match="mse_reduction"):
        Objective(LossConfig(mse_reduction="max"), True)
    with pytest.raises(ValueError, match="adp"):
        Objective(LossConfig(triplet="soft"), True)
