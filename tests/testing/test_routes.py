"""Every route of the local server, over real loopback HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from retab_async.testing import LocalRetab, ManualClock

from .conftest import Api, create_body


async def test_sync_create_returns_the_finished_record(api: Api) -> None:
    body = await api.create(text="INVOICE no 7, amount due")
    assert body["status"] == "completed"
    assert body["output"]["category"] == "invoice"
    assert body["output"]["reasoning"]
    assert body["id"].startswith("clss_")
    assert body["file"] == {
        "id": body["file"]["id"],
        "filename": "doc.txt",
        "mime_type": "text/plain",
    }
    assert body["usage"] == {"credits": 1.0}
    assert body["error"] is None


async def test_background_run_moves_through_its_lifecycle() -> None:
    clock = ManualClock()  # the server's time is the test's: no status can be missed
    async with (
        LocalRetab(run_time=0.05, queue_time=0.05, clock=clock) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(server, session)
        created = await api.create(background=True)
        assert created["status"] == "queued"
        assert created["output"] == {"reasoning": "", "category": ""}  # D3 placeholder
        seen = [created["status"]]
        for step in (0.03, 0.04, 0.04):  # t = 0.03, 0.07, 0.11
            clock.advance(step)
            status, body, _ = await api.call("GET", f"/v1/classifications/{created['id']}")
            assert status == 200
            seen.append(body["status"])
    assert seen == ["queued", "queued", "in_progress", "completed"]
    assert body["output"]["category"] == "invoice"


async def test_background_create_answers_queued_even_without_a_queue_time() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.05, clock=clock) as server,
        aiohttp.ClientSession() as session,
    ):
        api = Api(server, session)
        created = await api.create(background=True)
        _, body, _ = await api.call("GET", f"/v1/classifications/{created['id']}")
    assert (created["status"], body["status"]) == ("queued", "in_progress")  # D2


async def test_include_output_false_nulls_output_and_consensus(api: Api) -> None:
    created = await api.create(n_consensus=3)
    status, light, _ = await api.call(
        "GET", f"/v1/classifications/{created['id']}", params={"include_output": "false"}
    )
    assert status == 200
    assert light["output"] is None and light["consensus"] is None
    assert light["status"] == "completed" and light["usage"] == {"credits": 3.0}
    _, full, _ = await api.call("GET", f"/v1/classifications/{created['id']}")
    assert full["output"] is not None
    assert len(full["consensus"]["choices"]) == 3
    assert 0 < full["consensus"]["likelihoods"] <= 1


async def test_failure_marker_fails_the_run_with_a_primitive_error(api: Api) -> None:
    body = await api.create(text="please [[retab:fail]] now")
    assert body["status"] == "failed"
    assert body["output"] is None
    assert body["error"]["code"] == "DOCUMENT_UNREADABLE"
    assert body["error"]["message"]


@pytest.mark.retab_server(run_time=5.0)
async def test_cancel_is_idempotent(api: Api) -> None:
    created = await api.create(background=True)
    path = f"/v1/classifications/{created['id']}/cancel"
    status, first, _ = await api.call("POST", path)
    assert status == 200 and first["status"] == "cancelled" and first["output"] is None
    status, second, _ = await api.call("POST", path)
    assert status == 200 and second == first


async def test_cancel_of_a_completed_run_returns_it_unchanged(api: Api) -> None:
    created = await api.create()
    status, body, _ = await api.call("POST", f"/v1/classifications/{created['id']}/cancel")
    assert status == 200
    assert body == created


@pytest.mark.retab_server(run_time=5.0)
async def test_delete_cancels_and_removes(api: Api, server: LocalRetab) -> None:
    created = await api.create(background=True)
    status, body, _ = await api.call("DELETE", f"/v1/classifications/{created['id']}")
    assert status == 204 and body is None
    status, body, _ = await api.call("GET", f"/v1/classifications/{created['id']}")
    assert status == 404
    assert body["detail"]["code"] == "NOT_FOUND"  # shape B
    assert server.runs == []


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("DELETE", ""), ("POST", "/cancel")])
async def test_unknown_id_is_404_in_shape_b(api: Api, method: str, suffix: str) -> None:
    status, body, headers = await api.call(method, f"/v1/classifications/clss_nope{suffix}")
    assert status == 404
    assert set(body["detail"]) == {"code", "message", "details"}
    assert headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"Api-Key": "wrong"}],
)
async def test_bad_or_missing_key_is_401_in_shape_a(api: Api, headers: dict[str, str]) -> None:
    status, body, resp_headers = await api.call(
        "GET", "/v1/classifications", headers=headers, auth=False
    )
    assert status == 401
    assert body == {"detail": "Not authenticated"}
    assert resp_headers["x-request-id"].startswith("req_")


async def test_api_key_header_is_accepted(api: Api, server: LocalRetab) -> None:
    status, _, _ = await api.call(
        "GET", "/v1/classifications", headers={"Api-Key": server.api_key}, auth=False
    )
    assert status == 200


async def test_every_response_has_a_distinct_request_id(api: Api) -> None:
    ids = set()
    for _ in range(5):
        _, _, headers = await api.call("GET", "/v1/classifications")
        ids.add(headers["x-request-id"])
    assert len(ids) == 5


async def test_request_log_records_what_was_sent(api: Api, server: LocalRetab) -> None:
    await api.create(background=True)
    await api.call("GET", "/v1/classifications", params={"limit": "5"})
    create, listing = server.requests
    assert (create.method, create.path, create.operation) == (
        "POST",
        "/v1/classifications",
        "create",
    )
    assert create.json()["background"] is True
    assert create.headers["authorization"].startswith("Bearer ")
    assert create.status == 201
    assert listing.query == [("limit", "5")]
    assert listing.status == 200


async def test_unknown_route_is_404_json(api: Api) -> None:
    status, body, headers = await api.call("GET", "/v1/nothing-here")
    assert status == 404
    assert body["detail"]["code"] == "NOT_FOUND"
    assert "x-request-id" in headers


async def test_local_introspection_routes(api: Api) -> None:
    created = await api.create()
    status, runs, _ = await api.call("GET", "/_local/runs")
    assert status == 200
    assert runs["created"] == 1 and runs["runs"][0]["id"] == created["id"]
    status, requests, _ = await api.call("GET", "/_local/requests")
    assert [r["operation"] for r in requests] == ["create"]


async def test_unknown_fields_are_rejected(api: Api) -> None:
    status, body, _ = await api.call("POST", "/v1/classifications", json=create_body(surprise=True))
    assert status == 422
    assert "extra_forbidden" in body["message"]


@pytest.mark.retab_server(log_limit=3)
async def test_request_log_limit_keeps_the_latest(api: Api, server: LocalRetab) -> None:
    for limit in ("1", "2", "3", "4", "5"):
        await api.call("GET", "/v1/classifications", params={"limit": limit})
    assert [r.query for r in server.requests] == [
        [("limit", "3")],
        [("limit", "4")],
        [("limit", "5")],
    ]
    assert all(r.status == 200 for r in server.requests)
    assert server.state.logged == 5


async def test_unknown_method_on_a_known_path_is_405(api: Api) -> None:
    status, body, headers = await api.call("PUT", "/v1/classifications")
    assert status == 405
    assert body["detail"]["code"] == "METHOD_NOT_ALLOWED"
    assert "x-request-id" in headers
