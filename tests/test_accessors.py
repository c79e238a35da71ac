"""Typed accessors for the common path: a completed run's output, a batch's record."""

from __future__ import annotations

import pytest

from retab_async import (
    BatchResult,
    Classification,
    ClassificationDecision,
    RetabClient,
    RunCancelled,
    RunError,
    RunFailed,
)

from .conftest import CATEGORIES, INVOICE

FAILING = ("broken.txt", b"[[retab:fail]]")


async def test_require_output_of_a_completed_run(client: RetabClient) -> None:
    record = await client.classifications.create(INVOICE, CATEGORIES)
    decision = record.require_output()
    assert isinstance(decision, ClassificationDecision)
    assert decision is record.output and decision.category == "invoice"


async def test_require_output_raises_the_runs_outcome(client: RetabClient) -> None:
    failed = await client.classifications.create(FAILING, CATEGORIES)
    with pytest.raises(RunFailed) as info:
        failed.require_output()
    assert info.value.error is not None and info.value.error.code == "DOCUMENT_UNREADABLE"
    assert info.value.record is failed

    handle = await client.classifications.start(INVOICE, CATEGORIES)
    cancelled = await handle.cancel(wait=True)
    with pytest.raises(RunCancelled):
        cancelled.require_output()


def test_require_output_of_a_run_without_output() -> None:
    with pytest.raises(RunError, match="is 'in_progress': it has no output yet"):
        Classification(id="clss_1", status="in_progress").require_output()
    with pytest.raises(RunError, match="fetched without its output"):
        Classification(id="clss_1", status="completed").require_output()


async def test_require_record_of_batch_results(client: RetabClient) -> None:
    results: dict[str, BatchResult[Classification]] = {}
    async with client.classifications.map([INVOICE, FAILING], CATEGORIES) as batch:
        async for result in batch:
            results[result.key] = result
    assert results["invoice.txt"].require_record().category == "invoice"
    with pytest.raises(RunFailed) as info:
        results["broken.txt"].require_record()
    assert info.value is results["broken.txt"].error
