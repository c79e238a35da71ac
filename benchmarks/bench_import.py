"""Import time: ``import retab_async`` against ``from retab import AsyncRetab``.

Target: at most 0.6x. Both are timed in fresh interpreters, alternated, many times;
the ratio of the medians is printed.
"""

from __future__ import annotations

import subprocess
import sys

from _common import median, verdict

ROUNDS = 15
CODE = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def timed(stmt: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CODE.format(stmt=stmt)], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def main() -> None:
    ours, theirs = [], []
    for _ in range(ROUNDS):
        ours.append(timed("import retab_async"))
        theirs.append(timed("from retab import AsyncRetab"))
    ratio = median(ours) / median(theirs)
    print(f"import retab_async:           {median(ours) * 1000:7.1f} ms (median of {ROUNDS})")
    print(f"from retab import AsyncRetab: {median(theirs) * 1000:7.1f} ms")
    print(f"ratio: {ratio:.2f}x (target <= 0.60x) {verdict(ratio <= 0.6)}")


if __name__ == "__main__":
    main()
