"""Splits: find the subdocuments a bundle holds, and the pages of each.

    python examples/split_documents.py

Runs against an in-process local server unless RETAB_API_KEY is set.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from _local import client_for_example

from retab_async import Split, Subdocument

DOCS = Path(__file__).parent / "documents"

# Three documents scanned as one: pages are separated by form feeds.
BUNDLE = (
    "bundle.txt",
    b"INVOICE 1\nAmount due: 300 EUR\fTerms: 30 days\fLetter\nDear Sir,\fInvoice 2\nDue: 12 EUR",
)
SUBDOCUMENTS = [
    Subdocument(name="invoice", description="a bill to pay", allow_multiple_instances=True),
    Subdocument(name="letter", description="correspondence"),
]


def pages(split: Split) -> str:
    return ", ".join(f"{entry.name} {entry.pages}" for entry in split.require_output())


async def main() -> None:
    async with client_for_example() as client:
        # 1. Synchronous: each subdocument found, with its pages (from 1).
        split = await client.splits.create(BUNDLE, SUBDOCUMENTS)
        print(f"sync:       {split.status}: {pages(split)}")
        print(f"invoices:   {split.pages_of('invoice')}")

        # 2. Background, with votes: the likelihoods say how sure they were.
        handle = await client.splits.start(BUNDLE, SUBDOCUMENTS, n_consensus=5)
        voted = await handle.wait(timeout=60)
        likelihoods = voted.consensus.likelihoods if voted.consensus else None
        print(f"consensus:  {pages(voted)}; likelihoods {len(likelihoods or [])}")

        # 3. Many documents at once, in the order they finish.
        letters = sorted(DOCS.glob("letter-*.txt"))
        async with client.splits.map(letters, ["letter", "invoice"], concurrency=4) as results:
            async for result in results:
                found = result.record.require_output() if result.ok and result.record else []
                print(f"batch:      {Path(result.key).name}: {[e.name for e in found]}")

        # 4. Listing by filename and status, and deleting.
        async for record in client.splits.list(filename="bundle", status="completed"):
            await client.splits.delete(record.id)
            print(f"deleted:    {record.id}")


if __name__ == "__main__":
    anyio.run(main)
