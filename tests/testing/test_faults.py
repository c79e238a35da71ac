"""Seeded, per-request fault injection of the local server."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

from retab_async.testing import FAULT_KINDS, FaultConfig, LocalRetab

from .conftest import Api, create_body


async def test_rate_limit_has_retry_after(api: Api, server: LocalRetab) -> None:
    server.set_faults(FaultConfig(rate_limit=1.0, retry_after=3))
    status, body, headers = await api.call("GET", "/v1/classifications")
    assert status == 429
    assert headers["Retry-After"] == "3"
    assert body["detail"]["code"] == "RATE_LIMITED"
    assert server.requests[-1].fault == "rate_limit"


@pytest.mark.retab_server(seed=3)
async def test_server_errors_come_as_json_and_as_text(api: Api, server: LocalRetab) -> None:
    server.set_faults(FaultConfig(server_error=1.0))
    shapes = set()
    for _ in range(30):
        status, body, _ = await api.call("POST", "/v1/classifications", json=create_body())
        assert status in (500, 502, 503)
        shapes.add("json" if isinstance(body, dict) else "text")
    assert shapes == {"json", "text"}
    assert server.runs == []  # gateway faults happen before any work


async def test_disconnect_does_the_work_then_drops_the_connection(
    api: Api, server: LocalRetab
) -> None:
    server.set_faults(FaultConfig(disconnect=1.0))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("POST", "/v1/classifications", json=create_body())
    assert len(server.runs) == 1
    assert server.requests[-1].status is None


async def test_truncated_body_is_not_json(api: Api, server: LocalRetab) -> None:
    server.set_faults(FaultConfig(truncated=1.0))
    status, body, _ = await api.call("POST", "/v1/classifications", json=create_body())
    assert status == 201
    assert isinstance(body, str)  # not decodable as JSON
    assert len(server.runs) == 1


async def test_slow_response(api: Api, server: LocalRetab) -> None:
    server.set_faults(FaultConfig(slow=1.0, slow_seconds=0.3))
    timeout = aiohttp.ClientTimeout(total=0.05)
    with pytest.raises(asyncio.TimeoutError):  # the builtin TimeoutError only from 3.11
        async with api.session.get(
            server.base_url + "/v1/classifications", headers=api.auth, timeout=timeout
        ):
            pass


async def test_read_after_write_404_only_for_young_runs(api: Api, server: LocalRetab) -> None:
    created = await api.create()
    server.set_faults(FaultConfig(not_found=1.0, not_found_window=60))
    status, body, _ = await api.call("GET", f"/v1/classifications/{created['id']}")
    assert status == 404 and body["detail"]["code"] == "NOT_FOUND"
    server.set_faults(FaultConfig(not_found=1.0, not_found_window=0))
    status, _, _ = await api.call("GET", f"/v1/classifications/{created['id']}")
    assert status == 200


async def test_faults_only_hit_chosen_operations(api: Api, server: LocalRetab) -> None:
    server.set_faults(FaultConfig(server_error=1.0, operations={"list"}))
    await api.create()
    status, _, _ = await api.call("GET", "/v1/classifications")
    assert status >= 500


async def _fault_sequence(seed: int) -> list[str | None]:
    async with LocalRetab(seed=seed, faults=FaultConfig.mixed(0.6)) as server:
        async with aiohttp.ClientSession() as session:
            api = Api(server, session)
            for _ in range(40):
                with contextlib.suppress(aiohttp.ClientError):
                    await api.call("GET", "/v1/classifications")
        return [r.fault for r in server.requests]


async def test_faults_are_reproducible_from_the_seed() -> None:
    first, second, other = (
        await _fault_sequence(7),
        await _fault_sequence(7),
        await _fault_sequence(8),
    )
    assert first == second
    assert first != other
    assert {kind for kind in first if kind} <= set(FAULT_KINDS)


def test_fault_config_validation() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultConfig(slow=1.5)
    with pytest.raises(ValueError, match="unknown operations"):
        FaultConfig(operations={"explode"})  # type: ignore[arg-type]
    assert FaultConfig.mixed(0.6).rate_limit == pytest.approx(0.1)
