"""The named configurations: the paper presets against the paper's text, Table 3's variants, the default
config's name, and the direction of the import between config and presets."""

import ast
import dataclasses
from pathlib import Path

import pytest

import vireid_lib.config
from vireid_lib.config import Config, ModelConfig
from vireid_lib.presets import LOSS_WEIGHTS, PRESETS, VARIANTS, model_variant, notebook_config, preset


def test_paper_presets_follow_the_paper():
    sysu, regdb = preset("paper-sysu"), preset("paper-regdb")
    # Paper section 2.2: SYSU-MM01 alpha=1, l1=0.5, l2=0.1, l3=2; RegDB alpha=1, l1=1, l2=0.6, l3=0.6.
    assert (sysu.loss.alpha, sysu.loss.lambda_id, sysu.loss.lambda_center, sysu.loss.lambda_hc) == (1, 0.5, 0.1, 2)
    assert (regdb.loss.alpha, regdb.loss.lambda_id, regdb.loss.lambda_center, regdb.loss.lambda_hc) == (
        1, 1, 0.6, 0.6)
    for cfg in (sysu, regdb):
        assert (cfg.data.height, cfg.data.width) == (288, 144)
        assert cfg.model.arch == "resnet50" and cfg.model.parts == 3 and cfg.model.last_stride == 1
        assert cfg.model.pretrained == "imagenet"
        t = cfg.train
        assert (t.epochs, t.lr, t.warmup_epochs, t.milestones) == (100, 0.1, 10, (20, 50))
        assert (t.ids_per_batch, t.per_modality) == (4, 4)
    assert set(LOSS_WEIGHTS) == {"sysu", "regdb"}


def test_variants_are_config_values():
    assert model_variant("base") == ModelConfig(mca_stages=(), pca=False, local_branch=False)
    assert model_variant("full") == ModelConfig()
    assert model_variant("base+p+pca", parts=6).parts == 6
    assert set(VARIANTS) == {"base", "base+p", "base+p+mca", "base+p+pca", "full"}
    with pytest.raises(ValueError, match="unknown model variant"):
        model_variant("everything")


def test_an_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown preset 'paper'; choose one of \['ablation', 'cpu-demo'"):
        preset("paper")


def test_the_notebooks_run_is_cpu_demo_shortened_in_smoke_mode():
    assert notebook_config() == preset("cpu-demo")
    smoke = notebook_config(smoke=True)
    assert smoke.data.synthetic_smoke and smoke.data.root is None
    assert (smoke.train.epochs, smoke.train.max_steps_per_epoch, smoke.train.eval_every) == (1, 3, 0)
    assert dataclasses.replace(smoke, data=preset("cpu-demo").data, train=preset("cpu-demo").train,
                               eval=preset("cpu-demo").eval) == preset("cpu-demo")   # data size, training, eval only
    real = notebook_config(smoke=True, root="/data/SYSU-MM01")
    assert real.data.root == "/data/SYSU-MM01" and not real.data.synthetic_smoke and real.train.epochs == 1
    assert notebook_config(root="/data/SYSU-MM01").train == preset("cpu-demo").train


def test_config_does_not_import_presets():
    """presets imports config, never the reverse: no import cycle between the two."""
    tree = ast.parse(Path(vireid_lib.config.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name and name.startswith("vireid_lib.presets") for name in imported)
    assert "vireid_lib.io" in imported   # the walk sees the module's imports


def test_default_config_is_named_for_what_it_is():
    """Config() is not the paper-sysu preset (random weights, the literal reductions) and does not carry a
    preset's name."""
    default, paper = Config(), preset("paper-sysu")
    assert default.name == "default" and default.name not in PRESETS
    assert default.model.pretrained is None and paper.model.pretrained == "imagenet"
    assert default != dataclasses.replace(paper, name="default")


def test_random_erasing_paper_presets_keep_it_cpu_demo_turns_it_off():
    """Notebook 01 and docs/CPU_RECIPE.md: the paper presets erase with probability 0.5 (CAJ's), the short
    cpu-demo recipe not at all; the frozen ablation preset keeps the default it was run with."""
    assert preset("paper-sysu").data.random_erasing == preset("paper-regdb").data.random_erasing == 0.5
    assert preset("ablation").data.random_erasing == 0.5
    assert preset("cpu-demo").data.random_erasing == 0.0
    text = (Path(__file__).resolve().parents[1] / "notebooks" / "01_data.ipynb").read_text()
    assert "probability 0.5; the short `cpu-demo` recipe turns it off, `data.random_erasing=0`" in text.replace("\\n", "")
