"""Partitions: cut a document into chunks, one per value of a key.

    python examples/partition_documents.py

Runs against an in-process local server unless RETAB_API_KEY is set.
"""

from __future__ import annotations

import anyio
from _local import client_for_example

from retab_async import Partition

# A ledger of invoices, one page per form feed; page 3 holds two invoices.
LEDGER = (
    "ledger.txt",
    b"Invoice number: A-1\nTotal: 30 EUR\f(continued) Terms: 30 days\f"
    b"Invoice number: B-7\nTotal: 12 EUR\nInvoice number: C-2\nTotal: 5 EUR",
)
KEY, INSTRUCTIONS = "invoice number", "One chunk per invoice."


def chunks(partition: Partition) -> str:
    return ", ".join(f"{chunk.key} {chunk.pages}" for chunk in partition.require_output())


async def main() -> None:
    async with client_for_example() as client:
        # 1. Synchronous: one chunk per value; a page may belong to two chunks.
        partition = await client.partitions.create(LEDGER, KEY, INSTRUCTIONS)
        print(f"overlap:    {chunks(partition)}")

        # 2. Without overlap, each page goes to one chunk.
        apart = await client.partitions.create(LEDGER, KEY, INSTRUCTIONS, allow_overlap=False)
        print(f"no overlap: {chunks(apart)}")

        # 3. Background, with votes: the likelihoods say how sure they were.
        handle = await client.partitions.start(LEDGER, KEY, INSTRUCTIONS, n_consensus=5)
        voted = await handle.wait(timeout=60)
        likelihoods = voted.consensus.likelihoods if voted.consensus else None
        print(f"consensus:  {chunks(voted)}; likelihoods {len(likelihoods or [])}")

        # 4. Listing by filename and status, and deleting.
        async for record in client.partitions.list(filename="ledger", status="completed"):
            await client.partitions.delete(record.id)
            print(f"deleted:    {record.id}")


if __name__ == "__main__":
    anyio.run(main)
