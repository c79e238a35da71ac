"""Decoding a completed Classification record (``_records.SHAPE``: about 6 KB).

Compares, in one process:
  * retab-async: ``Primitive.decode``, what every ``get()`` runs (msgspec, placeholders handled);
  * a bare ``msgspec`` decoder into an equivalent Struct (``_bare.py``: no SDK);
  * the official ``retab`` package's path: ``json.loads`` + pydantic ``model_validate``.

Interleaved repeats (21 full, 3 with ``--quick``): each repeat times every
decoder once more, one after the other (the order alternates), for about 50 ms
each, so that a change in the machine's load hits all of them alike. Per decoder,
the fastest repeat (the least disturbed) is printed; each verdict takes the
median over repeats of the per-repeat ratio, and the ratio of the fastest
repeats and the spread of the per-repeat ratios are printed beside it.
Targets: at least 4x faster than the official path, within 1.3x of bare msgspec.

    python benchmarks/bench_decode.py [--quick]
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from typing import Any

import _bare
from _common import Report, have, median, parse_args
from _records import SHAPE, record

from retab_async._http.transport import Response
from retab_async._runs.primitive import CLASSIFICATIONS

BODY = json.dumps(record("clss_9f2c7a41b3e04d0e", "completed"), separators=(",", ":")).encode()


def per_call(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` calls (garbage collection off, as in timeit)."""
    return timeit.timeit(fn, number=number) / number


def interleaved(
    fns: dict[str, tuple[Callable[[], Any], int]], repeats: int
) -> dict[str, list[float]]:
    """``repeats`` timings of each function, taken in turns (the order reversed every other
    repeat); ``fns`` maps a name to the function and its calls per timing."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            fn, number = fns[name]
            times[name].append(per_call(fn, number))
    return times


def ratio_row(
    report: Report, measure: str, top: list[float], bottom: list[float], target: str, ok: Any
) -> float:
    """Report the median per-repeat ratio ``top / bottom``, with the ratio of the fastest
    repeats and the spread; returns the median."""
    ratios = [t / b for t, b in zip(top, bottom, strict=True)]
    value = median(ratios)
    report.row(
        measure,
        f"{value:.2f}x (repeats {min(ratios):.2f}-{max(ratios):.2f}; "
        f"fastest {min(top) / min(bottom):.2f}x)",
        target,
        ok(value),
    )
    return value


def main() -> None:
    args = parse_args(__doc__)
    report = Report("decode", "decoding a completed record", quick=args.quick)
    number, repeats = (200, 3) if args.quick else (10_000, 21)
    report.condition(SHAPE)
    report.condition(
        f"{repeats} interleaved repeats of {number} calls each (official: {number // 10}); "
        "medians of per-repeat ratios"
    )
    response = Response(200, {}, BODY, "GET", "u")
    decoded = CLASSIFICATIONS.decode(response)
    assert decoded.category == record(decoded.id, "completed")["output"]["category"]
    fns: dict[str, tuple[Callable[[], Any], int]] = {
        "ours": (lambda: CLASSIFICATIONS.decode(response), number),
        "bare": (lambda: _bare.decoder.decode(BODY), number),
    }
    if have("retab"):
        from retab.types.classifications import Classification as Official

        fns["official"] = (lambda: Official.model_validate(json.loads(BODY)), number // 10)
    else:
        report.condition("official SDK not installed (pip install -e '.[bench]'): not measured")
    for fn, calls in fns.values():  # warm-up
        per_call(fn, calls)
    times = interleaved(fns, repeats)
    report.line(f"body: {len(BODY)} bytes")
    labels = {"ours": "retab-async", "bare": "bare msgspec", "official": "official retab"}
    for name, values in times.items():
        label = f"{labels[name]} decode:"
        report.line(f"{label:<26}{min(values) * 1e6:8.2f} µs (median {median(values) * 1e6:.2f})")
        report.figure(f"{name}_us", min(values) * 1e6)
    if "official" in times:
        ratio_row(
            report,
            "decode: speed-up over official",
            times["official"],
            times["ours"],
            ">= 4x",
            lambda value: value >= 4,
        )
    ratio_row(
        report,
        "decode: cost over bare msgspec",
        times["ours"],
        times["bare"],
        "<= 1.3x",
        lambda value: value <= 1.3,
    )
    report.write()


if __name__ == "__main__":
    main()
