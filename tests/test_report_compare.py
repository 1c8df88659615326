"""ssdh-report's comparison of rows: rankings, differences from the best row and from --against
with their intervals, report_compare.csv and the PNG; runs written before per-query figures."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from helpers import report_in_process, write_run
from ssdh_lightning.reporting.compare import compare
from ssdh_lightning.reporting.files import safe_file_name
from ssdh_lightning.reporting.report import write_report
from ssdh_lightning.run_files import RUN_FILE

ROWS = {"bcs": 0.0, "es": -0.01, "lsh": -0.1}  # each row's offset from its method's level
FIGURES = ("map@1000", "map@all", "precision@100")


def write_sweep(root, methods, bits=(48,), queries=120, noise=0.03):
    """Runs of ``methods`` (name -> (level, seeds)) over the same queries, per-query figures
    drawn around each row's level (``noise``: their standard deviation about it); BCS records
    its spread over the orders inside ties (0.007 wide)."""
    rng = np.random.default_rng(0)
    base = rng.beta(5, 2, queries)
    for hash_bits in bits:
        for method, (level, seeds) in methods.items():
            for seed in seeds:
                per_query = {
                    f"{row}/{figure}": base + level + offset + rng.normal(0, noise, queries)
                    for row, offset in ROWS.items()
                    for figure in FIGURES
                }
                ties = {}
                for figure in ("map@1000", "map@all"):
                    mean = float(np.mean(per_query[f"bcs/{figure}"].astype(np.float32)))
                    ties[f"bcs/{figure}_tie_worst"] = mean - 0.004
                    ties[f"bcs/{figure}_tie_best"] = mean + 0.003
                folder = root / f"{method}-{hash_bits}-{seed}"
                write_run(
                    folder,
                    hash_bits=hash_bits,
                    seed=seed,
                    method=method,
                    per_query=per_query,
                    metrics=ties,
                    query_ids=np.arange(1000, 1000 + queries),
                )
    return root


def compare_lines(folder) -> list[dict]:
    with open(folder / "report_compare.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def runs_of(root, method, hash_bits=48):
    return sorted(root.glob(f"{method}-{hash_bits}-*"))


@pytest.fixture
def sweep(tmp_path):
    methods = {"lin2015": (0.0, (0, 1, 2)), "dpsh": (0.02, (0, 1, 2)), "ssdh": (-0.002, (1,))}
    return write_sweep(tmp_path, methods, bits=(48, 128))


def test_each_line_is_the_comparison_of_its_two_rows(sweep):
    write_report(sweep, against="lin2015/bcs", resamples=500)
    lines = compare_lines(sweep)
    assert {(line["hash_bits"], line["figure"]) for line in lines} == {
        (bits, figure) for bits in ("48", "128") for figure in ("map@1000", "map@all")
    }
    best = {line["reference"] for line in lines if line["compared_as"] == "best"}
    assert best == {"dpsh/bcs"}
    pairs = [
        tuple(line[c] for c in ("hash_bits", "figure", "row", "reference", "compared_as"))
        for line in lines
    ]
    assert len(pairs) == len(set(pairs))  # one line a pair
    for line in lines:
        method, _, row = line["row"].partition("/")
        against, _, reference = line["reference"].partition("/")
        bits = int(line["hash_bits"])
        expected = compare(
            runs_of(sweep, method, bits),
            runs_of(sweep, against, bits),
            f"{row}/{line['figure']}",
            f"{reference}/{line['figure']}",
            resamples=500,
        )
        assert float(line["difference"]) == pytest.approx(expected.difference)
        assert float(line["low"]) == pytest.approx(expected.interval.low)
        assert float(line["high"]) == pytest.approx(expected.interval.high)
        assert line["interval"] == expected.kind and line["verdict"] == expected.verdict
        assert line["how"] == expected.how
    kinds = {(line["row"].partition("/")[0], line["interval"]) for line in lines}
    assert ("dpsh", "t") in kinds and ("ssdh", "bootstrap") in kinds


def test_the_markdown_ranks_rows_and_says_which_interval_each_cell_uses(sweep):
    write_report(sweep, against="lin2015/bcs", resamples=500)
    text = (sweep / "report.md").read_text()
    section = text[text.index("## Which differences are real") :]
    table = section[section.index("### digits, 48 bits: map@all") :].split("\n\n")[1]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    means = [float(cells[3].split()[0]) for cells in rows]
    assert means == sorted(means, reverse=True)
    assert rows[0][1] == "dpsh/bcs" and rows[0][4] == "(this row)"
    dpsh_es = next(cells for cells in rows if cells[1] == "dpsh/es")
    assert dpsh_es[5] == "t, 3 paired seeds" and dpsh_es[7].strip() == "distinguishable"
    ssdh = next(cells for cells in rows if cells[1] == "ssdh/bcs")
    assert ssdh[2] == "1" and ssdh[9] == "bootstrap, 120 queries"
    assert 'PROTOCOL.md, "Confidence intervals"' in section and "500 resamples" in section


def test_a_difference_within_the_tie_spread_is_marked(tmp_path):
    """Two methods 0.002 apart on every query, BCS's tie spread 0.007 wide."""
    methods = {"lin2015": (0.0, (0, 1, 2)), "csq": (0.002, (0, 1, 2))}
    write_report(write_sweep(tmp_path, methods, noise=0.002), against="lin2015/bcs", resamples=500)
    line = next(
        line
        for line in compare_lines(tmp_path)
        if (line["row"], line["reference"], line["figure"]) == ("csq/bcs", "lin2015/bcs", "map@all")
    )
    assert line["distinguishable"] == "true" and line["within_ties"] == "true"
    assert line["verdict"] == "tie-breaking"
    assert float(line["tie_low"]) < 0 < float(line["tie_high"])


def test_runs_written_before_per_query_figures_still_report_without_their_comparison(sweep):
    old = write_run(
        sweep / "old",
        seed=1,
        method="greedyhash",
        metrics={"bcs/map@all": 0.7, "bcs/map@1000": 0.7},
    )
    written, _ = write_report(sweep, against="lin2015/bcs", resamples=500)
    assert sweep / "report_compare.csv" in written
    text = (sweep / "report.md").read_text()
    why = f"{old} has no per_query.npz (a run written before runs kept them)"
    assert (
        f"- no interval for greedyhash/bcs - dpsh/bcs, greedyhash/bcs - lin2015/bcs: {why}" in text
    )
    lines = [line for line in compare_lines(sweep) if line["row"] == "greedyhash/bcs"]
    assert lines and all(
        line["verdict"] == "no interval" and line["reason"] == why for line in lines
    )
    assert all(line["low"] == "" and line["difference"] for line in lines)
    assert "| greedyhash | BCS (Hamming) | 1 |" in text  # its row in the long table stays


def test_a_hostile_data_set_name_makes_a_plot_inside_the_report_folder(tmp_path):
    runs = tmp_path / "runs"
    run = write_run(
        runs / "a", data="../../victim", per_query={"bcs/map@all": np.linspace(0, 1, 30)}
    )
    written, _ = write_report(runs, resamples=200)
    plots = [path for path in written if path.suffix == ".png"]
    assert plots == [runs / f"compare_{safe_file_name('../../victim')}.png"]
    assert sorted(p.name for p in tmp_path.rglob("*victim*")) == [plots[0].name]
    with Image.open(plots[0]) as image:
        assert image.format == "PNG" and image.size[0] > 100
    assert run.is_dir()


def test_safe_file_names():
    assert safe_file_name("cifar10") == "cifar10" and safe_file_name("nus_wide-21") == "nus_wide-21"
    for hostile in ("../../victim", "..", "/etc/passwd", "a/b", "a\\b", ".hidden", "", "x\0y"):
        name = safe_file_name(hostile)
        assert name and "/" not in name and "\\" not in name and not name.startswith(".")
        assert name != hostile
    assert safe_file_name("a/b") != safe_file_name("a_b")  # two names, two files


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--against", "lin2015/bcz"], "--against lin2015/bcz: no run scored this row; give "),
        (["--against", "bcs"], "TRAINING/ROW, one of lin2015/bcs, lin2015/es, lin2015/lsh"),
        (["--resamples", "10"], "resamples=10: a 95% percentile interval needs at least 100"),
        (["--figures", "map@5"], "--figures map@5: the runs have no figure map@5; choose among"),
    ],
)
def test_bad_options_stop_the_report_before_it_writes(tmp_path, capsys, options, message):
    write_sweep(tmp_path, {"lin2015": (0.0, (0,))})
    assert report_in_process(tmp_path, *options) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "report_compare.csv").exists()


def test_figures_chooses_what_is_compared(tmp_path, capsys):
    write_sweep(tmp_path, {"lin2015": (0.0, (0, 1))})
    assert report_in_process(tmp_path, "--figures", "precision@100", "--resamples", "200") == 0
    assert {line["figure"] for line in compare_lines(tmp_path)} == {"precision@100"}
    assert "wrote " + str(tmp_path / "report_compare.csv") in capsys.readouterr().out


def _table_blocks(text: str) -> list[list[str]]:
    blocks, block = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            block.append(line)
        elif block:
            blocks, block = [*blocks, block], []
    return blocks + ([block] if block else [])


def test_a_data_set_name_with_pipes_and_newlines_stays_in_its_cell(tmp_path):
    runs = tmp_path / "runs"
    figures = {"bcs/map@all": np.linspace(0, 1, 30)}
    for method in ("lin2015", "dpsh"):
        write_run(runs / method, data="list:a|b\n| x |", method=method, per_query=figures)
    write_report(runs, resamples=200)
    text = (runs / "report.md").read_text()
    assert "list:a\\|b \\| x \\|" in text
    blocks = _table_blocks(text)
    assert len(blocks) >= 2
    for block in blocks:  # every line of a table has its header's columns
        columns = {line.replace("\\|", "").count("|") for line in block}
        assert len(columns) == 1, block


def test_runs_of_two_recipes_are_two_rows_and_either_can_be_the_reference(tmp_path, capsys):
    """dsh trained with each recipe: two rows, never pooled; a run.json written before runs
    recorded the recipe (lin2015's here) reads as the shared one."""
    rng = np.random.default_rng(0)
    base = rng.beta(5, 2, 60)
    levels = {("lin2015", None): 0.0, ("dsh", "shared"): 0.05, ("dsh", "authors"): -0.2}
    for (method, recipe), level in levels.items():
        for seed in (0, 1):
            figures = {"bcs/map@all": base + level + rng.normal(0, 0.01, base.size)}
            write_run(
                tmp_path / f"{method}-{recipe}-{seed}",
                seed=seed,
                method=method,
                recipe=recipe,
                per_query=figures,
            )
    for seed in (0, 1):  # as ssdh-train writes it: where the recipe comes from
        run_file = tmp_path / f"dsh-authors-{seed}" / RUN_FILE
        run_file.write_text(json.dumps(json.loads(run_file.read_text()) | {"recipe_source": "x.m"}))
    assert report_in_process(tmp_path, "--against", "dsh (authors)/bcs", "--resamples", "200") == 0
    with open(tmp_path / "report.csv", newline="") as stream:
        rows = {row["training_method"]: row for row in csv.DictReader(stream)}
    assert set(rows) == {"lin2015", "dsh", "dsh (authors)"}
    assert all(row["runs"] == "2" for row in rows.values())
    means = {training: float(row["map@all_mean"]) for training, row in rows.items()}
    assert means["dsh"] - means["lin2015"] == pytest.approx(0.05, abs=0.01)
    assert means["dsh (authors)"] - means["lin2015"] == pytest.approx(-0.2, abs=0.01)
    text = (tmp_path / "report.md").read_text()
    assert "| digits | 48 | dsh (authors) | BCS (Hamming) | 2 |" in text
    assert "\ndsh (authors): recipe=authors, from x.m\n" in text  # the one recipe with a source
    against = {
        line["row"]: float(line["difference"])
        for line in compare_lines(tmp_path)
        if line["compared_as"] == "against" and line["reference"] == "dsh (authors)/bcs"
    }
    assert set(against) == {"lin2015/bcs", "dsh/bcs"}
    assert against["dsh/bcs"] == pytest.approx(0.25, abs=0.01)
    capsys.readouterr()
    assert report_in_process(tmp_path, "--against", "lin2015/bcs", "--resamples", "200") == 0
    against = {line["row"] for line in compare_lines(tmp_path) if line["compared_as"] == "against"}
    assert against == {"dsh/bcs", "dsh (authors)/bcs"}


def test_runs_of_one_method_with_other_options_are_their_own_rows(tmp_path):
    """dpsh as its file sets it (method_changes {}, or a run.json from before runs recorded them)
    and dpsh with method.pair_weights=balanced: two rows, never pooled."""
    rng = np.random.default_rng(0)
    base = rng.beta(5, 2, 60)
    runs = {
        "old": (None, 0.0),
        "as-file": ({}, 0.0),
        "balanced": ({"pair_weights": "balanced"}, 0.1),
    }
    for name, (changes, level) in runs.items():
        figures = {"bcs/map@all": base + level + rng.normal(0, 0.01, base.size)}
        write_run(tmp_path / name, method="dpsh", method_changes=changes, per_query=figures)
    assert report_in_process(tmp_path, "--resamples", "200") == 0
    with open(tmp_path / "report.csv", newline="") as stream:
        rows = {row["training_method"]: row for row in csv.DictReader(stream)}
    assert set(rows) == {"dpsh", "dpsh (pair_weights=balanced)"}
    assert rows["dpsh"]["runs"] == "2" and rows["dpsh (pair_weights=balanced)"]["runs"] == "1"


def test_a_run_is_named_by_its_options_against_the_defaults_of_the_report_s_day(tmp_path):
    """Runs that recorded every option (run.json 'method_options') are named by what differs from
    the method as its recipe trains it now, not when they were trained: an idhn run from when its
    default scale was 5 recorded no change, yet is named apart from one at today's 24; a setting
    beside the options (freeze_backbone) is kept as recorded; a run without the options keeps
    its recorded changes."""
    rng = np.random.default_rng(0)
    base = rng.beta(5, 2, 60)
    options = {"partial_weight": 0.1, "quantisation_weight": 0.1}
    runs = {
        "old-default": ({}, options | {"scale": 5.0}),
        "today": ({}, options | {"scale": 24.0}),
        "today-1": ({}, options | {"scale": 24.0}),
        "frozen": ({"freeze_backbone": True}, options | {"scale": 24.0}),
        "unrecorded": ({"scale": 7.0}, None),
        # paths, not a method or a recipe: named as recorded
        "../method/idhn": ({}, options | {"scale": 5.0}),
        "../recipe_of/authors": ({}, options | {"scale": 5.0}),
    }
    for name, (changes, recorded) in runs.items():
        figures = {"bcs/map@all": base + rng.normal(0, 0.01, base.size)}
        write_run(
            tmp_path / name.replace("/", "_"),
            method=name if "method/" in name else "idhn",
            recipe=name if "recipe_of/" in name else None,
            method_changes=changes,
            method_options=recorded,
            per_query=figures,
        )
    assert report_in_process(tmp_path, "--resamples", "200") == 0
    with open(tmp_path / "report.csv", newline="") as stream:
        rows = {row["training_method"]: row["runs"] for row in csv.DictReader(stream)}
    assert rows == {
        "idhn": "2",
        "idhn (scale=5.0)": "1",
        "idhn (freeze_backbone=true)": "1",
        "idhn (scale=7.0)": "1",
        "../method/idhn": "1",
        "idhn (../recipe_of/authors)": "1",
    }


def test_runs_of_one_method_set_up_differently_are_their_own_rows(tmp_path):
    """Runs of one data set and method that differ in backbone or experiment are rows of their
    own, named by what differs; in protocol (other queries), data sets of their own, never
    ranked against each other. A run.json from before runs recorded them is a row of its own."""
    rng = np.random.default_rng(0)
    runs = {
        "old": ({}, 0),
        "small": ({"protocol": "paper", "backbone": "small_cnn", "experiment": "full"}, 0),
        "small-1": ({"protocol": "paper", "backbone": "small_cnn", "experiment": "full"}, 1),
        "vgg": ({"protocol": "paper", "backbone": "vgg16", "experiment": "full"}, 0),
        "short": ({"protocol": "paper", "backbone": "small_cnn", "experiment": "short"}, 0),
        "split": ({"protocol": "small", "backbone": "small_cnn", "experiment": "full"}, 0),
    }
    for name, (setting, seed) in runs.items():
        figures = {"bcs/map@all": rng.beta(5, 2, 60)}
        write_run(tmp_path / name, method="dsh", setting=setting, seed=seed, per_query=figures)
    assert report_in_process(tmp_path, "--resamples", "200") == 0
    with open(tmp_path / "report.csv", newline="") as stream:
        rows = {(r["data"], r["training_method"]): r["runs"] for r in csv.DictReader(stream)}
    paper, small = "digits (protocol=paper)", "digits (protocol=small)"
    assert rows == {
        ("digits", "dsh"): "1",
        (paper, "dsh (backbone=small_cnn, experiment=full)"): "2",
        (paper, "dsh (backbone=vgg16, experiment=full)"): "1",
        (paper, "dsh (backbone=small_cnn, experiment=short)"): "1",
        (small, "dsh"): "1",  # alone in its split: nothing to tell apart
    }
    # ranked within their own split only (the other two splits hold one row: nothing to compare)
    lines = compare_lines(tmp_path)
    ranked = {(line["data"], line[side]) for line in lines for side in ("row", "reference")}
    assert ranked == {(paper, training + "/bcs") for data, training in rows if data == paper}
    # compare() of two runs of two protocols: two data sets, refused
    with pytest.raises(ValueError, match=r"'digits \(protocol=paper\)' and b of 'digits \(pro"):
        compare(tmp_path / "small", tmp_path / "split", "bcs/map@all")
    assert compare(tmp_path / "small", tmp_path / "vgg", "bcs/map@all").count == 60
