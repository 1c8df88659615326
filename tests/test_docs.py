"""The documentation site: it builds in strict mode, and every bash block of README.md and docs/
is run by a test, as its marker says: as written, a server started as written, or (where it
needs a GPU, a cluster, data files or hours) its configs composed and checked as the command
would, and its reports written over stand-in runs of those configs."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
import time

import httpx
import numpy as np
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from helpers import (
    BIN,
    ROOT,
    WAYS,
    CommandBlock,
    command_blocks,
    compose_config,
    free_port,
    marked_commands,
    report_in_process,
    run_as_written,
    write_run,
)
from ssdh_lightning.config_checks import check_eval_config, check_index_config, check_train_config

THIS_FILE = "tests/test_docs.py"
CONFIGS = {
    "ssdh-train": ("train", check_train_config),
    "ssdh-eval": ("eval", check_eval_config),
    "ssdh-index": ("index", check_index_config),
}
# How a server of the docs is given a free port, and the page that answers once it is up.
SERVERS = {"ssdh-serve": ("port={}", "/api/health"), "tensorboard": ("--port={}", "/")}


def blocks_run_here(way: str) -> list:
    """This file's blocks of one way, once each (README and docs may share one), slow or not."""
    blocks = {b.name: b for b in command_blocks() if b.runner == THIS_FILE and b.way == way}
    marks = lambda block: [pytest.mark.slow] if block.slow else []  # noqa: E731
    return [pytest.param(b, id=b.name, marks=marks(b)) for b in blocks.values()]


def prerequisites(block: CommandBlock) -> list[str]:
    """The commands of the blocks this one runs after, first to last."""
    if block.after is None:
        return []
    before = next(b for b in command_blocks() if b.name == block.after)
    return [*prerequisites(before), *marked_commands(before.name)]


def test_every_command_block_names_the_test_that_runs_it():
    blocks = command_blocks()
    names = {block.name for block in blocks}
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    problems = []
    for block in blocks:
        runner = ROOT / (block.runner or "")
        if block.name is None:
            problems.append(f"{block.where}: no <!-- NAME: RUNNER HOW --> marker")
        elif block.way is None:
            problems.append(f"{block.where}: unknown way {block.how!r}; one of {list(WAYS)}")
        elif not runner.is_file():
            problems.append(f"{block.where}: its runner {block.runner} does not exist")
        elif block.way == "ci":
            missing = [command for command in block.commands if command not in ci]
            problems += [f"{block.where}: .ci/run lacks {command!r}" for command in missing]
        elif block.runner != THIS_FILE and f'"{block.name}"' not in runner.read_text():
            problems.append(f"{block.where}: {block.runner} never names it")
        if block.after is not None and block.after not in names:
            problems.append(f"{block.where}: runs after {block.after}, which no page has")
        if block.name is not None:
            marked_commands(block.name)  # every copy of a block alike
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("block", blocks_run_here("as_written"))
def test_blocks_run_as_written(block, tmp_path):
    # The commands run from the repository's root: give them its benchmarks/, not its files.
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    run_as_written([*prerequisites(block), *block.commands], tmp_path)


@pytest.mark.parametrize("block", blocks_run_here("server"))
def test_servers_start_as_written(block, tmp_path):
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    *before, command = [*prerequisites(block), *block.commands]
    if before:
        run_as_written(before, tmp_path)
    program, *args = shlex.split(command, comments=True)
    port_option, page = SERVERS[program]
    port = free_port()
    executable = shutil.which(program, path=f"{BIN}:/usr/bin:/bin")
    log = tmp_path / "server.out"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [executable, *args, port_option.format(port)], cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, f"{command} exited:\n{log.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}{page}", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{command} did not answer within 180 s:\n{log.read_text()}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def jobs(overrides: list[str]) -> list[list[str]]:
    """The overrides of each job of a multirun: every value of each choice or range sweep."""
    values = []
    parsed = OverridesParser.create().parse_overrides(overrides)
    for text, override in zip(overrides, parsed, strict=True):
        if override.is_sweep_override() and override.sweep_string_iterator is not None:
            key = override.get_key_element()
            values.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            values.append([text])
    return [list(job) for job in itertools.product(*values)]


def write_stand_in_runs(folder, configs) -> None:
    """A run folder for each composed training config, with per-query figures of two rows."""
    rng = np.random.default_rng(0)
    for number, cfg in enumerate(configs):
        figures = {f"{row}/map@1000": rng.uniform(0.4, 0.9, 50) for row in ("bcs", "es")}
        write_run(
            folder / str(number),
            hash_bits=cfg.model.hash_bits,
            seed=cfg.seed,
            method=cfg.method.name,
            per_query=figures,
        )


@pytest.mark.parametrize("block", blocks_run_here("compose"))
def test_blocks_too_long_for_here_compose_and_report(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainings = []
    for command in [*prerequisites(block), *block.commands]:
        program, *args = shlex.split(command, comments=True)
        if program == "ssdh-report":
            write_stand_in_runs(tmp_path / args[0], trainings)
            assert report_in_process(*args) == 0, command
            assert (tmp_path / args[0] / "report.md").is_file()
            continue
        name, check = CONFIGS[program]
        for job in jobs([arg for arg in args if arg not in ("-m", "--multirun")]):
            cfg = compose_config(name, *job)
            check(cfg)
            if program == "ssdh-train":
                trainings.append(cfg)


def test_the_site_builds_in_strict_mode(tmp_path):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(tmp_path / "site"))
    assert config["strict"], "mkdocs.yml must keep strict: true (a broken link fails the build)"
    build(config)  # strict: a warning (a broken link, a missing page or object) aborts it
    api = (tmp_path / "site" / "api" / "retrieval" / "index.html").read_text()
    assert re.search(r'id="ssdh_lightning\.retrieval(\.\w+)?\.evaluate_retrieval"', api)
