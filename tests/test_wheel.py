"""The project installed from its wheel, away from the source tree, runs its commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


def _run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The wheel built from this tree, installed into a folder of its own; the environment
    that imports the package from there, not from the source tree."""
    work = tmp_path_factory.mktemp("wheel")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    pip = (sys.executable, "-m", "pip")
    _run(*pip, "wheel", str(REPOSITORY), "--no-deps", "--no-build-isolation", "-w", "dist",
         cwd=work, env=env)  # fmt: skip
    (wheel,) = (work / "dist").glob("ssdh_lightning-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ssdh_lightning/conf/train.yaml" in names
    assert "ssdh_lightning/conf/data/digits.yaml" in names
    target = work / "site"
    _run(*pip, "install", "--no-deps", "--target", str(target), str(wheel), cwd=work, env=env)
    return target, {**env, "PYTHONPATH": str(target)}


def test_the_wheel_holds_the_configs_and_trains_from_an_empty_folder(installed, tmp_path):
    target, env = installed
    where = _run(
        sys.executable, "-c", "import ssdh_lightning; print(ssdh_lightning.__file__)",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(target)
    # One step, scored by BCS alone: numba compiles the installed copy's kernels anew, and BCS
    # needs the fewest of them. The configs are the wheel's: run.json shows their defaults.
    _run(
        sys.executable, "-m", "ssdh_lightning.train", "trainer.max_steps=1",
        "trainer.enable_progress_bar=false", "baselines=[]", "retrieval.modes=[bcs]",
        "retrieval.tie_figures=false", "callbacks.retrieval_visuals=null", "hydra.run.dir=run",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= metrics["bcs/map@1000"] <= 1.0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (run["data"], run["hash_bits"]) == ("digits", 48)
