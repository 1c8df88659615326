"""The README's "Build and query an index" commands, run as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def index_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- index:.*?-->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md lost its index block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.slow
def test_readme_index_commands_work_as_written(tmp_path):
    # The commands run from the repository's root: give them its benchmarks/, not its files.
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    bin_dir = Path(sys.executable).parent
    for command in index_commands():
        result = subprocess.run(
            command,
            shell=True,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout)  # the last command asks for JSON
    outputs = tmp_path / "outputs"
    assert report["mode"] == "bcs"
    assert len(report["queries"]) == len(list((outputs / "digit_images" / "3").iterdir()))
    assert (outputs / "results.html").is_file() and (outputs / "results.png").is_file()
    assert (outputs / "digits.index" / "manifest.json").is_file()
