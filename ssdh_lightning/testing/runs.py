"""Training runs the benchmarks need, made once and reused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def digits_checkpoint(work: Path, epochs: int) -> Path:
    """A digits checkpoint trained for ``epochs`` under ``work``, once: later calls reuse it."""
    run_dir = work / f"digits-{epochs}-epochs"
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        print(f"training a digits checkpoint for {epochs} epochs in {run_dir} (once) ...")
        command = [sys.executable, "-m", "ssdh_lightning.train", f"trainer.max_epochs={epochs}"]
        command += [f"trainer.check_val_every_n_epoch={epochs}", f"hydra.run.dir={run_dir}"]
        command += ["trainer.enable_progress_bar=false"]
        subprocess.run(command, check=True, capture_output=True)
    return checkpoint
