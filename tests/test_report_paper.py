"""ssdh-report's paper layout: methods as rows, bit lengths as columns, cell by cell."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from ssdh_lightning.reporting.report import write_report
from ssdh_lightning.run_files import METRICS_FILE, RUN_FILE


def _run(folder, data, hash_bits, seed, metrics, method=None):
    folder.mkdir(parents=True)
    meta = {"data": data, "hash_bits": hash_bits, "seed": seed}
    if method is not None:
        meta["method"] = method
    (folder / RUN_FILE).write_text(json.dumps(meta))
    (folder / METRICS_FILE).write_text(json.dumps(metrics))


def _metrics(data, hash_bits, seed):
    """Distinct values per run; BCS has tie keys, LSH only at 48 bits, KSH none."""
    base = hash_bits / 1000 + seed / 100
    metrics = {
        "bcs/map@1000": 0.5 + base,
        "bcs/map@all": 0.4 + base,
        "es/map@1000": 0.6 + base,
        "es/map@all": 0.55 + base,
        "ksh/map@1000": 0.3 + base,
        "ksh/map@all": 0.25 + base,
        "ksh_initial/map@1000": 0.2 + base,
    }
    metrics["bcs/map@1000_tie_avg"] = metrics["bcs/map@1000"] - 0.01
    metrics["bcs/map@1000_tie_best"] = metrics["bcs/map@1000"] + 0.02
    metrics["bcs/map@1000_tie_worst"] = metrics["bcs/map@1000"] - 0.03
    if hash_bits == 48:
        metrics["lsh/map@1000"] = 0.1 + base
        metrics["lsh/map@all"] = 0.05 + base
    return metrics


@pytest.fixture
def hand_made(tmp_path):
    for bits in (12, 48):
        for seed in (0, 1):
            _run(tmp_path / f"c{bits}_{seed}", "cifar10", bits, seed, _metrics("c", bits, seed))
    _run(tmp_path / "d", "digits", 48, 0, _metrics("d", 48, 0))
    return tmp_path


def _paper_rows(folder):
    with open(folder / "report_paper.csv", newline="") as stream:
        return {
            (r["data"], r["method"], r["row"], int(r["hash_bits"])): r
            for r in csv.DictReader(stream)
        }


def test_each_cell_is_the_mean_and_std_over_seeds(hand_made):
    write_report(hand_made)
    rows = _paper_rows(hand_made)
    for row in ("bcs", "es", "ksh"):
        for bits in (12, 48):
            cell = rows[("cifar10", "lin2015", row, bits)]
            values = [_metrics("c", bits, s)[f"{row}/map@1000"] for s in (0, 1)]
            assert cell["figure"] == "map@1000" and cell["runs"] == "2"
            assert float(cell["mean"]) == pytest.approx(np.mean(values))
            assert float(cell["std"]) == pytest.approx(np.std(values))
    assert ("cifar10", "lin2015", "lsh", 12) not in rows  # LSH was run at 48 bits only
    assert float(rows[("cifar10", "lin2015", "lsh", 48)]["paper"]) == 0.120
    assert float(rows[("cifar10", "lin2015", "bcs", 12)]["paper"]) == 0.8930
    assert rows[("cifar10", "lin2015", "ksh", 12)]["paper"] == ""  # the paper has 48 bits only
    assert "labelled sample" in rows[("cifar10", "lin2015", "ksh", 48)]["fit_on"]
    assert "fine-tuned" in rows[("cifar10", "lin2015", "ksh", 48)]["fit_on"]
    initial = rows[("cifar10", "lin2015", "ksh_initial", 48)]
    assert "before fine-tuning" in initial["fit_on"]
    assert float(initial["mean"]) == pytest.approx(
        np.mean([_metrics("c", 48, s)["ksh_initial/map@1000"] for s in (0, 1)])
    )
    assert initial["paper"] == ""  # the paper's rows used GIST features: no bracket
    # other data sets: the full-ranking mAP, and no paper figure
    digits = rows[("digits", "lin2015", "bcs", 48)]
    assert digits["figure"] == "map@all" and digits["paper"] == ""
    assert float(digits["mean"]) == pytest.approx(_metrics("d", 48, 0)["bcs/map@all"])


def test_tie_spread_only_where_the_keys_exist(hand_made):
    write_report(hand_made)
    rows = _paper_rows(hand_made)
    bcs = rows[("cifar10", "lin2015", "bcs", 48)]
    best = np.mean([_metrics("c", 48, s)["bcs/map@1000_tie_best"] for s in (0, 1)])
    worst = np.mean([_metrics("c", 48, s)["bcs/map@1000_tie_worst"] for s in (0, 1)])
    assert float(bcs["tie_best"]) == pytest.approx(best)
    assert float(bcs["tie_worst"]) == pytest.approx(worst)
    assert rows[("cifar10", "lin2015", "ksh", 48)]["tie_best"] == ""
    assert rows[("digits", "lin2015", "bcs", 48)]["tie_best"] == ""  # map@all has no tie keys
    text = (hand_made / "report.md").read_text()
    mean = np.mean([_metrics("c", 48, s)["bcs/map@1000"] for s in (0, 1)])
    std = np.std([_metrics("c", 48, s)["bcs/map@1000"] for s in (0, 1)])
    average = np.mean([_metrics("c", 48, s)["bcs/map@1000_tie_avg"] for s in (0, 1)])
    assert float(bcs["tie_avg"]) == pytest.approx(average)
    assert (
        f"{mean:.4f} ± {std:.4f} [0.8973] (ties {average:.4f} in {worst:.4f}..{best:.4f})" in text
    )
    assert "### cifar10: map@1000, mean ± std over seeds" in text
    header = next(line for line in text.splitlines() if line.startswith("| method |"))
    assert header == "| method | 12 bits | 48 bits |"


def test_method_named_in_rows_only_when_several(tmp_path):
    _run(tmp_path / "a", "digits", 48, 0, _metrics("d", 48, 0))
    _run(tmp_path / "b", "digits", 48, 0, _metrics("d", 48, 1), method="dpsh")
    write_report(tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| lin2015: BCS (Hamming) |" in text and "| dpsh: BCS" in text
    rows = _paper_rows(tmp_path)
    assert float(rows[("digits", "dpsh", "bcs", 48)]["mean"]) == pytest.approx(
        _metrics("d", 48, 1)["bcs/map@all"]
    )
    (tmp_path / "b" / RUN_FILE).unlink()  # one method left: no prefix
    write_report(tmp_path)
    assert "| BCS (Hamming) |" in (tmp_path / "report.md").read_text()


def test_a_method_that_is_not_a_name_is_a_broken_run(tmp_path, capsys):
    from ssdh_lightning.cli.report import main

    _run(tmp_path / "a", "digits", 48, 0, _metrics("d", 48, 0), method=3)
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path)])
    assert stop.value.code == 2
    assert "run.json key 'method' is 3, not a method name" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()


def test_paper_layout_of_a_real_run(trained_run, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(trained_run, folder)
    write_report(folder)
    metrics = json.loads((folder / METRICS_FILE).read_text())
    rows = _paper_rows(folder)
    meta = json.loads((folder / RUN_FILE).read_text())
    scored = {key.partition("/")[0] for key in metrics if key.endswith("/map@all")}
    assert {row for (_, _, row, _) in rows} == scored
    for (data, _, row, bits), cell in rows.items():
        assert data == meta["data"] and bits == meta["hash_bits"] and cell["runs"] == "1"
        assert float(cell["mean"]) == pytest.approx(metrics[f"{row}/map@all"])
        assert float(cell["std"]) == 0
    assert "## The paper's layout" in (folder / "report.md").read_text()


def test_the_long_table_has_a_row_per_training_method_and_only_lin2015_gets_the_paper(tmp_path):
    for method in ("lin2015", "csq"):
        for seed in (0, 1):
            metrics = _metrics(method, 48, seed + (10 if method == "csq" else 0))
            _run(tmp_path / f"{method}{seed}", "cifar10", 48, seed, metrics, method)
    write_report(tmp_path)
    with open(tmp_path / "report.csv", newline="") as stream:
        rows = {(r["training_method"], r["method"]): r for r in csv.DictReader(stream)}
    for method, offset in (("lin2015", 0), ("csq", 10)):
        bcs = rows[(method, "bcs")]
        values = [_metrics(method, 48, s + offset)["bcs/map@1000"] for s in (0, 1)]
        assert bcs["runs"] == "2" and float(bcs["map@1000_mean"]) == pytest.approx(np.mean(values))
    assert (
        rows[("lin2015", "bcs")]["paper"].startswith("0.8973") and not rows[("csq", "bcs")]["paper"]
    )


def test_the_paper_figures_stand_beside_the_papers_own_split_where_two_are_reported(tmp_path):
    """cifar10 runs of the paper's split and of CNNH's: two data sets in the report, named by
    protocol; the paper's figures beside the first only, and both shown at mAP@1000."""
    for protocol in ("paper", "cnnh"):
        _run(tmp_path / protocol, "cifar10", 48, 0, _metrics(protocol, 48, 0))
        run_file = tmp_path / protocol / RUN_FILE
        run_file.write_text(json.dumps(json.loads(run_file.read_text()) | {"protocol": protocol}))
    write_report(tmp_path)
    rows = _paper_rows(tmp_path)
    paper = rows[("cifar10 (protocol=paper)", "lin2015", "bcs", 48)]
    other = rows[("cifar10 (protocol=cnnh)", "lin2015", "bcs", 48)]
    assert paper["figure"] == other["figure"] == "map@1000"
    assert float(paper["paper"]) == 0.8973 and other["paper"] == ""
    assert float(rows[("cifar10 (protocol=paper)", "lin2015", "lsh", 48)]["paper"]) == 0.120
    with open(tmp_path / "report.csv", newline="") as stream:
        long_rows = {(r["data"], r["method"]): r["paper"] for r in csv.DictReader(stream)}
    assert long_rows[("cifar10 (protocol=paper)", "bcs")].startswith("0.8973")
    assert long_rows[("cifar10 (protocol=cnnh)", "bcs")] == ""


def test_runs_of_another_split_alone_get_no_paper_figure(tmp_path):
    """CNNH's split alone keeps the plain name cifar10, but its runs recorded their split: the
    paper's figures (of the paper's split) stand beside neither table."""
    _run(tmp_path / "cnnh", "cifar10", 48, 0, _metrics("cnnh", 48, 0))
    run_file = tmp_path / "cnnh" / RUN_FILE
    run_file.write_text(json.dumps(json.loads(run_file.read_text()) | {"protocol": "cnnh"}))
    write_report(tmp_path)
    assert _paper_rows(tmp_path)[("cifar10", "lin2015", "bcs", 48)]["paper"] == ""
    with open(tmp_path / "report.csv", newline="") as stream:
        assert all(not r["paper"] for r in csv.DictReader(stream))


def _with(folder, **recorded):
    run_file = folder / RUN_FILE
    run_file.write_text(json.dumps(json.loads(run_file.read_text()) | recorded))


def test_runs_of_a_subset_of_the_papers_files_are_apart_and_get_no_paper_figure(tmp_path):
    """Runs of the paper's protocol on a subset of its files (5,000 of CIFAR-10's images under
    data.protocol=paper) are a data set of their own, named by their sets' sizes, beside the
    runs of the whole; the paper's figures stand beside the whole only, in both tables. MNIST of
    5,000 images alone keeps its plain name and gets no paper figure either."""
    whole = {"train": 50_000, "query": 10_000, "database": 50_000}
    subset = {"train": 4_000, "query": 1_000, "database": 4_000}
    for name, sizes in (("whole", whole), ("subset", subset)):
        _run(tmp_path / name, "cifar10", 48, 0, _metrics(name, 48, 0))
        _with(tmp_path / name, protocol="paper", split_sizes=sizes)
    _run(tmp_path / "mnist", "mnist", 48, 0, _metrics("mnist", 48, 0))
    _with(tmp_path / "mnist", protocol="paper", split_sizes=subset)
    write_report(tmp_path)
    rows = _paper_rows(tmp_path)
    whole_label = "cifar10 (train=50000, query=10000, database=50000)"
    subset_label = "cifar10 (train=4000, query=1000, database=4000)"
    paper, other = (
        rows[(whole_label, "lin2015", "bcs", 48)],
        rows[(subset_label, "lin2015", "bcs", 48)],
    )
    assert paper["figure"] == other["figure"] == "map@1000"  # CIFAR-10's figure, both
    assert float(paper["paper"]) == 0.8973 and other["paper"] == ""
    assert float(paper["mean"]) == _metrics("whole", 48, 0)["bcs/map@1000"]
    assert float(other["mean"]) == _metrics("subset", 48, 0)["bcs/map@1000"]
    with open(tmp_path / "report.csv", newline="") as stream:
        long_rows = {(r["data"], r["method"]): r for r in csv.DictReader(stream)}
    assert long_rows[(whole_label, "bcs")]["paper"].startswith("0.8973")
    assert long_rows[(subset_label, "bcs")]["paper"] == ""
    assert long_rows[("mnist", "bcs")]["paper"] == "" and long_rows[("mnist", "bcs")]["runs"] == "1"
    # a run of the subset's sizes from before runs recorded them pools with the whole (it counts
    # as the paper's), where the others of its protocol recorded one size
    shutil.rmtree(tmp_path / "mnist")
    _with(tmp_path / "subset", split_sizes=None)
    write_report(tmp_path)
    (row,) = [r for key, r in _paper_rows(tmp_path).items() if key[1:] == ("lin2015", "bcs", 48)]
    assert row["data"] == "cifar10" and row["runs"] == "2" and float(row["paper"]) == 0.8973
