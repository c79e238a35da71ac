"""Parses: documents into text, page by page, with tables in the format you choose.

    python examples/parse_documents.py

Runs against an in-process local server unless RETAB_API_KEY is set.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from _local import client_for_example

DOCS = Path(__file__).parent / "documents"

REPORT = ("report.txt", b"Quarterly report\n\nSales were up.\fOutlook\n\nSteady growth.")
STOCK = ("stock.csv", b"item,quantity\nbolts,300\nnuts,120\n")


async def main() -> None:
    async with client_for_example() as client:
        # 1. Synchronous: pages are split on form feeds in plain text.
        parsed = await client.parses.create(REPORT)
        pages = parsed.require_output().pages
        print(
            f"sync:       {parsed.status}, {len(pages)} pages, first: {pages[0].splitlines()[0]!r}"
        )

        # 2. Tables come out as HTML by default, or as Markdown, JSON or YAML.
        table = await client.parses.create(STOCK, table_parsing_format="markdown")
        print("markdown:")
        print(table.require_output().text)

        # 3. Background runs on the same RunHandle as every other primitive.
        handle = await client.parses.start(DOCS / "letter-thank-you.txt")
        done = await handle.wait(timeout=60)
        print(f"background: {done.status}, {len(done.require_output().text)} characters")

        # 4. Many documents at once, in the order they finish.
        receipts = sorted(DOCS.glob("receipt-*.txt"))
        async with client.parses.map(receipts, concurrency=4) as results:
            async for result in results:
                text = result.record.require_output().text if result.ok and result.record else ""
                print(f"batch:      {Path(result.key).name}: {len(text.split())} words")

        # 5. Listing (newest first) and deleting.
        async for record in client.parses.list(filename="report"):
            await client.parses.delete(record.id)
            print(f"deleted:    {record.id} ({record.file.filename if record.file else '-'})")


if __name__ == "__main__":
    anyio.run(main)
