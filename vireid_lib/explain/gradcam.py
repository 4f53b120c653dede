"""Grad-CAM of retrieval similarity: which pixels of an image make it match another one.

Grad-CAM (Selvaraju et al., ICCV 2017) needs one tensor in and one score out. Re-identification has no
class score at test time, so the score is the cosine similarity between the query's embedding and a chosen
gallery embedding (pytorch-grad-cam's ``SimilarityToConceptTarget`` pattern): the map answers "which pixels
of this image make it match that one". Its opposite answers "which pixels argue against the match".
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from torch import nn

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


def check_images(images: torch.Tensor) -> torch.Tensor:
    """``images`` when it is a ``(B, 3, H, W)`` tensor, else a ValueError that names what it got."""
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
    images = check_images(images)
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
    query = check_images(query if query.dim() == 4 else query.unsqueeze(0))
    gallery = check_images(gallery)
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
