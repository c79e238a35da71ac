"""What a long-lived server holds stays bounded: the request log, bodies,
idempotency records (24 h, on an injectable clock) and, optionally, runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from retab_async.testing import LocalRetab, ManualClock, ServerConfig

from .conftest import Api, create_body


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def test_defaults_keep_no_bodies_and_a_bounded_log() -> None:
    config = ServerConfig()
    assert config.record_bodies is False
    assert config.log_limit == 10_000
    assert LocalRetab().state.log.maxlen == 10_000


async def test_bodies_are_not_kept_unless_asked(session: aiohttp.ClientSession) -> None:
    async with LocalRetab(run_time=0.001) as server:
        await Api(server, session).create(background=True)
        assert server.requests[0].body == b""
    async with LocalRetab(run_time=0.001, record_bodies=True) as server:
        await Api(server, session).create(background=True)
        assert server.requests[0].json()["background"] is True


async def test_the_log_keeps_the_latest_requests_by_default(session: aiohttp.ClientSession) -> None:
    async with LocalRetab(log_limit=4) as server:
        api = Api(server, session)
        for _ in range(10):
            await api.call("GET", "/v1/classifications")
        assert len(server.requests) == 4
        assert server.state.logged == 10


@pytest.mark.parametrize(
    "bad",
    [
        {"log_limit": 0},
        {"max_runs": 0},
        {"idempotency_ttl": 0},
        {"header_timeout": -1},
        {"body_timeout": 0},
        {"max_json_depth": 0},
    ],
)
def test_bad_limits_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        ServerConfig(**bad)  # type: ignore[arg-type]


async def _create(api: Api, key: str, text: str = "INVOICE") -> tuple[int, dict[str, object]]:
    status, body, _ = await api.call(
        "POST",
        "/v1/classifications",
        json=create_body(text=text, background=True),
        headers={"Idempotency-Key": key},
    )
    return status, body


async def test_idempotency_records_expire_after_24_hours(session: aiohttp.ClientSession) -> None:
    clock = ManualClock()
    async with LocalRetab(clock=clock) as server:
        api = Api(server, session)
        _, first = await _create(api, "k")
        clock.advance(24 * 3600 - 1)
        _, replay = await _create(api, "k")
        assert replay["id"] == first["id"]
        status, _ = await _create(api, "k", text="other body")
        assert status == 409  # still remembered: another body is a conflict
        clock.advance(2)
        status, fresh = await _create(api, "k", text="other body")
        assert status == 201 and fresh["id"] != first["id"]
        assert len(server.runs) == 2


async def test_expired_idempotency_records_are_purged(session: aiohttp.ClientSession) -> None:
    clock = ManualClock()
    async with LocalRetab(clock=clock, idempotency_ttl=60) as server:
        api = Api(server, session)
        for n in range(5):
            await _create(api, f"old-{n}")
        assert server.state.store.idempotency_keys == 5
        clock.advance(61)
        await _create(api, "new")
        assert server.state.store.idempotency_keys == 1


async def test_max_runs_evicts_the_oldest_finished_runs_first(
    session: aiohttp.ClientSession,
) -> None:
    async with LocalRetab(max_runs=3, run_time=0.0) as server:
        api = Api(server, session)
        ids = [(await api.create(background=True))["id"] for _ in range(5)]
        assert [run.id for run in server.runs] == ids[2:]
        status, _, _ = await api.call("GET", f"/v1/classifications/{ids[0]}")
        assert status == 404
        status, page, _ = await api.call("GET", "/v1/classifications", params={"limit": "100"})
        assert [r["id"] for r in page["data"]] == ids[:1:-1]


async def test_max_runs_never_evicts_runs_in_flight(session: aiohttp.ClientSession) -> None:
    async with LocalRetab(max_runs=2, run_time=60) as server:
        api = Api(server, session)
        ids = [(await api.create(background=True))["id"] for _ in range(3)]
        assert [run.id for run in server.runs] == ids  # over the cap, nothing finished
        status, _, _ = await api.call("POST", f"/v1/classifications/{ids[1]}/cancel")
        assert status == 200
        newest = (await api.create(background=True))["id"]
        # the cancelled run was the only finished one: it goes, the rest are in flight
        assert [run.id for run in server.runs] == [ids[0], ids[2], newest]
