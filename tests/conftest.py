"""Fixtures that many test files share: one short training run through the real entry point,
and a headless browser. Shared functions and constants live in helpers.py."""

from __future__ import annotations

from pathlib import Path

import numba
import pytest

from helpers import CHROMEDRIVER, CHROMIUM, TINY_TRAINING, run_tool

# The in-process app (helpers.app_client) runs searches on several threads, as ssdh-serve does;
# numba's default layer aborts on that. Set before any kernel runs, as tasks/serve.py does.
numba.config.THREADING_LAYER = "threadsafe"


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
