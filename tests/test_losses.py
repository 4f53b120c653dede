"""The losses of eqs. (9)–(16) against hand-worked values, literal loop references and invariants."""

import math

import pytest
import torch

from vireid_lib.config import LossConfig
from vireid_lib.losses import (
    Objective,
    batch_hard_triplet,
    centre_mse,
    centre_triplet,
    euclidean_distances,
    hetero_centre,
    identity_loss,
    modality_centres,
    weighted_triplet,
)
from vireid_lib.models.build import ModelOutput
from vireid_lib.presets import LOSS_WEIGHTS

V, X, T = "visible", "exchanged", "infrared"


# ---------------------------------------------------------------- literal references (loops, no vectors)

def _dist(a, b):
    return math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


def ref_batch_hard(feats, labels, margin):
    losses = []
    for a in range(len(feats)):
        pos = [_dist(feats[a], feats[p]) for p in range(len(feats)) if labels[p] == labels[a]]
        neg = [_dist(feats[a], feats[n]) for n in range(len(feats)) if labels[n] != labels[a]]
        if neg:
            losses.append(max(0.0, margin + max(pos) - min(neg)))
    return sum(losses) / len(losses)


def ref_weighted(feats, labels):
    total = 0.0
    for a in range(len(feats)):
        pos = [_dist(feats[a], feats[p]) for p in range(len(feats)) if labels[p] == labels[a]]
        neg = [_dist(feats[a], feats[n]) for n in range(len(feats)) if labels[n] != labels[a]]
        wp = [math.exp(d - max(pos)) for d in pos]
        wn = [math.exp(-d - max(-x for x in neg)) for d in neg]
        dp = sum(d * w for d, w in zip(pos, wp)) / sum(wp)
        dn = sum(d * w for d, w in zip(neg, wn)) / sum(wn)
        total += math.log(1.0 + math.exp(dp - dn))
    return total / len(feats)


def ref_centres(feats, labels, mods):
    groups = {}
    for f, l, m in zip(feats.tolist(), labels.tolist(), mods):
        groups.setdefault((m, l), []).append(f)
    return {k: [sum(c) / len(v) for c in zip(*v)] for k, v in groups.items()}


def ref_centre_triplet(feats, labels, mods, margin):
    c = ref_centres(feats, labels, mods)
    total = 0.0
    for am, pm in ((V, T), (T, V), (X, T)):
        for (m, i), ca in c.items():
            if m != am or (pm, i) not in c:
                continue
            negs = [_dist(ca, cn) for (n, j), cn in c.items() if j != i]
            if negs:
                total += max(0.0, margin + _dist(ca, c[(pm, i)]) - min(negs))
    return total


def ref_hetero(feats, labels, mods):
    c = ref_centres(feats, labels, mods)
    return sum(_dist(cv, c[(T, i)]) ** 2 for (m, i), cv in c.items() if m == V and (T, i) in c)


def _batch(ids=4, k=3, dim=5, seed=0):
    """A [visible; exchanged; infrared] batch of ``ids`` identities with ``k`` rows per modality."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(ids).repeat_interleave(k)
    n = len(labels)
    feats = torch.randn(3 * n, dim, generator=g, dtype=torch.float64)
    return feats, labels.repeat(3), [V] * n + [X] * n + [T] * n


# ---------------------------------------------------------------- hand-worked values

def test_identity_loss_hand_values():
    logits = torch.zeros(2, 4)
    assert identity_loss(logits, torch.tensor([0, 3])).item() == pytest.approx(math.log(4))
    logits = torch.tensor([[2.0, 0.0]])
    assert identity_loss(logits, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-2)))
    # label smoothing eps: target (1 - eps) on the class + eps / D everywhere
    eps = 0.2
    expected = -(0.9 * (2 - math.log(math.exp(2) + 1)) + 0.1 * (0 - math.log(math.exp(2) + 1)))
    assert identity_loss(logits, torch.tensor([0]), eps).item() == pytest.approx(expected)


def test_batch_hard_triplet_hand_values():
    # 1-D points 0, 1 (identity 0) and 3, 5 (identity 1); only anchor 3 violates: 0.3 + 2 - 2 = 0.3.
    feats = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    labels = torch.tensor([0, 0, 1, 1])
    assert batch_hard_triplet(feats, labels, 0.3).item() == pytest.approx(0.3 / 4, abs=1e-6)
    assert batch_hard_triplet(feats, labels, 1.0).item() == pytest.approx((0.0 + 0.0 + 1.0 + 0.0) / 4, abs=1e-6)


def test_centre_triplet_and_hetero_centre_hand_values():
    # identity 0: visible at 0, infrared at 1, exchanged at 0.5; identity 1: visible 4, infrared 6, exchanged 4.
    feats = torch.tensor([[0.0], [4.0], [0.5], [4.0], [1.0], [6.0]])
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    mods = [V, V, X, X, T, T]
    # v0: 0.3 + 1 - 4 < 0; v1: 0.3 + 2 - min(4, 3.5, 3) = -0.7 -> 0; t0: 0.3 + 1 - 3 -> 0;
    # t1: 0.3 + 2 - min(6, 5.5, 5) -> 0; m0: 0.3 + 0.5 - 3.5 -> 0; m1: 0.3 + 2 - min(4, 3.5, 3) -> 0.
    assert centre_triplet(feats, labels, mods, 0.3).item() == pytest.approx(0.0, abs=1e-6)
    # margin 2.5: v0: 2.5+1-4 = -0.5 -> 0; v1: 2.5+2-3 = 1.5; t0: 2.5+1-3 = 0.5; t1: 2.5+2-5 = -0.5 -> 0;
    # m0: 2.5+0.5-3.5 = -0.5 -> 0; m1: 2.5+2-3 = 1.5.  Total 3.5.
    assert centre_triplet(feats, labels, mods, 2.5).item() == pytest.approx(3.5, abs=1e-5)
    # The mean form divides by the six (identity, term) hinges: 3.5 / 6.
    assert centre_triplet(feats, labels, mods, 2.5, "mean").item() == pytest.approx(3.5 / 6, abs=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        centre_triplet(feats, labels, mods, 2.5, "max")
    # eq. (12): (0 - 1)^2 + (4 - 6)^2 = 5
    assert hetero_centre(feats, labels, mods).item() == pytest.approx(5.0)
    assert centre_mse(feats, labels, mods).item() == pytest.approx(5.0)


def test_centres_are_per_identity_means():
    feats = torch.tensor([[0.0, 2.0], [2.0, 4.0], [10.0, 0.0]])
    c = modality_centres(feats, torch.tensor([3, 3, 1]), [V, V, V])
    assert c[V].labels.tolist() == [1, 3]
    assert c[V].centres.tolist() == [[10.0, 0.0], [1.0, 3.0]]


# ---------------------------------------------------------------- literal slow references

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_losses_match_literal_references(seed):
    feats, labels, mods = _batch(seed=seed)
    f, l = feats.tolist(), labels.tolist()
    assert batch_hard_triplet(feats, labels, 0.3).item() == pytest.approx(ref_batch_hard(f, l, 0.3), rel=1e-9)
    assert weighted_triplet(feats, labels).item() == pytest.approx(ref_weighted(f, l), rel=1e-6)
    for margin in (0.3, 5.0):
        assert centre_triplet(feats, labels, mods, margin).item() == pytest.approx(
            ref_centre_triplet(feats, labels, mods, margin), rel=1e-9, abs=1e-12)
    assert hetero_centre(feats, labels, mods).item() == pytest.approx(ref_hetero(feats, labels, mods), rel=1e-9)


# ---------------------------------------------------------------- invariants

def test_invariant_to_order_of_identities_and_rows():
    feats, labels, mods = _batch(seed=3)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(7))
    relabel = torch.tensor([2, 0, 3, 1])  # a different but consistent naming of the identities
    f2, l2, m2 = feats[perm], relabel[labels[perm]], [mods[i] for i in perm.tolist()]
    for fn in (lambda f, l, m: batch_hard_triplet(f, l, 0.3), lambda f, l, m: weighted_triplet(f, l),
               lambda f, l, m: centre_triplet(f, l, m, 1.0), hetero_centre):
        assert fn(f2, l2, m2).item() == pytest.approx(fn(feats, labels, mods).item(), rel=1e-12)


def test_zero_when_classes_are_separated_beyond_the_margin():
    # identities far apart (100 units), modalities within 0.1 of each other: every hinge is inactive.
    feats, labels, mods = _batch(dim=3, seed=4)
    compact = 100.0 * torch.nn.functional.one_hot(labels, 4).to(feats.dtype)[:, :3] \
        + 0.01 * feats + torch.tensor([0.0, 0.0, 200.0], dtype=feats.dtype) * (labels == 3).unsqueeze(1)
    assert batch_hard_triplet(compact, labels, 0.3).item() == 0.0
    assert centre_triplet(compact, labels, mods, 0.3).item() == 0.0
    # and positive as soon as the margin exceeds the gap
    assert batch_hard_triplet(compact, labels, 500.0).item() > 0.0


def test_missing_modality_drops_the_identity_from_centre_terms():
    feats, labels, mods = _batch(ids=3, k=2, seed=5)
    # remove the infrared rows of identity 2: it has no c^t, so it leaves every term that needs it
    keep = [i for i in range(len(labels)) if not (mods[i] == T and labels[i] == 2)]
    f, l, m = feats[keep], labels[keep], [mods[i] for i in keep]
    assert hetero_centre(f, l, m).item() == pytest.approx(ref_hetero(f, l, m), rel=1e-9)
    two_ids = [i for i in range(len(labels)) if labels[i] != 2]
    assert hetero_centre(f, l, m).item() == pytest.approx(
        hetero_centre(feats[two_ids], labels[two_ids], [mods[i] for i in two_ids]).item(), rel=1e-9)
    for margin in (0.3, 5.0):
        assert centre_triplet(f, l, m, margin).item() == pytest.approx(ref_centre_triplet(f, l, m, margin),
                                                                      rel=1e-9, abs=1e-12)
    # a batch without infrared at all has no hetero-centre term
    only_v = [i for i in range(len(labels)) if mods[i] == V]
    assert hetero_centre(feats[only_v], labels[only_v], [V] * len(only_v)).item() == 0.0


def test_gradients_finite_when_features_coincide():
    feats = torch.zeros(4, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    loss = batch_hard_triplet(feats, labels) + centre_triplet(feats, labels, [V, T, V, T]) \
        + weighted_triplet(feats, labels)
    loss.backward()
    assert torch.isfinite(feats.grad).all()


# ---------------------------------------------------------------- the objective, eqs. (14)–(16)

def _fake_output(b=24, c=8, classes=4, parts=3, local_dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return ModelOutput(pooled=r(b, c), bn=r(b, c), logits=r(b, classes), parts=r(b, parts, local_dim),
                       part_logits=r(b, parts, classes))


def test_objective_combines_terms_as_eqs_14_to_16():
    _, labels, mods = _batch(ids=4, k=2)
    out = _fake_output()
    cfg = LossConfig(**LOSS_WEIGHTS["regdb"])
    res = Objective(cfg, local_branch=True)(out, labels, mods)
    t = {k: v.item() for k, v in res.terms.items()}
    assert set(t) == {"id", "tri", "mse", "local_id", "center", "hc"}
    expected = t["id"] + t["tri"] + t["mse"] + 1.0 * (1.0 * t["local_id"] + 0.6 * t["center"] + 0.6 * t["hc"])
    assert res.total.item() == pytest.approx(expected, rel=1e-6)
    # local identity loss: summed over the P stripe classifiers
    per_part = [identity_loss(out.part_logits[:, p], labels).item() for p in range(3)]
    assert t["local_id"] == pytest.approx(sum(per_part), rel=1e-6)
    # terms use the right features: triplet and MSE the pooled feature, centre terms the stripe embeddings
    assert t["tri"] == pytest.approx(batch_hard_triplet(out.pooled, labels, 0.3).item(), rel=1e-6)
    assert t["mse"] == pytest.approx(ref_hetero(out.pooled.double(), labels, mods), rel=1e-5)
    flat = out.parts.reshape(len(labels), -1)
    assert t["center"] == pytest.approx(ref_centre_triplet(flat.double(), labels, mods, 0.3), rel=1e-5, abs=1e-6)


def test_objective_base_variant_has_only_global_terms():
    _, labels, mods = _batch(ids=4, k=2)
    out = _fake_output()._replace(parts=None, part_logits=None)
    res = Objective(LossConfig(triplet="weighted"), local_branch=False)(out, labels, mods)
    assert set(res.terms) == {"id", "tri", "mse"}
    assert res.terms["tri"].item() == pytest.approx(weighted_triplet(out.pooled, labels).item(), rel=1e-6)
    assert res.total.item() == pytest.approx(sum(v.item() for v in res.terms.values()), rel=1e-6)


def test_objective_rejects_bad_input():
    _, labels, mods = _batch(ids=4, k=2)
    out = _fake_output()
    obj = Objective(LossConfig(), local_branch=True)
    with pytest.raises(ValueError, match="modalities"):
        obj(out, labels, mods[:-1])
    with pytest.raises(ValueError, match="unknown modality"):
        obj(out, labels, ["thermal"] * len(mods))
    with pytest.raises(ValueError, match="labels"):
        obj(out, labels[:-1], mods)
    with pytest.raises(ValueError, match="local branch"):
        obj(out._replace(parts=None, part_logits=None), labels, mods)


def test_mean_reduction_divides_centre_terms_by_the_feature_size():
    feats, labels, mods = _batch(dim=6, seed=8)
    assert hetero_centre(feats, labels, mods, "mean").item() == pytest.approx(ref_hetero(feats, labels, mods) / 6)
    assert centre_mse(feats, labels, mods, "mean").item() == pytest.approx(ref_hetero(feats, labels, mods) / 6)
    _, lab, mod = _batch(ids=4, k=2)
    out = _fake_output()
    summed = Objective(LossConfig(), True)(out, lab, mod).terms
    meaned = Objective(LossConfig(center_reduction="mean"), True)(out, lab, mod).terms
    assert meaned["mse"].item() == pytest.approx(summed["mse"].item() / out.pooled.shape[1], rel=1e-6)
    assert meaned["hc"].item() == pytest.approx(summed["hc"].item() / (3 * 5), rel=1e-6)
    assert meaned["center"].item() == pytest.approx(summed["center"].item())
    with pytest.raises(ValueError, match="reduction"):
        hetero_centre(feats, labels, mods, "max")


def test_euclidean_distances_match_the_loop_and_stay_differentiable_at_zero():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(4, 5, generator=g), torch.randn(3, 5, generator=g)
    d = euclidean_distances(x, y)
    assert d.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            assert d[i, j].item() == pytest.approx(_dist(x[i], y[j]), rel=1e-5)
    same = x.clone().requires_grad_(True)
    euclidean_distances(same, same.detach()).sum().backward()
    assert torch.isfinite(same.grad).all()  # the clamp keeps the gradient finite where d = 0
