"""Shared fixtures: the installed command-line tools run in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
# The writers of test files in each real format live with the benchmarks, outside the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
# A tiny but real training run: 2 epochs of the default config.
TINY_TRAINING = ["trainer.max_epochs=2", "trainer.enable_progress_bar=false"]


def run_tool(tool: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run an installed console script (``ssdh-train``, ...) and capture its output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check and result.returncode != 0:
        command = " ".join((tool, *args))
        raise AssertionError(
            f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """The folder of one short ssdh-train run through the real Hydra entry point."""
    workdir = tmp_path_factory.mktemp("trained")
    run_dir = workdir / "run"
    # a callback switched off on the command line (callbacks.NAME=null) is left out, not built
    run_tool(
        "ssdh-train",
        *TINY_TRAINING,
        "seed=3",
        "callbacks.learning_rate_monitor=null",
        f"hydra.run.dir={run_dir}",
        cwd=workdir,
    )
    return run_dir
