"""Edits on ``retab_async.dask``: the job's options and columns, and a bag of documents
filled on the local scheduler against the local server."""

from __future__ import annotations

import dask.bag as db
import pytest

import retab_async.dask as rd
from retab_async import UsageError
from retab_async.dask._jobs import make_job
from retab_async.testing import LocalRetab


def test_edit_rows_have_the_result_fields() -> None:
    assert rd.result_columns("edits") == (
        "key",
        "status",
        "run_id",
        "form_data",
        "filled_document",
        "error",
    )
    made = make_job(
        "edits",
        {"instructions": "Name: Ada", "color": "#FF0000"},
        batch_id="e1",
        timeout=None,
        plugin="retab",
    )
    assert made.options == {"instructions": "Name: Ada", "color": "#FF0000"}


def test_edit_options_are_checked_before_anything_runs() -> None:
    with pytest.raises(UsageError, match="bad options for edits"):
        make_job(
            "edits",
            {"instructions": "x", "colour": "red"},
            batch_id=None,
            timeout=None,
            plugin="retab",
        )
    with pytest.raises(UsageError, match="bad options for edits"):
        make_job("edits", {}, batch_id=None, timeout=None, plugin="retab")


def test_a_bag_of_documents_is_filled(
    retab_server: LocalRetab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAB_API_KEY", retab_server.api_key)
    monkeypatch.setenv("RETAB_API_BASE_URL", retab_server.base_url)
    inputs = [(f"form-{i}.txt", b"Full name:\nEmail:\n") for i in range(3)]
    bag = db.from_sequence(inputs, npartitions=1)
    rows = rd.map_bag(bag, "edits", instructions="Full name: Ada", batch_id="edits-1")
    done = rows.compute(scheduler="sync")
    assert [r["key"] for r in done] == [name for name, _ in inputs]
    assert {r["status"] for r in done} == {"completed"}
    for row in done:
        assert [f["value"] for f in row["form_data"]] == ["Ada", None]
        assert row["filled_document"]["url"].startswith("data:application/pdf;base64,")
