"""The README's commands, run as written: the quick start always, the longer blocks with -m slow
(each block the same wherever docs/ repeats it, ``marked_commands``); and what the README and
the development page say of the tests themselves."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from helpers import PAGES, ROOT, command_blocks, marked_commands, run_as_written

DEVELOPMENT = ROOT / "docs" / "development.md"


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
    long_table = report.split("\n## ", 1)[0]  # the rows, before the sections that follow
    assert long_table.count("| digits | 48 |") == 6 and long_table.count("| digits | 128 |") == 6
    assert "| digits | 48 | lin2015 | 3 |" in report.split("## Training time", 1)[1]


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


# --- what the README says of the tests ------------------------------------------------------------


def names_slow(node: ast.AST) -> bool:
    """Whether ``node`` (a decorator, an assignment, a module) mentions ``pytest.mark.slow``."""
    return any(
        isinstance(n, ast.Attribute) and n.attr == "slow" and ast.unparse(n.value) == "pytest.mark"
        for n in ast.walk(node)
    )


def functions_of(path: Path) -> dict[str, tuple[ast.FunctionDef, bool]]:
    """The file's test functions by name, each with whether it is marked slow (itself, or the
    whole module through ``pytestmark``)."""
    module = ast.parse(path.read_text(encoding="utf-8"))
    module_slow = any(
        isinstance(node, ast.Assign)
        and any(ast.unparse(target) == "pytestmark" for target in node.targets)
        and names_slow(node)
        for node in module.body
    )
    return {
        node.name: (node, module_slow or any(names_slow(d) for d in node.decorator_list))
        for node in module.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def test_the_pages_name_only_test_files_that_exist():
    named = {name for page in PAGES for name in re.findall(r"tests/\w+\.py", page.read_text())}
    assert "tests/test_readme.py" in named
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []


def test_the_development_page_names_exactly_the_files_that_hold_slow_tests():
    section = DEVELOPMENT.read_text().split("\n## Tests\n", 1)[1].split("\n## ", 1)[0]
    (paragraph,) = [part for part in section.split("\n\n") if part.startswith("`pytest -m slow`")]
    slow = {  # a file that marks a test slow, as a decorator or as a parameter's mark
        f"tests/{path.name}"
        for path in (ROOT / "tests").glob("test_*.py")
        if "pytest.mark.slow" in path.read_text(encoding="utf-8")
    }
    assert slow  # the scan finds the marks
    assert set(re.findall(r"tests/\w+\.py", paragraph)) == slow


def test_the_readme_blocks_this_file_runs_are_slow_as_their_markers_say():
    blocks = {b.name: b for b in command_blocks() if b.runner == "tests/test_readme.py"}
    assert set(blocks) >= {"quickstart", "sweep", "index", "index_list"}
    for name, block in blocks.items():
        runners = [
            is_slow
            for function, is_slow in functions_of(Path(__file__)).values()
            if any(
                isinstance(call, ast.Call)
                and ast.unparse(call.func) == "marked_commands"
                and ast.literal_eval(call.args[0]) == name
                for call in ast.walk(function)
            )
        ]
        assert runners, f"no test in tests/test_readme.py runs the {name} block"
        assert all(is_slow == block.slow for is_slow in runners), name
