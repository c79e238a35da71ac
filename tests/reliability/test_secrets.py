"""The API key never shows: not in a repr, str, exception, log record, token or CLI output.
Paths are always encoded, so no id reaches another route than the one intended."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest

from retab_async import PollPolicy, RetabClient, RetabError, RetryPolicy
from retab_async._cli.main import main as cli_main
from retab_async.testing import FAIL_MARKER, FaultConfig, LocalRetab

from ..conftest import CATEGORIES, INVOICE

pytestmark = pytest.mark.usefixtures("responsive_cli")

SECRET = "sk_live_5ecr3t_DO_NOT_LEAK_42"


async def test_the_key_appears_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with LocalRetab(api_key=SECRET, run_time=0.02) as server:
        client = RetabClient(
            SECRET,
            server.base_url,
            retry=RetryPolicy.for_tests(attempts=2),
            poll=PollPolicy(min_interval=0.01),
        )
        seen += [repr(client), str(client), repr(client._transport), repr(client.poller)]
        async with client:
            handle = await client.classifications.start(INVOICE, CATEGORIES)
            seen += [repr(handle), handle.token, repr(await handle.wait())]
            failing = await client.classifications.start(("f.txt", FAIL_MARKER), CATEGORIES)
            server.set_faults(FaultConfig(server_error=0.5, rate_limit=0.3, retry_after=0))
            for call in (
                lambda: failing.wait(),
                lambda: client.classifications.get("clss_missing"),
                lambda: client.classifications.create(INVOICE, CATEGORIES, n_consensus=0),
                lambda: client.classifications.handle("clss_x").wait(timeout=0.05),
                lambda: client.classifications.list_page(),
            ):
                try:
                    await call()
                except RetabError as exc:
                    seen += [str(exc), repr(exc), repr(exc.__dict__), repr(exc.__cause__)]
        seen += [repr(client)]
    async with RetabClient(SECRET, "http://127.0.0.1:9", retry=RetryPolicy.never()) as offline:
        try:
            await offline.classifications.get("clss_1")
        except RetabError as exc:
            seen += [str(exc), repr(exc.__dict__)]
    seen += [record.getMessage() for record in caplog.records]
    seen += [repr(record.args) for record in caplog.records]
    assert len(seen) > 15
    assert not [text for text in seen if SECRET in text]


def test_the_key_is_not_in_cli_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", SECRET)
    monkeypatch.setenv("RETAB_API_BASE_URL", "http://127.0.0.1:9")
    outputs = []
    for argv in (
        ["get", "clss_1"],
        ["list"],
        ["classify", str(tmp_path / "a.txt"), "--categories", "a"],
    ):
        cli_main(argv)
        out, err = capsys.readouterr()
        outputs.append(out + err)
    assert all(SECRET not in text for text in outputs)
    assert all("error:" in text for text in outputs)


@pytest.mark.parametrize(
    "run_id", ["clss:a+b", "a.b", "a~b", "a;b", "a=b&c=d", "%", "a%2e%2e", "clss_..x"], ids=repr
)
async def test_ids_never_reach_another_path(run_id: str) -> None:
    async with LocalRetab() as server:
        async with RetabClient(
            server.api_key, server.base_url, retry=RetryPolicy.never()
        ) as client:
            with contextlib.suppress(RetabError):
                await client.classifications.get(run_id)
        for request in server.requests:
            assert request.operation == "get"
            assert request.path.startswith("/v1/classifications/")
            assert "/" not in request.path.removeprefix("/v1/classifications/")


async def test_tls_verification_is_on_by_default() -> None:
    client = RetabClient("k", "https://api.retab.test")
    assert client._transport._verify_ssl is True
    async with client:
        connector = client._transport._session.connector  # type: ignore[union-attr]
        assert connector is not None and connector._ssl is True  # type: ignore[attr-defined]
