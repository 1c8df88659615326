"""The README's commands, run as written: the quick start always, the longer blocks with -m slow.
Each block is the same wherever docs/ repeats it (``marked_commands``)."""

from __future__ import annotations

import json

import pytest

from helpers import ROOT, marked_commands, run_as_written


def test_quickstart_installs_then_trains_to_the_promised_map(tmp_path):
    commands = marked_commands("quickstart")
    assert commands[0] == 'pip install -e ".[dev]"'  # the install this test runs under
    result = run_as_written(commands[1:], tmp_path)  # from an empty folder
    assert "bcs" in result.stdout and "Run folder:" in result.stdout
    (metrics_file,) = tmp_path.glob("outputs/train/runs/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["bcs/map@all"] >= 0.93
    assert (metrics_file.parent / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_sweep_and_report_commands(tmp_path):
    run_as_written(marked_commands("sweep"), tmp_path)
    report = (tmp_path / "outputs" / "digits_sweep" / "report.md").read_text()
    assert report.count("| digits | 48 |") == 6 and report.count("| digits | 128 |") == 6


@pytest.mark.slow
def test_readme_index_commands_work_as_written(tmp_path):
    # The commands run from the repository's root: give them its benchmarks/, not its files.
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    result = run_as_written(marked_commands("index"), tmp_path)
    report = json.loads(result.stdout)  # the last command asks for JSON
    outputs = tmp_path / "outputs"
    assert report["mode"] == "bcs"
    assert len(report["queries"]) == len(list((outputs / "digit_images" / "3").iterdir()))
    assert (outputs / "results.html").is_file() and (outputs / "results.png").is_file()
    assert (outputs / "digits.index" / "manifest.json").is_file()


@pytest.mark.slow
def test_readme_multi_hot_index_commands_work_as_written(tmp_path):
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    commands = marked_commands("index") + marked_commands("index_list")
    report = json.loads(run_as_written(commands, tmp_path).stdout)  # the last asks for JSON
    manifest = json.loads(
        (tmp_path / "outputs" / "digits_multi_hot.index" / "manifest.json").read_text()
    )
    assert manifest["label_kind"] == "multi_hot" and manifest["class_names"] == ["0", "1", "2"]
    first = report["queries"][0]["results"][0]
    assert first["path"] == "6/00006.png" and first["class_names"] == ["1", "2"]
