"""One poller for many runs: shared scheduling, list rounds, request counts."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import anyio
import anyio.lowlevel
import pytest

from retab_async import (
    AuthenticationError,
    Classification,
    NotFoundError,
    PollPolicy,
    PollStats,
    RetabClient,
    RetabError,
    RetryPolicy,
    RunCancelled,
    RunFailed,
)
from retab_async._status import ACTIVE_STATUSES
from retab_async.testing import FAIL_MARKER, FaultConfig, LocalRetab, ManualClock

from .clocked import drive, settle
from .conftest import CATEGORIES, FAST_POLL, INVOICE, make_client


def _poller_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "retab-poller"]


async def test_many_waits_share_one_poller_task_and_list_rounds() -> None:
    # Client and server share a clock that moves only when every request is answered, so
    # the strategy the poller picks (from the runs' ages) is the same on any machine.
    n = 60
    clock = ManualClock()
    policy = PollPolicy(list_interval=0.05, min_interval=0.01, jitter=0.0)
    async with (
        LocalRetab(run_time=0.3, clock=clock) as server,
        make_client(server, poll=policy, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(n)]
        results: list[str] = []

        async def wait(h) -> None:  # type: ignore[no-untyped-def]
            results.append((await h.wait(timeout=10)).category)

        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(wait, h)
            await settle(client)
            assert len(_poller_tasks()) == 1
            await drive(clock, client, lambda: len(results) == n)
        stats = client.poller.stats
        assert clock.now() == pytest.approx(0.3, abs=0.06)  # seen within one list round
    assert results == ["invoice"] * n
    assert stats.strategy == {"classifications": "list"}
    assert stats.list_rounds == 7  # t = 0, 0.05, ..., 0.3
    assert stats.final_fetches == 0 and stats.results_from_lists == n  # one completed page
    gets = server.by_operation("get")
    lists = server.by_operation("list")
    assert gets == [] and len(lists) == stats.requests
    queries = [dict(r.query) for r in lists]
    assert all(q["order"] == "desc" and "status" in q and int(q["limit"]) <= 100 for q in queries)
    per_run = len(server.requests) / n
    assert per_run < 3, per_run  # create + a share of list pages
    await anyio.lowlevel.checkpoint()
    assert not _poller_tasks()  # the poller ends with its last watch


@pytest.mark.retab_server(run_time=0.3)
async def test_get_strategy_when_forced(server: LocalRetab) -> None:
    policy = PollPolicy(strategy="get", min_interval=0.02)
    async with make_client(server, poll=policy) as client:
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(30)]
        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(h.wait)
    assert server.by_operation("list") == []
    assert client.poller.stats.list_rounds == 0


@pytest.mark.retab_server(run_time=0.2)
async def test_few_runs_use_gets(client: RetabClient, server: LocalRetab) -> None:
    handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(3)]
    async with anyio.create_task_group() as tg:
        for h in handles:
            tg.start_soon(h.wait)
    assert server.by_operation("list") == []


@pytest.mark.retab_server(run_time=0.2)
async def test_two_handles_on_one_run_share_its_polls(
    client: RetabClient, server: LocalRetab
) -> None:
    handle = await client.classifications.start(INVOICE, CATEGORIES)
    twin = client.classifications.handle(handle.id)
    async with anyio.create_task_group() as tg:
        tg.start_soon(handle.wait)
        tg.start_soon(twin.wait)
    gets = server.by_operation("get")
    # One run, however many handles: each poll asks for the output, so the one that found
    # the run completed was its only full fetch.
    assert gets and all(g.query == [("include_output", "true")] for g in gets)
    assert client.poller.stats.final_fetches == 0 and client.poller.stats.gets == len(gets)
    assert twin.record == handle.record


@pytest.mark.retab_server(run_time=0.2)
async def test_two_handles_on_one_run_share_one_full_fetch_with_light_polls(
    server: LocalRetab,
) -> None:
    light = dataclasses.replace(FAST_POLL, poll_output=False)
    async with make_client(server, poll=light) as client:
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        twin = client.classifications.handle(handle.id)
        async with anyio.create_task_group() as tg:
            tg.start_soon(handle.wait)
            tg.start_soon(twin.wait)
    gets = server.by_operation("get")
    # Light polls, then one full fetch at the end (D9), however many handles.
    assert len([g for g in gets if g.query == [("include_output", "true")]]) == 1
    assert client.poller.stats.final_fetches == 1
    assert twin.record == handle.record


@pytest.mark.retab_server(run_time=0.5)
async def test_a_429_slows_every_poll(server: LocalRetab) -> None:
    # One poll in flight at a time: every poll after the 429 was sent after it was received.
    policy = PollPolicy(strategy="get", min_interval=0.01, max_in_flight=1)
    retry = RetryPolicy(max_retry_after=5)
    async with make_client(server, poll=policy, retry=retry) as client:
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(5)]
        server.set_faults(FaultConfig(rate_limit=1.0, retry_after=0.3, operations={"get"}, limit=1))
        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(h.wait)
    gets = server.by_operation("get")
    limited = next(r for r in gets if r.status == 429)
    after = [r for r in gets if r.at > limited.at]
    assert after and min(r.at for r in after) - limited.at >= 0.3


@pytest.mark.retab_server(run_time=0.05)
async def test_polling_interval_grows_with_age(server: LocalRetab) -> None:
    policy = PollPolicy(min_interval=0.01, growth=0.5, jitter=0.0)
    assert policy.interval(0) == 0.01
    assert policy.interval(1.0) == 0.5
    assert policy.interval(100) == policy.max_interval


def test_poll_policy_validation() -> None:
    with pytest.raises(ValueError):
        PollPolicy(min_interval=0)
    with pytest.raises(ValueError):
        PollPolicy(min_interval=2, max_interval=1)
    with pytest.raises(ValueError):
        PollPolicy(strategy="psychic")  # type: ignore[arg-type]


async def test_list_errors_do_not_end_waits() -> None:
    clock = ManualClock()  # rounds are counted on the clock, not by how long they take
    policy = PollPolicy(strategy="list", list_interval=0.02, jitter=0.0)
    faults = FaultConfig(server_error=0.5, operations={"list"})
    async with (
        LocalRetab(run_time=0.3, clock=clock, faults=faults) as server,
        make_client(server, poll=policy, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(5)]
        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(h.wait, 10)
            await clock.drive(client, until=lambda: all(h.done for h in handles))
    assert any(r.fault for r in server.by_operation("list"))
    assert all(h.status == "completed" for h in handles)


def test_a_completed_row_without_its_output_is_fetched_instead() -> None:
    from retab_async import Classification, ClassificationDecision
    from retab_async._runs.primitive import CLASSIFICATIONS

    bare_row = Classification(id="c", status="completed")
    assert not CLASSIFICATIONS.has_result(bare_row)
    full_row = Classification(
        id="c", status="completed", output=ClassificationDecision(category="a")
    )
    assert CLASSIFICATIONS.has_result(full_row)


# -- list rounds: cost follows the runs that finish ------------------------------------

ROWS_PER_RUN = 16
LISTED = PollPolicy(strategy="list", list_interval=0.1, jitter=0.0, not_found_grace=2.0)


async def _wait_all(
    clock: ManualClock,
    client: RetabClient,
    handles: list,  # type: ignore[type-arg]
    *,
    at_0_3_s: Callable[[], Awaitable[object]] | None = None,
    ended_at: list[float] | None = None,
) -> list:  # type: ignore[type-arg]
    """Each handle's record or error. ``at_0_3_s`` runs when the clock reaches 0.3 s
    (the waits going on); ``ended_at`` receives the time each wait ended."""
    outcomes: list[object] = [None] * len(handles)
    if ended_at is not None:
        ended_at[:] = [0.0] * len(handles)

    async def wait(i: int) -> None:
        try:
            outcomes[i] = await handles[i].wait(timeout=60)
        except Exception as exc:  # the outcome is what the test checks
            outcomes[i] = exc
        if ended_at is not None:
            ended_at[i] = clock.now()

    async with anyio.create_task_group() as tg:
        for i in range(len(handles)):
            tg.start_soon(wait, i)
        if at_0_3_s is not None:
            await drive(clock, client, lambda: clock.now() >= 0.3)
            await at_0_3_s()
        await drive(clock, client, lambda: all(o is not None for o in outcomes))
    return outcomes


def _rounds(lists: list, t0: float) -> dict[float, list[dict[str, str]]]:  # type: ignore[type-arg]
    by_round: dict[float, list[dict[str, str]]] = {}
    for r in lists:
        by_round.setdefault(round(r.at - t0, 3), []).append(dict(r.query))
    return by_round


async def test_a_round_reads_what_finished_not_what_is_in_flight() -> None:
    # 250 runs of 0.5-3 s: three blocks of creation order, each read from the completed
    # list only, newest first from just after its last open run, for as many rows as are
    # known to be there plus a few.
    n = 250
    clock = ManualClock()
    async with (
        LocalRetab(run_time=(0.5, 3.0), seed=7, clock=clock) as server,
        make_client(server, poll=LISTED, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(n)]
        results: list[str] = []

        async def wait(h) -> None:  # type: ignore[no-untyped-def]
            results.append((await h.wait(timeout=60)).category)

        async with anyio.create_task_group() as tg:
            for h in handles:
                tg.start_soon(wait, h)
            await drive(clock, client, lambda: clock.now() >= 0.4)
            early = [dict(r.query) for r in server.by_operation("list")]
            await drive(clock, client, lambda: len(results) == n)
        stats = client.poller.stats
    assert results == ["invoice"] * n
    # Before the first run finished, every round was one small completed page for all
    # three blocks (nothing lies between their windows): a few rows per block.
    early_completed = [q for q in early if q["status"] == "completed"]
    assert len(early_completed) == 5  # rounds at 0, 0.1, ..., 0.4
    assert all(int(q["limit"]) <= 3 * 12 for q in early_completed)
    # Results came with list rows, but for a block's last few runs (15 at most),
    # watched through the in-flight lists once their window is mostly settled
    # and fetched once each when gone from them.
    gets = server.by_operation("get")
    assert all(dict(g.query)["include_output"] == "true" for g in gets)
    assert len({g.path for g in gets}) == len(gets) == stats.final_fetches <= 3 * 15
    assert stats.results_from_lists + stats.final_fetches == n
    queries = [dict(r.query) for r in server.by_operation("list")]
    assert all(q["order"] == "desc" for q in queries)
    # Rows asked for in all: a few per finished run, not every in-flight run every round
    # (which would be about rounds * n / 2 rows).
    completed = [int(q["limit"]) for q in queries if q["status"] == "completed"]
    assert stats.list_rounds >= 25
    assert sum(completed) < ROWS_PER_RUN * n, sum(completed)
    # Runs that end otherwise are read from their own lists, one page for all three
    # blocks, at ages 0, 1 and 2 s (and 4 s if runs were left): few pages, few rows.
    ended = [q for q in queries if q["status"] in ("failed", "cancelled")]
    assert sorted({q["status"] for q in ended}) == ["cancelled", "failed"]
    assert len(ended) <= 2 * 4 and all(int(q["limit"]) <= 4 for q in ended), ended
    # The in-flight lists: never while the windows were young; then once per block past
    # the 404 grace (the fallback), and for the last few runs of each block (tails).
    in_flight = [int(q["limit"]) for q in queries if q["status"] in ACTIVE_STATUSES]
    assert not [q for q in early if q["status"] in ACTIVE_STATUSES]
    assert sum(in_flight) < 2 * n, sum(in_flight)
    # Fewer requests in all than before tail mode: about one page per round, plus a
    # fetch per run of the tails.
    assert len(queries) + len(gets) < 1.5 * n


def _in_flight(server: LocalRetab) -> list:  # type: ignore[type-arg]
    return [r for r in server.by_operation("list") if dict(r.query)["status"] in ACTIVE_STATUSES]


async def test_a_failed_run_is_noticed_by_the_failed_list() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.5, clock=clock) as server,
        make_client(server, poll=LISTED, clock=clock) as client,
    ):
        failing = ("bad.txt", FAIL_MARKER + b" invoice")
        documents = [INVOICE] * 14 + [failing] + [INVOICE] * 15
        handles = [await client.classifications.start(d, CATEGORIES) for d in documents]
        outcomes = await _wait_all(clock, client, handles)
        stats = client.poller.stats
    assert all(o.category == "invoice" for i, o in enumerate(outcomes) if i != 14)  # type: ignore[attr-defined]
    failed = outcomes[14]
    assert isinstance(failed, RunFailed) and failed.error is not None
    assert failed.record is not None and failed.record.status == "failed"
    # The failed run, in the middle of the block, came with its row of the failed list:
    # no run was fetched, and the in-flight lists were never read.
    assert server.by_operation("get") == []
    assert stats.final_fetches == 0 and stats.results_from_lists == 29
    assert _in_flight(server) == []
    assert clock.now() <= 0.5 + LISTED.check_interval(0.5) + LISTED.list_interval


async def test_a_run_cancelled_elsewhere_is_noticed_by_the_cancelled_list() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=1.0, clock=clock) as server,
        make_client(server, poll=LISTED, clock=clock) as client,
        make_client(server, clock=clock) as other,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(30)]
        victim = handles[12].id
        outcomes = await _wait_all(
            clock, client, handles, at_0_3_s=lambda: other.classifications.cancel(victim)
        )
    cancelled = outcomes[12]
    assert isinstance(cancelled, RunCancelled)
    assert cancelled.record is not None and cancelled.record.status == "cancelled"
    assert all(o.category == "invoice" for i, o in enumerate(outcomes) if i != 12)  # type: ignore[attr-defined]
    assert server.by_operation("get") == []  # its row of the cancelled list was enough
    assert _in_flight(server) == []


async def test_a_deleted_run_is_noticed_by_the_in_flight_fallback() -> None:
    # A run deleted while waited on is in no list: its block's in-flight lists, read
    # once the block is past the 404 grace, miss it; it is fetched once, and the 404
    # stands.
    clock = ManualClock()
    async with (
        LocalRetab(run_time=5.0, clock=clock) as server,
        make_client(server, poll=LISTED, clock=clock) as client,
        make_client(server, clock=clock) as other,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(30)]
        victim = handles[10].id
        ended_at: list[float] = []
        outcomes = await _wait_all(
            clock,
            client,
            handles,
            at_0_3_s=lambda: other.classifications.delete(victim),
            ended_at=ended_at,
        )
    assert isinstance(outcomes[10], NotFoundError)
    assert all(o.category == "invoice" for i, o in enumerate(outcomes) if i != 10)  # type: ignore[attr-defined]
    gets = server.by_operation("get")
    assert [g.path.rsplit("/", 1)[1] for g in gets] == [victim]
    assert gets[0].status == 404
    in_flight = _in_flight(server)
    assert in_flight and in_flight[0].at < gets[0].at
    assert (
        LISTED.not_found_grace <= ended_at[10] <= LISTED.not_found_grace + 3 * LISTED.list_interval
    )


async def test_a_run_the_lists_never_show_is_fetched_after_the_404_grace_then_fails() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=0.3, clock=clock) as server,
        make_client(server, poll=LISTED, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(25)]
        ghost = client.classifications.handle("clss_never_created")
        outcomes = await _wait_all(clock, client, [*handles, ghost])
    assert all(o.category == "invoice" for o in outcomes[:25])  # type: ignore[attr-defined]
    assert isinstance(outcomes[25], NotFoundError)
    ghost_gets = [g for g in server.by_operation("get") if g.path.endswith("clss_never_created")]
    # Missing from the in-flight lists once past the grace: a 404 then stands.
    assert len(ghost_gets) == 1 and ghost_gets[0].status == 404
    assert LISTED.not_found_grace <= clock.now() <= LISTED.not_found_grace + 0.5


async def test_a_401_on_list_pages_fails_every_waiter() -> None:
    clock = ManualClock()
    async with LocalRetab(run_time=1.0, clock=clock) as server:
        async with make_client(server, clock=clock) as good:
            handles = [await good.classifications.start(INVOICE, CATEGORIES) for _ in range(30)]
        async with RetabClient(
            "wrong", server.base_url, poll=LISTED, clock=clock, retry=RetryPolicy.for_tests()
        ) as bad:
            waits = [bad.resume(h.token) for h in handles]
            outcomes = await _wait_all(clock, bad, waits)
    assert all(isinstance(o, AuthenticationError) for o in outcomes)
    assert server.by_operation("get") == []
    assert {r.status for r in server.by_operation("list")} == {401}


def test_presets_trade_requests_for_lag() -> None:
    default = PollPolicy()
    fast, quick, cheap = PollPolicy.low_latency(), PollPolicy.responsive(), PollPolicy.economical()
    for age in (0.0, 0.5, 2.0, 10.0, 60.0, 600.0):
        intervals = [p.base_interval(age) for p in (fast, quick, default, cheap)]
        assert intervals == sorted(intervals), (age, intervals)
    assert fast.list_interval < default.list_interval == quick.list_interval < cheap.list_interval
    # Many polls per run: light ones. Few: each asks for the output, and the last ends it.
    assert not fast.poll_output and not quick.poll_output
    assert default.poll_output and cheap.poll_output


def test_the_default_intervals() -> None:
    policy = PollPolicy()
    ages = (0.0, 2.3, 10.0, 23.0)
    assert [policy.base_interval(age) for age in ages] == pytest.approx([2.3] * 4)
    assert policy.base_interval(40.0) == pytest.approx(4.0)
    assert policy.base_interval(100.0) == policy.base_interval(1000.0) == 10.0
    quick = PollPolicy.responsive()  # the default before polls asked for the output
    assert quick.base_interval(0.0) == 0.25 and quick.base_interval(1.0) == 0.25
    assert quick.base_interval(4.0) == 1.0 and quick.base_interval(60.0) == 2.0


def test_the_404_grace_is_a_backoff_of_its_own() -> None:
    # Whatever the polling intervals: a mistyped id is refused within seconds.
    for policy in (PollPolicy(), PollPolicy.economical(), PollPolicy.low_latency()):
        waits = [policy.not_found_retry(0.5, count) for count in range(1, 7)]
        assert waits[:5] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6]) and waits[5] is None
        assert policy.not_found_retry(policy.not_found_grace, 1) is None


def test_in_flight_checks_stay_seconds_apart() -> None:
    for policy in (PollPolicy(), PollPolicy.economical()):
        assert [policy.check_interval(age) for age in (0.0, 2.0, 60.0)] == [1.0, 2.0, 4.0]
    assert PollPolicy.low_latency().check_interval(60.0) == 2.0


# -- one run on a manual clock: the ages of its polls -------------------------------


class _Polled(NamedTuple):
    ages: list[float]  # clock time of each GET; the run was created at 0
    queries: list[list[tuple[str, str]]]
    stats: PollStats
    outcome: object


async def _poll_one(policy: PollPolicy, run_time: float, document: Any = INVOICE) -> _Polled:
    """Wait for one run of ``run_time`` seconds with ``policy``, noting when each poll came."""
    clock = ManualClock()
    ages: list[float] = []
    outcome: list[object] = []
    async with (
        LocalRetab(run_time=run_time, clock=clock) as server,
        make_client(server, poll=policy, clock=clock) as client,
    ):
        handle = await client.classifications.start(document, CATEGORIES)

        async def wait() -> None:
            try:
                outcome.append(await handle.wait(timeout=600))
            except RetabError as exc:
                outcome.append(exc)

        def done() -> bool:
            ages.extend([clock.now()] * (len(server.by_operation("get")) - len(ages)))
            return bool(outcome)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await drive(clock, client, done)
        queries = [g.query for g in server.by_operation("get")]
        assert len(server.requests) == 1 + len(queries)  # the create, then polls only
        return _Polled(ages, queries, client.poller.stats, outcome[0])


WITH_OUTPUT = [("include_output", "true")]
LIGHT = [("include_output", "false")]


async def test_the_default_polls_a_run_every_2_3_s_then_at_a_tenth_of_its_age() -> None:
    # A run of 30 s: polls 2.3 s apart up to an age of 23 s, then 10% of the age apart;
    # each asks for the output, and the first that finds the run completed ends the wait.
    polled = await _poll_one(dataclasses.replace(PollPolicy(), jitter=0.0), 30.0)
    expected = [2.3 * k for k in range(1, 11)] + [25.3, 27.83, 30.613]
    assert polled.ages == pytest.approx(expected)
    assert polled.queries == [WITH_OUTPUT] * len(expected)
    assert polled.stats.gets == len(expected) and polled.stats.final_fetches == 0
    assert isinstance(polled.outcome, Classification) and polled.outcome.status == "completed"
    assert polled.outcome.category == "invoice"


async def test_with_the_default_a_short_run_costs_its_create_and_one_poll() -> None:
    polled = await _poll_one(dataclasses.replace(PollPolicy(), jitter=0.0), 0.8)
    assert polled.ages == pytest.approx([2.3]) and polled.queries == [WITH_OUTPUT]
    assert isinstance(polled.outcome, Classification) and polled.outcome.category == "invoice"


async def test_the_default_ends_the_wait_on_a_failed_run_at_the_poll_that_sees_it() -> None:
    failing = ("bad.txt", FAIL_MARKER + b" invoice")
    polled = await _poll_one(dataclasses.replace(PollPolicy(), jitter=0.0), 3.0, failing)
    assert polled.ages == pytest.approx([2.3, 4.6]) and polled.queries == [WITH_OUTPUT] * 2
    assert isinstance(polled.outcome, RunFailed) and polled.outcome.record.status == "failed"
    assert polled.stats.final_fetches == 0


async def test_a_run_cancelled_elsewhere_ends_the_wait_at_the_next_poll() -> None:
    clock = ManualClock()
    policy = dataclasses.replace(PollPolicy(), jitter=0.0)
    async with (
        LocalRetab(run_time=30.0, clock=clock) as server,
        make_client(server, poll=policy, clock=clock) as client,
        make_client(server, poll=policy, clock=clock) as other,
    ):
        handle = await client.classifications.start(INVOICE, CATEGORIES)
        outcome: list[BaseException] = []

        async def wait() -> None:
            try:
                await handle.wait(timeout=600)
            except RunCancelled as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await drive(clock, client, lambda: clock.now() >= 4.6)  # its second poll
            await other.classifications.handle(handle.id).cancel()
            await drive(clock, client, lambda: bool(outcome))
        assert clock.now() == pytest.approx(6.9)  # the poll after the cancel
    gets = [g for g in server.by_operation("get") if g.query == WITH_OUTPUT]
    assert len(gets) == 3 and client.poller.stats.final_fetches == 0


async def test_responsive_polls_light_at_a_quarter_of_the_age_then_fetches_once() -> None:
    policy = dataclasses.replace(PollPolicy.responsive(), jitter=0.0)
    polled = await _poll_one(policy, 3.0)
    expected = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5625, 1.953125, 2.44140625, 3.0517578125]
    assert polled.ages == pytest.approx([*expected, expected[-1]])  # the fetch, at once
    assert polled.queries == [LIGHT] * len(expected) + [WITH_OUTPUT]
    assert polled.stats.final_fetches == 1


async def test_low_latency_polls_light_at_a_tenth_of_the_age() -> None:
    policy = dataclasses.replace(PollPolicy.low_latency(), jitter=0.0)
    polled = await _poll_one(policy, 1.5)
    # 0.1 s apart until 1 s old, then 10% of the age apart
    expected = [round(0.1 * k, 1) for k in range(1, 11)] + [1.1, 1.21, 1.331, 1.4641, 1.61051]
    assert polled.ages == pytest.approx([*expected, expected[-1]])
    assert polled.queries == [LIGHT] * len(expected) + [WITH_OUTPUT]


async def test_economical_polls_every_4_s_then_at_a_third_of_the_age() -> None:
    policy = dataclasses.replace(PollPolicy.economical(), jitter=0.0)
    polled = await _poll_one(policy, 20.0)
    assert polled.ages == pytest.approx([4.0, 8.0, 12.0, 16.0, 20.8])
    assert polled.queries == [WITH_OUTPUT] * 5 and polled.stats.final_fetches == 0


async def test_a_mistyped_run_id_is_refused_after_the_404_backoff() -> None:
    clock = ManualClock()
    async with (
        LocalRetab(run_time=1.0, clock=clock) as server,
        make_client(server, poll=PollPolicy(), clock=clock) as client,
    ):
        ghost = client.classifications.handle("clss_never_created")
        outcome: list[BaseException] = []

        async def wait() -> None:
            try:
                await ghost.wait(timeout=600)
            except NotFoundError as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await drive(clock, client, lambda: bool(outcome))
        assert clock.now() == pytest.approx(0.1 + 0.2 + 0.4 + 0.8 + 1.6)
    assert len(server.by_operation("get")) == 6


async def test_the_last_runs_of_many_stay_in_list_rounds() -> None:
    # 40 runs of 0.5-12 s: as they end, per-run polls look cheaper than rounds (the
    # oldest would be polled every 2 s), but rounds go on while 5 or more are left.
    clock = ManualClock()
    policy = PollPolicy(jitter=0.0)
    async with (
        LocalRetab(run_time=(0.5, 12.0), seed=3, clock=clock) as server,
        make_client(server, poll=policy, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(40)]
        outcomes = await _wait_all(clock, client, handles)
        stats = client.poller.stats
    assert all(o.category == "invoice" for o in outcomes)  # type: ignore[attr-defined]
    gets = server.by_operation("get")
    fetched = {g.path for g in gets}
    # Each run was settled once: from its list row, or by GETs (polls of the last few,
    # once rounds stopped; or one fetch when gone from the in-flight lists that watch a
    # block's last runs).
    assert stats.results_from_lists + len(fetched) == 40 and stats.list_rounds > 0
    assert stats.gets + stats.final_fetches == len(gets)
    polled = {path for path in fetched if sum(g.path == path for g in gets) > 1}
    assert len(polled) < policy.list_min_runs / 4  # only the last few runs


async def test_runs_that_join_a_wait_soon_after_the_first_go_to_list_rounds_at_once() -> None:
    # The first run is waited on alone (per-run polls); 39 more join before its first
    # poll: the strategy is decided again at once, not a list interval later, so none
    # of them gets a poll of its own.
    clock = ManualClock()
    policy = PollPolicy(jitter=0.0)
    async with (
        LocalRetab(run_time=2.0, clock=clock) as server,
        make_client(server, poll=policy, clock=clock) as client,
    ):
        handles = [await client.classifications.start(INVOICE, CATEGORIES) for _ in range(40)]
        results: list[str] = []

        async def wait(h) -> None:  # type: ignore[no-untyped-def]
            results.append((await h.wait(timeout=10)).category)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait, handles[0])
            await settle(client)
            assert client.poller.stats.strategy.get("classifications", "get") == "get"
            for h in handles[1:]:
                tg.start_soon(wait, h)
            await drive(clock, client, lambda: len(results) == 40)
        stats = client.poller.stats
    assert results == ["invoice"] * 40
    assert stats.gets == 0 and stats.results_from_lists == 40
