"""Edits: fill the form fields of documents as instructions say, and save the filled PDFs.

    python examples/fill_forms.py [--output-dir DIR]

Runs against an in-process local server unless RETAB_API_KEY is set (then give
--template-id of one of your edit templates, or leave it out to skip that part).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import anyio
from _local import client_for_example

from retab_async import BatchItem

APPLICATION = (
    "application.txt",
    b"MEMBERSHIP APPLICATION\n\nFull name:\nEmail:\nMember since: ____\n[ ] I agree to the terms\n",
)
LOCAL_TEMPLATE = "edtpl_contact_form"  # a template every local server knows


async def main(output_dir: Path, template_id: str | None) -> None:
    async with client_for_example() as client:
        # 1. Synchronous: the fields the document asks for, filled from the instructions.
        edit = await client.edits.create(
            APPLICATION,
            instructions="Full name: Ada Lovelace\nEmail: ada@example.com\nI agree: yes",
            color="#1F4E79",
        )
        for field in edit.require_output().form_data:
            page = field.bbox.page if field.bbox else "?"
            print(f"field:      {field.key} ({field.type}, page {page}) = {field.value!r}")
        saved = await client.edits.save_filled_document(edit, output_dir)
        print(f"saved:      {saved.name} ({saved.stat().st_size} bytes)")

        # 2. A stored template instead of a document, in the background.
        if template_id is not None:
            handle = await client.edits.start(
                template_id=template_id, instructions="Full name: Charles Babbage"
            )
            done = await handle.wait(timeout=120)
            print(f"template:   {done.status}, {done.require_output().values()}")

        # 3. Many documents with the same instructions, in the order they finish.
        forms = [BatchItem(f"form-{n}", (f"form-{n}.txt", b"Name:\nDate:\n")) for n in range(1, 4)]
        async with client.edits.map(forms, instructions="Date: 2026-12-01") as results:
            async for result in results:
                record = result.require_record()
                target = output_dir / f"{result.key}_filled.pdf"
                await client.edits.save_filled_document(record, target)
                print(f"batch:      {result.key} -> {target.name}")

        # 4. Listing (newest first) and deleting.
        deleted = 0
        async for listed in client.edits.list(filename="form-"):
            await client.edits.delete(listed.id)
            deleted += 1
        print(f"deleted:    {deleted} edits of the batch")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("filled"))
    parser.add_argument("--template-id", default=None)
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    template = args.template_id or (None if os.environ.get("RETAB_API_KEY") else LOCAL_TEMPLATE)
    anyio.run(main, args.output_dir, template)
