"""vireid: a notebook-first workbook for visible-infrared person re-identification.

The library holds the network of Wei et al. (2024), "Visible-Infrared Person Re-Identification Based on
Dual Attention Mechanism" (MCA and PCA on a two-stream ResNet), its losses, the SYSU-MM01 and RegDB
protocols, and a synthetic visible/infrared dataset that lets everything run on a CPU.
"""

__version__ = "0.1.0"

VISIBLE = "visible"
INFRARED = "infrared"
EXCHANGED = "exchanged"
MODALITIES = (VISIBLE, INFRARED)
"""The two sensor modalities. ``EXCHANGED`` names the channel-exchanged copy of a visible image (DECISIONS §2),
a training-time third input that goes through the visible stem."""
