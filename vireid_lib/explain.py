"""Where the network looks: Grad-CAM of retrieval similarity, the attention maps of MCA and PCA, overlays,
and a deletion test of the explanations' faithfulness.

Grad-CAM (Selvaraju et al., ICCV 2017) needs one tensor in and one score out. Re-identification has no
class score at test time, so the score is the cosine similarity between the query's embedding and a chosen
gallery embedding (pytorch-grad-cam's ``SimilarityToConceptTarget`` pattern): the map answers "which pixels
of this image make it match that one". Its opposite answers "which pixels argue against the match".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import matplotlib
import matplotlib.figure
import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from torch import nn

from vireid_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from vireid_lib.models.backbone import STEM_OF

CAM_METHODS: dict[str, type] = {
    "gradcam": GradCAM,
    "hirescam": HiResCAM,
    "eigencam": EigenCAM,
    "gradcam++": GradCAMPlusPlus,
    "xgradcam": XGradCAM,
    "layercam": LayerCAM,
}
"""CAM methods by name. EigenCAM uses no gradient: its map is the first principal component of the layer's
activations and does not depend on the target."""



class EmbeddingModel(nn.Module):
    """The re-identification network as one tensor in, one embedding out, for one modality.

    Args:
        model: a ``VIReIDNet`` (``model(x, modality) -> ModelOutput``).
        modality: ``"visible"`` or ``"infrared"``: the stem every image goes through.
        feature: ``"bn"`` (the test feature after the BN neck) or ``"pool"`` (the GeM feature before it).
    """

    def __init__(self, model: nn.Module, modality: str, feature: str = "bn") -> None:
        super().__init__()
        if feature not in ("bn", "pool"):
            raise ValueError(f"feature must be 'bn' or 'pool', got {feature!r}")
        self.model, self.modality, self.feature = model, modality, feature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x, self.modality)
        return out.bn if self.feature == "bn" else out.pooled


class SimilarityTarget:
    """Grad-CAM target: cosine similarity of an embedding to a reference embedding, or its opposite.

    Args:
        reference: ``(D,)`` embedding of the image to match (for example a gallery image).
        opposite: score the negative similarity, so the map shows what argues against the match.
    """

    def __init__(self, reference: torch.Tensor, opposite: bool = False) -> None:
        self.reference = reference.detach().flatten()
        self.sign = -1.0 if opposite else 1.0

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.sign * F.cosine_similarity(embedding, self.reference.to(embedding), dim=0)


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, modality: str, feature: str = "bn") -> torch.Tensor:
    """L2-normalised ``(B, D)`` embeddings of ``images`` through ``modality``'s stream (no flip averaging)."""
    model.eval()
    return F.normalize(EmbeddingModel(model, modality, feature)(images), dim=1)


def target_layer(model: nn.Module, name: str) -> nn.Module:
    """The layer called ``name`` in ``model.target_layers()``.

    Raises:
        ValueError: for a name the model does not have, listing those it has.
    """
    layers = model.target_layers()
    if name not in layers:
        raise ValueError(f"layer {name!r} is not a target layer of this model; choose one of {sorted(layers)}")
    return layers[name]


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a (B, 3, H, W) tensor from the test transform, got {shape}")
    return images


def similarity_cam(model: nn.Module, images: torch.Tensor, modality: str, references: torch.Tensor, *,
                   layer: str = "layer4", method: str = "gradcam", opposite: bool = False,
                   feature: str = "bn") -> np.ndarray:
    """Class activation maps of the similarity of each image to its reference embedding.

    Args:
        model: a ``VIReIDNet``; it is put in evaluation mode.
        images: ``(B, 3, H, W)`` normalised images, all of ``modality``.
        modality: ``"visible"`` or ``"infrared"``.
        references: ``(B, D)`` (one per image) or ``(D,)`` (shared) embeddings to match, in the space of
            ``feature``.
        layer: a name from ``model.target_layers()`` (``stem.visible``, ``layer2``, ``mca.layer3``, ``pca``..).
        method: a key of :data:`CAM_METHODS`.
        opposite: explain the dissimilarity instead.
        feature: ``"bn"`` or ``"pool"`` (see :class:`EmbeddingModel`).

    Returns:
        ``(B, H, W)`` float32 maps, each scaled to [0, 1] (pytorch-grad-cam's min-max scaling), at the input
        resolution.

    Raises:
        ValueError: for an unknown method or layer, mismatched shapes, or a layer that the images never pass
            through (the infrared stem for visible images, say).
    """
    images = _check_images(images)
    if method not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {sorted(CAM_METHODS)}")
    if references.dim() == 1:
        references = references.expand(images.shape[0], -1)
    if references.shape[0] != images.shape[0]:
        raise ValueError(f"got {references.shape[0]} reference embeddings for {images.shape[0]} images")
    module = target_layer(model, layer)
    fired = []
    probe = module.register_forward_hook(lambda *_: fired.append(True))
    cam = CAM_METHODS[method](model=EmbeddingModel(model, modality, feature), target_layers=[module])
    try:
        targets = [SimilarityTarget(r, opposite) for r in references]
        with torch.enable_grad():
            maps = cam(input_tensor=images, targets=targets)
    except Exception:
        # pytorch-grad-cam fails deep inside numpy when the hooked layer never ran; say why instead.
        if not fired:
            raise ValueError(f"layer {layer!r} is not on the path of {modality} images; pick a layer they "
                             f"pass through (the stem of their own modality or a shared layer)") from None
        raise
    finally:
        probe.remove()
        cam.activations_and_grads.release()
    return maps.astype(np.float32)


class MatchExplanation(NamedTuple):
    """Grad-CAM maps of a query against its top-k gallery matches.

    Attributes:
        query: ``(k, H, W)`` map of the query for its similarity to gallery match j (row j).
        gallery: ``(k, H, W)`` map of gallery match j for its similarity to the query.
    """

    query: np.ndarray
    gallery: np.ndarray


def explain_matches(model: nn.Module, query: torch.Tensor, query_modality: str, gallery: torch.Tensor,
                    gallery_modality: str, *, layer: str = "layer4", method: str = "gradcam",
                    feature: str = "bn") -> MatchExplanation:
    """Both directions of Grad-CAM for one query and its gallery matches.

    Args:
        model: a ``VIReIDNet``.
        query: ``(3, H, W)`` or ``(1, 3, H, W)`` normalised query image.
        query_modality: its modality.
        gallery: ``(k, 3, H, W)`` normalised gallery images (usually the top-k of the ranking).
        gallery_modality: their modality.
        layer: target layer; for the stems, each side uses its own modality's stem (``stem.visible`` given
            for an infrared side becomes ``stem.infrared``), so one layer name explains both sides.
        method: a key of :data:`CAM_METHODS`.
        feature: ``"bn"`` or ``"pool"``.
    """
    query = _check_images(query if query.dim() == 4 else query.unsqueeze(0))
    gallery = _check_images(gallery)
    q_emb = embed(model, query, query_modality, feature)  # (1, D)
    g_emb = embed(model, gallery, gallery_modality, feature)  # (k, D)
    k = gallery.shape[0]
    q_maps = similarity_cam(model, query.expand(k, -1, -1, -1), query_modality, g_emb,
                            layer=_own_stem(layer, query_modality), method=method, feature=feature)
    g_maps = similarity_cam(model, gallery, gallery_modality, q_emb[0],
                            layer=_own_stem(layer, gallery_modality), method=method, feature=feature)
    return MatchExplanation(query=q_maps, gallery=g_maps)


def _own_stem(layer: str, modality: str) -> str:
    return f"stem.{STEM_OF[modality]}" if layer.startswith("stem.") else layer


@torch.no_grad()
def _module_input(model: nn.Module, module: nn.Module, images: torch.Tensor, modality: str) -> torch.Tensor:
    """The tensor ``module`` receives when ``model`` runs on ``images``."""
    seen: list[torch.Tensor] = []
    hook = module.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    try:
        model.eval()
        model(images, modality)
    finally:
        hook.remove()
    if not seen:
        raise ValueError(f"the requested module never ran on {modality} images")
    return seen[0]


@torch.no_grad()
def mca_pixel_attention(model: nn.Module, images: torch.Tensor, modality: str, pixel: tuple[int, int], *,
                        stage: str = "mca.layer3") -> torch.Tensor:
    """MCA's criss-cross attention of one pixel, projected back onto the image (eq. (4)'s Aff).

    The chosen input pixel falls in one cell of the map MCA sees; that cell attends to its own row and
    column. The weights are laid on the map's grid (zero off the criss-cross) and enlarged to the input
    size by nearest-neighbour upsampling, so each map cell covers the image patch it sees.

    Args:
        model: a ``VIReIDNet`` with MCA.
        images: ``(B, 3, H, W)`` normalised images.
        modality: their modality.
        pixel: ``(y, x)`` in input-image pixels.
        stage: the MCA layer's name in ``model.target_layers()`` (``mca.layer2`` or ``mca.layer3``).

    Returns:
        ``(B, H, W)`` weights; each map cell's weight is repeated over the image patch it covers, so the
        weights sum to 1 over the cells (not over the pixels).
    """
    images = _check_images(images)
    module = target_layer(model, stage)
    if not hasattr(module, "pixel_weights"):
        raise ValueError(f"layer {stage!r} is not an MCA module; MCA layers are named 'mca.layer2', "
                         f"'mca.layer3'")
    height, width = images.shape[2:]
    y, x = pixel
    if not (0 <= y < height and 0 <= x < width):
        raise ValueError(f"pixel (y={y}, x={x}) lies outside the {height}x{width} image")
    fmap = _module_input(model, module, images, modality)
    h, w = fmap.shape[2:]
    row, col = y * h // height, x * w // width
    grid = module.pixel_weights(fmap, row, col).as_map(row, col)  # (B, h, w)
    return F.interpolate(grid.unsqueeze(1), size=(height, width), mode="nearest").squeeze(1)


@torch.no_grad()
def pca_stripe_weights(model: nn.Module, images: torch.Tensor, modality: str) -> torch.Tensor:
    """PCA's per-stripe channel term tanh(x') of eq. (8), ``(B, P, C)``: what each stripe adds to each channel."""
    module = target_layer(model, "pca")
    return module.stripe_weights(_module_input(model, module, _check_images(images), modality))


def to_display(image: torch.Tensor | np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """An image as ``(H, W, 3)`` float32 in [0, 1] for drawing.

    Accepts a normalised ``(3, H, W)`` tensor (undone with ``mean`` and ``std``), or a uint8 / float array of
    shape ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (single-channel infrared images become three equal
    channels).
    """
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) tensor, got {tuple(image.shape)}")
        m = torch.tensor(mean).view(3, 1, 1)  # (3, 1, 1)
        s = torch.tensor(std).view(3, 1, 1)  # (3, 1, 1)
        arr = (image.detach().cpu().float() * s + m).permute(1, 2, 0).numpy()  # (H, W, 3)
    else:
        arr = np.asarray(image)
        arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3):
            raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got {arr.shape}")
        arr = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def overlay(image: torch.Tensor | np.ndarray, cam: np.ndarray | torch.Tensor, *, alpha: float = 0.6,
            cmap: str = "jet", gray: bool | None = None) -> np.ndarray:
    """Draw a [0, 1] map over an image, ``(H, W, 3)`` uint8.

    The heat colour is blended in proportion to the map (``alpha * cam``), so unattributed pixels keep the
    image as it is, and the image is drawn in grey when ``gray`` (default: when it has no colour, as
    infrared images do), so the heat colours never mix with the image's own colours and a dark, low-contrast
    infrared image still shows its outline under the map.

    Args:
        image: see :func:`to_display`.
        cam: ``(H', W')`` map in [0, 1]; resized bilinearly to the image when its size differs.
        alpha: the largest weight of the heat colour.
        cmap: a matplotlib colormap name.
        gray: draw the image in grey; ``None`` decides from the image.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    base = to_display(image)
    cam = torch.as_tensor(np.asarray(cam, dtype=np.float32))
    if cam.dim() != 2:
        raise ValueError(f"cam must be one (H, W) map, got shape {tuple(cam.shape)}")
    if tuple(cam.shape) != base.shape[:2]:
        cam = F.interpolate(cam[None, None], size=base.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    cam = cam.clamp(0, 1).numpy()
    colourless = np.allclose(base[..., 0], base[..., 1], atol=1e-2) and np.allclose(base[..., 1], base[..., 2],
                                                                                   atol=1e-2)
    if gray if gray is not None else colourless:
        luma = base @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W)
        base = np.repeat(luma[..., None], 3, axis=2)
    # Stretch a dim image (infrared) to the full range so its outline survives the blend.
    lo, hi = float(base.min()), float(base.max())
    base = (base - lo) / (hi - lo) if hi - lo > 1e-6 else base
    heat = matplotlib.colormaps[cmap](cam)[..., :3].astype(np.float32)
    weight = alpha * cam[..., None]
    return np.round(255 * ((1 - weight) * base + weight * heat)).astype(np.uint8)


class Faithfulness(NamedTuple):
    """Similarity drops when part of each image is hidden.

    Attributes:
        cam_drop: ``(N,)`` drop when the most-attributed box is hidden.
        random_drop: ``(N,)`` mean drop over random boxes of the same size.
        empty: ``(N,)`` True where the map was zero everywhere (no pixel raised the similarity); such an
            image has no most-attributed region, so its "attributed" box is its first random box.
        box: ``(height, width)`` of the hidden box in pixels.
    """

    cam_drop: np.ndarray
    random_drop: np.ndarray
    empty: np.ndarray
    box: tuple[int, int]

    @property
    def margin(self) -> float:
        """Mean of ``cam_drop - random_drop``: positive when the maps point at what the match relies on."""
        return float(np.mean(self.cam_drop - self.random_drop))


def box_size(height: int, width: int, area: float) -> tuple[int, int]:
    """A box with the image's aspect ratio covering about ``area`` of it."""
    if not 0.0 < area < 1.0:
        raise ValueError(f"area must lie strictly between 0 and 1, got {area}")
    scale = area ** 0.5
    return max(1, round(height * scale)), max(1, round(width * scale))


def most_attributed_box(cams: np.ndarray | torch.Tensor, box: tuple[int, int]) -> torch.Tensor:
    """Top-left corners ``(B, 2)`` of the boxes holding the most CAM mass (first such corner on ties)."""
    cams = torch.as_tensor(np.asarray(cams, dtype=np.float32))
    mass = F.avg_pool2d(cams.unsqueeze(1), box, stride=1).squeeze(1)  # (B, H - bh + 1, W - bw + 1)
    flat = mass.flatten(1).argmax(dim=1)  # (B,)
    return torch.stack([flat // mass.shape[2], flat % mass.shape[2]], dim=1)


def hide_boxes(images: torch.Tensor, corners: torch.Tensor, box: tuple[int, int]) -> torch.Tensor:
    """A copy of ``images`` with each image's box set to 0, the dataset's mean colour after normalisation."""
    out = images.clone()
    bh, bw = box
    for i, (top, left) in enumerate(corners.tolist()):
        out[i, :, top:top + bh, left:left + bw] = 0.0
    return out


@torch.no_grad()
def _similarity(model: nn.Module, images: torch.Tensor, modality: str, references: torch.Tensor,
                feature: str) -> torch.Tensor:
    return (embed(model, images, modality, feature) * F.normalize(references, dim=1)).sum(dim=1)


def faithfulness_check(model: nn.Module, images: torch.Tensor, modality: str, references: torch.Tensor, *,
                       layer: str = "layer4", method: str = "gradcam", area: float = 0.1, n_random: int = 8,
                       seed: int = 0, feature: str = "bn") -> Faithfulness:
    """Deletion test: does hiding the most-attributed region lower the similarity more than hiding a random
    region of the same area?

    For each image the cosine similarity to its reference embedding is measured on the intact image, with the
    box of highest Grad-CAM mass hidden, and with ``n_random`` uniformly placed boxes of the same size hidden.

    Args:
        model: a ``VIReIDNet``.
        images: ``(N, 3, H, W)`` normalised query images of ``modality``.
        modality: their modality.
        references: ``(N, D)`` embeddings they should match (for example a true match in the gallery).
        layer: Grad-CAM target layer.
        method: a key of :data:`CAM_METHODS`.
        area: fraction of the image each box hides.
        n_random: random boxes per image.
        seed: seed of the random boxes.
        feature: ``"bn"`` or ``"pool"``.
    """
    images = _check_images(images)
    if references.shape[0] != images.shape[0]:
        raise ValueError(f"got {references.shape[0]} reference embeddings for {images.shape[0]} images")
    if n_random < 1:
        raise ValueError(f"n_random must be at least 1, got {n_random}")
    n, _, height, width = images.shape
    box = box_size(height, width, area)
    cams = similarity_cam(model, images, modality, references, layer=layer, method=method, feature=feature)
    gen = torch.Generator().manual_seed(seed)
    random_corners = [torch.stack([torch.randint(0, height - box[0] + 1, (n,), generator=gen),
                                   torch.randint(0, width - box[1] + 1, (n,), generator=gen)], dim=1)
                      for _ in range(n_random)]  # each (N, 2)
    empty = torch.from_numpy(cams.reshape(n, -1).max(axis=1) <= 0)
    corners = torch.where(empty[:, None], random_corners[0], most_attributed_box(cams, box))
    intact = _similarity(model, images, modality, references, feature)
    cam_drop = intact - _similarity(model, hide_boxes(images, corners, box), modality, references, feature)
    random_drop = sum(intact - _similarity(model, hide_boxes(images, c, box), modality, references, feature)
                      for c in random_corners) / n_random
    return Faithfulness(cam_drop.numpy(), random_drop.numpy(), empty.numpy(), box)


def match_cam_figure(query: torch.Tensor, gallery: torch.Tensor, explanation: MatchExplanation,
                     matches: Sequence[bool], distances: Sequence[float]) -> matplotlib.figure.Figure:
    """A query and its top-k matches, each drawn plain (top row) and with its Grad-CAM (bottom row).

    The query's bottom image is its map for the first match; gallery borders are green for the query's
    identity and red otherwise, as in the ranked-results figure of :mod:`vireid_lib.visualize`.

    Args:
        query: ``(3, H, W)`` normalised query image.
        gallery: ``(k, 3, H, W)`` normalised gallery images, best first.
        explanation: :func:`explain_matches` of these images.
        matches: whether each gallery image shows the query's identity.
        distances: their distances to the query.
    """
    from matplotlib.figure import Figure

    k = gallery.shape[0]
    fig = Figure(figsize=(1.0 * (k + 1) + 0.3, 4.4), layout="constrained")
    axes = fig.subplots(2, k + 1, squeeze=False)
    columns = [(query, explanation.query[0], "query", "0.25")]
    columns += [(g, c, f"#{i + 1} {d:.3f}", "green" if m else "red")
                for i, (g, c, m, d) in enumerate(zip(gallery, explanation.gallery, matches, distances))]
    for j, (image, cam, title, colour) in enumerate(columns):
        axes[0, j].imshow(to_display(image))
        axes[1, j].imshow(overlay(image, cam))
        axes[0, j].set_title(title, fontsize=7, color=colour)
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(3)
    return fig


# ---------------------------------------------------------------------------------------------- cases and summaries

class MatchCases(NamedTuple):
    """A correct match and a failure among the queries of one split, for explaining both.

    Attributes:
        correct: the first query (in query order) whose top-ranked gallery image shows its own identity, or
            ``None`` when no query has one.
        failure: the first query with a true match in the gallery whose top-ranked image shows another
            person, or ``None`` when every such query is matched at rank 1.
        match_rank: ``(Q,)`` :func:`~vireid_lib.evaluation.rank_metrics`'s match rank of every query (0: a
            correct first match; -1: no true match in the gallery).
    """

    correct: int | None
    failure: int | None
    match_rank: np.ndarray


def pick_cases(distmat: np.ndarray, query: Sequence, gallery: Sequence, protocol: str) -> MatchCases:
    """The first correct match and the first failure under the protocol's ranking (for SYSU-MM01, cam3
    queries do not see cam2 images), read from :func:`~vireid_lib.evaluation.rank_metrics`: the first of
    each kind in query order, so the examples are not hand-picked.

    Args:
        distmat: ``(Q, G)`` distances.
        query: the query records (``pid``, ``camid``).
        gallery: the gallery records.
        protocol: ``"sysu"`` or ``"regdb"``.

    Raises:
        ValueError: as :func:`~vireid_lib.evaluation.rank_metrics` (for example when no query has a true
            match in the gallery).
    """
    from vireid_lib.evaluation.metrics import rank_metrics

    rank = rank_metrics(distmat, [r.pid for r in query], [r.pid for r in gallery], [r.camid for r in query],
                        [r.camid for r in gallery], protocol=protocol)["match_rank"]
    correct, failure = np.flatnonzero(rank == 0), np.flatnonzero(rank > 0)
    return MatchCases(int(correct[0]) if len(correct) else None, int(failure[0]) if len(failure) else None, rank)


def _as_maps(cams: np.ndarray | torch.Tensor) -> np.ndarray:
    cams = np.asarray(cams, dtype=np.float64)
    if cams.ndim == 2:
        cams = cams[None]
    if cams.ndim != 3:
        raise ValueError(f"expected (H, W) or (B, H, W) maps, got shape {cams.shape}")
    return np.clip(cams, 0.0, None)


def stripe_mass(cams: np.ndarray | torch.Tensor, parts: int = 3) -> np.ndarray:
    """Share of each map's total weight in each of ``parts`` horizontal stripes, top to bottom, ``(B, parts)``
    (rows split as :func:`numpy.array_split` does); a map without weight gets zeros."""
    maps = _as_maps(cams)
    if not 1 <= parts <= maps.shape[1]:
        raise ValueError(f"parts must lie between 1 and the map height {maps.shape[1]}, got {parts}")
    rows = np.stack([s.sum(axis=(1, 2)) for s in np.array_split(maps, parts, axis=1)], axis=1)  # (B, parts)
    total = rows.sum(axis=1, keepdims=True)
    return np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)


def central_columns(width: int, fraction: float = 0.5) -> slice:
    """The central ``fraction`` of ``width`` columns (at least one), where a cropped person stands."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    n = max(1, round(width * fraction))
    start = (width - n) // 2
    return slice(start, start + n)


def central_mass(cams: np.ndarray | torch.Tensor, fraction: float = 0.5) -> np.ndarray:
    """Share of each map's total weight in the central ``fraction`` of its columns, ``(B,)``; 0 for a map
    without weight. A uniform map gives the share of columns, ``len(central_columns(W)) / W``."""
    maps = _as_maps(cams)
    total = maps.sum(axis=(1, 2))
    inside = maps[:, :, central_columns(maps.shape[2], fraction)].sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(inside), where=total > 0)


STRIPE_NAMES = {1: ("whole",), 2: ("top", "bottom"), 3: ("top", "middle", "bottom")}


def describe_map(cam: np.ndarray | torch.Tensor, parts: int = 3) -> str:
    """What one map weights, in words computed from it: its share in the central half of the width (beside
    the uniform share) and its heaviest horizontal stripe, for interpretation sentences."""
    maps = _as_maps(cam)
    if maps.shape[0] != 1:
        raise ValueError(f"describe_map takes one map, got {maps.shape[0]}")
    if maps.sum() <= 0:
        return "no weight at all (no pixel raised the similarity)"
    width = maps.shape[2]
    cols = central_columns(width)
    uniform = (cols.stop - cols.start) / width
    stripes = stripe_mass(maps, parts)[0]
    k = int(np.argmax(stripes))
    names = STRIPE_NAMES.get(parts)
    where = f"the {names[k]} {'third' if parts == 3 else 'part'}" if names else f"stripe {k + 1} of {parts}"
    return (f"{100 * central_mass(maps)[0]:.0f}% of its weight in the central half of the width (uniform: "
            f"{100 * uniform:.0f}%), most in {where} ({100 * stripes[k]:.0f}%)")
