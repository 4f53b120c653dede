"""A procedural visible/infrared person dataset, written in SYSU-MM01's or RegDB's exact on-disk layout.

The real datasets are licensed and obtained by request, so every notebook and test runs by default on this
generator. It exercises the same code paths as the real data (readers, protocols, sampler, training) and
has a real modality gap:

* Each identity has body proportions, skin tone, hair, an upper and a lower garment (colour, pattern,
  sleeve and leg length, and a fabric emissivity drawn independently of the colour), shoes, and optionally
  a bag, a hat and glasses. About one identity in five copies the garment colours of an earlier one (a
  near-duplicate that differs in every other cue).
* Each image draws a walking phase, a viewpoint (front, back, side), scale and position jitter, sometimes
  a partial occlusion, and is seen through a camera with its own background, lighting, blur and noise.
* Visible cameras render colours under the camera's white balance and exposure. Infrared cameras render
  one brightness per material: for fabrics, skin, hair and accessories a mix of the visible luma (inverted
  for a few flipped fabrics) and the material's own response (:func:`garment_ir`, weighted by
  ``ir_correlation``), so a colour pattern shows where its two fabrics differ; a darker background, softer
  focus, sensor noise and a per-image gain and offset; stored as three identical channels as SYSU-MM01's
  infrared images are.

Hue therefore carries no information across modalities; the shared cues are shape (proportions, sleeve and
leg length, hair, hat, glasses, bag), most patterns' geometry, and a luminance that infrared keeps with
noise. ``ir_correlation=0`` (``HARD_IR_CORRELATION``) makes the infrared brightness independent of colour.
``data_cards/synthetic.md`` documents the statistics and what the data can and cannot tell you.

Same ``(layout, identities, seed)``, same bytes: every image draws its randomness from a seed sequence of
``(seed, layout, pid, camera, image)``, so the output does not depend on the number of worker processes.
"""

from __future__ import annotations

import functools
import io
import json
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from vireid_lib.config import SYNTHETIC_IR_CORRELATION, SYNTHETIC_OUTDOOR_DAYLIGHT
from vireid_lib.locks import folder_lock, is_lock_file

GENERATOR_VERSION = 3
"""Bumped whenever the generator's output changes; part of the cache folder name. Version 2: infrared
garment brightness correlated with visible luminance (``ir_correlation``), most patterns kept in infrared,
larger stripes, checks and logos, skin no longer the whole top of the infrared range. Version 3: skin, which
version 2 drew in a fixed bright band whatever its tone, follows its visible luma in infrared like a garment
(``ir_correlation``); hair keeps version 2's correlation rule, now mapped onto the garments' infrared range;
5% of fabrics flip instead of 15% (the calibration of ``data_cards/synthetic.md``); every other draw is
version 2's."""

HARD_IR_CORRELATION = 0.0
"""The harder research setting of ``ir_correlation``: infrared brightness independent of the garment's colour
(as version 1 drew it; the rest of version 2's rendering stays). The calibrated default is
``config.SYNTHETIC_IR_CORRELATION``."""

FLIPPED_FABRICS = 0.05
"""Share of fabrics whose infrared brightness follows the inverse of their visible luminance (dark in
visible, bright in infrared or the reverse), so grey-level matching alone cannot solve the task."""

FABRICS = ("upper", "upper 2", "lower", "lower 2", "bag", "shoe")
"""The fabrics that may flip, in the order of their draws (``Identity.flipped`` names them)."""

SAME_FABRIC_PATTERNS = 0.2
"""Share of two-colour garments dyed on one fabric: the pattern vanishes in infrared."""

STATS_FILE = "synthetic_stats.json"
IMAGE_SIZE = (128, 64)
"""Native (height, width) of every image. The training pipeline resizes to the configured input size."""

DEFAULT_IDENTITIES = {"sysu": 200, "regdb": 200}
SMOKE_IDENTITIES = {"sysu": 24, "regdb": 16}

SYSU_VISIBLE_CAMS = (1, 2, 4, 5)
SYSU_INFRARED_CAMS = (3, 6)
SYSU_INDOOR_CAMS = (1, 2, 3)
REGDB_IMAGES_PER_MODALITY = 10
REGDB_TRIALS = 10

# Material ids of the rasterised person (index into the per-identity colour and heat tables).
BG, SKIN, HAIR, UP1, UP2, LOW1, LOW2, SHOE, BAG, HAT, GLASS, OCCLUDER = range(12)
N_MATERIALS = 12

_LAYOUT_CODE = {"sysu": 1, "regdb": 2}
MIN_IMAGES_FOR_POOL = 600
"""Below this many images a process pool costs more than it saves and rendering stays in-process."""


# ----------------------------------------------------------------------------------------------------------
# Identities
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Identity:
    """Everything that stays fixed for one person across cameras and modalities."""

    pid: int
    sex: str
    height: float          # relative body height (image scale jitter is separate)
    shoulder: float        # shoulder half-width / height
    hip: float             # hip half-width / height
    torso: float           # hip line as a fraction of the height
    head: float            # head radius / height
    limb: float            # limb thickness multiplier
    skin_rgb: tuple[float, float, float]
    skin_heat: float
    hair: str              # "bald", "short", "long"
    hair_rgb: tuple[float, float, float]
    hair_heat: float
    up_rgb: tuple[float, float, float]
    up2_rgb: tuple[float, float, float]
    up_pattern: str        # "solid", "stripes", "block", "logo"
    up_emissivity: float   # the fabric's own infrared response, drawn independently of its colour
    up2_emissivity: float
    up_ir: float           # infrared brightness of the fabric (see garment_ir), 0..1
    up2_ir: float
    sleeve: str            # "none", "short", "long"
    low_rgb: tuple[float, float, float]
    low2_rgb: tuple[float, float, float]
    low_pattern: str       # "solid", "checked"
    low_emissivity: float
    low2_emissivity: float
    low_ir: float
    low2_ir: float
    legwear: str           # "shorts", "capri", "trousers", "skirt"
    shoe_rgb: tuple[float, float, float]
    shoe_heat: float
    bag: str               # "none", "backpack", "shoulder", "hand"
    bag_rgb: tuple[float, float, float]
    bag_heat: float
    hat: bool
    hat_rgb: tuple[float, float, float]
    hat_heat: float
    glasses: bool
    twin_of: int | None    # pid whose garment colours this identity copies (near-duplicate)
    # The fabrics (FABRICS) a camera shows whose infrared level is inverted (FLIPPED_FABRICS); make_identities
    # fills it in, a hand-built Identity names none.
    flipped: tuple[str, ...] = ()


def _colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A garment colour: saturated, pastel, dark or greyish, roughly as clothing is distributed."""
    kind = rng.choice(4, p=[0.35, 0.2, 0.25, 0.2])
    hue = rng.random()
    sat = (0.55 + 0.4 * rng.random(), 0.2 + 0.2 * rng.random(), 0.3 + 0.5 * rng.random(),
           0.03 * rng.random())[kind]
    val = (0.5 + 0.45 * rng.random(), 0.75 + 0.2 * rng.random(), 0.12 + 0.25 * rng.random(),
           0.1 + 0.85 * rng.random())[kind]
    return _hsv_to_rgb(hue, sat, val)


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (float(r), float(g), float(b))


def luma(rgb: tuple[float, float, float]) -> float:
    """ITU-R 601 luma of an RGB colour in [0, 1]."""
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def garment_ir(rgb: tuple[float, float, float], emissivity: float, flipped: bool, correlation: float) -> float:
    """Infrared brightness (0..1) of a fabric of visible colour ``rgb``.

    A mix of the colour's luminance (inverted for a ``flipped`` fabric) with weight ``correlation`` and the
    fabric's own response ``emissivity`` (drawn independently of the colour) with weight ``1 - correlation``.
    In real near-infrared, much of a garment's luminance structure survives while its hue is lost, and some
    dyes turn dark fabrics bright; ``correlation = 0`` makes infrared independent of the garment's look.
    """
    tone = 1.0 - luma(rgb) if flipped else luma(rgb)
    return float(correlation * tone + (1.0 - correlation) * emissivity)


def _garment_heat(ir: float) -> float:
    """Rendered infrared level of a garment over a warm body, from its brightness :func:`garment_ir`."""
    return 0.2 + 0.62 * ir


def make_identities(n: int, seed: int, ir_correlation: float = SYNTHETIC_IR_CORRELATION) -> list[Identity]:
    """The ``n`` identities (pids 1..n) of a dataset; identity ``pid`` depends only on ``(seed, pid)``,
    ``ir_correlation`` (see :func:`garment_ir`) and, for a near-duplicate, on the colours of the earlier
    identity it copies."""
    if not 0.0 <= ir_correlation <= 1.0:
        raise ValueError(f"ir_correlation must be in [0, 1] (0: infrared independent of colour, the hard "
                         f"setting), got {ir_correlation}")
    people: list[Identity] = []
    for pid in range(1, n + 1):
        rng = np.random.default_rng([seed, 7, pid])
        sex = "female" if rng.random() < 0.45 else "male"
        skin_v = 0.35 + 0.55 * rng.random()
        skin = _hsv_to_rgb(0.05 + 0.04 * rng.random(), 0.25 + 0.3 * rng.random(), skin_v)
        hair = rng.choice(["bald", "short", "long"],
                          p=[0.05, 0.35, 0.6] if sex == "female" else [0.12, 0.78, 0.10])
        pattern = rng.choice(["solid", "stripes", "block", "logo"], p=[0.45, 0.2, 0.2, 0.15])
        up_e = float(0.15 + 0.85 * rng.random())
        # Some patterned garments are one fabric dyed twice (invisible in infrared), the rest two fabrics.
        same_up = bool(rng.random() < SAME_FABRIC_PATTERNS)
        up2_e = up_e if same_up else float(0.15 + 0.85 * rng.random())
        low_pattern = rng.choice(["solid", "checked"], p=[0.8, 0.2])
        low_e = float(0.15 + 0.85 * rng.random())
        same_low = bool(rng.random() < SAME_FABRIC_PATTERNS)
        low2_e = low_e if same_low else float(0.15 + 0.85 * rng.random())
        flips = rng.random(6) < FLIPPED_FABRICS   # FABRICS: upper, upper 2, lower, lower 2, bag, shoe
        accessory_e = rng.random(3)               # bag, shoe, hat
        legwear = rng.choice(["shorts", "capri", "trousers", "skirt"],
                             p=[0.15, 0.1, 0.45, 0.3] if sex == "female" else [0.25, 0.1, 0.65, 0.0])
        colours = dict(up_rgb=_colour(rng), up2_rgb=_colour(rng), low_rgb=_colour(rng),
                       low2_rgb=_colour(rng), shoe_rgb=_colour(rng))
        twin_of = None
        if pid > 1 and rng.random() < 0.2:
            twin_of = int(rng.integers(1, pid))
            src = people[twin_of - 1]
            colours = dict(up_rgb=src.up_rgb, up2_rgb=src.up2_rgb, low_rgb=src.low_rgb,
                           low2_rgb=src.low2_rgb, shoe_rgb=src.shoe_rgb)

        def ir(key: str, e: float, flipped: bool) -> float:
            return garment_ir(colours[key], e, bool(flipped), ir_correlation)

        up_ir, low_ir = ir("up_rgb", up_e, flips[0]), ir("low_rgb", low_e, flips[2])
        up2_ir = up_ir if same_up else ir("up2_rgb", up2_e, flips[1])
        low2_ir = low_ir if same_low else ir("low2_rgb", low2_e, flips[3])
        bag_rgb, hat_rgb = _colour(rng), _colour(rng)
        hair_rgb = _hsv_to_rgb(0.08 * rng.random(), 0.3 + 0.5 * rng.random(), 0.05 + 0.6 * rng.random() ** 2)
        people.append(Identity(
            pid=pid, sex=str(sex),
            height=float(0.9 + 0.12 * rng.random()),
            shoulder=float((0.105 if sex == "male" else 0.092) * (0.9 + 0.25 * rng.random())),
            hip=float(0.082 * (0.85 + 0.35 * rng.random())),
            torso=float(0.49 + 0.07 * rng.random()),
            head=float(0.06 + 0.014 * rng.random()),
            limb=float(0.8 + 0.45 * rng.random()),
            # Skin and hair (version 3): at their visible luma like a garment that does not flip, with the
            # same independent part; version 2 drew skin in a fixed bright band whatever its tone, which left
            # the face and arms, a large share of a small image, carrying nothing of the visible person, and
            # mapped hair onto a narrower range (0.3 + 0.45 x) than the garments'.
            skin_rgb=skin, skin_heat=_garment_heat(garment_ir(skin, float(rng.random()), False, ir_correlation)),
            hair=str(hair), hair_rgb=hair_rgb,
            hair_heat=_garment_heat(garment_ir(hair_rgb, float(rng.random()), False, ir_correlation)),
            up_pattern=str(pattern), up_emissivity=up_e, up2_emissivity=up2_e, up_ir=up_ir, up2_ir=up2_ir,
            sleeve=str(rng.choice(["none", "short", "long"], p=[0.15, 0.4, 0.45])),
            low_pattern=str(low_pattern), low_emissivity=low_e, low2_emissivity=low2_e, low_ir=low_ir,
            low2_ir=low2_ir, legwear=str(legwear),
            shoe_heat=_garment_heat(garment_ir(colours["shoe_rgb"], float(accessory_e[1]), bool(flips[5]),
                                               ir_correlation)) * 0.8,
            bag=str(rng.choice(["none", "backpack", "shoulder", "hand"], p=[0.4, 0.25, 0.2, 0.15])),
            bag_rgb=bag_rgb,
            bag_heat=_garment_heat(garment_ir(bag_rgb, float(accessory_e[0]), bool(flips[4]), ir_correlation)),
            hat=bool(rng.random() < 0.15), hat_rgb=hat_rgb,
            hat_heat=_garment_heat(garment_ir(hat_rgb, float(accessory_e[2]), False, ir_correlation)),
            glasses=bool(rng.random() < 0.2), twin_of=twin_of, **colours,
        ))
        # The flipped fabrics a camera can see: a second colour shows only on a patterned garment and, cut from
        # the first colour's fabric (same_up, same_low), keeps that fabric's response; a bag only when carried.
        p = people[-1]
        shown = (True, p.up_pattern != "solid" and not same_up, True, p.low_pattern != "solid" and not same_low,
                 p.bag != "none", True)
        people[-1] = replace(p, flipped=tuple(name for name, f, s in zip(FABRICS, flips, shown) if f and s))
    return people


# ----------------------------------------------------------------------------------------------------------
# Cameras
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Camera:
    """A camera: modality, a background canvas wider than the image (cropped per image), lighting."""

    camid: int
    modality: str
    outdoor: bool
    background: np.ndarray   # (H, W + 32, 3) for visible, (H, W + 32) for infrared, values in [0, 1]
    gains: tuple[float, float, float]
    exposure: float
    blur: float
    noise: float


@functools.lru_cache(maxsize=None)
def _camera(layout: str, seed: int, camid: int) -> Camera:
    rng = np.random.default_rng([seed, 11, _LAYOUT_CODE[layout], camid])
    if layout == "sysu":
        modality = "infrared" if camid in SYSU_INFRARED_CAMS else "visible"
        outdoor = camid not in SYSU_INDOOR_CAMS
    else:
        modality = "visible" if camid == 1 else "infrared"
        outdoor = True
    h, w = IMAGE_SIZE[0], IMAGE_SIZE[1] + 32
    yy = np.linspace(0.0, 1.0, h)[:, None]
    canvas = Image.new("RGB" if modality == "visible" else "L", (w, h))
    draw = ImageDraw.Draw(canvas)

    def tone(lo: float, hi: float) -> Any:
        if modality == "visible":
            return tuple(int(255 * c) for c in _hsv_to_rgb(rng.random(), 0.1 + 0.4 * rng.random(),
                                                           lo + (hi - lo) * rng.random()))
        return int(255 * (lo + (hi - lo) * rng.random()))

    horizon = int(h * (0.55 + 0.2 * rng.random()))
    draw.rectangle([0, 0, w, horizon], fill=tone(0.4, 0.9) if modality == "visible" else tone(0.08, 0.3))
    draw.rectangle([0, horizon, w, h], fill=tone(0.25, 0.7) if modality == "visible" else tone(0.12, 0.32))
    for _ in range(int(rng.integers(3, 7))):   # doors, windows, trees, parked things
        x0, y0 = int(rng.integers(-10, w)), int(rng.integers(-10, horizon))
        draw.rectangle([x0, y0, x0 + int(rng.integers(6, 30)), y0 + int(rng.integers(8, 50))],
                       fill=tone(0.1, 0.95) if modality == "visible" else tone(0.05, 0.45))
    if modality == "infrared" and rng.random() < 0.7:   # a warm object: a lamp, an engine, a radiator
        x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 20))
        draw.ellipse([x0, y0, x0 + int(rng.integers(4, 10)), y0 + int(rng.integers(4, 14))],
                     fill=int(255 * (0.55 + 0.3 * rng.random())))
    bg = np.asarray(canvas, dtype=np.float32) / 255.0
    shade = (1.05 - 0.15 * yy).astype(np.float32)   # light from above
    bg = bg * (shade[..., None] if bg.ndim == 3 else shade)
    if modality == "visible":
        warm = 0.12 * (rng.random() - 0.3) * (0 if outdoor else 1)
        gains = (1.0 + warm + 0.08 * (rng.random() - 0.5), 1.0 + 0.06 * (rng.random() - 0.5),
                 1.0 - warm + 0.12 * (rng.random() - 0.5))
        exposure = float((0.95 if outdoor else 0.8) + 0.3 * rng.random())
        blur, noise = float(0.3 + 0.4 * rng.random()), float(0.01 + 0.015 * rng.random())
    else:
        gains, exposure = (1.0, 1.0, 1.0), float(0.9 + 0.25 * rng.random())
        blur, noise = float(0.9 + 0.6 * rng.random()), float(0.025 + 0.02 * rng.random())
    return Camera(camid, modality, outdoor, bg.astype(np.float32), tuple(float(g) for g in gains),
                  exposure, blur, noise)


# ----------------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pose:
    """What changes per capture: walking phase, viewpoint, framing, occlusion."""

    phase: float
    view: str            # "front", "back", "side"
    facing: int          # +1 or -1: which way a side view faces
    scale: float
    dx: float
    dy: float
    bg_offset: int
    occlusion: tuple[float, float, float, float] | None   # (x0, y0, x1, y1) in pixels
    occluder_rgb: tuple[float, float, float]
    occluder_heat: float


def draw_pose(rng: np.random.Generator) -> Pose:
    """A random capture condition."""
    view = str(rng.choice(["front", "back", "side"], p=[0.38, 0.38, 0.24]))
    occlusion = None
    if rng.random() < 0.15:
        h, w = IMAGE_SIZE
        if rng.random() < 0.6:   # something low in front: a bench, a car bonnet, a railing
            top = h * (0.62 + 0.22 * rng.random())
            occlusion = (-1.0, top, float(w + 1), float(h + 1))
        else:                    # a pole or a passer-by's edge
            x0 = w * rng.random()
            occlusion = (x0, -1.0, x0 + w * (0.12 + 0.2 * rng.random()), float(h + 1))
    return Pose(phase=float(2 * math.pi * rng.random()), view=view, facing=int(rng.choice([-1, 1])),
                scale=float(0.8 + 0.14 * rng.random()), dx=float(rng.normal(0, 2.5)),
                dy=float(rng.normal(0, 2.0)), bg_offset=int(rng.integers(0, 33)), occlusion=occlusion,
                occluder_rgb=_colour(rng), occluder_heat=float(0.1 + 0.45 * rng.random()))


def _limb(draw: ImageDraw.ImageDraw, pts: list[tuple[float, float]], width: float, mat: int) -> None:
    """A polyline of round-jointed segments (an arm, a leg, a sleeve)."""
    wi = max(1, int(round(width)))
    draw.line(pts, fill=mat, width=wi)
    r = width / 2.0
    for x, y in pts:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=mat)


def _along(pts: list[tuple[float, float]], frac: float) -> list[tuple[float, float]]:
    """The first ``frac`` (0..1) of a polyline's length."""
    seg = [math.dist(a, b) for a, b in zip(pts[:-1], pts[1:])]
    target, out = frac * sum(seg), [pts[0]]
    for (a, b), s in zip(zip(pts[:-1], pts[1:]), seg):
        if target <= s:
            t = target / s if s > 0 else 0.0
            out.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
            return out
        out.append(b)
        target -= s
    return out


def rasterise(person: Identity, pose: Pose) -> np.ndarray:
    """The material map (H, W) uint8 of one person in one pose (material ids BG..OCCLUDER)."""
    h, w = IMAGE_SIZE
    canvas = Image.new("L", (w, h), BG)
    d = ImageDraw.Draw(canvas)
    L = h * 0.9 * pose.scale * person.height
    foot = h - 3.0 + pose.dy
    top = foot - L
    cx = w / 2.0 + pose.dx
    side = pose.view == "side"
    narrow = 0.55 if side else 1.0
    sw, hw = person.shoulder * L * narrow, person.hip * L * narrow
    r = person.head * L
    neck_y, sh_y, hip_y = top + 2 * r, top + 2 * r + 0.025 * L, top + person.torso * L
    limb_w, leg_w = 0.048 * L * person.limb, 0.062 * L * person.limb
    swing = 0.42 if side else 0.1
    s = math.sin(pose.phase)

    # Legs (hip -> knee -> ankle), each first in skin, then covered by the legwear.
    leg_len = foot - hip_y - 0.02 * L
    legs = []
    for sign in (-1, 1):
        a = sign * swing * s
        hx = cx + sign * (hw * 0.5 if not side else 0.0)
        knee = (hx + 0.5 * leg_len * math.sin(a) * (pose.facing if side else 1),
                hip_y + 0.5 * leg_len * math.cos(a))
        b = a * 0.5 - (0.25 * max(0.0, sign * s) if side else 0.0)
        ankle = (knee[0] + 0.5 * leg_len * math.sin(b) * (pose.facing if side else 1),
                 knee[1] + 0.5 * leg_len * math.cos(b))
        legs.append([(hx, hip_y), knee, ankle])
    if person.bag == "backpack" and side:
        bx = cx - pose.facing * (sw + 0.05 * L)
        d.rectangle([bx - 0.06 * L, sh_y + 0.02 * L, bx + 0.06 * L, sh_y + 0.24 * L], fill=BAG)
    for leg in legs:
        _limb(d, leg, leg_w, SKIN)
        frac = {"shorts": 0.42, "capri": 0.75, "trousers": 1.0, "skirt": 0.0}[person.legwear]
        if frac > 0:
            _limb(d, _along(leg, frac), leg_w * 1.1, LOW1)
        ax, ay = leg[-1]
        toe = (pose.facing * 0.05 * L) if side else 0.0
        d.ellipse([ax - leg_w * 0.6 + min(0, toe), ay - 0.02 * L, ax + leg_w * 0.6 + max(0, toe),
                   ay + 0.025 * L], fill=SHOE)
    # Pelvis and skirt.
    d.polygon([(cx - hw, hip_y - 0.02 * L), (cx + hw, hip_y - 0.02 * L), (cx + hw * 0.8, hip_y + 0.07 * L),
               (cx - hw * 0.8, hip_y + 0.07 * L)], fill=LOW1)
    if person.legwear == "skirt":
        d.polygon([(cx - hw, hip_y - 0.02 * L), (cx + hw, hip_y - 0.02 * L),
                   (cx + hw * 1.6, hip_y + 0.22 * L), (cx - hw * 1.6, hip_y + 0.22 * L)], fill=LOW1)
    # Long hair behind the shoulders (seen from the back over the torso: drawn after it below).
    if person.hair == "long" and pose.view != "back":
        d.rectangle([cx - r * 0.95, top + r, cx + r * 0.95, sh_y + 0.12 * L], fill=HAIR)
    # Torso.
    d.polygon([(cx - sw, sh_y), (cx + sw, sh_y), (cx + hw * 1.05, hip_y + 0.01 * L),
               (cx - hw * 1.05, hip_y + 0.01 * L)], fill=UP1)
    d.rectangle([cx - r * 0.35, neck_y - 0.01 * L, cx + r * 0.35, sh_y + 0.01 * L], fill=SKIN)
    if person.up_pattern == "logo" and pose.view == "front":
        d.rectangle([cx - sw * 0.55, sh_y + 0.05 * L, cx + sw * 0.55, sh_y + 0.16 * L], fill=UP2)
    if person.bag == "backpack" and pose.view == "back":
        d.rectangle([cx - sw * 0.75, sh_y + 0.03 * L, cx + sw * 0.75, sh_y + 0.25 * L], fill=BAG)
    if person.bag in ("backpack", "shoulder") and pose.view == "front":
        for sign in ((-1, 1) if person.bag == "backpack" else (1,)):
            x = cx + sign * sw * 0.55
            end = (x, sh_y + 0.2 * L) if person.bag == "backpack" else (cx - sw, hip_y)
            _limb(d, [(x, sh_y), end], max(1.0, 0.018 * L), BAG)
    if person.hair == "long" and pose.view == "back":
        d.rectangle([cx - r * 0.95, top + r, cx + r * 0.95, sh_y + 0.12 * L], fill=HAIR)
    # Arms (shoulder -> elbow -> hand), swinging opposite to the legs, then sleeves.
    arm_len = 0.36 * L
    hands = []
    for sign in (-1, 1):
        a = -sign * swing * s * 1.1
        sx = cx + sign * (sw - limb_w * 0.4) * (0.3 if side else 1.0)
        elbow = (sx + 0.5 * arm_len * math.sin(a) * (pose.facing if side else 1) + sign * 0.01 * L * narrow,
                 sh_y + 0.5 * arm_len * math.cos(a))
        b = a + (0.35 * pose.facing if side else 0.0) * abs(s)
        hand = (elbow[0] + 0.5 * arm_len * math.sin(b), elbow[1] + 0.5 * arm_len * math.cos(b))
        arm = [(sx, sh_y + limb_w * 0.3), elbow, hand]
        _limb(d, arm, limb_w, SKIN)
        frac = {"none": 0.0, "short": 0.3, "long": 0.94}[person.sleeve]
        if frac > 0:
            _limb(d, _along(arm, frac), limb_w * 1.15, UP1)
        hands.append(hand)
    if person.bag == "shoulder" and pose.view != "front":
        bx = cx + (pose.facing if side else 1) * (sw * 0.6 if side else sw + 0.02 * L)
        d.rectangle([bx - 0.05 * L, hip_y - 0.08 * L, bx + 0.05 * L, hip_y + 0.03 * L], fill=BAG)
    if person.bag == "shoulder" and pose.view == "front":
        d.rectangle([cx - sw - 0.07 * L, hip_y - 0.08 * L, cx - sw + 0.03 * L, hip_y + 0.03 * L], fill=BAG)
    if person.bag == "hand":
        hx, hy = hands[1]
        d.rectangle([hx - 0.04 * L, hy, hx + 0.04 * L, hy + 0.1 * L], fill=BAG)
    # Head: hair first, the face drawn over it where it shows.
    hcx = cx + (pose.facing * 0.15 * r if side else 0.0)
    if person.hair == "bald":
        d.ellipse([hcx - 0.85 * r, top, hcx + 0.85 * r, top + 2 * r], fill=SKIN)
    else:
        d.ellipse([hcx - 0.9 * r, top - 0.05 * r, hcx + 0.9 * r, top + 2 * r], fill=HAIR)
        if pose.view == "front":
            d.ellipse([hcx - 0.72 * r, top + 0.45 * r, hcx + 0.72 * r, top + 2.05 * r], fill=SKIN)
        elif side:
            fx = hcx + pose.facing * 0.25 * r
            d.ellipse([fx - 0.65 * r, top + 0.45 * r, fx + 0.65 * r, top + 2.0 * r], fill=SKIN)
    if person.hat:
        d.chord([hcx - 0.95 * r, top - 0.25 * r, hcx + 0.95 * r, top + 1.3 * r], 180, 360, fill=HAT)
        if pose.view != "back":
            bx = hcx + (pose.facing * 0.6 * r if side else 0.0)
            d.rectangle([bx - 0.8 * r, top + 0.45 * r, bx + 0.8 * r, top + 0.6 * r], fill=HAT)
    if person.glasses and pose.view != "back":
        gy = top + 0.95 * r
        if side:
            gx = hcx + pose.facing * 0.55 * r
            d.rectangle([gx - 0.3 * r, gy, gx + 0.3 * r, gy + 0.22 * r], fill=GLASS)
        else:
            d.rectangle([hcx - 0.62 * r, gy, hcx + 0.62 * r, gy + 0.25 * r], fill=GLASS)
    if pose.occlusion is not None:
        d.rectangle(list(pose.occlusion), fill=OCCLUDER)

    mat = np.array(canvas, dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    if person.up_pattern == "stripes":
        period = max(2, int(round(0.05 * L)))   # about 3 px at 96 x 48, still resolved
        mat[(mat == UP1) & (((yy - int(sh_y)) // period) % 2 == 1)] = UP2
    elif person.up_pattern == "block":
        mat[(mat == UP1) & (yy > sh_y + 0.45 * (hip_y - sh_y))] = UP2
    if person.low_pattern == "checked":
        period = max(2, int(round(0.07 * L)))
        mat[(mat == LOW1) & ((yy // period + xx // period) % 2 == 1)] = LOW2
    return mat


def _tables(person: Identity, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Per-material visible colour (N_MATERIALS, 3) and infrared brightness (N_MATERIALS,)."""
    rgb = np.zeros((N_MATERIALS, 3), np.float32)
    heat = np.zeros(N_MATERIALS, np.float32)
    for m, c, t in [(SKIN, person.skin_rgb, person.skin_heat),
                    (HAIR, person.hair_rgb, person.hair_heat),
                    (UP1, person.up_rgb, _garment_heat(person.up_ir)),
                    (UP2, person.up2_rgb, _garment_heat(person.up2_ir)),
                    (LOW1, person.low_rgb, _garment_heat(person.low_ir)),
                    (LOW2, person.low2_rgb, _garment_heat(person.low2_ir)),
                    (SHOE, person.shoe_rgb, person.shoe_heat),
                    (BAG, person.bag_rgb, person.bag_heat),
                    (HAT, person.hat_rgb, person.hat_heat),
                    (GLASS, (0.05, 0.05, 0.07), 0.15),   # glass is opaque to thermal infrared: dark
                    (OCCLUDER, pose.occluder_rgb, pose.occluder_heat)]:
        rgb[m], heat[m] = c, t
    return rgb, heat


def daylight(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """An outdoor visible camera's capture, ``img`` (H, W, 3) in [0, 1] before blur and noise, at daylight
    ``strength`` (0..1): a hard cast shadow over one side of a random line (a building's or a tree's edge),
    an exposure swing of the sun coming and going, and the person farther away than indoors: the whole crop is
    brought down to ``1 - strength * (0.35..0.6)`` of its resolution and scaled back up (a distant person's
    crop, upsampled to the same size), so small cues (glasses, a logo, stripes) blur away first."""
    h, w, _ = img.shape
    angle = math.pi * rng.random()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)                               # (H, W) pixel grids
    signed = (xx - w * rng.random()) * math.cos(angle) + (yy - h * rng.random()) * math.sin(angle)
    dark = 1.0 - strength * (0.35 + 0.3 * rng.random())
    shade = dark + (1.0 - dark) / (1.0 + np.exp(np.clip(-signed / 1.5, -30, 30)))   # (H, W) soft-edged shadow
    img = img * shade[..., None] * math.exp(strength * rng.normal(0.0, 0.3))
    scale = 1.0 - strength * (0.35 + 0.25 * rng.random())
    small = (max(8, round(w * scale)), max(16, round(h * scale)))               # PIL sizes are (W, H)
    im = Image.fromarray(np.clip(img * 255.0, 0, 255).astype(np.uint8), "RGB")
    im = im.resize(small, Image.BILINEAR).resize((w, h), Image.BILINEAR)
    return np.asarray(im, np.float32) / 255.0


def render(person: Identity, pose: Pose, camera: Camera, rng: np.random.Generator,
           outdoor_daylight: float = SYNTHETIC_OUTDOOR_DAYLIGHT, daylight_rng: np.random.Generator | None = None
           ) -> Image.Image:
    """One RGB image of ``person`` in ``pose`` as ``camera`` sees it (three identical channels for IR); an
    outdoor visible camera applies :func:`daylight` at ``outdoor_daylight`` when it is above 0, drawing from
    ``daylight_rng`` so that every other draw stays the same."""
    h, w = IMAGE_SIZE
    mat = rasterise(person, pose)
    rgb_table, heat_table = _tables(person, pose)
    fg = (mat != BG)
    off = pose.bg_offset
    if camera.modality == "visible":
        img = rgb_table[mat]                                                     # (H, W, 3)
        light = (1.08 - 0.25 * np.linspace(0, 1, h, dtype=np.float32))[:, None]  # (H, 1) from above
        side = 1.0 + 0.12 * (rng.random() - 0.5) * np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        img = img * (light * side)[..., None]
        img = np.where(fg[..., None], img, camera.background[:, off:off + w])
        gains = np.asarray(camera.gains, np.float32) * camera.exposure * (0.88 + 0.24 * rng.random())
        img = img * gains
        if outdoor_daylight > 0 and camera.outdoor:
            if daylight_rng is None:   # drawing from rng would shift every later draw of the image
                raise ValueError("render with outdoor_daylight above 0 needs its own daylight_rng")
            img = daylight(img, outdoor_daylight, daylight_rng)
        blur = camera.blur * (0.8 + 0.4 * rng.random())
        im = Image.fromarray(np.clip(img * 255.0, 0, 255).astype(np.uint8), "RGB")
        im = im.filter(ImageFilter.GaussianBlur(blur))
        arr = np.asarray(im, np.float32) + rng.normal(0, 255 * camera.noise, (h, w, 3))
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    # Infrared: heat, not colour. Silhouette edges look cooler (grazing angles emit less).
    edge = np.asarray(Image.fromarray((fg * 255).astype(np.uint8)).filter(ImageFilter.BoxBlur(2)),
                      np.float32) / 255.0
    img = heat_table[mat] * (0.78 + 0.22 * edge)
    ambient = -0.06 if camera.outdoor else 0.0
    img = np.where(fg, img + ambient, camera.background[:, off:off + w])
    lo = 0.05 + 0.08 * rng.random()
    img = (img - lo) * camera.exposure * (0.9 + 0.25 * rng.random()) + 0.05
    im = Image.fromarray(np.clip(img * 255.0, 0, 255).astype(np.uint8), "L")
    im = im.filter(ImageFilter.GaussianBlur(camera.blur * (0.8 + 0.4 * rng.random())))
    rows = rng.normal(0, 255 * camera.noise * 0.4, (h, 1))                      # row-wise read-out noise
    arr = np.asarray(im, np.float32) + rng.normal(0, 255 * camera.noise, (h, w)) + rows
    grey = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey, grey, grey], axis=-1), "RGB")   # (H, W, 3) identical channels


# ----------------------------------------------------------------------------------------------------------
# Layout plans
# ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """The images of one identity to render: (camera, file path relative to the root, pose key)."""

    pid: int
    files: tuple[tuple[int, str, int], ...]


def _sysu_plan(n: int, seed: int, smoke: bool) -> tuple[dict[str, list[int]], list[Job]]:
    rng = np.random.default_rng([seed, 3, n])
    pids = rng.permutation(np.arange(1, n + 1))
    n_test = max(min(8, n // 3), int(round(0.2 * n)))
    n_val = max(1, int(round(0.1 * (n - n_test))))
    split = {"test": sorted(int(p) for p in pids[:n_test]),
             "val": sorted(int(p) for p in pids[n_test:n_test + n_val]),
             "train": sorted(int(p) for p in pids[n_test + n_val:])}
    cams: dict[int, list[int]] = {}
    for pid in range(1, n + 1):
        r = np.random.default_rng([seed, 5, pid])
        vis = [c for c in SYSU_VISIBLE_CAMS if r.random() < 0.6] or [int(r.choice(SYSU_VISIBLE_CAMS))]
        ir = [c for c in SYSU_INFRARED_CAMS if r.random() < 0.7] or [int(r.choice(SYSU_INFRARED_CAMS))]
        cams[pid] = sorted(vis + ir)
    # The test protocol needs every camera among the test ids and, as in the real data, some test ids
    # missing some cameras; small sizes are patched deterministically to guarantee both.
    test = split["test"]
    for i, c in enumerate(SYSU_VISIBLE_CAMS + SYSU_INFRARED_CAMS):
        if not any(c in cams[p] for p in test):
            cams[test[i % len(test)]] = sorted(cams[test[i % len(test)]] + [c])
    if all(len(cams[p]) == 6 for p in test):
        cams[test[0]] = [c for c in cams[test[0]] if c != 2]
    lo, hi = (3, 6) if smoke else (6, 13)
    jobs = []
    for pid in range(1, n + 1):
        r = np.random.default_rng([seed, 6, pid])
        files = []
        for c in cams[pid]:
            for k in range(1, int(r.integers(lo, hi)) + 1):
                files.append((c, f"cam{c}/{pid:04d}/{k:04d}.jpg", k))
        jobs.append(Job(pid, tuple(files)))
    return split, jobs


def _regdb_plan(n: int, seed: int) -> list[Job]:
    jobs = []
    for pid in range(1, n + 1):
        files = []
        for k in range(1, REGDB_IMAGES_PER_MODALITY + 1):
            # Visible and thermal frame k of a person are one simultaneous capture: they share the pose key.
            files.append((1, f"Visible/{pid}/{{sex}}_{{view}}_v_{pid * 100 + k:05d}_{k}.bmp", k))
            files.append((2, f"Thermal/{pid}/{{sex}}_{{view}}_t_{pid * 100 + k:05d}_{k}.bmp", k))
        jobs.append(Job(pid, tuple(files)))
    return jobs


def _regdb_splits(n: int, seed: int) -> dict[int, list[int]]:
    """Per trial 1..10, the sorted training pids (a random half); the other half is the test set."""
    out = {}
    for t in range(1, REGDB_TRIALS + 1):
        perm = np.random.default_rng([seed, 13, t]).permutation(np.arange(1, n + 1))
        out[t] = sorted(int(p) for p in perm[: n // 2])
    return out


# ----------------------------------------------------------------------------------------------------------
# Rendering jobs (one process per core)
# ----------------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(layout: str, seed: int, people: list[Identity], out: str, outdoor_daylight: float) -> None:
    _WORKER.update(layout=layout, seed=seed, people=people, out=out, outdoor_daylight=outdoor_daylight)


def _render_job(job: Job) -> int:
    layout, seed, out = _WORKER["layout"], _WORKER["seed"], Path(_WORKER["out"])
    person = _WORKER["people"][job.pid - 1]
    code = _LAYOUT_CODE[layout]
    for camid, rel, key in job.files:
        # RegDB's pairs are simultaneous: the pose depends on the frame, not the camera.
        pose_cam = 0 if layout == "regdb" else camid
        pose = draw_pose(np.random.default_rng([seed, code, job.pid, pose_cam, key, 1]))
        rng = np.random.default_rng([seed, code, job.pid, camid, key, 2])
        img = render(person, pose, _camera(layout, seed, camid), rng, _WORKER["outdoor_daylight"],
                     np.random.default_rng([seed, code, job.pid, camid, key, 3]))
        path = out / rel.format(sex=person.sex, view="back" if pose.view == "back" else "front")
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        if layout == "sysu":
            img.save(buf, format="JPEG", quality=90)
        else:
            img.save(buf, format="BMP")
        path.write_bytes(buf.getvalue())
    return len(job.files)


def _run_jobs(layout: str, seed: int, people: list[Identity], out: Path, jobs: list[Job],
              workers: int, outdoor_daylight: float = SYNTHETIC_OUTDOOR_DAYLIGHT) -> None:
    n_images = sum(len(j.files) for j in jobs)
    if workers <= 1 or n_images < MIN_IMAGES_FOR_POOL:
        _init_worker(layout, seed, people, str(out), outdoor_daylight)
        for job in jobs:
            _render_job(job)
        return
    # Workers use numpy and PIL only, so forking is safe and, unlike "spawn", works when the parent's main
    # module cannot be re-imported (a script piped on stdin, some notebook kernels).
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(workers, initializer=_init_worker,
                  initargs=(layout, seed, people, str(out), outdoor_daylight)) as pool:
        for _ in pool.imap_unordered(_render_job, jobs, chunksize=4):
            pass


# ----------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------

def generate(layout: Literal["sysu", "regdb"], out: str | Path, identities: int | None = None, seed: int = 0,
             workers: int | None = None, smoke: bool = False,
             ir_correlation: float = SYNTHETIC_IR_CORRELATION,
             outdoor_daylight: float = SYNTHETIC_OUTDOOR_DAYLIGHT) -> dict[str, Any]:
    """Write the synthetic dataset into ``out`` in a real dataset's layout.

    SYSU-MM01 layout: ``cam{1..6}/{pid:04d}/{img:04d}.jpg`` (visible cams 1, 2, 4, 5; infrared cams 3, 6; not
    every identity on every camera) and ``exp/{train,val,test}_id.txt``. RegDB layout:
    ``Visible/{pid}/*.bmp``, ``Thermal/{pid}/*.bmp`` (10 + 10 per identity) and
    ``idx/{train,test}_{visible,thermal}_{1..10}.txt`` (a random half split of the identities per trial).

    Args:
        layout: ``"sysu"`` or ``"regdb"``.
        out: destination folder (created; must be empty or absent).
        identities: number of identities (default 200; at least 4).
        seed: random seed; the same seed gives the same bytes.
        workers: render processes (default: every core); does not change the output.
        smoke: fewer images per SYSU-MM01 camera (3-5 instead of 6-12), for seconds-long tests.
        ir_correlation: how much of a garment's visible luminance its infrared brightness keeps (0..1; see
            :func:`garment_ir`). The default is calibrated (``data_cards/synthetic.md``); 0 is the hard
            setting, infrared independent of the garment's look.
        outdoor_daylight: how far away and in how harsh a daylight the SYSU-MM01 layout's outdoor visible
            cameras 4 and 5 see people (0..1, :func:`daylight`; 0, the default, renders them as the indoor
            ones). The RegDB layout has no indoor cameras and takes only 0.

    Returns:
        The dataset statistics (also written to ``out/synthetic_stats.json``), plus ``seconds``.

    Raises:
        ValueError: for an unknown layout, too few identities, an ``ir_correlation`` or ``outdoor_daylight``
            outside [0, 1] (or above 0 for RegDB), or a non-empty ``out``.
        FolderInUseError: another process is generating into ``out`` (see :mod:`vireid_lib.locks`).
    """
    if layout not in _LAYOUT_CODE:
        raise ValueError(f"unknown layout {layout!r}; choose 'sysu' or 'regdb'")
    n = DEFAULT_IDENTITIES[layout] if identities is None else int(identities)
    if n < 4:
        raise ValueError(f"identities must be at least 4 (the {layout} layout needs training and test "
                         f"identities), got {n}")
    if not 0.0 <= ir_correlation <= 1.0:
        raise ValueError(f"ir_correlation must be in [0, 1], got {ir_correlation}")
    _check_daylight(layout, outdoor_daylight)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {out} is a file, not a folder; give a new folder (created if missing)")
    _check_empty(out)
    # One writer per folder: a second generator into the same folder is refused while this one runs.
    with folder_lock(out, f"generating the synthetic {layout} dataset, seed {seed}, {n} identities"):
        _check_empty(out)
        return _generate(layout, out, n, seed, workers, smoke, ir_correlation, outdoor_daylight)


def _check_daylight(layout: str, outdoor_daylight: float) -> None:
    if not 0.0 <= outdoor_daylight <= 1.0:
        raise ValueError(f"outdoor_daylight must be in [0, 1] (0: outdoor cameras render as indoor ones), "
                         f"got {outdoor_daylight}")
    if layout == "regdb" and outdoor_daylight != 0.0:
        raise ValueError(f"outdoor_daylight is a SYSU-MM01-layout setting (RegDB has no indoor cameras); "
                         f"use 0 for the regdb layout, got {outdoor_daylight}")


def _check_empty(out: Path) -> None:
    if out.exists() and any(not is_lock_file(p.name) for p in out.iterdir()):
        raise ValueError(f"output folder {out} is not empty; choose a new folder or delete it first")


def _generate(layout: str, out: Path, n: int, seed: int, workers: int | None, smoke: bool,
              ir_correlation: float, outdoor_daylight: float = SYNTHETIC_OUTDOOR_DAYLIGHT) -> dict[str, Any]:
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    t0 = time.perf_counter()
    people = make_identities(n, seed, ir_correlation)
    if layout == "sysu":
        split, jobs = _sysu_plan(n, seed, smoke)
        _run_jobs(layout, seed, people, out, jobs, workers, outdoor_daylight)
        (out / "exp").mkdir(exist_ok=True)
        for name, ids in split.items():
            (out / "exp" / f"{name}_id.txt").write_text(",".join(str(p) for p in ids) + "\n")
    else:
        jobs = _regdb_plan(n, seed)
        _run_jobs(layout, seed, people, out, jobs, workers)
        _write_regdb_idx(out, n, seed)
    stats = measure(layout, out)
    stats.update(generator_version=GENERATOR_VERSION, seed=seed, identities=n, smoke=smoke,
                 ir_correlation=ir_correlation,
                 near_duplicates=sum(p.twin_of is not None for p in people),
                 attributes=_attribute_counts(people))
    if outdoor_daylight:   # absent: 0, as in every set generated before the setting existed
        stats["outdoor_daylight"] = outdoor_daylight
    (out / STATS_FILE).write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    return stats


def _write_regdb_idx(out: Path, n: int, seed: int) -> None:
    (out / "idx").mkdir(exist_ok=True)
    files = {m: {} for m in ("Visible", "Thermal")}
    for m in files:
        for d in sorted((out / m).iterdir(), key=lambda p: int(p.name)):
            files[m][int(d.name)] = sorted(f.name for f in d.iterdir())
    for t, train in _regdb_splits(n, seed).items():
        test = sorted(set(range(1, n + 1)) - set(train))
        for split, ids in (("train", train), ("test", test)):
            for m, name in (("Visible", "visible"), ("Thermal", "thermal")):
                lines = [f"{m}/{p}/{f} {p - 1}" for p in ids for f in files[m][p]]
                (out / "idx" / f"{split}_{name}_{t}.txt").write_text("\n".join(lines) + "\n")


def _attribute_counts(people: list[Identity]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for key in ("hair", "sleeve", "legwear", "bag", "up_pattern", "hat", "glasses"):
        counts: dict[str, int] = {}
        for p in people:
            v = str(asdict(p)[key])
            counts[v] = counts.get(v, 0) + 1
        out[key] = dict(sorted(counts.items()))
    return out


def measure(layout: str, root: str | Path) -> dict[str, Any]:
    """Count identities and images per split, camera and modality of a tree in ``layout``."""
    root = Path(root)
    if layout == "sysu":
        ids = {s: [int(x) for x in (root / "exp" / f"{s}_id.txt").read_text().split(",")]
               for s in ("train", "val", "test")}
        per_cam = {}
        train_ids = set(ids["train"]) | set(ids["val"])
        counts = {"train_visible": 0, "train_infrared": 0, "test_visible": 0, "test_infrared": 0}
        gallery_all = gallery_indoor = 0
        for c in SYSU_VISIBLE_CAMS + SYSU_INFRARED_CAMS:
            mod = "infrared" if c in SYSU_INFRARED_CAMS else "visible"
            n_cam = 0
            cam_dir = root / f"cam{c}"
            for d in (sorted(cam_dir.iterdir()) if cam_dir.is_dir() else []):
                k = len(list(d.iterdir()))
                n_cam += k
                pid = int(d.name)
                counts[("train_" if pid in train_ids else "test_") + mod] += k
                if pid in ids["test"] and mod == "visible":
                    gallery_all += 1
                    gallery_indoor += c in SYSU_INDOOR_CAMS
            per_cam[f"cam{c}"] = n_cam
        return {"layout": "sysu", "image_size": list(IMAGE_SIZE), "train_ids": len(ids["train"]),
                "val_ids": len(ids["val"]), "test_ids": len(ids["test"]), "images_per_camera": per_cam,
                **counts, "query": counts["test_infrared"], "gallery_single_shot_all": gallery_all,
                "gallery_single_shot_indoor": gallery_indoor}
    n_vis = sum(1 for _ in (root / "Visible").rglob("*.bmp"))
    n_ir = sum(1 for _ in (root / "Thermal").rglob("*.bmp"))
    n_ids = len(list((root / "Visible").iterdir()))
    return {"layout": "regdb", "image_size": list(IMAGE_SIZE), "ids": n_ids, "visible": n_vis,
            "thermal": n_ir, "train_ids_per_trial": n_ids // 2, "test_ids_per_trial": n_ids - n_ids // 2,
            "trials": REGDB_TRIALS}


def read_stats(root: str | Path) -> dict[str, Any]:
    """The statistics written by :func:`generate` into ``root``.

    Raises:
        FileNotFoundError: when ``root`` holds no generated dataset.
    """
    path = Path(root) / STATS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {root} is not a synthetic dataset written by "
                                f"`vireid synth`")
    return json.loads(path.read_text())


def setting_words(ir_correlation: float | None = SYNTHETIC_IR_CORRELATION,
                  outdoor_daylight: float | None = SYNTHETIC_OUTDOOR_DAYLIGHT) -> str:
    """The generator settings a caption must name because they are not the defaults, as a suffix:
    ``", infrared correlation 0.5, outdoor daylight 1"``, or ``""`` for a set of the default settings. ``None``
    (a record that does not say: a version-1 set holds no correlation, and the caption's generator version
    already tells it apart) names nothing."""
    words = []
    if ir_correlation is not None and ir_correlation != SYNTHETIC_IR_CORRELATION:
        words.append(f"infrared correlation {ir_correlation:g}")
    if outdoor_daylight:
        words.append(f"outdoor daylight {outdoor_daylight:g}")
    return "".join(f", {w}" for w in words)


def format_stats(stats: dict[str, Any]) -> str:
    """A short human-readable table of :func:`generate`'s statistics."""
    lines = [f"synthetic {stats['layout']} dataset (generator v{stats.get('generator_version', '?')}, "
             f"seed {stats.get('seed', '?')}, {stats.get('identities', '?')} identities, "
             f"infrared correlation {stats.get('ir_correlation', 0.0):g}, "
             f"{stats['image_size'][0]}x{stats['image_size'][1]} images"
             f"{setting_words(None, stats.get('outdoor_daylight'))})"]
    if stats["layout"] == "sysu":
        lines += [
            f"  train: {stats['train_ids']} + {stats['val_ids']} val ids, "
            f"{stats['train_visible']} visible + {stats['train_infrared']} infrared images",
            f"  test : {stats['test_ids']} ids, query {stats['query']} infrared (cam3, cam6), gallery "
            f"{stats['gallery_single_shot_all']} all / {stats['gallery_single_shot_indoor']} indoor (single-shot)",
            "  per camera: " + ", ".join(f"{k} {v}" for k, v in stats["images_per_camera"].items()),
        ]
    else:
        lines += [f"  {stats['ids']} ids, {stats['visible']} visible + {stats['thermal']} thermal images",
                  f"  each of {stats['trials']} trials: {stats['train_ids_per_trial']} train ids, "
                  f"{stats['test_ids_per_trial']} test ids"]
    if "near_duplicates" in stats:
        lines.append(f"  near-duplicate identities (same garment colours): {stats['near_duplicates']}")
    if "seconds" in stats:
        lines.append(f"  generated in {stats['seconds']:.1f} s")
    return "\n".join(lines)


def default_cache_dir() -> Path:
    """The cache folder: ``$VIREID_CACHE`` or ``~/.cache/vireid``."""
    env = os.environ.get("VIREID_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vireid"


def synthetic_root(layout: Literal["sysu", "regdb"], smoke: bool = False, identities: int | None = None,
                   seed: int = 0, cache_dir: str | Path | None = None,
                   ir_correlation: float = SYNTHETIC_IR_CORRELATION,
                   outdoor_daylight: float = SYNTHETIC_OUTDOOR_DAYLIGHT) -> Path:
    """The cached synthetic dataset folder, generated on first use.

    The folder is ``<cache>/synthetic-v<version>/<layout>-<n>ids[-smoke]-seed<seed>-irc<ir_correlation>``, with
    ``-day<outdoor_daylight>`` appended when that is not 0.
    Safe when several processes ask at once: each generates into a temporary sibling folder and renames it into place
    atomically; a process that finds the folder already there discards its own copy.

    Args:
        layout: ``"sysu"`` or ``"regdb"``.
        smoke: the tiny size used by tests and CI notebooks (``SMOKE_IDENTITIES``).
        identities: override the number of identities.
        seed: generator seed.
        cache_dir: cache folder (default: ``$VIREID_CACHE`` or ``~/.cache/vireid``).
        ir_correlation, outdoor_daylight: see :func:`generate`.
    """
    if layout not in _LAYOUT_CODE:
        raise ValueError(f"unknown layout {layout!r}; choose 'sysu' or 'regdb'")
    n = identities or (SMOKE_IDENTITIES if smoke else DEFAULT_IDENTITIES)[layout]
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = (base / f"synthetic-v{GENERATOR_VERSION}"
              / (f"{layout}-{n}ids{'-smoke' if smoke else ''}-seed{seed}-irc{float(ir_correlation)!r}"
                 + (f"-day{float(outdoor_daylight)!r}" if outdoor_daylight else "")))
    if (target / STATS_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        generate(layout, tmp, identities=n, seed=seed, smoke=smoke, ir_correlation=ir_correlation,
                 outdoor_daylight=outdoor_daylight)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / STATS_FILE).is_file():   # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
