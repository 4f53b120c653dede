"""Configuration: nested dataclasses, JSON round-trips and ``section.key=value`` overrides.

Every run is described by one :class:`Config`; it is saved as JSON beside every checkpoint and result, and
an ablation is a config value (``dataclasses.replace``), never a copy of the code. The named configurations
(presets, per-dataset loss weights, Table 3's model variants) are in :mod:`vireid_lib.presets`.

The defaults follow the paper and the decisions of DECISIONS §1–§8; an option the paper leaves open
defaults to its literal reading (DECISIONS §12).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vireid_lib.io import atomic_write_text

SYNTHETIC_IR_CORRELATION = 0.9
"""The synthetic generator's calibrated infrared-to-visible luminance correlation (``data_cards/synthetic.md``
says how it was chosen); 0 is the hard research setting."""

SYNTHETIC_OUTDOOR_DAYLIGHT = 0.0
"""The SYSU-MM01 layout's default ``outdoor_daylight``: outdoor visible cameras render people as indoor ones do (above
0, farther away in harsh daylight: ``vireid_lib.data.synthetic.daylight``; ``data_cards/synthetic.md``)."""


@dataclass(frozen=True)
class DataConfig:
    """Which data, at which size.

    Attributes:
        dataset: ``"sysu"`` (SYSU-MM01) or ``"regdb"`` (RegDB).
        root: folder holding the dataset in its own layout (``.../SYSU-MM01`` or ``.../RegDB``); ``None``
            means the synthetic dataset, generated on first use into the cache folder.
        trial: RegDB trial 1..10 (which idx files define the split); ignored for SYSU-MM01.
        height: input height in pixels (paper: 288).
        width: input width in pixels (paper: 144).
        synthetic_identities: identities of the synthetic dataset when ``root`` is ``None`` (``None``: the
            layout's default, 200; or 24 / 16 with ``synthetic_smoke``).
        synthetic_smoke: the tiny synthetic set of tests and CI (``--smoke``: fewer identities, 3-5 images per
            SYSU-MM01 camera); recorded so that evaluating a checkpoint uses the data it was trained on.
            Configs saved before this field existed load as ``False``.
        synthetic_seed: seed of the synthetic dataset.
        synthetic_ir_correlation: how much of a garment's visible luminance its synthetic infrared brightness
            keeps (0..1; 0 is the hard setting).
        synthetic_outdoor_daylight: how far away and in how harsh a daylight the synthetic SYSU-MM01 layout's
            outdoor visible cameras see people (0..1; 0 renders them as the indoor ones; see
            ``data.synthetic.daylight``). Configs saved before this field existed load as 0.
        num_workers: data-loader worker processes.
        random_erasing: probability of channel random erasing in each training pipeline (DECISIONS §9: CAJ's
            0.5).
        cache: use the preprocessed memory-mapped image cache (resized uint8 arrays).
    """

    dataset: Literal["sysu", "regdb"] = "sysu"
    root: str | None = None
    trial: int = 1
    height: int = 288
    width: int = 144
    synthetic_identities: int | None = None
    synthetic_smoke: bool = False
    synthetic_seed: int = 0
    synthetic_ir_correlation: float = SYNTHETIC_IR_CORRELATION
    synthetic_outdoor_daylight: float = SYNTHETIC_OUTDOOR_DAYLIGHT
    num_workers: int = 2
    random_erasing: float = 0.5
    cache: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """The network of DECISIONS §1–§6 with every option of DECISIONS §12.

    Attributes:
        arch: ResNet depth used for both streams: ``resnet18``, ``resnet34``, ``resnet50`` (torchvision's) or
            ``resnet10`` (one block per stage; CPU-sized, no ImageNet weights).
        width: channels of the first ResNet stage (torchvision's: 64; stages double it). Narrower networks
            train on a CPU, from random weights or a shipped start; ImageNet weights need 64.
        pretrained: ``None`` (random), ``"imagenet"`` (torchvision's), ``"synthetic-visible"`` (shipped, resnet10
            at 32: :mod:`vireid_lib.models.start`), or a ResNet state dict's path; both stems start from it.
        last_stride: stride of layer4 (DECISIONS §1: 1, so 288x144 gives an 18x9 map).
        mca_stages: after which residual stages MCA is inserted (DECISIONS §3: after layer2 and layer3); empty
            disables MCA.
        mca_reduction: C' = C / mca_reduction for Q and K (DECISIONS §3: 8).
        mca_pool_kernels: multi-scale max-pool kernels, stride 1, outputs summed (eqs. (1)–(2)).
        mca_dilations: dilation rates of the parallel 3x3 convolutions of eq. (3), outputs summed.
        mca_value_reduction: the dilated convolutions of eq. (3) map C to C / mca_value_reduction channels and
            its 1x1 convolution restores C (the paper gives no width; 1 keeps full width at 27 C^2 weights
            per stage).
        mca_scale: ``"none"`` (eq. (4) literally) or ``"learnable"`` (a CCNet-style scale initialised at 0).
        pca: insert PCA on the final map (DECISIONS §4).
        pca_reduction: hidden width C / pca_reduction of PCA's per-stripe 1x1 convolutions (eqs. (5)–(6); the
            paper's "scaling transform", as in a squeeze-excitation block; 1 keeps full width).
        pca_mode: ``"add"`` (eq. (8) literally: x + tanh(x')) or ``"gate"`` (x * (1 + tanh(x'))).
        parts: number of horizontal stripes P, shared by PCA and the local branch (paper: 3).
        local_branch: train the PCB local branch (DECISIONS §6).
        local_dim: embedding size of each stripe in the local branch.
        gem_p: GeM pooling exponent for both branches (DECISIONS §5: 3).
        attention_init: ``"default"`` (PyTorch's initialisation: MCA adds a non-zero term and PCA per-stripe
            constants from step 0) or ``"identity"`` (the last layer of each attention term zeroed, so MCA and
            PCA start as the identity, as CAJ's non-local blocks and CCNet's scale do).
    """

    arch: Literal["resnet10", "resnet18", "resnet34", "resnet50"] = "resnet50"
    width: int = 64
    pretrained: str | None = None
    last_stride: int = 1
    mca_stages: tuple[int, ...] = (2, 3)
    mca_reduction: int = 8
    mca_pool_kernels: tuple[int, ...] = (3, 5, 7)
    mca_dilations: tuple[int, ...] = (1, 2, 3)
    mca_value_reduction: int = 8
    mca_scale: Literal["none", "learnable"] = "none"
    pca: bool = True
    pca_reduction: int = 16
    pca_mode: Literal["add", "gate"] = "add"
    parts: int = 3
    local_branch: bool = True
    local_dim: int = 256
    gem_p: float = 3.0
    attention_init: Literal["default", "identity"] = "default"


@dataclass(frozen=True)
class LossConfig:
    """The objective of eqs. (9)–(16).

    Attributes:
        triplet: ``"batch_hard"`` (eq. (10) as DECISIONS §7 decides), ``"weighted"`` (CAJ's weighted-
            regularised triplet, its default ``agw`` method) or ``"adp"`` (CAJ's ``TripletLoss_ADP``, its
            published recipe ``--method adp --square 1``).
        adp_alpha: softmax sharpness of the ADP triplet (CAJ: 1).
        adp_gamma: gap scale of the ADP triplet (CAJ: 1).
        adp_square: square the ADP triplet's gap (CAJ's ``--square 1``).
        margin: rho of eq. (10).
        center_margin: rho of eq. (11).
        center_reduction: how eq. (12), and eq. (13) unless ``mse_reduction`` says otherwise, reduce over
            feature dimensions: ``"sum"`` (the squared Euclidean distance, as written) or ``"mean"``
            (divided by the feature size: the element-wise mean squared error, which keeps the terms O(1)
            for networks trained from scratch).
        mse_reduction: how eq. (13) reduces over the pooled dimensions: ``"same"`` (as
            ``center_reduction``), ``"sum"`` or ``"mean"`` (the paper calls it mean squared error).
        center_triplet_reduction: how eq. (11) reduces its hinges over identities and its three terms:
            ``"sum"`` (as written) or ``"mean"`` (HcTri's ``MarginRankingLoss`` mean; independent of the
            number of identities per batch).
        center_negatives: the negatives ``c^n`` of eq. (11): ``"all"`` (other identities' centres in
            every modality, HcTri's code) or ``"other_modality"`` (other identities' centres in the
            modalities other than the anchor's, the paper's text "centres of the other modalities").
        label_smoothing: epsilon of the identity loss (eq. (9); paper: 0).
        alpha: weight of the local objective (eq. (16)).
        lambda_id: l1 of eq. (15).
        lambda_center: l2 of eq. (15).
        lambda_hc: l3 of eq. (15).
    """

    triplet: Literal["batch_hard", "weighted", "adp"] = "batch_hard"
    margin: float = 0.3
    center_margin: float = 0.3
    center_reduction: Literal["sum", "mean"] = "sum"
    center_triplet_reduction: Literal["sum", "mean"] = "sum"
    mse_reduction: Literal["same", "sum", "mean"] = "same"
    center_negatives: Literal["all", "other_modality"] = "all"
    adp_alpha: float = 1.0
    adp_gamma: float = 1.0
    adp_square: bool = True
    label_smoothing: float = 0.0
    alpha: float = 1.0
    lambda_id: float = 0.5
    lambda_center: float = 0.1
    lambda_hc: float = 2.0


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (DECISIONS §8).

    Attributes:
        optimizer: ``"sgd"`` (the paper's: SGD with Nesterov momentum) or ``"adamw"`` (decoupled weight decay;
            trains a network from random weights faster, as the CPU presets do).
        schedule: ``"step"`` (the paper's warm-up then x ``gamma`` at each milestone) or ``"cosine"``
            (warm-up then a cosine decay towards zero; see ``schedule.lr_factor``).
        epochs: number of epochs (paper: 100).
        lr: base learning rate of the heads (paper: 0.1); the backbone uses ``lr * backbone_lr_mult``.
        backbone_lr_mult: learning-rate multiplier of the pretrained backbone (DECISIONS §8: 0.1).
        attention_lr_mult: learning-rate multiplier of MCA and PCA in a group of their own; ``None`` keeps them
            with the heads at ``lr`` (CAJ trains its non-local blocks with the backbone, at 0.1).
        momentum: SGD momentum (AdamW: beta1).
        nesterov: Nesterov momentum.
        weight_decay: L2 weight decay (AdamW: decoupled weight decay).
        adamw_kernel: AdamW's ``"fused"`` kernel (one pass over all tensors) or PyTorch's ``"default"`` (its loop on
            a CPU), which the committed ablation grids ran with; they round differently: a run repeats with its own.
        warmup_epochs: linear warm-up length (paper: 10).
        milestones: epochs at which the rate is multiplied by ``gamma`` (paper: 20 and 50; ``step`` schedule).
        gamma: step factor (``step`` schedule).
        ids_per_batch: identities per batch (paper: 4).
        per_modality: images per identity and modality (paper: 4; a batch holds visible, exchanged and
            infrared copies, 4 x (4 + 4 + 4)).
        seed: seed of the sampler, augmentation and initialisation.
        eval_every: evaluate on trial 0 every this many epochs (0: only at the end).
        amp: ``"none"``, ``"bf16"`` or ``"fp16"`` autocast (CUDA only).
        channels_last: use the channels_last memory format (on 2 CPU cores a cpu-demo step was faster with it,
            on an H200 the paper-size eager step slower: docs/CPU_RECIPE.md, docs/REPRODUCE.md section 4).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        max_steps_per_epoch: cap on iterations per epoch (``None``: N_visible / (P x K), DECISIONS §8).
        tensorboard: also write TensorBoard event files to ``<run>/tensorboard`` (needs the optional
            ``tensorboard`` package; see ``vireid_lib/tensorboard_log.py``).
        select: which checkpoint a run reports as its model: ``"last"`` (the final epoch; unbiased),
            ``"best-rank1"`` (CAJ's: the best Rank-1 of the periodic trial-0 evaluation) or ``"best-map"``.
            ``best.pt`` keeps the best by that metric (mAP for ``"last"``); ``vireid train`` reports both, labelled.
        audit_every: log the loss audit (each term's value and share of the backbone gradient,
            ``vireid_lib.audit``) at step 0 and every this many steps; 0: never. Single-process runs only.
    """

    optimizer: Literal["sgd", "adamw"] = "sgd"
    schedule: Literal["step", "cosine"] = "step"
    epochs: int = 100
    lr: float = 0.1
    backbone_lr_mult: float = 0.1
    attention_lr_mult: float | None = None
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    adamw_kernel: Literal["fused", "default"] = "fused"
    warmup_epochs: int = 10
    milestones: tuple[int, ...] = (20, 50)
    gamma: float = 0.1
    ids_per_batch: int = 4
    per_modality: int = 4
    seed: int = 0
    eval_every: int = 10
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    device: str = "auto"
    max_steps_per_epoch: int | None = None
    tensorboard: bool = True
    select: Literal["last", "best-rank1", "best-map"] = "last"
    audit_every: int = 0


@dataclass(frozen=True)
class EvalConfig:
    """How test features are extracted and ranked (DECISIONS §5 and Table 4).

    Attributes:
        branch: ``"global"`` (the paper's test feature), ``"local"`` or ``"both"`` (Table 4).
        feature: ``"bn"`` (after the BN neck, default) or ``"pool"`` (the pooled feature before it).
        flip: average the feature with that of the horizontally flipped image.
        normalize: L2-normalise features before ranking.
        rerank: apply k-reciprocal re-ranking (Zhong et al., CVPR 2017).
        batch_size: images per extraction batch.
        sysu_trials: number of SYSU-MM01 gallery trials (protocol: 10).
        sysu_shots: gallery images per identity and camera (1: single-shot, 10: multi-shot).
        sysu_gallery: which SYSU-MM01 gallery draws: ``"official"`` (the dataset's fixed permutations,
            ``exp/rand_perm_cam.mat``; MPANet, SAAI, IDKL, MCJA), ``"reference"`` (AGW/CAJ's
            ``random.seed(trial)`` draw) or ``"auto"`` (official when the file is present, else reference).
            The two give different galleries: numbers from one are not comparable with the other's.
    """

    branch: Literal["global", "local", "both"] = "global"
    feature: Literal["bn", "pool"] = "bn"
    flip: bool = True
    normalize: bool = True
    rerank: bool = False
    batch_size: int = 64
    sysu_trials: int = 10
    sysu_shots: int = 1
    sysu_gallery: Literal["auto", "official", "reference"] = "auto"


@dataclass(frozen=True)
class Config:
    """One run: data, model, loss, training and evaluation settings.

    ``Config()`` holds every field at its dataclass default (the paper's equations as written, random initial
    weights) and is named ``default``, not after a preset: the ``paper-sysu`` preset differs from it (ImageNet
    weights and the reductions chosen in ``docs/REPRODUCE.md``). Use ``presets.preset("paper-sysu")`` for the
    paper's run.
    """

    name: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready nested dict (tuples become lists)."""
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise to JSON; also write it to ``path`` when given (atomically)."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            atomic_write_text(path, text + "\n")
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Rebuild from :meth:`to_dict` output.

        Raises:
            ValueError: for unknown sections or keys (the message names them).
        """
        return _from_dict(cls, d, "config")

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> Config:
        """Load from a JSON file path or a JSON string."""
        p = Path(path_or_text) if not str(path_or_text).lstrip().startswith("{") else None
        text = p.read_text() if p is not None else str(path_or_text)
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{p or 'config text'} is not valid JSON: {e}") from None
        return cls.from_dict(d)


def _from_dict(cls: type, d: Any, where: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known keys are {sorted(names)}")
    kwargs = {}
    for k, v in d.items():
        t = hints[k]
        if dataclasses.is_dataclass(t):
            kwargs[k] = _from_dict(t, v, f"{where}.{k}")
        else:
            kwargs[k] = _coerce(v, t, f"{where}.{k}")
    return cls(**kwargs)


def _coerce(v: Any, t: Any, where: str) -> Any:
    """Convert a JSON value to the annotated type (lists to tuples, ints to floats)."""
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if v is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(v, a, where)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {v!r}")
        return tuple(_coerce(x, args[0], where) for x in v)
    if origin is Literal:
        if v not in args:
            raise ValueError(f"{where}: {v!r} is not one of {list(args)}")
        return v
    if t is bool:
        if isinstance(v, bool):
            return v
        raise ValueError(f"{where}: expected true or false, got {v!r}")
    if t is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{where}: expected an integer, got {v!r}")
        return v
    if t is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{where}: expected a number, got {v!r}")
        return float(v)
    if t is str and not isinstance(v, str):
        raise ValueError(f"{where}: expected a string, got {v!r}")
    return v


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Apply ``section.key=value`` overrides, as given to ``--set`` on the command line.

    Values are parsed as JSON when they parse (``5``, ``0.01``, ``true``, ``null``, ``[2,3]``) and taken
    as plain strings otherwise (``model.arch=resnet18``). A comma-separated list is accepted for tuple
    fields (``model.mca_stages=2,3``).

    Raises:
        ValueError: for a malformed override, an unknown key or a value of the wrong type.
    """
    d = cfg.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value (e.g. train.epochs=5)")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = d
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"override {item!r}: {p!r} is not a config section; sections are "
                                 f"{sorted(k for k, v in d.items() if isinstance(v, dict))}")
            node = node[p]
        leaf = parts[-1]
        if leaf not in node:
            raise ValueError(f"override {item!r}: unknown key {leaf!r}; known keys are {sorted(node)}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        hint = ""
        if isinstance(node[leaf], (list, tuple)):
            hint = f" (a list: comma-separated values such as {key.strip()}={','.join(map(str, node[leaf]))})"
            if not isinstance(value, list):
                value = [] if raw.strip() == "" else [_parse_item(x) for x in raw.split(",")]
        node[leaf] = value
        try:
            Config.from_dict(d)
        except ValueError as e:
            raise ValueError(f"override {item!r}: {e}{hint}") from None
    return Config.from_dict(d)


def _parse_item(text: str) -> Any:
    """One element of a comma-separated override: JSON when it parses, else the stripped string (the type
    check then names the key and the expected type)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()
