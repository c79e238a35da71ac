"""Schema generation and file blueprints: describe documents rather than read them.

    python examples/describe_documents.py

Runs against an in-process local server unless RETAB_API_KEY is set.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from _local import client_for_example

DOCS = Path(__file__).parent / "documents"


async def main() -> None:
    async with client_for_example() as client:
        # 1. A JSON Schema from example documents (several per run), then used to extract.
        invoices = sorted(DOCS.glob("invoice-*.txt"))
        generated = await client.schemas.generate(invoices, instructions="Invoices")
        schema = generated.require_output()
        print(f"schema:     {generated.status}, properties {sorted(schema['properties'])}")
        extraction = await client.extractions.create(invoices[0], schema)
        print(f"extracted:  {sorted(extraction.require_output())}")

        # 2. In the background, on the same RunHandle as every primitive.
        handle = await client.schemas.start(sorted(DOCS.glob("receipt-*.txt")))
        receipts = (await handle.wait(timeout=60)).require_output()
        print(f"background: {handle.status}, {len(receipts['properties'])} properties")

        # 3. The blueprint of an uploaded file: its pages and the fields on them.
        uploaded = await client.files.upload(DOCS / "invoice-northwind-20418.txt")
        blueprint = await client.file_blueprints.create(uploaded, intent="invoices")
        output = blueprint.require_output()
        names = [field["name"] for field in output["fields"]]
        print(f"blueprint:  {blueprint.status}, {output['page_count']} page(s), fields {names}")

        # 4. Many blueprints at once; a malformed id is a result, not a crash.
        async with client.file_blueprints.map([uploaded.file_id, "not/an/id"]) as results:
            async for result in results:
                print(f"batch:      {result.key}: {result.ok}")


anyio.run(main)
