"""List: cursors across pages, filters, and the D12 rules."""

from __future__ import annotations

import datetime as dt

import pytest

from .conftest import Api, create_body


async def _make(api: Api, count: int, **extra: object) -> list[str]:
    return [(await api.create(**extra))["id"] for _ in range(count)]


async def _walk(api: Api, **params: str) -> list[str]:
    ids: list[str] = []
    after = None
    for _ in range(50):
        query = dict(params)
        if after:
            query["after"] = after
        status, page, _ = await api.call("GET", "/v1/classifications", params=query)
        assert status == 200
        ids += [row["id"] for row in page["data"]]
        after = page["list_metadata"]["after"]
        if after is None:
            return ids
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_pages_cover_every_run_once_in_order(api: Api, order: str) -> None:
    ids = await _make(api, 7)
    walked = await _walk(api, limit="3", order=order)
    assert walked == (ids if order == "asc" else ids[::-1])


async def test_default_order_is_newest_first_and_limit_10(api: Api) -> None:
    ids = await _make(api, 12)
    status, page, _ = await api.call("GET", "/v1/classifications")
    assert status == 200
    assert [r["id"] for r in page["data"]] == ids[::-1][:10]
    assert page["list_metadata"]["after"] == ids[2]
    assert page["list_metadata"]["before"] is None


async def test_before_leads_back_to_the_previous_page(api: Api) -> None:
    ids = await _make(api, 6)
    _, first, _ = await api.call(
        "GET", "/v1/classifications", params={"limit": "2", "order": "asc"}
    )
    _, second, _ = await api.call(
        "GET",
        "/v1/classifications",
        params={"limit": "2", "order": "asc", "after": first["list_metadata"]["after"]},
    )
    assert [r["id"] for r in second["data"]] == ids[2:4]
    assert second["list_metadata"]["before"] == ids[2]
    _, back, _ = await api.call(
        "GET",
        "/v1/classifications",
        params={"limit": "2", "order": "asc", "before": second["list_metadata"]["before"]},
    )
    assert [r["id"] for r in back["data"]] == ids[0:2]


async def test_empty_result_has_null_cursors(api: Api) -> None:
    status, page, _ = await api.call("GET", "/v1/classifications")
    assert status == 200
    assert page == {"data": [], "list_metadata": {"before": None, "after": None}}


async def test_unknown_cursor_gives_the_first_page(api: Api) -> None:
    ids = await _make(api, 2)
    _, page, _ = await api.call("GET", "/v1/classifications", params={"after": "clss_unknown"})
    assert [r["id"] for r in page["data"]] == ids[::-1]


@pytest.mark.retab_server(run_time=30)
async def test_status_filter(api: Api) -> None:
    running = await _make(api, 2, background=True)
    status, _, _ = await api.call("POST", f"/v1/classifications/{running[0]}/cancel")
    assert status == 200
    assert await _walk(api, status="cancelled") == [running[0]]
    assert await _walk(api, status="in_progress") == [running[1]]
    assert await _walk(api, status="completed") == []


async def test_filename_filter_is_a_case_insensitive_prefix(api: Api) -> None:
    body = create_body()
    body["document"]["filename"] = "Invoice-2026.txt"
    status, created, _ = await api.call("POST", "/v1/classifications", json=body)
    assert status == 201
    await _make(api, 1)
    assert await _walk(api, filename="invoice") == [created["id"]]


async def test_date_filters(api: Api) -> None:
    ids = await _make(api, 2)
    today = dt.datetime.now(dt.timezone.utc).date()
    assert (
        await _walk(api, from_date=today.isoformat(), to_date=today.isoformat(), order="asc") == ids
    )
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert await _walk(api, from_date=tomorrow) == []
    assert await _walk(api, from_date=tomorrow, to_date=today.isoformat()) == []
