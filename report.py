"""Compare the runs of a sweep on one page: `python report.py multirun/train/<date>/<time>`."""

import argparse
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder (its runs hold metrics.json)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the page (default <sweep_dir>/report.md)")
    args = parser.parse_args()
    from facevae.evaluation.sweep import SweepError, write_sweep_report

    try:
        path = write_sweep_report(args.sweep_dir, args.out)
    except SweepError as exc:
        print(f"facevae: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"sweep report: {path}")


if __name__ == "__main__":
    main()
