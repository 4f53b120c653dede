"""The network: two-stream ResNet, MCA and PCA attention, global and local heads (DECISIONS §1–§6)."""

from vireid_lib.models.attention import MCA, PCA, CrissCrossWeights
from vireid_lib.models.build import ModelOutput, VIReIDNet, build_model, complexity, imagenet_weights_path
from vireid_lib.models.start import check_start_data

__all__ = ["MCA", "PCA", "CrissCrossWeights", "ModelOutput", "VIReIDNet", "build_model", "check_start_data",
           "complexity", "imagenet_weights_path"]
