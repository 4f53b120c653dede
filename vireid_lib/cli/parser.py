"""The argument parser of the ``vireid`` command: every subcommand's arguments and help. Argparse lives in
this package only (:mod:`vireid_lib.cli`)."""

from __future__ import annotations

import argparse

from vireid_lib import __version__
from vireid_lib.ablation.grids import GRIDS
from vireid_lib.cli import commands
from vireid_lib.config import SYNTHETIC_IR_CORRELATION, SYNTHETIC_OUTDOOR_DAYLIGHT


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. --set train.epochs=5 model.arch=resnet18 (one or more "
                        "per --set, and --set may be repeated; sections: data, model, loss, train, eval). "
                        "A positional argument goes before --set")
    p.add_argument("--smoke", action="store_true",
                   help="tiny synthetic data (seconds; for tests); recorded in the config as data.synthetic_smoke")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vireid`` command."""
    parser = argparse.ArgumentParser(
        prog="vireid",
        description="Visible-infrared person re-identification with dual attention (MCA + PCA). "
                    "Start with `vireid demo`; then open notebooks/00_quickstart.ipynb.",
    )
    parser.add_argument("--version", action="version", version=f"vireid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("synth", help="write the synthetic visible/infrared dataset in a real dataset's layout",
                       description="Generate the synthetic dataset in SYSU-MM01's or RegDB's on-disk layout. "
                                   "The same seed always gives the same bytes.")
    p.add_argument("--layout", choices=["sysu", "regdb"], required=True,
                   help="on-disk layout to write: sysu (SYSU-MM01) or regdb (RegDB)")
    p.add_argument("--out", required=True, help="folder to write the dataset into (created if missing)")
    p.add_argument("--identities", type=int, default=None, help="number of identities (default: layout's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--ir-correlation", type=float, default=SYNTHETIC_IR_CORRELATION,
                   help="how much of a garment's visible luminance its infrared brightness keeps, 0..1 "
                        f"(default: the calibrated {SYNTHETIC_IR_CORRELATION}; 0: the hard setting, see "
                        "data_cards/synthetic.md)")
    p.add_argument("--outdoor-daylight", type=float, default=SYNTHETIC_OUTDOOR_DAYLIGHT,
                   help="sysu layout only: how far away and in how harsh a daylight the outdoor visible cameras "
                        f"4 and 5 see people, 0..1 (default: {SYNTHETIC_OUTDOOR_DAYLIGHT:g}, as the indoor "
                        "cameras; see data_cards/synthetic.md)")
    p.set_defaults(func=commands.cmd_synth)

    p = sub.add_parser(
        "train", help="train a preset or config (resumable; works under torchrun)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train with the paper's recipe, then evaluate the final model with the full protocol.\n"
                    "The run folder gets config.json, last.pt (every epoch), best.pt (best trial-0 mAP), "
                    "log.jsonl, tensorboard/, the results JSON and MODEL_CARD.md.",
        epilog="examples:\n"
               "  vireid train --preset cpu-demo --out runs/mine\n"
               "  vireid train --preset paper-sysu --root /data/SYSU-MM01 --set train.amp=bf16\n"
               "  vireid train --preset paper-regdb --root /data/RegDB --set data.trial=3\n"
               "  torchrun --nproc_per_node 4 -m vireid_lib.cli train --preset paper-sysu --root /data/SYSU-MM01")
    p.add_argument("--preset", default="cpu-demo", choices=["cpu-demo", "paper-sysu", "paper-regdb"],
                   help="starting configuration (default: cpu-demo)")
    p.add_argument("--config", help="a config.json to start from instead of a preset")
    p.add_argument("--root", help="dataset folder (.../SYSU-MM01 or .../RegDB); default: $VIREID_DATA/<dataset folder> "
                                  "when VIREID_DATA is set, else the synthetic data")
    p.add_argument("--out", help="run folder (default: $VIREID_RUNS/<config name>; VIREID_RUNS defaults to "
                                 "./runs of the current folder)")
    p.add_argument("--no-resume", action="store_true",
                   help="start afresh even if the run folder holds a checkpoint (default: resume)")
    p.add_argument("--no-eval", action="store_true", help="skip the final full-protocol evaluation")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="no TensorBoard event files in <run>/tensorboard (default: written when the tensorboard "
                        "package is installed; open with tensorboard --logdir <run>/tensorboard)")
    p.add_argument("--audit-steps", type=int, metavar="N",
                   help="log the loss audit at step 0 and every N steps (train.audit_every; docs/REPRODUCE.md)")
    _add_common(p)
    p.set_defaults(func=commands.cmd_train)

    p = sub.add_parser(
        "check", help="train a few steps and print the loss audit (each term's share of the backbone gradient)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a few steps of a preset or config at the first epoch's learning rate and print, at step 0 "
                    "and every --audit-every steps, each loss term's value and its share of the gradient norm on "
                    "the shared backbone, with a warning when one term dominates or grows without bound. Writes "
                    "nothing. See docs/REPRODUCE.md (loss scales).",
        epilog="examples:\n"
               "  vireid check --preset paper-sysu --root /data/SYSU-MM01 --steps 20 --audit-every 5\n"
               "  vireid check --preset paper-regdb --set model.pretrained=null --steps 3   # synthetic data\n"
               "  vireid check --preset paper-sysu --set model.pretrained=null --init runs/synth/last.pt")
    p.add_argument("--preset", default="paper-sysu", choices=["cpu-demo", "paper-sysu", "paper-regdb", "ablation"],
                   help="starting configuration (default: paper-sysu)")
    p.add_argument("--config", help="a config.json to start from instead of a preset")
    p.add_argument("--root", help="dataset folder (.../SYSU-MM01 or .../RegDB); default: synthetic data")
    p.add_argument("--steps", type=int, default=3, help="optimiser steps to take (default: 3)")
    p.add_argument("--audit-every", type=int, default=1, help="audit every this many steps (default: 1)")
    p.add_argument("--init", help="a vireid checkpoint whose backbone (stems, layer2-4) replaces the initial one")
    _add_common(p)
    p.set_defaults(func=commands.cmd_check)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint with the full test protocol",
                       description="SYSU-MM01: all- and indoor-search over the gallery draws; RegDB: both "
                                   "directions, on the data the checkpoint was trained on unless --root, --smoke "
                                   "or --set data.* says otherwise. --set may change data.* and eval.* only (the "
                                   "model, loss and train settings are the checkpoint's). Writes "
                                   "<checkpoint>.results.json (with the checkpoint's epoch, step and weights "
                                   "SHA-256) and prints the paper's table.")
    p.add_argument("checkpoint", nargs="?", help="a .pt file written by vireid train (e.g. runs/cpu-demo/last.pt)")
    p.add_argument("--root", help="dataset folder to evaluate on (default: the data in the checkpoint's config, "
                                  "synthetic at the size it was trained on included)")
    _add_common(p)
    p.set_defaults(func=commands.cmd_evaluate)

    p = sub.add_parser(
        "search", help="rank a folder of your own images against query images with a trained checkpoint",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Embed the query images and every image under the gallery folder (recursively; jpg, png, "
                    "bmp, webp, tif) with the checkpoint's\ntest feature, print each query's top-k with "
                    "distances (1 - cosine similarity; smaller is closer), and write ranking.json,\n"
                    "ranking.csv and one ranked-results figure per query. No identities are needed.\n\n"
                    "Modality picks the network's stream: give it with --query-modality / --gallery-modality, "
                    "or keep the\nimages under folders named visible/ and infrared/ (or thermal/).\n"
                    "Files that are not images are skipped with a warning naming them; a query file you name "
                    "that does not\ndecode is an error. Features are cached by file content and model, so a "
                    "second search over the same\ngallery only embeds new images.",
        epilog="examples:\n"
               "  vireid search runs/cpu-demo/last.pt --query me_ir.png --query-modality infrared \\\n"
               "      --gallery photos/ --gallery-modality visible --top-k 5\n"
               "  vireid search runs/cpu-demo/last.pt --query queries/infrared --gallery gallery/  "
               "# gallery/visible/..., gallery/infrared/...")
    p.add_argument("checkpoint", help="a .pt file written by vireid train (e.g. runs/cpu-demo/last.pt)")
    p.add_argument("--query", nargs="+", required=True, metavar="PATH",
                   help="query image files and/or folders of query images")
    p.add_argument("--gallery", required=True, metavar="DIR", help="folder of gallery images (searched recursively)")
    p.add_argument("--query-modality", choices=["visible", "infrared", "thermal"],
                   help="modality of every query image (default: from visible/ infrared/ thermal/ folder names)")
    p.add_argument("--gallery-modality", choices=["visible", "infrared", "thermal"],
                   help="modality of every gallery image (default: from folder names)")
    p.add_argument("--top-k", type=int, default=10, help="gallery images listed per query (default: 10)")
    p.add_argument("--out", help="folder for ranking.json, ranking.csv and ranked/ figures (default: runs/search)")
    p.add_argument("--cache", metavar="DIR", help="feature cache folder (default: $VIREID_CACHE/features or "
                                                  "~/.cache/vireid/features)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the feature cache")
    p.add_argument("--no-figures", action="store_true", help="write only ranking.json and ranking.csv")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the network runs (default: auto, CUDA when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=commands.cmd_search)

    p = sub.add_parser(
        "export", help="export the test-time network to ONNX (one graph per modality), optionally verified",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write <checkpoint>.<modality>.onnx beside the checkpoint: the modality's stem, the shared "
                    "layers, MCA, PCA and the\nglobal head's BN feature, batch dimension dynamic, opset 17. "
                    "Input 'images' (batch, 3, H, W) at the checkpoint's\nsize, preprocessed as the test "
                    "pipeline: RGB resized to H x W, /255, minus the ImageNet mean, divided by its std.\n"
                    "Output 'features' (batch, D). Flip averaging and L2 normalisation are inside the graph "
                    "(as the run's\neval settings say), so rank by 1 - q.g. Not exported: the training-only "
                    "outputs (logits, stripe\nlogits) and the exchanged input. Needs pip install onnx onnxruntime.",
        epilog="examples:\n"
               "  vireid export runs/cpu-demo/last.pt --modality both --verify\n"
               "  vireid export runs/cpu-demo/last.pt --modality infrared --out exported/")
    p.add_argument("checkpoint", help="a .pt file written by vireid train")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format (default: onnx)")
    p.add_argument("--modality", choices=["visible", "infrared", "thermal", "both"], default="both",
                   help="which stream(s) to export (default: both, one file each)")
    p.add_argument("--out", help="folder for the .onnx files (default: the checkpoint's folder)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17; 12 or later)")
    p.add_argument("--verify", action="store_true",
                   help="run the graphs with onnxruntime on the checkpoint's test set and compare features "
                        "and rankings with PyTorch (exit 1 unless within 1e-4 and identical)")
    p.add_argument("--root", help="with --verify: dataset folder (default: the checkpoint's data, else synthetic)")
    p.add_argument("--smoke", action="store_true", help="with --verify: the tiny synthetic test set")
    p.set_defaults(func=commands.cmd_export)

    p = sub.add_parser("demo", help="the main job: synthetic data, train, evaluate, report (about 5 min on 2 cores)",
                       description="Generate the synthetic data if absent, evaluate the network before training (the "
                                   "preset's shipped start), train the cpu-demo preset, evaluate SYSU-style (all, "
                                   "indoor) and RegDB-style (both directions), print before-training vs trained "
                                   "tables, save a CMC plot and a ranked-results figure.")
    p.add_argument("--out", help="run folder (default: $VIREID_RUNS/demo, VIREID_RUNS defaulting to ./runs; "
                                 "a finished run is reused)")
    _add_common(p)
    p.set_defaults(func=commands.cmd_demo)

    p = sub.add_parser("reproduce", help="the paper's experiment on a real dataset, resumable",
                       description="RegDB: train and evaluate each of the 10 trials, then average. SYSU-MM01: "
                                   "train once, evaluate the 10 gallery draws in all- and indoor-search. Run the "
                                   "same command again to continue where it stopped.")
    p.add_argument("--dataset", choices=["sysu", "regdb"], required=True, help="which paper experiment")
    p.add_argument("--root", help="dataset folder (.../SYSU-MM01 or .../RegDB); default: $VIREID_DATA/<dataset folder> "
                                  "when VIREID_DATA is set, else the synthetic data")
    p.add_argument("--out", help="output folder (default: $VIREID_RUNS/reproduce-<dataset>, VIREID_RUNS "
                                 "defaulting to ./runs)")
    p.add_argument("--trials", help="RegDB trials to run, comma-separated (default: 1,...,10)")
    _add_common(p)
    p.set_defaults(func=commands.cmd_reproduce)

    p = sub.add_parser(
        "ablate", help="an ablation grid over seeds (Table 3, Table 4, part count, options), resumable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train and evaluate every cell of a grid with each seed on the `ablation` preset (synthetic "
                    "RegDB layout), one result JSON per run, then the mean and standard deviation per cell.\n"
                    "A finished run is skipped; an interrupted one resumes. Several runs go at once only with "
                    "several CUDA devices (one each): on a CPU one run already uses every core.",
        epilog="grids:\n"
               "  table3   base, base+p, base+p+mca, base+p+pca, full\n"
               "  table4   the full model's test feature from the global branch, the local branch, both\n"
               "  parts    P = 1, 2, 3, 6 stripes\n"
               "  options  default, then one option each: "
               + ", ".join(c.name for c in GRIDS["options"] if c.name != "default") + "\n"
               "examples:\n"
               "  vireid ablate --grid table3\n"
               "  vireid ablate --grid parts --seeds 0 1 2 3 4 --set train.epochs=6\n"
               "  vireid ablate --grid options --cells default triplet=adp --seeds 5 6 7\n"
               "  vireid ablate --grid table3 --smoke\n"
               "  vireid ablate --grid table3 --preset paper-regdb --root /data/RegDB --out results/ablations-regdb")
    p.add_argument("--grid", choices=["table3", "table4", "parts", "options"], required=True, help="which grid")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    p.add_argument("--cells", nargs="+", metavar="CELL",
                   help="only these cells of the grid (default: all), e.g. to give the noisier cells more seeds; "
                        "the summary covers every finished run of the results folder")
    p.add_argument("--preset", default="ablation", choices=["ablation", "paper-regdb", "paper-sysu", "cpu-demo"],
                   help="starting configuration (default: ablation, the short synthetic-RegDB schedule)")
    p.add_argument("--root", help="dataset folder (.../RegDB or .../SYSU-MM01); default: $VIREID_DATA/<dataset folder> "
                                  "when VIREID_DATA is set, else the synthetic data")
    p.add_argument("--out", help="results folder (default: $VIREID_RUNS/ablations, or $VIREID_RUNS/ablations-smoke "
                                 "with --smoke; VIREID_RUNS defaults to ./runs)")
    p.add_argument("--work", help="training folders (default: the same folder as --out's default)")
    p.add_argument("--jobs", type=int, help="runs at once (default: one per CUDA device; one on a CPU)")
    p.add_argument("--summary-only", action="store_true",
                   help="train nothing: summarise the finished runs and list the missing ones")
    _add_common(p)
    p.set_defaults(func=commands.cmd_ablate)

    # prefix_chars="+": every option after `bench` (--help included) belongs to python -m benchmarks
    p = sub.add_parser("bench", help="every benchmark in one table (python -m benchmarks)", prefix_chars="+",
                       add_help=False)
    p.add_argument("bench_args", nargs="*", help="options passed to python -m benchmarks")
    p.set_defaults(func=commands.cmd_bench)
    return parser
