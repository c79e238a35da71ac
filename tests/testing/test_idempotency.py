"""Idempotency-Key on create (decision D6)."""

from __future__ import annotations

from retab_async.testing import LocalRetab

from .conftest import Api, create_body


async def test_same_key_same_body_replays_the_original(api: Api, server: LocalRetab) -> None:
    headers = {"Idempotency-Key": "key-1"}
    body = create_body(background=True)
    status, first, h1 = await api.call("POST", "/v1/classifications", json=body, headers=headers)
    status2, again, h2 = await api.call("POST", "/v1/classifications", json=body, headers=headers)
    assert (status, status2) == (201, 201)
    assert again["id"] == first["id"]
    assert "Idempotent-Replayed" not in h1
    assert h2["Idempotent-Replayed"] == "true"
    assert len(server.runs) == 1


async def test_same_key_other_body_is_409(api: Api, server: LocalRetab) -> None:
    headers = {"Idempotency-Key": "key-2"}
    await api.call("POST", "/v1/classifications", json=create_body(), headers=headers)
    status, body, _ = await api.call(
        "POST", "/v1/classifications", json=create_body(text="other"), headers=headers
    )
    assert status == 409
    assert body["detail"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(server.runs) == 1


async def test_different_keys_make_different_runs(api: Api, server: LocalRetab) -> None:
    for key in ("a", "b"):
        await api.call(
            "POST", "/v1/classifications", json=create_body(), headers={"Idempotency-Key": key}
        )
    assert len(server.runs) == 2


async def test_invalid_key_is_rejected(api: Api, server: LocalRetab) -> None:
    status, body, _ = await api.call(
        "POST", "/v1/classifications", json=create_body(), headers={"Idempotency-Key": "x" * 256}
    )
    assert status == 400
    assert body["detail"]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert server.runs == []
