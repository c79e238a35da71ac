"""Import time: ``import retab_async`` against ``from retab import AsyncRetab``.

Both are timed in fresh interpreters, alternated, 15 times; the ratio of the
medians is printed. Target: at most 0.6x.

    python benchmarks/bench_import.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys

from _common import Report, have, median, parse_args

CODE = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def timed(stmt: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CODE.format(stmt=stmt)], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def main() -> None:
    args = parse_args(__doc__)
    report = Report("import", "import time", quick=args.quick)
    rounds = 1 if args.quick else 15
    official = have("retab")
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        ours.append(timed("import retab_async"))
        if official:
            theirs.append(timed("from retab import AsyncRetab"))
    report.line(f"import retab_async:           {median(ours) * 1000:7.1f} ms (median of {rounds})")
    report.figure("ours_ms", median(ours) * 1000)
    if not official:
        report.condition("official SDK not installed (pip install -e '.[bench]'): no ratio")
        report.write()
        return
    ratio = median(ours) / median(theirs)
    report.figure("official_ms", median(theirs) * 1000)
    report.line(f"from retab import AsyncRetab: {median(theirs) * 1000:7.1f} ms")
    report.row("import time vs official", f"{ratio:.2f}x", "<= 0.6x", ratio <= 0.6)
    report.write()


if __name__ == "__main__":
    main()
