"""RunHandle: wait, settle, cancel, run(), watch(), tokens and resume."""

from __future__ import annotations

import asyncio
import dataclasses

import anyio
import pytest

from retab_async import (
    AuthenticationError,
    Classification,
    NotFoundError,
    RetabClient,
    RunCancelled,
    RunFailed,
    TokenError,
    UsageError,
    WaitTimeout,
)
from retab_async._runs.primitive import PRIMITIVES
from retab_async.testing import FAIL_MARKER, FaultConfig, LocalRetab, ManualClock

from .conftest import CATEGORIES, FAST_POLL, INVOICE, make_client


async def test_start_and_wait(client: RetabClient, server: LocalRetab) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    assert handle.status in ("queued", "in_progress") and not handle.done
    record = await handle.wait(timeout=5)
    assert record.status == "completed" and record.category == "invoice"
    assert handle.done and handle.status == "completed" and handle.record == record
    create = server.requests[0]
    assert create.json()["background"] is True
    gets = server.by_operation("get")
    # Every poll asks for the output: the one that found the run completed ended the wait.
    assert gets and all(r.query == [("include_output", "true")] for r in gets)
    assert client.poller.stats.final_fetches == 0


async def test_light_polls_end_with_one_full_fetch(server: LocalRetab) -> None:
    async with make_client(server, poll=dataclasses.replace(FAST_POLL, poll_output=False)) as c:
        record = await (await c.classifications.start(INVOICE, CATEGORIES)).wait(timeout=5)
        assert c.poller.stats.final_fetches == 1
    assert record.category == "invoice"
    gets = server.by_operation("get")
    # Light polls, then the one full fetch of the completed run (D9).
    assert all(r.query == [("include_output", "false")] for r in gets[:-1])
    assert gets[-1].query == [("include_output", "true")]


async def test_await_handle_is_wait(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    record = await handle
    assert record.status == "completed"


async def test_wait_on_a_done_handle_sends_nothing(client: RetabClient, server: LocalRetab) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    await handle.wait()
    before = len(server.requests)
    assert (await handle.wait()).status == "completed"
    assert len(server.requests) == before


async def test_failed_run_raises_run_failed_with_the_server_error(client: RetabClient) -> None:
    handle = await client.classifications.start(("bad.txt", FAIL_MARKER), CATEGORIES)
    with pytest.raises(RunFailed) as info:
        await handle.wait(timeout=5)
    assert info.value.run_id == handle.id
    assert info.value.error is not None and info.value.error.code == "DOCUMENT_UNREADABLE"
    assert info.value.record.status == "failed"
    settled = await handle.settle()
    assert settled.status == "failed"


@pytest.mark.retab_server(run_time=30)
async def test_cancelled_run_raises_run_cancelled(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    await client.classifications.cancel(handle.id)  # cancelled elsewhere
    with pytest.raises(RunCancelled) as info:
        await handle.wait(timeout=5)
    assert info.value.run_id == handle.id
    assert (await handle.settle()).status == "cancelled"


@pytest.mark.retab_server(run_time=30)
async def test_timeout_leaves_the_run_running(client: RetabClient, server: LocalRetab) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    with pytest.raises(WaitTimeout) as info:
        await handle.wait(timeout=0.1)
    error = info.value
    assert error.run_id == handle.id and error.status == "in_progress"
    assert error.elapsed >= 0.1 and not error.cancelled
    assert isinstance(error, TimeoutError)
    assert server.runs[0].status == "in_progress"
    assert server.by_operation("cancel") == []


@pytest.mark.retab_server(run_time=30)
async def test_timeout_with_cancel_on_timeout(client: RetabClient, server: LocalRetab) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    with pytest.raises(WaitTimeout) as info:
        await handle.wait(timeout=0.05, cancel_on_timeout=True)
    assert info.value.cancelled
    # The error tells the status at the deadline; the handle has seen the cancel since.
    assert info.value.status in ("queued", "in_progress")
    assert "was cancelled on the server" in str(info.value)
    assert server.runs[0].status == "cancelled"
    assert len(server.by_operation("cancel")) == 1
    assert handle.status == "cancelled"


async def test_negative_timeout_is_a_usage_error(client: RetabClient, server: LocalRetab) -> None:
    handle = client.classifications.handle("clss_x")
    for bad in (-1, float("nan")):
        with pytest.raises(UsageError):
            await handle.wait(timeout=bad)
    assert server.requests == []


@pytest.mark.retab_server(run_time=30)
@pytest.mark.parametrize("wait", [False, True])
async def test_cancel(client: RetabClient, server: LocalRetab, wait: bool) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    record = await handle.cancel(wait=wait)
    assert record.status == "cancelled" and handle.done
    assert server.runs[0].status == "cancelled"


@pytest.mark.parametrize("text", [INVOICE[1], FAIL_MARKER])
async def test_cancel_on_a_terminal_run_sends_nothing_and_returns_it(
    client: RetabClient, server: LocalRetab, text: bytes
) -> None:
    handle = await client.classifications.start(("a.txt", text), CATEGORIES)
    final = await handle.settle()
    before = len(server.requests)
    assert await handle.cancel() == final
    assert await handle.cancel(wait=True) == final
    assert len(server.requests) == before


@pytest.mark.retab_server(run_time=30)
async def test_cancel_on_a_cancelled_run_is_unchanged(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    first = await handle.cancel()
    attached = client.classifications.handle(handle.id)  # knows nothing yet: asks the server
    assert await attached.cancel() == first


async def test_cancel_racing_completion_resolves_to_the_true_state(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    await anyio.sleep(0.1)  # the run completed on the server; the handle has not looked
    assert not handle.done
    record = await handle.cancel()
    assert record.status == "completed" and record.category == "invoice"
    assert (await handle.wait()).status == "completed"


@pytest.mark.retab_server(run_time=30)
async def test_run_cancels_on_the_server_when_the_body_raises(
    client: RetabClient, server: LocalRetab
) -> None:
    with pytest.raises(ZeroDivisionError):
        async with client.classifications.run(INVOICE, CATEGORIES) as handle:
            1 / 0  # noqa: B018
    assert handle.status == "cancelled"
    assert server.runs[0].status == "cancelled"
    assert len(server.by_operation("cancel")) == 1


@pytest.mark.retab_server(run_time=30)
async def test_run_cancels_on_the_server_when_the_scope_is_cancelled(
    client: RetabClient, server: LocalRetab
) -> None:
    with anyio.CancelScope() as scope:
        async with client.classifications.run(INVOICE, CATEGORIES) as handle:
            scope.cancel()  # lands in the wait below, whatever the machine's speed
            await handle.wait()
    assert scope.cancelled_caught
    assert server.runs[0].status == "cancelled"


@pytest.mark.retab_server(run_time=30)
async def test_run_cancels_on_the_server_when_the_task_is_cancelled(server: LocalRetab) -> None:
    started = asyncio.Event()

    async def work(client: RetabClient) -> None:
        async with client.classifications.run(INVOICE, CATEGORIES) as handle:
            started.set()
            await handle.wait()

    async with make_client(server) as client:
        task = asyncio.create_task(work(client))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.poller.watching == 0
    assert server.runs[0].status == "cancelled"
    assert len(server.by_operation("cancel")) == 1


async def test_run_leaves_a_finished_run_alone(client: RetabClient, server: LocalRetab) -> None:
    with pytest.raises(KeyError):
        async with client.classifications.run(INVOICE, CATEGORIES) as handle:
            await handle.wait()
            raise KeyError("after completion")
    assert server.by_operation("cancel") == []


async def test_watch_yields_each_status_once() -> None:
    # On a shared clock, a status that lasts 0.15 s cannot slip between two polls
    # because the machine stalled.
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.15, queue_time=0.1, clock=clock) as server,
        make_client(server, clock=clock) as client,
    ):
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        statuses: list[str] = []

        async def watch() -> None:
            statuses.extend([record.status async for record in handle.watch()])

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            await clock.drive(client, until=lambda: "completed" in statuses)
    assert statuses == ["queued", "in_progress", "completed"]


async def test_watch_breaking_early_leaves_nothing_running(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    async for _ in handle.watch():
        break
    assert client.poller.watching == 0


async def test_watch_of_a_resumed_handle(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    resumed = client.resume(handle.token)
    records = [r async for r in resumed.watch()]
    assert records[-1].status == "completed" and records[-1].category == "invoice"
    assert len({r.status for r in records}) == len(records)


async def test_token_resume_in_a_fresh_client(server: LocalRetab) -> None:
    async with make_client(server) as first:
        handle = await first.classifications.start(INVOICE, CATEGORIES, idempotency_key="job-9")
        token = handle.token
    assert server.api_key not in token
    async with make_client(server) as second:
        resumed = second.resume(token)
        assert resumed.id == handle.id and resumed.idempotency_key == "job-9"
        assert repr(resumed) == f"<RunHandle classifications {handle.id} unknown>"
        record = await resumed.wait(timeout=5)
    assert record.category == "invoice"
    assert repr(resumed) == f"<RunHandle classifications {handle.id} completed>"


async def test_a_resource_resumes_its_own_tokens_typed(server: LocalRetab) -> None:
    async with make_client(server) as first:
        token = (await first.classifications.start(INVOICE, CATEGORIES)).token
    async with make_client(server) as second:
        resumed = second.classifications.resume(token)  # RunHandle[Classification]
        record = await resumed.wait(timeout=5)
        assert record.category == "invoice" and resumed.primitive is PRIMITIVES["classifications"]
        with pytest.raises(TokenError, match=r"resume it with client\.classifications\.resume"):
            second.extractions.resume(token)


async def test_tampered_or_foreign_tokens_are_refused(
    client: RetabClient, server: LocalRetab
) -> None:
    handle = client.classifications.handle("clss_abc")
    token = handle.token
    head, body, checksum = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (
        f"{head}.{flipped}.{checksum}",
        token[:-3],
        "rtab2." + body + "." + checksum,
        "garbage",
        "",
    ):
        with pytest.raises(TokenError):
            client.resume(bad)
    other = RetabClient("sk", "https://api.retab.com")
    with pytest.raises(TokenError, match="was made for"):
        other.resume(token)
    assert server.requests == []


async def test_refresh(client: RetabClient) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    await anyio.sleep(0.1)
    record = await handle.refresh()
    assert record.status == "completed" and handle.done and record.category == "invoice"


async def test_handle_from_a_record(client: RetabClient, server: LocalRetab) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES)
    handle = client.classifications.handle(record)
    assert handle.done and await handle.wait() == record
    assert len(server.requests) == 1


async def test_transient_faults_never_end_a_wait() -> None:
    # Nine polls in ten fail. On a shared clock the number of polls before the deadline,
    # and so the outcome, does not depend on how long each failing request takes.
    faults = FaultConfig(
        server_error=0.3,
        disconnect=0.2,
        truncated=0.2,
        rate_limit=0.2,
        retry_after=0,
        operations={"get"},
    )
    clock = ManualClock()
    policy = dataclasses.replace(FAST_POLL, jitter=0.0)
    async with (
        LocalRetab(clock=clock, faults=faults) as server,
        make_client(server, clock=clock, poll=policy) as client,
    ):
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        records: list[Classification] = []

        async def wait() -> None:
            records.append(await handle.wait(timeout=60))

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await clock.drive(client, until=lambda: bool(records))
    assert records[0].status == "completed"
    assert any(r.fault for r in server.by_operation("get"))
    assert client.poller.stats.transient_errors > 0


async def test_a_few_404s_after_creation_are_tolerated(server: LocalRetab) -> None:
    server.set_faults(FaultConfig(not_found=1.0, not_found_window=0.1, operations={"get"}))
    async with make_client(server) as client:
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        record = await handle.wait(timeout=5)
    assert record.status == "completed"
    assert any(r.status == 404 for r in server.by_operation("get"))


async def test_a_persistent_404_raises_not_found(server: LocalRetab) -> None:
    async with make_client(server) as client:
        handle = client.classifications.handle("clss_never_existed")
        with pytest.raises(NotFoundError):
            await handle.wait(timeout=10)


@pytest.mark.retab_server(run_time=30)
async def test_401_ends_a_wait_at_once(server: LocalRetab) -> None:
    async with make_client(server) as good:
        handle = await good.classifications.start(INVOICE, CATEGORIES)
    async with RetabClient("wrong", server.base_url) as bad:
        with pytest.raises(AuthenticationError):
            await bad.resume(handle.token).wait(timeout=10)


@pytest.mark.retab_server(run_time=30)
async def test_cancelling_a_waiting_task_stops_its_polling(
    client: RetabClient, server: LocalRetab
) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    with anyio.move_on_after(0.1):
        await handle.wait()
    assert client.poller.watching == 0
    await anyio.sleep(0.05)
    seen = len(server.requests)
    await anyio.sleep(0.2)
    assert len(server.requests) == seen  # nothing polls any more


@pytest.mark.retab_server(run_time=30)
async def test_closing_the_client_ends_waits(server: LocalRetab) -> None:
    from retab_async import ClientStateError

    client = make_client(server)
    await client.open()
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    async with anyio.create_task_group() as tg:
        errors: list[BaseException] = []

        async def waiter() -> None:
            try:
                await handle.wait()
            except ClientStateError as exc:
                errors.append(exc)

        tg.start_soon(waiter)
        await anyio.sleep(0.05)
        await client.aclose()
    assert len(errors) == 1
