"""Run folders and the step log's loss plots (``vireid_lib.runs``)."""

import json

import pytest

from vireid_lib.runs import notebook_run_dir, plot_losses, runs_dir


def test_plot_losses_draws_one_panel_per_term(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    log = tmp_path / "log.jsonl"
    rows = [{"event": "step", "epoch": 0, "step": s, "lr": 0.1, "images_per_s": 10.0, "total": 3.0 - s * 0.1,
             "id": 1.0, "tri": 0.5} for s in range(1, 30)] + [{"event": "eval", "epoch": 1, "step": 29, "mAP": 0.2}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fig = plot_losses(tmp_path, smooth=5)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["lr", "total", "id", "tri"]
    with pytest.raises(ValueError, match="no training steps"):
        plot_losses([])


def test_run_folders_follow_vireid_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("VIREID_RUNS", str(tmp_path))
    assert runs_dir() == tmp_path
    assert notebook_run_dir() == tmp_path / "notebook-03"
    assert notebook_run_dir(smoke=True) == tmp_path / "notebook-03-smoke"
