"""client.classifications: every endpoint, against the local server."""

from __future__ import annotations

import datetime as dt

import pytest

from retab_async import (
    Category,
    NotFoundError,
    RetabClient,
    UsageError,
)
from retab_async.testing import FAIL_MARKER, FaultConfig, LocalRetab

from .conftest import CATEGORIES, INVOICE, RECEIPT


async def test_sync_create(client: RetabClient, server: LocalRetab) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES)
    assert record.status == "completed"
    assert record.category == "invoice"
    assert record.output is not None and "invoice" in record.output.reasoning
    sent = server.requests[0].json()
    assert sent["background"] is False
    assert (
        sent["model"] == "retab-small" and sent["n_consensus"] == 1 and sent["bust_cache"] is False
    )
    assert "first_n_pages" not in sent and "instructions" not in sent
    assert sent["categories"] == [
        {"name": n, "description": "", "handle_key": None} for n in CATEGORIES
    ]
    assert sent["document"]["url"].startswith("data:text/plain;base64,")


async def test_create_sends_every_option(client: RetabClient, server: LocalRetab) -> None:
    record = await client.classifications.create(
        RECEIPT,
        [Category(name="receipt", description="proof of payment"), {"name": "invoice"}],
        model="retab-large",
        first_n_pages=2,
        instructions="Prefer receipt.",
        n_consensus=5,
        bust_cache=True,
    )
    sent = server.requests[0].json()
    assert sent["model"] == "retab-large" and sent["first_n_pages"] == 2
    assert sent["instructions"] == "Prefer receipt." and sent["n_consensus"] == 5
    assert sent["bust_cache"] is True
    assert record.consensus is not None and len(record.consensus.choices) == 5
    assert record.instructions == "Prefer receipt." and record.model == "retab-large"


async def test_background_create_returns_at_once(client: RetabClient) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES, background=True)
    assert record.status in ("queued", "in_progress")
    assert record.output is None  # the placeholder is not a result


async def test_sync_create_of_a_failing_document(client: RetabClient) -> None:
    record = await client.classifications.create(("bad.txt", FAIL_MARKER), CATEGORIES)
    assert record.status == "failed" and record.failed
    assert record.error is not None and record.error.code == "DOCUMENT_UNREADABLE"


async def test_get_with_and_without_output(client: RetabClient, server: LocalRetab) -> None:
    created = await client.classifications.create(INVOICE, CATEGORIES, n_consensus=3)
    full = await client.classifications.get(created.id)
    light = await client.classifications.get(created.id, include_output=False)
    assert full == created
    assert light.output is None and light.consensus is None and light.status == "completed"
    assert [r.query for r in server.by_operation("get")] == [
        [("include_output", "true")],
        [("include_output", "false")],
    ]


async def test_get_unknown_id(client: RetabClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.classifications.get("clss_missing")
    assert info.value.status == 404 and info.value.code == "NOT_FOUND"
    assert info.value.request_id and info.value.request_id.startswith("req_")


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "a?b", "a#b", "a b", "é", "a\nb", "a%2Fb"])
async def test_malformed_ids_send_nothing(
    client: RetabClient, server: LocalRetab, bad: str
) -> None:
    for call in (
        client.classifications.get,
        client.classifications.cancel,
        client.classifications.delete,
    ):
        with pytest.raises(UsageError):
            await call(bad)
    with pytest.raises(UsageError):
        client.classifications.handle(bad)
    assert server.requests == []


async def test_ids_are_percent_encoded(client: RetabClient, server: LocalRetab) -> None:
    with pytest.raises(NotFoundError):
        await client.classifications.get("clss:a+b=c")
    assert server.requests[0].path == "/v1/classifications/clss%3Aa%2Bb%3Dc"


@pytest.mark.retab_server(run_time=30)
async def test_cancel_is_idempotent_and_has_the_official_alias(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES, background=True)
    cancelled = await client.classifications.cancel(record.id)
    assert cancelled.status == "cancelled"
    again = await client.classifications.create_classification_cancel(record.id)
    assert again == cancelled
    assert server.requests[-1].path == f"/v1/classifications/{record.id}/cancel"


async def test_cancel_of_a_finished_run_returns_it_unchanged(client: RetabClient) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES)
    assert await client.classifications.cancel(record.id) == record


async def test_delete(client: RetabClient, server: LocalRetab) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES)
    assert await client.classifications.delete(record.id) is None
    assert server.runs == []
    with pytest.raises(NotFoundError):
        await client.classifications.delete(record.id)


async def test_delete_whose_answer_was_lost_still_succeeds(
    client: RetabClient, server: LocalRetab
) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES)
    server.set_faults(FaultConfig(disconnect=1.0, operations={"delete"}, limit=1))
    await client.classifications.delete(record.id)  # first attempt deleted; the retry saw 404
    assert server.runs == []
    assert [r.status for r in server.by_operation("delete")] == [None, 404]


async def test_list_follows_cursors_lazily(client: RetabClient, server: LocalRetab) -> None:
    ids = [(await client.classifications.create(INVOICE, CATEGORIES)).id for _ in range(7)]
    listed = client.classifications.list(limit=3, order="asc")
    first = await listed.__anext__()
    assert first.id == ids[0]
    assert len(server.by_operation("list")) == 1  # only the first page so far
    rest = [c.id async for c in listed]
    assert [first.id, *rest] == ids
    assert len(server.by_operation("list")) == 3
    assert server.by_operation("list")[1].query[-1] == ("after", ids[2])


async def test_list_filters_are_sent(client: RetabClient, server: LocalRetab) -> None:
    await client.classifications.create(INVOICE, CATEGORIES)
    today = dt.date.today()
    found = [
        c
        async for c in client.classifications.list(
            status="completed",
            filename="inv",
            from_date=today - dt.timedelta(days=1),
            to_date=str(today),
        )
    ]
    assert len(found) == 1
    query = dict(server.by_operation("list")[0].query)
    assert query == {
        "order": "desc",
        "limit": "100",
        "status": "completed",
        "filename": "inv",
        "from_date": (today - dt.timedelta(days=1)).isoformat(),
        "to_date": today.isoformat(),
    }


async def test_pages_and_list_page(client: RetabClient) -> None:
    ids = [(await client.classifications.create(INVOICE, CATEGORIES)).id for _ in range(5)]
    pages = [p async for p in client.classifications.list(limit=2).pages()]
    assert [len(p.data) for p in pages] == [2, 2, 1]
    page = await client.classifications.list_page(limit=2, order="asc")
    assert [r.id for r in page.data] == ids[:2] and page.next_cursor == ids[1]
    nxt = await client.classifications.list_page(limit=2, order="asc", after=page.next_cursor)
    assert [r.id for r in nxt.data] == ids[2:4]
    back = await client.classifications.list_page(
        limit=2, order="asc", before=nxt.list_metadata.before
    )
    assert [r.id for r in back.data] == ids[:2]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"order": "newest"},
        {"limit": 0},
        {"limit": 101},
        {"status": "done"},
        {"from_date": "2026-02-30"},
        {"to_date": "yesterday"},
        {"from_date": 20260101},
    ],
)
async def test_bad_list_arguments_fail_at_once(
    client: RetabClient, server: LocalRetab, kwargs: dict[str, object]
) -> None:
    with pytest.raises(UsageError):
        client.classifications.list(**kwargs)  # type: ignore[arg-type]
    assert server.requests == []


async def test_list_page_rejects_both_cursors(client: RetabClient) -> None:
    with pytest.raises(UsageError, match="not both"):
        await client.classifications.list_page(after="a", before="b")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_consensus": 0},
        {"n_consensus": -1},
        {"n_consensus": 17},
        {"n_consensus": True},
        {"first_n_pages": 0},
        {"first_n_pages": "2"},
        {"model": ""},
        {"instructions": 5},
        {"idempotency_key": ""},
        {"idempotency_key": "é"},
    ],
)
async def test_bad_create_options_send_nothing(
    client: RetabClient, server: LocalRetab, kwargs: dict[str, object]
) -> None:
    with pytest.raises(UsageError):
        await client.classifications.create(INVOICE, CATEGORIES, **kwargs)  # type: ignore[arg-type]
    assert server.requests == []
