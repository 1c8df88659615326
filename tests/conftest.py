"""Fixtures that many test files share: one short training run and its evaluation (in this
process), one small sweep through the real entry point, and a headless browser; and the engine's
kernels compiled before the first test. Shared functions and constants live in helpers.py."""

from __future__ import annotations

import os

# The tests call the kernels thousands of times on small arrays, often beside another process (a
# command, a server, other work on the cores): OpenMP's threads (numba's 'omp' layer, torch) then
# wait for the next call asleep rather than spinning, which on busy cores made such calls up to 50
# times slower. OpenMP reads it once, when torch loads it; the tests' processes inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import tempfile
from pathlib import Path

import numba
import numpy as np
import pytest

from helpers import (
    CHROMEDRIVER,
    CHROMIUM,
    TINY_TRAINING,
    call_tool,
    run_tool,
    write_clustered_index,
)

# The time guard of a test marked slow; every other test has pyproject.toml's `timeout`.
SLOW_TIMEOUT_S = 900

# The in-process app (helpers.app_client) runs searches on several threads, as ssdh-serve does;
# numba's default layer aborts on that. Set before any kernel runs, as tasks/serve.py does.
numba.config.THREADING_LAYER = "threadsafe"


def pytest_sessionstart(session) -> None:
    """Compile the engine's kernels for every label and feature type the engine takes, before
    the first test. numba keeps them in its cache beside the sources (``cache=True``), where the
    tests' own processes find them too: a minute or two once after a checkout or a change of a
    kernel, two seconds after. Otherwise the compilation would fall into whichever test comes
    first, past its time guard."""
    from ssdh_lightning.retrieval import Index, evaluate_retrieval, search
    from ssdh_lightning.testing.formats import digit_multi_hot
    from ssdh_lightning.testing.synthetic import retrieval_problem

    # more database items than the default config's largest k (map@1000), as in training
    problem = retrieval_problem(20, 1100, 48, feature_dim=16)
    labels, features = ("query_labels", "database_labels"), ("query_features", "database_features")
    for variant in (
        {},  # class ids below 256 (kept as uint8) and float32 features, as a model gives them
        {key: digit_multi_hot(problem[key]) for key in labels},  # multi-hot (uint8)
        {key: problem[key] * 300 for key in labels},  # class ids kept as uint16
        {key: problem[key] * 70_000 for key in labels},  # class ids kept as int64
        {key: problem[key].astype(np.float16) for key in features},
        {key: problem[key].astype(np.float64) for key in features},
    ):
        evaluate_retrieval(**(problem | variant), tie_figures=True)
    for mode in ("bcs", "es", "hds"):
        search(
            problem["query_codes"],
            problem["database_codes"],
            10,
            mode,
            **{key: problem[key] for key in features},
        )
    # an index: float16 features, memory-mapped read-only; HDS pools of both kinds
    with tempfile.TemporaryDirectory() as folder:
        index = Index.load(write_clustered_index(Path(folder) / "index").folder)
        query_features = np.asarray(index.features[:5], dtype=np.float32)
        for mode, pool in (("bcs", {}), ("es", {}), ("hds", {}), ("hds", {"hds_threshold": 6})):
            index.search(index.codes[:5], 10, mode, query_features=query_features, **pool)


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """The folder of one short ssdh-train run, in this process (the process of a training is
    test_console.py's and the README's quick start's)."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    # a callback switched off on the command line (callbacks.NAME=null) is left out, not built
    call_tool(
        "ssdh-train",
        *TINY_TRAINING,
        "seed=3",
        "callbacks.learning_rate_monitor=null",
        run_dir=run_dir,
    )
    return run_dir


@pytest.fixture(scope="session")
def evaluated_run(trained_run, tmp_path_factory) -> Path:
    """The run folder of ssdh-eval (in this process) on ``trained_run``'s last checkpoint, on
    the CPU, with the default baseline rows."""
    run_dir = tmp_path_factory.mktemp("evaluated") / "eval"
    call_tool(
        "ssdh-eval",
        f"ckpt_path={trained_run / 'checkpoints' / 'last.ckpt'}",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "baselines=[lsh,itq,initial]",
        run_dir=run_dir,
    )
    return run_dir


@pytest.fixture(scope="session")
def sweep(tmp_path_factory) -> Path:
    """The folder of a two-job multirun through the real Hydra entry point (seeds 0 and 1, 16
    bits, two training steps each), one folder a job. Tests that write into it copy it first."""
    workdir = tmp_path_factory.mktemp("sweep")
    folder = workdir / "multirun"
    run_tool(
        "ssdh-train",
        "-m",
        "seed=0,1",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "model.hash_bits=16",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={folder}",
        cwd=workdir,
    )
    return folder


@pytest.fixture
def browser(tmp_path):
    """Debian's headless Chromium driven by its chromedriver (Selenium), with no network: every
    host but the local server is unresolvable."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        # no CDN, no network: a host other than the server's does not resolve
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
