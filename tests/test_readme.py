"""The README's quick-start, run as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- quickstart.*?-->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md lost its quick-start block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_installs_then_trains_to_the_promised_map(tmp_path):
    commands = quickstart_commands()
    assert commands[0] == 'pip install -e ".[dev]"'  # the install this test runs under
    for command in commands[1:]:
        # Run as written, in the environment that pip installed into, from an empty folder.
        bin_dir = Path(sys.executable).parent
        result = subprocess.run(
            command,
            shell=True,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert "bcs" in result.stdout and "Run folder:" in result.stdout
    (metrics_file,) = tmp_path.glob("outputs/train/runs/*/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["bcs/map@all"] >= 0.93
    assert (metrics_file.parent / "checkpoints" / "last.ckpt").is_file()
