"""One table of every figure the benchmark scripts wrote (``nox -s bench`` prints it last).

Reads the JSON results in ``$RETAB_BENCH_RESULTS`` (see ``_common.py``);
``--markdown`` prints the table as the README's performance section has it.

    python benchmarks/summary.py [--markdown]
"""

from __future__ import annotations

import json
import sys
from typing import Any

from _common import results_dir

ORDER = ["get", "waits", "single_run", "batch", "decode", "import", "server", "upload"]


def load() -> list[dict[str, Any]]:
    found = {path.stem: json.loads(path.read_text()) for path in results_dir().glob("*.json")}
    names = [n for n in ORDER if n in found] + sorted(set(found) - set(ORDER))
    return [found[name] for name in names]


def main() -> None:
    markdown = "--markdown" in sys.argv[1:]
    results = load()
    if not results:
        print(f"no results in {results_dir()}")
        return
    first = results[0]
    quick = any(r["quick"] for r in results)
    rows = [(r["name"], row) for r in results for row in r["rows"]]
    missed = sum(row["verdict"] == "MISS" for _, row in rows)
    passed = sum(row["verdict"] == "PASS" for _, row in rows)
    loads = [x for r in results for x in r.get("load", [])]
    when = f"{first['when']}; {first['machine']}"
    if loads:
        span = f"{min(loads):.1f}-{max(loads):.1f}"
        when += f"; load average {span} (1 min, at each script's start and end)"
    if markdown:
        print(f"Measured {when}, by one `nox -s bench` run.\n")
        print("| benchmark | measure | result | target | |")
        print("| --- | --- | --- | --- | --- |")
        for name, row in rows:
            print(
                f"| `bench_{name}.py` | {row['measure']} | {row['value']} | {row['target']} "
                f"| {row['verdict']} |"
            )
        return
    print(
        f"\n== summary: {when}"
        + (" [includes --quick results: figures mean nothing]" if quick else "")
    )
    width = max(len(row["measure"]) for _, row in rows)
    for _, row in rows:
        target = f"  (target {row['target']}) {row['verdict']}" if row["target"] else ""
        print(f"{row['measure']:<{width}}  {row['value']}{target}")
    absent = [f"bench_{name}.py" for name in ORDER if name not in {r["name"] for r in results}]
    if absent:
        print(f"no result from {', '.join(absent)} (not run, or failed: see its output)")
    print(f"\n{passed} targets met, {missed} missed (a miss is reported, never a failure)")


if __name__ == "__main__":
    main()
