"""Extractions: a schema from a msgspec Struct, a batch of invoices, typed results, a stream.

    python examples/extract_invoices.py

Runs against an in-process local server unless RETAB_API_KEY is set.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
from _local import client_for_example

from retab_async import Extraction, ExtractionPartial

DOCS = Path(__file__).parent / "documents"
INVOICES = sorted(DOCS.glob("invoice-*.txt"))


class Invoice(msgspec.Struct, kw_only=True):
    """The schema sent to the API is generated from this type."""

    customer: str
    total_due: float
    payment_due: str | None = None


async def main() -> None:
    async with client_for_example() as client:
        # 1. One extraction, read back into the Struct (a typed error if it does not fit).
        record = await client.extractions.create(INVOICES[0], Invoice)
        invoice = record.output_as(Invoice)
        print(f"sync:       {record.status} -> {invoice.customer!r}, total {invoice.total_due}")

        # 2. A batch in the background, with bounded concurrency; results as runs finish.
        async with client.extractions.map(INVOICES, Invoice, concurrency=4) as results:
            async for result in results:
                if result.record is not None and result.record.status == "completed":
                    total = result.record.output_as(Invoice).total_due
                    print(f"batch:      {Path(result.key).name}: total {total}")
                else:
                    print(f"batch:      {Path(result.key).name}: {result.error}")

        # 3. A stream: the object grows field by field, then the final record arrives.
        async with client.extractions.stream(INVOICES[-1], Invoice) as events:
            async for event in events:
                if isinstance(event, ExtractionPartial):
                    print(f"partial:    {sorted(event.output or {})}")
                elif isinstance(event, Extraction):
                    print(f"final:      {event.status} -> {event.output_as(Invoice)}")

        # 4. Where each value was found in the document.
        sources = await client.extractions.sources(record.id)
        print(f"sources:    {sorted(sources.sources)}")


if __name__ == "__main__":
    anyio.run(main)
