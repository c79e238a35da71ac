"""The official ``retab`` SDK, unchanged, runs its extraction, parse and classification
methods (sync and async) against the local server, and its pydantic models validate
every response: records, pages, streamed lines and sources."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import retab
from retab.resources.extraction_sources import AsyncExtractionSources, ExtractionSources
from retab.types.classifications import Classification
from retab.types.extractions import Extraction
from retab.types.mime import MIMEData
from retab.types.parses import Parse

from retab_async.testing import LocalRetab

TEXT = b"INVOICE\nInvoice number: INV-2041\nTotal due: 1,234.50 EUR\fCustomer: Acme Corp\n"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string"},
        "total_due": {"type": "number"},
        "customer": {"type": "string"},
        "lines": {
            "type": "array",
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
        "po_number": {"type": ["string", "null"]},
    },
    "required": ["invoice_number", "total_due"],
}


def document(
    content: bytes = TEXT, filename: str = "invoice.txt", mime: str = "text/plain"
) -> MIMEData:
    return MIMEData(
        filename=filename, url=f"data:{mime};base64,{base64.b64encode(content).decode()}"
    )


@pytest.fixture
def official(retab_server: LocalRetab) -> Iterator[retab.Retab]:
    with retab.Retab(api_key=retab_server.api_key, base_url=retab_server.base_url) as client:
        yield client


def test_extractions_sync(official: retab.Retab, retab_server: LocalRetab) -> None:
    extractions = official.extractions
    done = extractions.create(
        document=document(), json_schema=SCHEMA, n_consensus=3, metadata={"batch": "7"}
    )
    assert done.status == "completed" and done.output["invoice_number"] == "INV-2041"
    assert done.consensus is not None and len(done.consensus.choices or []) == 3
    queued = extractions.create(document=document(), json_schema=SCHEMA, background=True)
    assert queued.output == {}
    light = extractions.get(queued.id, include_output=False)
    assert light.id == queued.id and light.output == {}
    cancelled = extractions.create_extraction_cancel(queued.id)
    assert cancelled.status in ("cancelled", "completed")
    page = extractions.list(metadata=json.dumps({"batch": "7"}), document_type=["txt"])
    assert [row.id for row in page.data] == [done.id]
    assert [row.id for row in extractions.list(limit=1).data] == [queued.id]
    extractions.delete(queued.id)
    assert {run.id for run in retab_server.runs} == {done.id}


def test_extraction_stream_lines_are_extractions(official: retab.Retab) -> None:
    # The route answers NDJSON (D16); the SDK hands such a body back as text.
    body = official.extractions.create_stream(document=document(), json_schema=SCHEMA, stream=True)
    lines = body.splitlines()
    records = [Extraction.model_validate_json(line) for line in lines]
    assert len(records) > 2 and records[-1].status == "completed"
    assert all(record.status == "in_progress" for record in records[:-1])


def test_extraction_sources(official: retab.Retab) -> None:
    done = official.extractions.create(document=document(), json_schema=SCHEMA)
    sources = ExtractionSources(official).get(done.id)
    assert sources.extraction_id == done.id and sources.extraction == done.output
    assert sources.sources["invoice_number"]["source"]["content"] == "INV-2041"


def test_parses_sync(official: retab.Retab) -> None:
    parses = official.parses
    done = parses.create(document=document(b"a,b\n1,2\fsecond", "t.csv", "text/csv"))
    assert isinstance(done, Parse) and done.status == "completed"
    assert len(done.output.pages) == 2 and done.table_parsing_format == "html"
    queued = parses.create(document=document(), background=True, table_parsing_format="json")
    assert queued.output.pages == [] and queued.output.text == ""
    assert parses.get(queued.id, include_output=False).output.pages == []
    assert parses.cancel(queued.id).status in ("cancelled", "completed")
    assert [row.id for row in parses.list(filename="t.").data] == [done.id]
    parses.delete(queued.id)
    parses.delete(done.id)
    assert parses.list().data == []


def test_classifications_sync(official: retab.Retab) -> None:
    categories = [{"name": "invoice"}, {"name": "receipt"}]
    done = official.classifications.create(document=document(), categories=categories)
    assert isinstance(done, Classification) and done.output is not None
    assert done.output.category == "invoice"


@pytest.mark.anyio
async def test_async_client_on_every_primitive(retab_server: LocalRetab) -> None:
    async with retab.AsyncRetab(
        api_key=retab_server.api_key, base_url=retab_server.base_url
    ) as client:
        await _every_primitive(client)


async def _every_primitive(client: retab.AsyncRetab) -> None:
    extraction = await client.extractions.create(document=document(), json_schema=SCHEMA)
    assert (await client.extractions.get(extraction.id)).output == extraction.output
    background = await client.extractions.create(
        document=document(), json_schema=SCHEMA, background=True
    )
    await client.extractions.create_extraction_cancel(background.id)
    page = await client.extractions.list(status="cancelled")
    assert [row.id for row in page.data] in ([background.id], [])
    sources = await AsyncExtractionSources(client).get(extraction.id)
    assert sources.file.id == extraction.file.id
    body = await client.extractions.create_stream(document=document(), json_schema=SCHEMA)
    assert Extraction.model_validate_json(body.splitlines()[-1]).status == "completed"
    parse = await client.parses.create(document=document(), background=True)
    assert (await client.parses.cancel(parse.id)).id == parse.id
    assert [row.id for row in (await client.parses.list()).data] == [parse.id]
    await client.parses.delete(parse.id)
    await client.extractions.delete(extraction.id)
