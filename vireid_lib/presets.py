"""Named configurations: the presets of the command line and notebooks (``paper-sysu``, ``paper-regdb``,
``cpu-demo``, ``ablation``), the per-dataset loss weights, the model variants of the paper's Table 3, and the
run that notebook 03 trains and notebooks 04, 06 and 07 load.

Each is a :class:`~vireid_lib.config.Config` (or a part of one) built from the dataclasses of
:mod:`vireid_lib.config`; this module imports that one, never the reverse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig, apply_overrides


VARIANTS: dict[str, dict[str, Any]] = {
    "base": dict(mca_stages=(), pca=False, local_branch=False),
    "base+p": dict(mca_stages=(), pca=False, local_branch=True),
    "base+p+mca": dict(mca_stages=(2, 3), pca=False, local_branch=True),
    "base+p+pca": dict(mca_stages=(), pca=True, local_branch=True),
    "full": dict(mca_stages=(2, 3), pca=True, local_branch=True),
}
"""The ablation variants of the paper's Table 3, as ModelConfig overrides. "Base" drops both attention
modules and the local branch (and with it the local losses)."""


def model_variant(name: str, base: ModelConfig | None = None, **overrides: Any) -> ModelConfig:
    """A ModelConfig for a named variant of Table 3.

    Args:
        name: one of ``base``, ``base+p``, ``base+p+mca``, ``base+p+pca``, ``full``.
        base: the config to start from (default: ``ModelConfig()``).
        **overrides: further field overrides applied after the variant's.

    Raises:
        ValueError: for an unknown variant name.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown model variant {name!r}; choose one of {sorted(VARIANTS)}")
    return dataclasses.replace(base or ModelConfig(), **{**VARIANTS[name], **overrides})


LOSS_WEIGHTS: dict[str, dict[str, float]] = {
    "regdb": dict(alpha=1.0, lambda_id=1.0, lambda_center=0.6, lambda_hc=0.6),
    "sysu": dict(alpha=1.0, lambda_id=0.5, lambda_center=0.1, lambda_hc=2.0),
}
"""Per-dataset alpha and lambda values of eqs. (15)–(16) (paper section 2.2)."""


PAPER_REDUCTIONS = dict(center_reduction="mean", center_triplet_reduction="mean")
"""The paper presets' reading of eqs. (11)–(13): per-dimension means for eqs. (12)–(13) and the per-hinge mean of
eq. (11). The literal sums carried most of the backbone's gradient and grew tenfold within two steps in the loss
audit, from random weights and from a synthetic-trained ResNet-50 (docs/REPRODUCE.md, section 7)."""


def _preset_sysu() -> Config:
    # DECISIONS §1: the two-stream ResNet50 starts from ImageNet weights (torchvision's, or a local state dict
    # given with --set model.pretrained=/path/resnet50.pth on a machine without internet).
    return Config(name="paper-sysu", data=DataConfig(dataset="sysu"), model=ModelConfig(pretrained="imagenet"),
                  loss=LossConfig(**LOSS_WEIGHTS["sysu"], **PAPER_REDUCTIONS))


def _preset_regdb() -> Config:
    return Config(name="paper-regdb", data=DataConfig(dataset="regdb"), model=ModelConfig(pretrained="imagenet"),
                  loss=LossConfig(**LOSS_WEIGHTS["regdb"], **PAPER_REDUCTIONS))


# The CPU recipe of cpu-demo and ablation, measured on the synthetic SYSU layout from random weights
# (learning curves in docs/CPU_RECIPE.md). Each choice and why it differs from the paper:
# - cpu-demo starts from the shipped synthetic-visible weights (vireid_lib/models/start.py), as the paper starts
#   from ImageNet's: the same network trained first on another synthetic set's visible images alone, so it
#   has never seen an infrared image (across modalities it finds few people); on the five sets of the README's
#   mean row it lifts all-search Rank-1 in the demo's steps (docs/CPU_RECIPE.md, the W_vis100 probes). The
#   recipe's other choices were measured from random weights (model.pretrained=null), as the ablation preset
#   still trains.
# - resnet10 at width 32 (one block per stage, stages of 32-256 channels) at 96x48: about twice the training
#   images per second of the earlier resnet18 at width 64 (`python -m benchmarks --quick`, full model), and
#   per step it learns about as well (docs/CPU_RECIPE.md); 96 rows keep a 6-row final map, divided by every
#   part count of Figure 4 (1, 2, 3, 6).
# - AdamW at 3e-3 with a cosine decay (warmup_epochs=1 is the full rate from the first epoch, no warm-up in
#   effect): from random weights it reached in 600 steps what 1e-3 reached in 900; the paper's SGD at 0.1 is
#   made for an ImageNet-pretrained ResNet50.
# - per-dimension means for eqs. (12)–(13) and the per-hinge mean of eq. (11): the summed forms start in
#   the tens to hundreds from scratch and keep the local classifiers at chance.
# - short epochs of 50 steps, so the schedule's shape fits a few CPU minutes.
# - no random erasing (CAJ's 0.5 per pipeline): with it off, all-search Rank-1 after 800 steps rose by more than
#   two standard errors over three training seeds (docs/CPU_RECIPE.md, the GPU probes G_ref*, H_ref_seed2
#   against G_erase0, H_erase0_seed*); a short schedule from random weights gains nothing from the regularisation.
# - 24-image batches (4 identities x 2 images per modality, the paper's 4 x 4) over 1,700 steps: a step costs
#   a little over half a 48-image one on 2 cores, and per image seen the smaller batch learned as well or better
#   (I_erase0_cl_p4k2_1800 against I_erase0_cl_1000), so the same minutes buy more steps. 34 epochs are as
#   many as fit the five minutes with the demo's data generation and evaluations (36 took 5:03; 34 took 4:55,
#   5:08 in a later run, 4:54 with the cheaper preprocessing of ShiftFlipNormalize, 4:35 with the image cache
#   decoded on both cores and 4:54 again in a fifth run: at the budget, under it in four runs of five).
# - three parts, the paper's P: six (the parts grid's best on the ablation preset) was not better on the
#   demo's schedule (N_parts6_seed0/1 and a 1,700-step demo, docs/CPU_RECIPE.md).
# - channels_last (a step faster on 2 cores) and no loader worker (faster than one worker process there, which
#   competes with the two compute threads): `python -m benchmarks.step_time`, table in docs/CPU_RECIPE.md.
CPU_MODEL = dict(arch="resnet10", width=32)
CPU_LOSS = dict(center_reduction="mean", center_triplet_reduction="mean")
CPU_TRAIN = dict(optimizer="adamw", schedule="cosine", lr=3e-3, weight_decay=0.05, backbone_lr_mult=1.0,
                 warmup_epochs=1, max_steps_per_epoch=50, per_modality=2, channels_last=True)


def _preset_cpu_demo() -> Config:
    return Config(
        name="cpu-demo",
        data=DataConfig(dataset="sysu", height=96, width=48, num_workers=0, random_erasing=0.0),
        model=ModelConfig(**CPU_MODEL, pretrained="synthetic-visible"),
        loss=LossConfig(**LOSS_WEIGHTS["sysu"], **CPU_LOSS),
        train=TrainConfig(**CPU_TRAIN, epochs=34, eval_every=0),
        eval=EvalConfig(batch_size=128),
    )


def _preset_ablation() -> Config:
    # The cpu-demo network and the recipe cpu-demo had when the grids ran (48-image batches, random erasing 0.5,
    # one loader worker; cpu-demo has since changed, docs/CPU_RECIPE.md) on the synthetic RegDB layout (the
    # paper's Table 3 is on RegDB) with 100 identities (50 train, 50 test), 10 epochs of at most 50 steps (31
    # each: an epoch is one pass over the 500 visible training images, 16 a batch; at 250 steps Rank-1 was about
    # 12%, chance 2%): 11 trainings x 5 seeds, two at a time with one thread each, fit in about an hour on 2 cores.
    # From random weights: the committed grids (results/ablations); with model.pretrained=synthetic-visible, the
    # start cpu-demo trains from, the grids of results/ablations-start.
    # Written out in full so that tuning the demo does not move a running grid. AdamW's default kernel: the
    # committed grids ran with it, and with the fused one today's code gives other weights, so only it repeats
    # them bit for bit (results/ablations/README.md).
    return Config(
        name="ablation",
        data=DataConfig(dataset="regdb", trial=1, height=96, width=48, synthetic_identities=100, num_workers=1),
        model=ModelConfig(arch="resnet10", width=32),
        loss=LossConfig(**LOSS_WEIGHTS["sysu"], center_reduction="mean", center_triplet_reduction="mean"),
        train=TrainConfig(optimizer="adamw", schedule="cosine", lr=3e-3, weight_decay=0.05, backbone_lr_mult=1.0,
                          warmup_epochs=1, max_steps_per_epoch=50, epochs=10, eval_every=0, adamw_kernel="default"),
        eval=EvalConfig(batch_size=128),
    )


PRESETS: dict[str, Callable[[], Config]] = {"paper-sysu": _preset_sysu, "paper-regdb": _preset_regdb,
                                            "cpu-demo": _preset_cpu_demo, "ablation": _preset_ablation}
"""Each preset's name and the function that builds it (a fresh :class:`~vireid_lib.config.Config` per call)."""


def preset(name: str) -> Config:
    """A named preset: ``paper-sysu``, ``paper-regdb`` (the paper's recipe exactly), ``cpu-demo`` or
    ``ablation`` (the short synthetic-RegDB schedule of ``vireid ablate``).

    Raises:
        ValueError: for an unknown preset name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()


NOTEBOOK_SMOKE = ("data.synthetic_smoke=true", "train.epochs=1", "train.max_steps_per_epoch=3", "train.ids_per_batch=2",
                  "train.per_modality=2", "train.eval_every=0", "eval.sysu_trials=1")
"""What ``VIREID_SMOKE=1`` (CI) changes in the notebooks' run: three steps on the tiny synthetic set (seconds)."""


def notebook_config(smoke: bool = False, root: str | None = None) -> Config:
    """The run notebook 03 trains into :func:`~vireid_lib.runs.notebook_run_dir` and notebooks 04, 06 and 07
    load (or train first, with :func:`~vireid_lib.training.load_or_train`): the ``cpu-demo`` preset on the
    SYSU-MM01 layout, with :data:`NOTEBOOK_SMOKE` when ``smoke``.

    Args:
        smoke: the notebooks' smoke mode (``VIREID_SMOKE=1``); with a real ``root`` it keeps the data and only
            shortens the training.
        root: the real SYSU-MM01 folder (``data_root_from_env("sysu")``); ``None``: the synthetic dataset.
    """
    cfg = apply_overrides(preset("cpu-demo"), NOTEBOOK_SMOKE if smoke else ())
    data = dataclasses.replace(cfg.data, root=root, synthetic_smoke=cfg.data.synthetic_smoke and root is None)
    return dataclasses.replace(cfg, data=data)
