"""Ranked-result figures: order, borders, the SYSU cam3/cam2 rule, infrared images, PNG output."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vireid_lib.data.records import Record
from vireid_lib.visualize import MATCH, MISMATCH, load_display_image, ranked_results_figure, save_ranked_results


@pytest.fixture
def records(tmp_path):
    def make(name, value, mode):
        path = tmp_path / f"{name}.png"
        if mode == "L":  # infrared: single channel
            Image.fromarray(np.full((24, 12), value, np.uint8), "L").save(path)
        else:
            Image.fromarray(np.full((24, 12, 3), value, np.uint8)).save(path)
        return str(path)

    query = Record(make("q", 200, "L"), pid=1, camid=3, modality="infrared")
    gallery = [
        Record(make("g0", 10, "RGB"), 1, 2, "visible"),   # same identity but cam2: hidden from a cam3 query
        Record(make("g1", 20, "RGB"), 2, 1, "visible"),
        Record(make("g2", 30, "RGB"), 1, 1, "visible"),
        Record(make("g3", 40, "RGB"), 3, 4, "visible"),
    ]
    return query, gallery


def _panel_colours(fig):
    return [tuple(ax.get_images()[0].get_array()[0, 0]) for ax in fig.axes]


def test_figure_ranks_by_distance_and_colours_borders(records):
    query, gallery = records
    fig = ranked_results_figure(query, gallery, [0.1, 0.3, 0.2, 0.4], topk=3, protocol="sysu")
    assert len(fig.axes) == 4  # query + 3
    titles = [ax.get_title() for ax in fig.axes]
    # cam2 image g0 removed for a cam3 query: ranking g2 (0.2), g1 (0.3), g3 (0.4).
    assert titles[1].startswith("#1  0.200") and "id 1" in titles[1]
    assert titles[2].startswith("#2  0.300") and titles[3].startswith("#3  0.400")
    assert _panel_colours(fig)[1:] == [MATCH, MISMATCH, MISMATCH]
    # The infrared query is shown as grey RGB inside its border.
    img = fig.axes[0].get_images()[0].get_array()
    assert img.shape[2] == 3 and tuple(img[img.shape[0] // 2, img.shape[1] // 2]) == (200, 200, 200)


def test_regdb_keeps_every_gallery_image_and_ties_go_by_index(records):
    query, gallery = records
    fig = ranked_results_figure(query, gallery, [0.5, 0.5, 0.1, 0.5], topk=4, protocol="regdb")
    ids = [ax.get_title().split("\n")[1] for ax in fig.axes[1:]]
    assert ids == ["id 1 cam 1", "id 1 cam 2", "id 2 cam 1", "id 3 cam 4"]


def test_saves_pngs(records, tmp_path):
    query, gallery = records
    paths = save_ranked_results(np.array([[0.1, 0.3, 0.2, 0.4]]), [query], gallery, tmp_path / "out", topk=2)
    assert len(paths) == 1 and paths[0].name == "query00000_id1_cam3.png"
    with Image.open(paths[0]) as png:
        assert png.format == "PNG" and png.size[0] > png.size[1]


def test_bad_inputs(records, tmp_path):
    query, gallery = records
    with pytest.raises(ValueError, match="4 gallery records"):
        ranked_results_figure(query, gallery, [0.1, 0.2])
    with pytest.raises(ValueError, match="topk"):
        ranked_results_figure(query, gallery, [0.1] * 4, topk=0)
    with pytest.raises(ValueError, match="distmat has shape"):
        save_ranked_results(np.zeros((2, 4)), [query], gallery, tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_display_image(tmp_path / "missing.png")
