"""Does the ``cpu-demo`` recipe hold on other synthetic datasets? Train it on each and score both SYSU-MM01
search modes (10 gallery draws) and the within-visible diagnostic.

The recipe was tuned on dataset seed 0 (200 identities); this reports it, unchanged, on other seeds and sizes:

    python benchmarks/bench_recipe.py --data seed=1 seed=2 identities=300 --out results/recipe

with another training seed on the same data (``seed=1,train_seed=1``: a set's difficulty against a training
draw), and under the RegDB protocol, which trains one model per trial on that trial's training half: ``regdb=T``
trains the recipe, unchanged but for the data, on trial ``T`` of the demo's RegDB-layout set (the demo's
own RegDB rows evaluate its SYSU-trained model there instead, a transfer to unseen people and cameras):

    python benchmarks/bench_recipe.py --data $(seq -f regdb=%g 1 10) --out results/recipe

and at other step budgets (``epochs=E``, the cosine stretched over E epochs), on the five sets of the README's
mean row, for the budget table (``--budget-table`` prints it):

    python benchmarks/bench_recipe.py --data seed={0,1,2,3,4},epochs=68 seed={0,1,2,3,4},epochs=136

and with the SYSU layout's outdoor visible cameras in harsher daylight (``daylight=X``, the generator's
``outdoor_daylight``), for the data card's daylight table (``--daylight-table`` prints it and its reading,
``--card`` rewrites the data card's copy):

    python benchmarks/bench_recipe.py --data seed={0,1,2,3,4},daylight=0.5 seed={0,1,2,3,4},daylight=1

and with a narrower network given the steps that the demo's minutes buy it (``width=W``; ``python -m
benchmarks.step_time --variants "" model.width=16`` says how many):

    python benchmarks/bench_recipe.py --data seed={0,1,2,3,4},width=16,epochs=57

Each dataset gets ``<out>/<name>.json``: the config, the steps, the wall time, the machine and the metrics.
Resumable: a dataset whose JSON exists is skipped. ``--keep DIR`` keeps each training folder (its checkpoint
``last.pt``) as ``DIR/<name>/`` for diagnostics such as ``benchmarks/diag_identities.py``; without it the
training runs in a temporary folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from vireid_lib.ablation import metrics_of
from vireid_lib.ablation.paper import beyond_noise
from vireid_lib.ablation.report import standard_error
from vireid_lib.checkpoints import config_diff
from vireid_lib.config import Config, apply_overrides
from vireid_lib.data import open_dataset
from vireid_lib.data.synthetic import GENERATOR_VERSION, read_stats
from vireid_lib.demo import REGDB_IDENTITIES
from vireid_lib.evaluation.people import people_difference, people_se
from vireid_lib.evaluation.protocols import evaluate as evaluate_model
from vireid_lib.evaluation.protocols import evaluate_within_visible
from vireid_lib.evaluation.report import PAPER_RESULTS, settings_of
from vireid_lib.io import atomic_write_json, atomic_write_text
from vireid_lib.machine import machine_info
from vireid_lib.models.start import STARTS
from vireid_lib.markdown import replace_section, section
from vireid_lib.presets import preset
from vireid_lib.runs import fit_seconds
from vireid_lib.training import fit

KEYS = {"seed": "data.synthetic_seed", "identities": "data.synthetic_identities", "regdb": "data.trial",
        "train_seed": "train.seed", "width": "model.width", "epochs": "train.epochs",
        "daylight": "data.synthetic_outdoor_daylight", "start": "model.pretrained"}
"""The spec's keys and the config keys they set, in the one order a spec writes them (so that one setting
names one record file)."""
FRACTIONS = {"daylight"}
"""The keys whose value is a fraction in [0, 1] (``daylight=0.5``); ``start`` takes a shipped start's name
(:data:`~vireid_lib.models.start.STARTS`); every other key takes a whole number."""
DEFAULT_DATA = ("seed=1", "seed=2", "identities=300")
README_DATA = ("seed=0", "seed=0,train_seed=1", "seed=0,train_seed=2", "seed=1", "seed=1,train_seed=1",
               "seed=1,train_seed=2", "seed=2", "seed=3", "seed=4", "identities=300")
"""The README's table: the recipe's own data set too (one thread, unlike the demo), two more training seeds
on the demo's set and on the hardest one, to tell a set's difficulty from a training draw, and two more sets."""
START = "start=synthetic-visible"
START_DATA = tuple(f"{spec},{START}" for spec in README_DATA)
"""The README's start table: the recipe table's settings, started from the shipped start as the ``cpu-demo``
preset is (``--start-table`` prints it)."""
REGDB_DATA = tuple(f"regdb={t}" for t in range(1, 11))   # the protocol's ten trials
RESULTS = Path(__file__).resolve().parents[1] / "results" / "recipe"
CARD = Path(__file__).resolve().parents[1] / "data_cards" / "synthetic.md"


def _fraction(value: str) -> float | None:
    """A fraction in (0, 1] written as ``f"{x:g}"`` writes it (``0.5``, ``1``), so that one setting names one
    record file; None otherwise (0 is the plain spec's own data)."""
    try:
        x = float(value)
    except ValueError:
        return None
    return x if 0.0 < x <= 1.0 and value == f"{x:g}" else None


def parse_spec(spec: str) -> dict[str, float | str]:
    """``"seed=1,train_seed=2"`` -> ``{"seed": 1, "train_seed": 2}``; a ValueError names what is wrong."""
    pairs: dict[str, float | str] = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        number = (value if value in STARTS else None) if key == "start" else (
            _fraction(value) if key in FRACTIONS else (int(value) if value.isdigit() else None))
        if key not in KEYS or number is None or key in pairs:
            forms = ", ".join(k + ("=X (0 < X <= 1, as 0.5 or 1)" if k in FRACTIONS else
                                   f"={'|'.join(STARTS)}" if k == "start" else "=N") for k in KEYS)
            raise ValueError(f"{spec!r}: expected comma-separated {forms}, each at most once")
        pairs[key] = number
    if "regdb" in pairs and not 1 <= pairs["regdb"] <= 10:
        raise ValueError(f"{spec!r}: RegDB has trials 1-10")
    if "start" in pairs and "width" in pairs:
        raise ValueError(f"{spec!r}: the shipped start is of the preset's width only; leave out width or start")
    if "regdb" in pairs and "daylight" in pairs:
        raise ValueError(f"{spec!r}: daylight is a SYSU-MM01-layout setting; RegDB has no indoor cameras")
    cfg = preset("cpu-demo")
    for key, own in (("width", cfg.model.width), ("epochs", cfg.train.epochs)):
        if pairs.get(key) == 0:
            raise ValueError(f"{spec!r}: {key} must be at least 1")
        if pairs.get(key) == own:
            raise ValueError(f"{spec!r}: {key}={own} is the preset's own; leave it out, so that one setting "
                             f"names one record")
    order = list(KEYS)
    if [order.index(k) for k in pairs] != sorted(order.index(k) for k in pairs):
        raise ValueError(f"{spec!r}: write the keys in the order {', '.join(k for k in KEYS if k in pairs)}, so "
                         f"that one setting names one record")
    return pairs


def scratch_preset() -> Config:
    """``cpu-demo`` from random weights (``model.pretrained=null``): the recipe every record of this script
    measures unless its spec names a ``start``. Its choices were measured so, and so the tables kept their
    meaning when the preset took the shipped ``synthetic-visible`` start."""
    cfg = preset("cpu-demo")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=None))


def recipe_config(spec: str) -> Config:
    """``cpu-demo`` from random weights (:func:`scratch_preset`) on the dataset ``spec``: ``seed=S`` or
    ``identities=N`` (SYSU-MM01 layout), or
    ``regdb=T``, trial ``T`` of the demo's RegDB-layout set (:data:`REGDB_IDENTITIES` identities, dataset
    seed one above the demo's, as ``vireid demo`` draws it); ``daylight=X`` renders the SYSU-MM01 layout's
    outdoor visible cameras at that ``outdoor_daylight`` (``data.synthetic.daylight``); ``train_seed=S`` changes
    the training seed (initialisation, batches, augmentation) instead of the data; ``epochs=E`` trains E epochs
    of the preset's steps instead of its own count, the cosine stretched over them (the recipe at another step
    budget); ``width=W`` trains the network at width W instead of the preset's (a narrower network takes more
    steps in the same minutes: ``seed=0,width=16,epochs=57``); ``start=synthetic-visible`` starts it from that
    shipped start, as the preset itself does (:mod:`vireid_lib.models.start`). Pairs combine with commas:
    ``seed=1,train_seed=1``."""
    pairs = parse_spec(spec)
    cfg = scratch_preset()
    overrides = []
    if "regdb" in pairs:
        overrides = ["data.dataset=regdb", f"data.synthetic_seed={cfg.data.synthetic_seed + 1}",
                     f"data.synthetic_identities={REGDB_IDENTITIES}"]
    return apply_overrides(cfg, overrides + [f"{KEYS[k]}={v}" for k, v in pairs.items()])


def result_file(folder: Path, spec: str) -> Path:
    """Where the measurement of ``spec`` is kept: ``<folder>/seed-1.json`` for ``seed=1``,
    ``<folder>/seed-1_train_seed-1.json`` for ``seed=1,train_seed=1``."""
    return Path(folder) / f"{spec.replace('=', '-').replace(',', '_')}.json"


def run(spec: str, out: Path, keep: Path | None = None) -> dict:
    """Train and evaluate ``cpu-demo`` on the dataset ``spec`` (``seed=S`` or ``identities=N``); with ``keep``,
    the training folder is ``keep/<name>/`` (a training already finished there is reused, one cut short resumes)."""
    cfg = recipe_config(spec)
    reader = open_dataset(cfg.data)
    t0 = time.perf_counter()
    if keep is None:
        with tempfile.TemporaryDirectory() as tmp:
            fitted = fit(cfg, tmp, resume=False, progress=False, reader=reader, eval_fn=lambda m, c, r: {})
        seconds = time.perf_counter() - t0
    else:
        folder = result_file(keep, spec).with_suffix("")
        kept_on = folder / "synthetic.json"   # the data it was trained on: the generator is not in the config
        if kept_on.is_file() and json.loads(kept_on.read_text()) != read_stats(reader.root):
            raise ValueError(f"{folder} was trained on other synthetic data ({kept_on}); delete it to train again")
        atomic_write_json(kept_on, read_stats(reader.root))
        fitted = fit(cfg, folder, resume=True, progress=False, reader=reader, eval_fn=lambda m, c, r: {})
        seconds = fit_seconds(folder)   # every call's training time, a resumed or reused folder included
    result = evaluate_model(fitted.model, cfg, reader, progress=False)
    metrics = metrics_of(result)
    # each test person's Rank-1 and mAP and share of the number: its error over draws of the test people
    people = {setting: r["people"] for setting, r in settings_of(result).items()}
    if cfg.data.dataset == "sysu":   # the within-visible diagnostic is drawn from SYSU-MM01's four visible cameras
        within = evaluate_within_visible(fitted.model, reader, cfg.eval, cfg.data, progress=False)["visible"]
        mean = within["mean"]
        metrics["within-visible"] = {"rank1": mean["cmc"][0], "mAP": mean["mAP"], "mINP": mean["mINP"]}
        people["within-visible"] = within["people"]
    record = {"dataset": spec, "synthetic": read_stats(reader.root), "config": cfg.to_dict(),
              "steps": fitted.steps, "epochs": fitted.epochs, "train_seconds": seconds, "metrics": metrics,
              "people": people,
              "machine": machine_info(), "command": "python benchmarks/bench_recipe.py --data " + spec}
    if keep is not None:
        record["training_folder"] = str(result_file(keep, spec).with_suffix(""))
    atomic_write_json(result_file(out, spec), record)
    return record


HEADER = ("| dataset | generator | test people | all-search R1 | mAP | indoor R1 | mAP | indoor − all-search R1 "
          "| within-visible R1 | mAP |\n|---|---|---|---|---|---|---|---|---|---|")
SETS = ("seed=0", "seed=1", "seed=2", "seed=3", "seed=4")
"""Five synthetic sets of the default size, each trained from training seed 0: the table's mean row (and seed 0
minus seed 1), whose people are independent draws."""
COLUMNS = (("sysu/all", "rank1"), ("sysu/all", "mAP"), ("sysu/indoor", "rank1"), ("sysu/indoor", "mAP"),
           ("indoor-all", "rank1"), ("within-visible", "rank1"), ("within-visible", "mAP"))


def read_record(spec: str, folder: Path = RESULTS) -> dict:
    """The measurement of ``spec`` kept in ``folder`` (:func:`result_file`)."""
    return json.loads(result_file(folder, spec).read_text())


def _cells(metrics: dict, settings: tuple[str, ...]) -> str:
    """``R1 | mAP`` in percent for each setting, joined as Markdown cells."""
    return " | ".join(f"{100 * metrics[s]['rank1']:.1f} | {100 * metrics[s]['mAP']:.1f}" for s in settings)


def _pm(value: float, se: float | None) -> str:
    return f"{100 * value:.1f}" + ("" if se is None else f" ± {100 * se:.1f}")


def people_columns(record: dict) -> dict[tuple[str, str], tuple[float, float | None]]:
    """Each of the table's :data:`COLUMNS` as (value, standard error over draws of the test people), fractions:
    the error from the record's person tables (:mod:`vireid_lib.evaluation.people`; None for a record without
    them), ``("indoor-all", "rank1")`` being indoor- minus all-search Rank-1 with the people drawn once for both
    (:func:`~vireid_lib.evaluation.people.people_difference`)."""
    people, metrics = record.get("people", {}), record["metrics"]
    out: dict[tuple[str, str], tuple[float, float | None]] = {}
    for setting, metric in COLUMNS:
        if setting == "indoor-all":
            if {"sysu/all", "sysu/indoor"} <= set(people):
                out[setting, metric] = people_difference(people["sysu/indoor"], people["sysu/all"], metric)
            else:
                out[setting, metric] = (metrics["sysu/indoor"][metric] - metrics["sysu/all"][metric], None)
        else:
            se = people_se(people[setting], metric) if setting in people else None
            out[setting, metric] = (metrics[setting][metric], se)
    return out


def combine(records: list[dict], weights: tuple[float, ...]) -> dict[tuple[str, str], tuple[float, float | None]]:
    """A weighted sum of records' columns (the mean of sets, or one minus another) with its standard error,
    for records on independent test people (distinct data sets): the errors add in quadrature."""
    columns = [people_columns(r) for r in records]
    out = {}
    for key in COLUMNS:
        parts = [(w, c[key]) for w, c in zip(weights, columns)]
        ses = [se for _, (_, se) in parts]
        se = None if None in ses else sum((w * e) ** 2 for (w, _), e in zip(parts, ses)) ** 0.5
        out[key] = (sum(w * v for w, (v, _) in parts), se)
    return out


def paired_mean_difference(records: list[dict], baseline: list[dict], setting: str = "sysu/all",
                           metric: str = "rank1") -> tuple[float, float | None]:
    """The mean over sets of ``records`` minus ``baseline`` (the same sets in the same order, under two recipes
    or two generator settings), each set's difference taken person by person, since the same test people are
    scored by both (:func:`~vireid_lib.evaluation.people.people_difference`: what a person does to both
    cancels), with its standard error over draws of the people (the sets' errors add in quadrature). It says
    nothing of the training draw, which the two records do not share.

    Raises:
        ValueError: the two lists do not hold the same data sets, in order.
    """
    sets = [[(r["config"]["data"]["synthetic_seed"], r["config"]["data"]["synthetic_identities"]) for r in recs]
            for recs in (records, baseline)]
    if sets[0] != sets[1] or not records:
        raise ValueError(f"a paired difference needs the same data sets in the same order, got {sets[0]} "
                         f"against {sets[1]}")
    diffs = [people_difference(r["people"][setting], b["people"][setting], metric)
             for r, b in zip(records, baseline)]
    ses = [se for _, se in diffs]
    se = None if None in ses else sum(e ** 2 for e in ses) ** 0.5 / len(diffs)
    return sum(d for d, _ in diffs) / len(diffs), se


def mean_of_sets(records: list[dict]) -> dict[tuple[str, str], tuple[float, float | None]]:
    """The mean of records on distinct data sets (:data:`SETS`), each column with its standard error."""
    return combine(records, (1 / len(records),) * len(records))


def _row_cells(columns: dict[tuple[str, str], tuple[float, float | None]]) -> str:
    return " | ".join(_pm(*columns[key]) for key in COLUMNS)


def row(record: dict) -> str:
    """One Markdown row of a measured dataset: Rank-1 and mAP in percent, ± the standard error over draws of
    its test people where the record holds their table."""
    people = record.get("people", {}).get("sysu/all")
    return (f"| {record['dataset']} | v{record['synthetic']['generator_version']} | "
            f"{'-' if people is None else len(people['pid'])} | " + _row_cells(people_columns(record)) + " |")


def stale(record: dict, spec: str) -> str | None:
    """Why ``record`` no longer measures today's ``cpu-demo`` on ``spec`` (None when it does)."""
    diff = config_diff(Config.from_dict(record["config"]), recipe_config(spec))
    if diff:
        return f"was measured with another cpu-demo configuration (differing keys: {diff[:8]})"
    if record["synthetic"].get("generator_version") != GENERATOR_VERSION:
        return (f"was measured on synthetic generator version {record['synthetic'].get('generator_version')} "
                f"(now {GENERATOR_VERSION})")
    return None


def table(folder: Path = RESULTS, specs: tuple[str, ...] = README_DATA, tail: str = "") -> str:
    """The Markdown table of the committed measurements (the README's copy), then, when ``specs`` holds the
    :data:`SETS` (each followed by ``tail``, as ``",start=synthetic-visible"``), their mean and seed 0 minus
    seed 1."""
    rows = [row(read_record(spec, folder)) for spec in specs]
    named = tuple(spec + tail for spec in SETS)
    if set(named) <= set(specs):
        sets = [read_record(spec, folder) for spec in named]
        what = f" ({tail.lstrip(',')})" if tail else ""
        rows.append(f"| mean of {', '.join(SETS)}{what} | | | " + _row_cells(mean_of_sets(sets)) + " |")
        rows.append(f"| {SETS[0]} − {SETS[1]}{what} | | | " + _row_cells(combine(sets[:2], (1.0, -1.0))) + " |")
    return "\n".join([HEADER] + rows)


def start_table(folder: Path = RESULTS) -> str:
    """The README's start table: :data:`START_DATA` with the mean of the five sets."""
    return table(folder, START_DATA, "," + START)


START_SECTION = "start_table"   # <!-- start_table --> ... <!-- /start_table --> in the README


def start_reading(folder: Path = RESULTS) -> str:
    """The README's sentences on the start table: the five sets' mean against the target of 60 (over the
    people and over the sets) and against the same sets from random weights (person by person), the training
    draws, the larger set, within-visible and the cross / within ratio, and indoor against all-search."""
    start = [read_record(f"{spec},{START}", folder) for spec in SETS]
    scratch = [read_record(spec, folder) for spec in SETS]
    mean = mean_of_sets(start)
    r1 = [r["metrics"]["sysu/all"]["rank1"] for r in start]
    over_sets = statistics.stdev(r1) / len(r1) ** 0.5
    m, se = mean["sysu/all", "rank1"]
    d, d_se = paired_mean_difference(start, scratch)
    draws = {s: [read_record(f"{s}{t},{START}", folder)["metrics"]["sysu/all"]["rank1"]
                 for t in ("", ",train_seed=1", ",train_seed=2")] for s in ("seed=0", "seed=1")}
    larger = read_record(f"identities=300,{START}", folder)
    within = mean["within-visible", "rank1"][0]
    indoor, indoor_se = mean["indoor-all", "rank1"]
    verdict = ("above the target of 60 by more than two standard errors of either" if m - 0.6 > 2 * max(se, over_sets)
               else "at or above the target of 60, by less than two standard errors" if m >= 0.6
               else "below the target of 60")
    return (f"From the start, the five sets' all-search Rank-1 averages {100 * m:.1f}, ± {100 * se:.1f} over draws "
            f"of their test people and ± {100 * over_sets:.1f} over the sets: {verdict} ({sum(x >= 0.6 for x in r1)} "
            f"of 5 sets at 60 or more), with mAP {100 * mean['sysu/all', 'mAP'][0]:.1f}. Against the same sets from "
            f"random weights (the recipe table), the start changes it by {100 * d:+.1f} ± {100 * d_se:.1f} points, "
            f"each set's test people scored "
            f"by both, person by person (the ± is the people's error; the training draw is not in it). The training "
            f"draw moves it by {100 * (max(draws['seed=0']) - min(draws['seed=0'])):.1f} points on seed 0 "
            f"({', '.join(f'{100 * x:.1f}' for x in draws['seed=0'])}) and "
            f"{100 * (max(draws['seed=1']) - min(draws['seed=1'])):.1f} on seed 1 "
            f"({', '.join(f'{100 * x:.1f}' for x in draws['seed=1'])}); the larger set of 300 identities gives "
            f"{100 * larger['metrics']['sysu/all']['rank1']:.1f}. Within-visible Rank-1 averages {100 * within:.1f}, "
            f"so all-search over within-visible is {m / within:.2f}, against the real data's three quarters. "
            f"Indoor- minus all-search averages {_pm(indoor, indoor_se)} over the people "
            f"({'more' if beyond_noise(indoor, indoor_se) else 'less'} than two standard errors from zero).")


BUDGET_MULTIPLES = (1, 2, 4)
"""The recipe's step budgets of the budget table: the preset's own epochs (the demo's five minutes) and two and
four times as many, each on the five :data:`SETS` (``seed=S,epochs=E``)."""
BUDGET_HEADER = ("| epochs | steps | training minutes (one thread, beside another run) | all-search R1 | ± over sets "
                 "| mAP | indoor R1 | within-visible R1 | all-search / within-visible R1 | sets at all-search R1 ≥ 60 |\n"
                 "|---|---|---|---|---|---|---|---|---|---|")


def budget_specs(multiple: int) -> tuple[str, ...]:
    """The five :data:`SETS` trained for ``multiple`` times the preset's epochs (the preset's own: the sets as
    they are)."""
    epochs = multiple * preset("cpu-demo").train.epochs
    return SETS if multiple == 1 else tuple(f"{spec},epochs={epochs}" for spec in SETS)


def budget_row(records: list[dict]) -> str:
    """One row of the budget table: the mean over the five sets (± over draws of their test people), the standard
    error of that mean over the sets (the spread of their five values), the mean training minutes, the ratio of
    the mean all-search to the mean within-visible Rank-1 (the data card's calibration target is about 0.75),
    and how many sets reach all-search Rank-1 60."""
    columns = mean_of_sets(records)
    r1 = [r["metrics"]["sysu/all"]["rank1"] for r in records]
    minutes = sum(r["train_seconds"] for r in records) / len(records) / 60
    ratio = columns["sysu/all", "rank1"][0] / columns["within-visible", "rank1"][0]
    return (f"| {records[0]['epochs']} | {records[0]['steps']} | {minutes:.1f} | {_pm(*columns['sysu/all', 'rank1'])} "
            f"| ± {100 * standard_error(r1):.1f} | {_pm(*columns['sysu/all', 'mAP'])} "
            f"| {_pm(*columns['sysu/indoor', 'rank1'])} | {_pm(*columns['within-visible', 'rank1'])} | {ratio:.2f} "
            f"| {sum(x >= 0.60 for x in r1)} of {len(r1)} |")


def budget_table(folder: Path = RESULTS, multiples: tuple[int, ...] = BUDGET_MULTIPLES) -> str:
    """The recipe at several step budgets (:data:`BUDGET_MULTIPLES`) on the five sets: does more training reach
    the Rank-1 target of 60 and the cross / within ratio of the real data?"""
    rows = [budget_row([read_record(spec, folder) for spec in budget_specs(m)]) for m in multiples]
    return "\n".join([BUDGET_HEADER] + rows)


DAYLIGHT_ROWS = ((1, 0.0), (1, 0.5), (1, 1.0), (4, 0.0), (4, 1.0))
"""The daylight table's rows, (budget multiple, ``outdoor_daylight``): each on the five :data:`SETS`, at the
preset's epochs (the demo's budget) and at four times as many (the budget table's last row, where the recipe
passes 60 on every set at daylight 0)."""
DAYLIGHT_SECTION = "daylight_table"   # <!-- daylight_table --> ... <!-- /daylight_table --> in the data card
DAYLIGHT_HEADER = ("| epochs | outdoor_daylight | all-search R1 | mAP | indoor R1 | indoor − all-search R1 "
                   "| within-visible R1 | all-search / within-visible R1 | sets with indoor above all-search "
                   "| sets at all-search R1 ≥ 60 |\n|---|---|---|---|---|---|---|---|---|---|")


def daylight_specs(daylight: float, multiple: int = 1) -> tuple[str, ...]:
    """The five :data:`SETS` at ``multiple`` times the preset's epochs (:func:`budget_specs`), with the SYSU
    layout's outdoor visible cameras at ``daylight``."""
    specs = budget_specs(multiple)
    return specs if daylight == 0 else tuple(f"{spec},daylight={daylight:g}" for spec in specs)


def daylight_row(daylight: float, records: list[dict]) -> str:
    """One row of the daylight table: the mean over the five sets of each column (± over draws of their test
    people; indoor minus all-search with the people drawn once for both), the ratio of the mean all-search to
    the mean within-visible Rank-1, how many sets score indoor-search above all-search and how many reach
    all-search Rank-1 60."""
    c = mean_of_sets(records)
    ratio = c["sysu/all", "rank1"][0] / c["within-visible", "rank1"][0]
    above = sum(r["metrics"]["sysu/indoor"]["rank1"] > r["metrics"]["sysu/all"]["rank1"] for r in records)
    sixty = sum(r["metrics"]["sysu/all"]["rank1"] >= 0.60 for r in records)
    d, se = c["indoor-all", "rank1"]
    cells = [_pm(*c[key]) for key in (("sysu/all", "rank1"), ("sysu/all", "mAP"), ("sysu/indoor", "rank1"))]
    cells += [f"{100 * d:+.1f} ± {100 * se:.1f}", _pm(*c["within-visible", "rank1"]), f"{ratio:.2f}",
              f"{above} of {len(records)}", f"{sixty} of {len(records)}"]
    return f"| {records[0]['epochs']} | {daylight:g} | " + " | ".join(cells) + " |"


def _daylight_records(folder: Path, rows: tuple[tuple[int, float], ...]) -> dict[tuple[int, float], list[dict]]:
    return {(m, x): [read_record(spec, folder) for spec in daylight_specs(x, m)] for m, x in rows}


def daylight_table(folder: Path = RESULTS, rows: tuple[tuple[int, float], ...] = DAYLIGHT_ROWS) -> str:
    """The recipe on the five sets at each (budget, ``outdoor_daylight``) of ``rows``: does harsher outdoor
    daylight set indoor-search above all-search, as on the real SYSU-MM01, and at what cost?"""
    return "\n".join([DAYLIGHT_HEADER] + [daylight_row(x, recs)
                                          for (_, x), recs in _daylight_records(folder, rows).items()])


def daylight_reading(folder: Path = RESULTS, rows: tuple[tuple[int, float], ...] = DAYLIGHT_ROWS) -> str:
    """The data card's sentences on the daylight table: indoor- minus all-search in each row against the paper's
    own rows (beyond two standard errors of the people or not), and what the harshest setting costs all-search
    Rank-1 at each budget."""
    paper = PAPER_RESULTS["sysu/indoor"]["Ours (paper)"]["R1"] - PAPER_RESULTS["sysu/all"]["Ours (paper)"]["R1"]
    records = _daylight_records(folder, rows)
    cols = {key: mean_of_sets(recs) for key, recs in records.items()}
    epochs = {m: m * preset("cpu-demo").train.epochs for m, _ in rows}
    parts = []
    for (m, x), c in cols.items():
        d, se = c["indoor-all", "rank1"]
        parts.append(f"{100 * d:+.1f} ± {100 * se:.1f} at daylight {x:g} and {epochs[m]} epochs "
                     f"({'more' if beyond_noise(d, se) else 'less'} than two standard errors from zero, "
                     f"{100 * d - paper:+.1f} from the paper's)")
    hardest = max(x for _, x in rows)
    costs = [f"{_pm(*paired_mean_difference(records[m, 0.0], records[m, hardest]))} points at {epochs[m]} epochs"
             for m in dict.fromkeys(m for m, _ in rows) if (m, 0.0) in cols and (m, hardest) in cols]
    return (f"On the real SYSU-MM01, indoor-search scores {paper:.2f} Rank-1 points above all-search in the paper's "
            f"own rows. Here indoor- minus all-search Rank-1, over the five sets (the test people's standard "
            f"error), is {'; '.join(parts)}. Daylight {hardest:g} costs all-search Rank-1 {' and '.join(costs)} "
            f"(each set's test people scored at both settings, the difference taken person by person; the ± is "
            f"the people's error, and the training draw is not in it).")


def write_daylight_card(card: Path = CARD, folder: Path = RESULTS) -> None:
    """Rewrite the data card's daylight table and its reading from the records in ``folder``."""
    body = daylight_table(folder) + "\n\n" + daylight_reading(folder)
    atomic_write_text(card, replace_section(card.read_text(), DAYLIGHT_SECTION, body))


def daylight_card_text(card: Path = CARD) -> str:
    """The data card's daylight section as written (for the test that compares it with the records)."""
    return section(card.read_text(), DAYLIGHT_SECTION)


WIDTH_EPOCHS = {16: 57}
"""The epochs the demo's minutes buy the network at each narrower width on 2 cores, rounded up
(:data:`WIDTH_STEP_TIME`, the step times of ``python -m benchmarks.step_time --variants "" model.width=24
model.width=16``)."""
WIDTH_ROWS = ((32, 34, 0.0), (16, 57, 0.0), (32, 68, 0.0), (16, 114, 0.0), (32, 34, 1.0), (16, 57, 1.0))
"""(network width, epochs, outdoor_daylight) of the width table: the preset's network, and width 16 given the
demo's minutes (:data:`WIDTH_EPOCHS`) or a multiple of them, at daylight 0 and 1."""
WIDTH_STEP_TIME = RESULTS / "step_time_width.json"
WIDTH_HEADER = ("| width | " + DAYLIGHT_HEADER.splitlines()[0][2:] + " all-search R1 against the preset's width, "
                "person by person |\n|---" + DAYLIGHT_HEADER.splitlines()[1] + "---|")


def width_specs(width: int, epochs: int, daylight: float = 0.0) -> tuple[str, ...]:
    """The five :data:`SETS` with the network at ``width`` trained ``epochs`` epochs, at ``daylight``, each key
    left out where it is the preset's own (the preset's width and epochs: :func:`daylight_specs`, the records
    of the daylight table; the preset's width at other epochs: :func:`budget_specs`)."""
    return tuple(spec + _width_tail(width, epochs, daylight) for spec in SETS)


def _width_tail(width: int, epochs: int, daylight: float = 0.0) -> str:
    """The spec keys after the data and training seed: ``,width=W,epochs=E,daylight=X``, each left out where it
    is the preset's own (as :func:`parse_spec` asks)."""
    cfg = preset("cpu-demo")
    return ((f",width={width}" if width != cfg.model.width else "")
            + (f",epochs={epochs}" if epochs != cfg.train.epochs else "")
            + (f",daylight={daylight:g}" if daylight else ""))


def width_multiple(width: int, epochs: int) -> int:
    """How many times the demo's minutes a row of the width table trains: ``epochs`` over the epochs those
    minutes buy at ``width`` (:data:`WIDTH_EPOCHS`; the preset's own at its width)."""
    minutes = WIDTH_EPOCHS.get(width, preset("cpu-demo").train.epochs)
    if epochs % minutes:
        raise ValueError(f"width {width} at {epochs} epochs is no whole multiple of the demo's minutes ({minutes} "
                         f"epochs at that width); add its epochs to WIDTH_EPOCHS or pick a multiple")
    return epochs // minutes


def width_row(width: int, daylight: float, records: list[dict], baseline: list[dict]) -> str:
    """One row of the width table: :func:`daylight_row`'s columns, then all-search Rank-1 minus that of the
    preset's network on the same sets at the same daylight and the same multiple of the demo's minutes
    (:func:`paired_mean_difference`; "—" for the preset's own rows)."""
    d, se = paired_mean_difference(records, baseline)
    paired = "—" if records == baseline else f"{100 * d:+.1f} ± {100 * se:.1f}"
    return f"| {width} {daylight_row(daylight, records)} {paired} |"


def width_table(folder: Path = RESULTS, rows: tuple[tuple[int, int, float], ...] = WIDTH_ROWS) -> str:
    """Is a narrower network, given the steps the same minutes buy it, the better use of the demo's budget?
    The recipe on the five sets at each (width, epochs, ``outdoor_daylight``) of ``rows``."""
    cfg = preset("cpu-demo")
    read = {(w, e, x): [read_record(spec, folder) for spec in width_specs(w, e, x)] for w, e, x in rows}
    baselines = {row: (cfg.model.width, width_multiple(row[0], row[1]) * cfg.train.epochs, row[2]) for row in read}
    lacking = sorted({b for b in baselines.values() if b not in read})
    if lacking:
        raise ValueError(f"the width table's rows need the preset's width at the same multiple and daylight: add "
                         f"(width, epochs, daylight) {lacking} to its rows")
    return "\n".join([WIDTH_HEADER] + [width_row(row[0], row[2], recs, read[baselines[row]])
                                        for row, recs in read.items()])


WIDTH_DRAW_SETS = ("seed=0", "seed=1")
"""The sets on which both widths are also trained from training seeds 1 and 2, as the README's recipe table
trains the preset: how far the training draw alone moves a set's Rank-1, against the widths' difference."""
WIDTH_DRAW_SEEDS = (0, 1, 2)


def width_draw_spec(data: str, train_seed: int, width: int, epochs: int) -> str:
    """The spec of set ``data`` trained from ``train_seed`` at ``width`` and ``epochs`` (the preset's own
    width and epochs: the README's recipe table's spec; each key at the preset's own value left out)."""
    return data + (f",train_seed={train_seed}" if train_seed else "") + _width_tail(width, epochs)


def _draw_widths() -> list[tuple[int, int]]:
    """The (width, epochs) of the width table's rows at daylight 0 and the demo's own minutes: the preset's, then
    the narrower one's."""
    return [(w, e) for w, e, x in WIDTH_ROWS if x == 0.0 and width_multiple(w, e) == 1]


def width_record_specs() -> list[str]:
    """Every record the two width tables read, once each (what ``--width-table`` asks for when some lack)."""
    specs = [spec for w, e, x in WIDTH_ROWS for spec in width_specs(w, e, x)]
    specs += [width_draw_spec(d, t, w, e) for d in WIDTH_DRAW_SETS for t in WIDTH_DRAW_SEEDS for w, e in _draw_widths()]
    return list(dict.fromkeys(specs))


def width_draws_table(folder: Path = RESULTS, sets: tuple[str, ...] = WIDTH_DRAW_SETS,
                      train_seeds: tuple[int, ...] = WIDTH_DRAW_SEEDS) -> str:
    """All-search Rank-1 of each width of :data:`WIDTH_ROWS` at daylight 0 on ``sets`` from each training seed,
    their mean and standard deviation, and per set the difference of the two means with its standard error
    over the training draws (the people are the same for both)."""
    widths = _draw_widths()
    if len(widths) != 2:
        raise ValueError(f"the training-draws table compares two widths at the demo's minutes, got {widths}")
    lines = ["| set | width | epochs | all-search R1, training seeds " + ", ".join(map(str, train_seeds))
             + " | mean | standard deviation |", "|---|---|---|---|---|---|"]
    for data in sets:
        means = []
        for w, e in widths:
            r1 = [100 * read_record(width_draw_spec(data, t, w, e), folder)["metrics"]["sysu/all"]["rank1"]
                  for t in train_seeds]
            means.append((statistics.mean(r1), statistics.stdev(r1)))
            lines.append(f"| {data} | {w} | {e} | " + ", ".join(f"{x:.1f}" for x in r1)
                         + f" | {means[-1][0]:.1f} | {means[-1][1]:.1f} |")
        (m1, s1), (m0, s0) = means[1], means[0]
        se = ((s1 ** 2 + s0 ** 2) / len(train_seeds)) ** 0.5
        lines.append(f"| {data} | {widths[1][0]} − {widths[0][0]} | | | {m1 - m0:+.1f} ± {se:.1f} | |")
    return "\n".join(lines)


REGDB_SETTINGS = ("regdb/v2t", "regdb/t2v")
REGDB_HEADER = ("| RegDB-layout trial | generator | steps | visible→thermal R1 | mAP | thermal→visible R1 | mAP |\n"
                "|---|---|---|---|---|---|---|")


def regdb_row(record: dict) -> str:
    """One Markdown row of a RegDB-protocol measurement: Rank-1 and mAP in percent, both directions."""
    return (f"| {record['config']['data']['trial']} | v{record['synthetic']['generator_version']} | "
            f"{record['steps']} | " + _cells(record["metrics"], REGDB_SETTINGS) + " |")


REGDB_START_DATA = tuple(f"{spec},{START}" for spec in REGDB_DATA)
"""The RegDB protocol's ten trials from the preset's shipped start (the README's RegDB start table)."""
REGDB_START_SECTION = "regdb_start_table"


def regdb_start_reading(folder: Path = RESULTS) -> str:
    """The README's sentence on the RegDB start table: the ten-trial means against the target of 60, and the plain
    difference from the same trials from random weights (those records hold no person tables, so no person-by-
    person error; the trials share people, so the ± over them understates)."""
    start = [read_record(spec, folder) for spec in REGDB_START_DATA]
    scratch = [read_record(spec, folder) for spec in REGDB_DATA]
    if [r["config"]["data"]["trial"] for r in start] != [r["config"]["data"]["trial"] for r in scratch]:
        raise ValueError("the RegDB start and random-weights records are not of the same trials in the same order")
    parts, changes = [], []
    for setting, words in (("regdb/v2t", "visible→thermal"), ("regdb/t2v", "thermal→visible")):
        values = [r["metrics"][setting]["rank1"] for r in start]
        mean = sum(values) / len(values)
        before = sum(r["metrics"][setting]["rank1"] for r in scratch) / len(scratch)
        parts.append(f"{100 * mean:.1f} ± {100 * standard_error(values):.1f} {words} "
                     f"({'at or above' if mean >= 0.6 else 'below'} 60, {sum(v >= 0.6 for v in values)} of "
                     f"{len(values)} trials at 60 or more)")
        changes.append(f"{100 * (mean - before):+.1f} {words}")
    return (f"From the start, the ten trials' Rank-1 averages {' and '.join(parts)}, ± over the trials (which share "
            f"people, so it understates); against the same trials from random weights (the RegDB recipe table) the "
            f"start changes the means by {' and '.join(changes)} points (a plain difference: those records hold no "
            f"person tables to pair the people by).")


def regdb_table(folder: Path = RESULTS, specs: tuple[str, ...] = REGDB_DATA) -> str:
    """The RegDB-protocol table (one model trained per trial) with its mean over the trials measured, ± the
    standard error of that mean over the trials (each trial its own split of the people and its own model)."""
    records = [read_record(spec, folder) for spec in specs]
    cells = []
    for s in REGDB_SETTINGS:
        for k in ("rank1", "mAP"):
            values = [r["metrics"][s][k] for r in records]
            cells.append(_pm(sum(values) / len(values), standard_error(values)))
    last = f"| mean of {len(records)} | | | " + " | ".join(cells) + " |"
    return "\n".join([REGDB_HEADER] + [regdb_row(r) for r in records] + [last])


def _refuse_missing(parser: argparse.ArgumentParser, out: str, table: str, specs: list[str]) -> None:
    """Exit with one line naming the runs of ``table`` that ``out`` lacks and the --data that measures them."""
    missing = [spec for spec in specs if not result_file(Path(out), spec).is_file()]
    if missing:
        parser.error(f"{len(missing)} {table} runs are not in {out} yet; measure them first with "
                     f"--data {' '.join(missing)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DEFAULT_DATA),
                        help="datasets: seed=S or identities=N (SYSU-MM01 layout), or regdb=T (trial T of the "
                             "demo's RegDB-layout set, trained on that trial as the RegDB protocol says); "
                             "train_seed=S trains from another seed; epochs=E trains E epochs (the "
                             "recipe at another step budget); daylight=X renders the outdoor cameras in harsher "
                             "daylight; width=W trains the network at width W; pairs combine with commas "
                             "(seed=1,train_seed=1); default: seed=1 seed=2 identities=300")
    parser.add_argument("--out", default="results/recipe")
    parser.add_argument("--keep", default=None, metavar="DIR",
                        help="keep each training folder (checkpoint last.pt) as DIR/<name>/ instead of a temporary one")
    parser.add_argument("--budget-table", action="store_true",
                        help="print the table of the recipe at several step budgets from --out and stop")
    parser.add_argument("--daylight-table", action="store_true",
                        help="print the table of the recipe at each outdoor_daylight from --out, with its reading, "
                             "and stop (--card: also rewrite the data card's copy)")
    parser.add_argument("--card", action="store_true", help="with --daylight-table: rewrite the data card's copy")
    parser.add_argument("--width-table", action="store_true",
                        help="print the table of the recipe's network at other widths from --out and stop")
    parser.add_argument("--start-table", action="store_true",
                        help="print the tables of the recipe from the shipped start (the preset's own: SYSU-MM01 "
                             "layout, then the RegDB protocol) and stop")
    args = parser.parse_args()
    if args.card and not args.daylight_table:
        parser.error("--card rewrites the data card's daylight table: give it with --daylight-table")
    if args.daylight_table:
        _refuse_missing(parser, args.out, "daylight",
                        [spec for m, x in DAYLIGHT_ROWS for spec in daylight_specs(x, m)])
        if args.card:
            write_daylight_card(folder=Path(args.out))
        print(daylight_table(Path(args.out)) + "\n\n" + daylight_reading(Path(args.out)))
        return
    if args.width_table:
        _refuse_missing(parser, args.out, "width", width_record_specs())
        print(width_table(Path(args.out)) + "\n\n" + width_draws_table(Path(args.out)))
        return
    if args.start_table:
        _refuse_missing(parser, args.out, "start", list(START_DATA) + list(REGDB_START_DATA) + list(SETS)
                        + list(REGDB_DATA))
        print(start_table(Path(args.out)) + "\n\n" + start_reading(Path(args.out)) + "\n\n"
              + regdb_table(Path(args.out), REGDB_START_DATA) + "\n\n" + regdb_start_reading(Path(args.out)))
        return
    if args.budget_table:
        _refuse_missing(parser, args.out, "budget", [spec for m in BUDGET_MULTIPLES for spec in budget_specs(m)])
        print(budget_table(Path(args.out)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        parsed = {spec: parse_spec(spec) for spec in args.data}
    except ValueError as e:
        parser.error(f"--data {e}")
    rows: dict[str, list[str]] = {HEADER: [], REGDB_HEADER: []}
    for spec, pairs in parsed.items():
        path = result_file(out, spec)
        keep = None if args.keep is None else Path(args.keep)
        try:
            record = read_record(spec, out) if path.is_file() else run(spec, out, keep)
        except ValueError as e:   # a kept folder of other data, or of another config (fit's own check)
            parser.error(str(e))
        why = stale(record, spec)
        if why:
            parser.error(f"{path} {why}; delete it to measure again")
        if "regdb" in pairs:
            rows[REGDB_HEADER].append(regdb_row(record))
        else:
            rows[HEADER].append(row(record))
    print("\n\n".join("\n".join([header] + lines) for header, lines in rows.items() if lines))


if __name__ == "__main__":
    main()
