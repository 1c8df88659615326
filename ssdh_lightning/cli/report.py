"""``ssdh-report PATH``: the report of every training run below a run or sweep folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ssdh_lightning.report import write_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="ssdh-report",
        description="Write report.md, report.csv and PNG plots of the runs below PATH into PATH.",
    )
    parser.add_argument("path", type=Path, help="a run or sweep folder (e.g. outputs/train)")
    args = parser.parse_args(argv)
    try:
        written = write_report(args.path)
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"ssdh-report: {error}\n")
    print(written[0].read_text(encoding="utf-8"))
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
