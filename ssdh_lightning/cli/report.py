"""``ssdh-report PATH``: the report of every training run below a run or sweep folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssdh_lightning.reporting.intervals import DEFAULT_RESAMPLES
from ssdh_lightning.reporting.report import write_report
from ssdh_lightning.reporting.runs import BrokenRun


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="ssdh-report",
        description="Write report.md, report.csv, report_paper.csv, report_compare.csv and PNG "
        "plots of the runs below PATH into PATH.",
    )
    parser.add_argument("path", type=Path, help="a run or sweep folder (e.g. outputs/train)")
    parser.add_argument(
        "--skip-broken",
        action="store_true",
        help="leave out run folders whose files are damaged, with a line each on stderr",
    )
    parser.add_argument(
        "--against",
        metavar="TRAINING/ROW",
        help=(
            "a row every other row is compared with, besides the best one (e.g. lin2015/bcs; "
            "a run of the authors' recipe: 'dsh (authors)/bcs')"
        ),
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help=f"resamples of the bootstrap over queries (default {DEFAULT_RESAMPLES})",
    )
    parser.add_argument(
        "--figures",
        nargs="+",
        metavar="FIGURE",
        help="the figures whose rows are ranked and compared (default: every mAP@k; any "
        "mAP@k or precision@k the runs have, e.g. map@all precision@100)",
    )
    args = parser.parse_args(argv)
    try:
        written, broken = write_report(
            args.path,
            skip_broken=args.skip_broken,
            against=args.against,
            resamples=args.resamples,
            figures=args.figures,
        )
    except BrokenRun as error:
        parser.exit(2, f"ssdh-report: {error}; --skip-broken leaves such runs out\n")
    except (OSError, ValueError) as error:
        parser.exit(2, f"ssdh-report: {error}\n")
    for error in broken:
        print(f"ssdh-report: left out {error}", file=sys.stderr)
    print(written[0].read_text(encoding="utf-8"))
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
