"""``list()`` of every primitive: awaitable for the first page, async-iterable for all,
``limit`` as the page size, ``page_size`` deprecated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from retab_async import Page, Paginator, RetabClient, UsageError
from retab_async.testing import LocalRetab

from .conftest import CATEGORIES, INVOICE

SCHEMA = {"type": "object", "properties": {"number": {"type": "integer"}}}
Create = Callable[[RetabClient], Awaitable[Any]]
Lister = Callable[..., Paginator[Any]]

PRIMITIVES: dict[str, Create] = {
    "classifications": lambda c: c.classifications.create(INVOICE, CATEGORIES),
    "extractions": lambda c: c.extractions.create(INVOICE, SCHEMA),
    "parses": lambda c: c.parses.create(INVOICE),
    "splits": lambda c: c.splits.create(INVOICE, CATEGORIES),
    "partitions": lambda c: c.partitions.create(INVOICE, "invoice", "one per invoice"),
}


def lister(client: RetabClient, name: str) -> Lister:
    resource = getattr(client, name)
    return resource.list  # type: ignore[no-any-return]


async def make(client: RetabClient, name: str, n: int) -> list[str]:
    return [(await PRIMITIVES[name](client)).id for _ in range(n)]


@pytest.fixture(params=sorted(PRIMITIVES))
def name(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


async def test_await_gives_the_first_page_of_limit_records(
    client: RetabClient, server: LocalRetab, name: str
) -> None:
    ids = await make(client, name, 5)
    page = await lister(client, name)(limit=2, order="asc")
    assert isinstance(page, Page)
    assert [r.id for r in page.data] == ids[:2] and page.next_cursor == ids[1]
    lists = server.by_operation("list")
    assert len(lists) == 1 and ("limit", "2") in lists[0].query


async def test_await_then_iterate_the_same_paginator(
    client: RetabClient, server: LocalRetab, name: str
) -> None:
    ids = await make(client, name, 5)
    listed = lister(client, name)(limit=2, order="asc")
    first = await listed
    again = await listed  # each await is one request for the first page
    assert [r.id for r in first.data] == [r.id for r in again.data] == ids[:2]
    assert [r.id async for r in listed] == ids  # iteration starts at the beginning, all pages
    assert len(server.by_operation("list")) == 2 + 3


async def test_limit_is_the_page_size_not_a_cap_on_iteration(
    client: RetabClient, server: LocalRetab, name: str
) -> None:
    ids = await make(client, name, 3)
    assert [r.id async for r in lister(client, name)(limit=1, order="asc")] == ids
    assert [dict(r.query)["limit"] for r in server.by_operation("list")] == ["1"] * 3


async def test_default_page_size_is_unchanged(
    client: RetabClient, server: LocalRetab, name: str
) -> None:
    await make(client, name, 1)
    assert len([r async for r in lister(client, name)()]) == 1
    assert dict(server.by_operation("list")[0].query)["limit"] == "100"


async def test_page_size_still_works_with_a_deprecation_warning(
    client: RetabClient, server: LocalRetab, name: str
) -> None:
    ids = await make(client, name, 3)
    with pytest.warns(DeprecationWarning, match="pass limit= instead") as warned:
        listed = lister(client, name)(page_size=2, order="asc")
    assert warned[0].filename == __file__  # points at the caller of list()
    assert [r.id async for r in listed] == ids
    assert [dict(r.query)["limit"] for r in server.by_operation("list")] == ["2", "2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 5, "page_size": 5}, "alone"),
    ],
)
async def test_bad_limits_fail_at_once(
    client: RetabClient, server: LocalRetab, name: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        lister(client, name)(**kwargs)
    assert server.requests == []
