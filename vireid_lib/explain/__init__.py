"""Where the network looks, one module per question.

* :mod:`~vireid_lib.explain.gradcam`: Grad-CAM of retrieval similarity (which pixels make two images match).
* :mod:`~vireid_lib.explain.attention`: MCA's attention for one pixel and PCA's per-stripe channel term.
* :mod:`~vireid_lib.explain.faithfulness`: a deletion test of the maps' faithfulness.
* :mod:`~vireid_lib.explain.cases`: which queries to explain (the protocol's first correct match and first
  failure) and what a map weights, in numbers.
* :mod:`~vireid_lib.explain.figures`: images and maps drawn for people.

The names below are the package's public surface, so ``from vireid_lib import explain`` and
``explain.similarity_cam(...)`` read the same wherever a name lives.
"""

from vireid_lib.explain.attention import mca_pixel_attention, pca_stripe_weights
from vireid_lib.explain.cases import (STRIPE_NAMES, MatchCases, central_columns, central_mass, describe_map,
                                      pick_cases, stripe_mass)
from vireid_lib.explain.faithfulness import (Faithfulness, box_size, faithfulness_check, hide_boxes,
                                             most_attributed_box)
from vireid_lib.explain.figures import match_cam_figure, overlay, to_display
from vireid_lib.explain.gradcam import (CAM_METHODS, EmbeddingModel, MatchExplanation, SimilarityTarget,
                                       check_images, embed, explain_matches, similarity_cam, target_layer)

__all__ = [
    "CAM_METHODS", "EmbeddingModel", "Faithfulness", "MatchCases", "MatchExplanation", "STRIPE_NAMES",
    "SimilarityTarget", "box_size", "central_columns", "central_mass", "check_images", "describe_map", "embed",
    "explain_matches", "faithfulness_check", "hide_boxes", "match_cam_figure", "mca_pixel_attention",
    "most_attributed_box", "overlay", "pca_stripe_weights", "pick_cases", "similarity_cam", "stripe_mass",
    "target_layer", "to_display",
]
