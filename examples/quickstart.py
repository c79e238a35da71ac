"""Quick start: one synchronous classification, one background run, one cancel.

    python examples/quickstart.py

Runs against an in-process local server unless RETAB_API_KEY is set.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from _local import client_for_example

from retab_async import Category, RunCancelled

DOCS = Path(__file__).parent / "documents"
CATEGORIES = [
    Category(name="invoice", description="A bill with an amount due and payment terms"),
    Category(name="receipt", description="Proof that a payment was made"),
    "contract",
    {"name": "letter", "description": "Personal or business correspondence"},
]


async def main() -> None:
    async with client_for_example() as client:
        # 1. Synchronous: returns when the run has finished.
        result = await client.classifications.create(DOCS / "receipt-cafe.txt", CATEGORIES)
        print(f"sync:       {result.status} -> {result.category}")

        # 2. Background: start, then wait (the shared poller watches the run).
        handle = await client.classifications.start(
            DOCS / "invoice-northwind-20418.txt", CATEGORIES, n_consensus=3
        )
        print(f"started:    {handle!r}")
        done = await handle.wait(timeout=60)
        likelihood = done.consensus.likelihoods if done.consensus else None
        print(f"background: {done.status} -> {done.category} (agreement {likelihood})")
        print(f"reasoning:  {done.output.reasoning if done.output else ''}")

        # 3. Cancel: idempotent, and safe on a run that has already finished.
        doomed = await client.classifications.start(DOCS / "contract-lease.txt", CATEGORIES)
        cancelled = await doomed.cancel()
        again = await doomed.cancel()  # sends nothing: the run is already terminal
        print(f"cancelled:  {cancelled.status} (again: {again.status})")
        try:
            await doomed.wait()
        except RunCancelled as exc:
            print(f"wait():     {exc}")


if __name__ == "__main__":
    anyio.run(main)
