"""``client.classifications.get`` with 64 requests in flight, against the local server.

Compares, in alternating rounds against the same server process:
  * retab-async's ``get``;
  * a bare aiohttp + msgspec loop (the same stack without the SDK);
  * the official ``retab`` package's ``AsyncRetab``.

Targets: at least 10x the official client's requests per second, and at least
0.85x of the bare loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec
from _common import API_KEY, local_server, median, verdict

from retab_async import Classification, RetabClient

IN_FLIGHT = 64
SECONDS = 3.0
ROUNDS = 3


async def measure(call: Callable[[], Awaitable[object]]) -> float:
    done = 0
    stop = time.monotonic() + SECONDS

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await call()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return done / (time.monotonic() - started)


async def ours(base: str, run_id: str) -> float:
    async with RetabClient(API_KEY, base, max_connections=IN_FLIGHT) as client:
        record = await client.classifications.get(run_id)
        assert record.category is not None
        return await measure(lambda: client.classifications.get(run_id))


async def bare(base: str, run_id: str) -> float:
    decoder = msgspec.json.Decoder(Classification)
    url = f"{base}/v1/classifications/{run_id}"
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def get() -> Classification:
            async with session.get(url, params={"include_output": "true"}) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(resp.status)
                return decoder.decode(body)

        return await measure(get)


async def official(base: str, run_id: str) -> float:
    from retab import AsyncRetab

    client = AsyncRetab(api_key=API_KEY, base_url=base)
    try:
        record = await client.classifications.get(run_id)
        assert record.id == run_id
        return await measure(lambda: client.classifications.get(run_id))
    finally:
        close = getattr(client, "close", None) or getattr(client, "aclose", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


async def create_run(base: str) -> str:
    async with RetabClient(API_KEY, base) as client:
        record = await client.classifications.create(
            ("invoice.txt", b"INVOICE: amount due"),
            [f"category_{i}" for i in range(11)] + ["invoice"],
            n_consensus=5,
        )
        return record.id


def main() -> None:
    with local_server("--run-time", "0") as base:
        run_id = asyncio.run(create_run(base))
        results: dict[str, list[float]] = {"ours": [], "bare": [], "official": []}
        for _ in range(ROUNDS):
            results["ours"].append(asyncio.run(ours(base, run_id)))
            results["bare"].append(asyncio.run(bare(base, run_id)))
            results["official"].append(asyncio.run(official(base, run_id)))
    rps = {name: median(values) for name, values in results.items()}
    print(f"get() with {IN_FLIGHT} in flight, {ROUNDS} alternating rounds of {SECONDS:.0f}s")
    for name, label in (
        ("ours", "retab-async"),
        ("bare", "bare aiohttp+msgspec"),
        ("official", "official AsyncRetab"),
    ):
        print(f"{label:<22} {rps[name]:8.0f} req/s")
    vs_official = rps["ours"] / rps["official"]
    vs_bare = rps["ours"] / rps["bare"]
    print(f"vs official: {vs_official:.1f}x (target >= 10x) {verdict(vs_official >= 10)}")
    print(f"vs bare:     {vs_bare:.2f}x (target >= 0.85x) {verdict(vs_bare >= 0.85)}")


if __name__ == "__main__":
    main()
