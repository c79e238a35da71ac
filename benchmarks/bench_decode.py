"""Decoding a completed Classification record (``_records.SHAPE``: about 6 KB).

Compares, in one process:
  * retab-async: ``Primitive.decode``, what every ``get()`` runs (msgspec, placeholders handled);
  * a bare ``msgspec`` decoder into an equivalent Struct (``_bare.py``: no SDK);
  * the official ``retab`` package's path: ``json.loads`` + pydantic ``model_validate``.

Best of 7 repeats each. Targets: at least 4x faster than the official path,
within 1.3x of bare msgspec.

    python benchmarks/bench_decode.py [--quick]
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from typing import Any

import _bare
from _common import Report, have, parse_args
from _records import SHAPE, record

from retab_async._http.transport import Response
from retab_async._runs.primitive import CLASSIFICATIONS

BODY = json.dumps(record("clss_9f2c7a41b3e04d0e", "completed"), separators=(",", ":")).encode()


def best(fn: Callable[[], Any], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    args = parse_args(__doc__)
    report = Report("decode", "decoding a completed record", quick=args.quick)
    number, repeat = (200, 2) if args.quick else (20_000, 7)
    report.condition(SHAPE)
    response = Response(200, {}, BODY, "GET", "u")
    decoded = CLASSIFICATIONS.decode(response)
    assert decoded.category == record(decoded.id, "completed")["output"]["category"]
    ours = best(lambda: CLASSIFICATIONS.decode(response), number, repeat)
    plain = best(lambda: _bare.decoder.decode(BODY), number, repeat)
    report.line(f"body: {len(BODY)} bytes")
    report.line(f"retab-async decode:      {ours * 1e6:8.2f} µs")
    report.line(f"bare msgspec decode:     {plain * 1e6:8.2f} µs")
    vs_bare = ours / plain
    report.figure("ours_us", ours * 1e6)
    report.figure("bare_us", plain * 1e6)
    if have("retab"):
        from retab.types.classifications import Classification as Official

        official = best(lambda: Official.model_validate(json.loads(BODY)), number // 10, repeat)
        report.line(f"official retab decode:   {official * 1e6:8.2f} µs")
        report.figure("official_us", official * 1e6)
        vs_official = official / ours
        report.row(
            "decode: speed-up over official", f"{vs_official:.1f}x", ">= 4x", vs_official >= 4
        )
    else:
        report.condition("official SDK not installed (pip install -e '.[bench]'): not measured")
    report.row("decode: cost over bare msgspec", f"{vs_bare:.2f}x", "<= 1.3x", vs_bare <= 1.3)
    report.write()


if __name__ == "__main__":
    main()
