"""A quiet console: the first screen of a training run shows the project's lines, not Lightning's
or torch's."""

from __future__ import annotations

import logging
import subprocess
import sys
import warnings

from ssdh_lightning.cli.console import quiet_console

# What Lightning and torch printed before the project's first line (issue 25)
NOT_OURS = (
    "Tip:",
    "litlogger",
    "was configured",
    "LeafSpec",
    "GPU available",
    "TPU available",
    "Seed set to",
)


def test_the_first_lines_of_a_training_run_are_ours(tmp_path):
    command = [sys.executable, "-m", "ssdh_lightning.train", "trainer.max_steps=2"]
    command += ["trainer.val_check_interval=2", "trainer.enable_progress_bar=false", "baselines=[]"]
    command += [f"hydra.run.dir={tmp_path / 'run'}"]
    result = subprocess.run(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Training small_cnn with lin2015, 48 bits, on digits: "), lines[:5]
    assert lines[0].endswith(f"Run folder: {tmp_path / 'run'}")
    assert lines[1] == "`Trainer.fit` stopped: `max_steps=2` reached."  # how it ended: kept
    assert lines[2].split()[:2] == ["map@1000", "map@all"]  # the table of final metrics
    for noise in NOT_OURS:
        assert noise not in result.stdout


def test_the_filters_drop_only_what_they_name():
    quiet_console()
    quiet_console()  # twice adds nothing
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert len(logger.filters) == 1
    (drop,) = logger.filters

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord(logger.name, logging.INFO, __file__, 1, message, (), None)

    assert not drop.filter(record("GPU available: False, used: False"))
    assert not drop.filter(record("[rank: 1] Seed set to 3"))
    assert drop.filter(record("GPU available but not used. You can set it by doing ..."))
    assert drop.filter(record("`Trainer.fit` stopped: `max_steps=2` reached."))
    with warnings.catch_warnings(record=True) as caught:
        quiet_console()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", stacklevel=1)
        warnings.warn("something else", stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else"]
