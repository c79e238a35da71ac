"""``retab_async.dask`` without a cluster: arguments, keys, rows, the plugin object."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import dask.bag as db
import dask.dataframe as dd
import pandas as pd
import pytest

import retab_async.dask as rd
from retab_async import (
    BatchItem,
    Classification,
    ClassificationDecision,
    MIMEData,
    PrimitiveError,
    RunFailed,
    SchemaGeneration,
    UsageError,
)
from retab_async.dask._jobs import input_key, make_job

CATEGORIES = ["invoice", "receipt"]


def job(**options: object) -> rd.Job:
    options.setdefault("categories", CATEGORIES)
    return make_job("classifications", options, batch_id="b1", timeout=None, plugin="retab")


def test_all_is_sorted_and_complete() -> None:
    assert rd.__all__ == sorted(rd.__all__)
    assert all(hasattr(rd, name) for name in rd.__all__)
    assert rd.RetabPlugin.__module__ == "retab_async.dask"


def test_without_the_extra_the_import_says_what_to_install() -> None:
    code = "import sys; sys.modules['distributed'] = None; import retab_async.dask"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().endswith(
        'ImportError: retab_async.dask needs Dask distributed: pip install "retab-async[dask]"'
    )


def test_result_columns() -> None:
    assert rd.result_columns() == ("key", "status", "run_id", "category", "reasoning", "error")
    assert job().columns() == rd.result_columns()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"categories": []}, "categor"),
        ({"categories": CATEGORIES, "colour": "red"}, "bad options for classifications"),
        ({"categories": CATEGORIES, "n_consensus": 1, "idempotency_key": "k"}, "per input"),
        ({}, "bad options for classifications"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        make_job("classifications", options, batch_id=None, timeout=None, plugin="retab")


@pytest.mark.parametrize("batch_id", ["", "has space", "é", "x" * 129, 7])
def test_bad_batch_ids(batch_id: object) -> None:
    with pytest.raises(UsageError, match="batch_id"):
        make_job(
            "classifications",
            {"categories": CATEGORIES},
            batch_id=batch_id,  # type: ignore[arg-type]
            timeout=None,
            plugin="retab",
        )


@pytest.mark.parametrize("timeout", [0, -1.0, True])
def test_bad_timeouts(timeout: object) -> None:
    with pytest.raises(UsageError, match="timeout"):
        make_job(
            "classifications",
            {"categories": CATEGORIES},
            batch_id=None,
            timeout=timeout,  # type: ignore[arg-type]
            plugin="retab",
        )


def test_primitive_by_description() -> None:
    from retab_async import Classifications

    made = make_job(
        Classifications.primitive,  # type: ignore[arg-type]
        {"categories": CATEGORIES},
        batch_id=None,
        timeout=None,
        plugin="retab",
    )
    assert made.primitive == "classifications"


def test_every_primitive_has_its_columns() -> None:
    assert rd.result_columns("extractions") == ("key", "status", "run_id", "output", "error")
    assert rd.result_columns("parses") == ("key", "status", "run_id", "pages", "text", "error")
    with pytest.raises(UsageError, match="bad options for extractions"):
        make_job("extractions", {}, batch_id=None, timeout=None, plugin="retab")


def test_unknown_primitive() -> None:
    with pytest.raises(UsageError, match="cannot run primitive 'widgets'"):
        rd.result_columns("widgets")


def test_categories_travel_as_plain_data() -> None:
    options = job(categories=["invoice", {"name": "receipt", "description": "paid"}]).options
    assert options["categories"] == [
        {"name": "invoice", "description": "", "handle_key": None},
        {"name": "receipt", "description": "paid", "handle_key": None},
    ]


def test_splits_run_with_subdocuments_as_plain_data() -> None:
    assert rd.result_columns("splits") == ("key", "status", "run_id", "output", "error")
    made = make_job(
        "splits", {"subdocuments": ["invoice"]}, batch_id=None, timeout=None, plugin="retab"
    )
    assert made.options["subdocuments"] == [
        {"name": "invoice", "description": "", "allow_multiple_instances": False}
    ]
    with pytest.raises(UsageError, match="listed twice"):
        make_job("splits", {"subdocuments": ["a", "a"]}, batch_id=None, timeout=None, plugin="r")


def test_partitions_run_with_their_key_and_instructions() -> None:
    assert rd.result_columns("partitions") == ("key", "status", "run_id", "output", "error")
    options = {"key": "invoice number", "instructions": "one per invoice", "allow_overlap": False}
    made = make_job("partitions", options, batch_id=None, timeout=None, plugin="retab")
    assert made.options == options
    with pytest.raises(UsageError, match="bad options for partitions"):
        make_job("partitions", {"key": "k"}, batch_id=None, timeout=None, plugin="retab")


def test_idempotency_keys_are_stable_and_distinct() -> None:
    a, b = job(), job()
    assert a.idempotency_key("x.pdf") == b.idempotency_key("x.pdf")
    assert a.idempotency_key("x.pdf") != a.idempotency_key("y.pdf")
    other = make_job(
        "classifications", {"categories": CATEGORIES}, batch_id="b2", timeout=None, plugin="retab"
    )
    assert other.idempotency_key("x.pdf") != a.idempotency_key("x.pdf")
    key = a.idempotency_key("é/" * 300)
    assert key.isascii() and len(key) <= 255 and key.startswith("rtab-dask-")


def test_fresh_batch_id_per_call() -> None:
    make = make_job
    first = make(
        "classifications", {"categories": CATEGORIES}, batch_id=None, timeout=None, plugin="r"
    )
    second = make(
        "classifications", {"categories": CATEGORIES}, batch_id=None, timeout=None, plugin="r"
    )
    assert first.batch_id != second.batch_id


def test_input_keys() -> None:
    mime = MIMEData(filename="a.pdf", url="data:application/pdf;base64,QQ==")
    assert input_key(0, "scan.pdf") == ("scan.pdf", "scan.pdf")
    assert input_key(0, Path("dir/scan.pdf"))[0] == str(Path("dir/scan.pdf"))
    assert input_key(0, "https://x.test/a.pdf")[0] == "https://x.test/a.pdf"
    assert input_key(0, ("a.txt", b"hi")) == ("a.txt", ("a.txt", b"hi"))
    assert input_key(0, BatchItem("k1", "a.pdf")) == ("k1", "a.pdf")
    assert input_key(0, mime) == ("a.pdf", mime)
    assert input_key(0, b"raw")[0] == input_key(5, b"raw")[0] != input_key(0, b"other")[0]
    assert input_key(3, 42) == ("#3", 42)


def test_rows() -> None:
    j = job()
    done = Classification(
        id="clss_1", status="completed", output=ClassificationDecision(category="invoice")
    )
    assert j.row("a", record=done) == {
        "key": "a",
        "status": "completed",
        "run_id": "clss_1",
        "category": "invoice",
        "reasoning": "",
        "error": None,
    }
    failed = Classification(
        id="clss_2", status="failed", error=PrimitiveError(code="X", message="m")
    )
    row = j.row("b", record=failed, error=RunFailed(run_id="clss_2", error=failed.error))
    assert (row["status"], row["run_id"], row["category"], row["error"]) == (
        "failed",
        "clss_2",
        None,
        "X: m",
    )
    row = j.row("c", error=UsageError("nope"))
    assert (row["status"], row["run_id"], row["error"]) == ("error", None, "UsageError: nope")


def test_plugin_arguments_and_pickling() -> None:
    plugin = rd.RetabPlugin("http://127.0.0.1:9", concurrency=4, name="two")
    assert repr(plugin) == "<RetabPlugin 'two' http://127.0.0.1:9 concurrency=4>"
    copy = pickle.loads(pickle.dumps(plugin))
    assert (copy.name, copy.base_url, copy.concurrency) == ("two", "http://127.0.0.1:9", 4)
    assert copy.stats == rd.WorkerStats()
    for bad in (0, -1, True, 1.5):
        with pytest.raises(UsageError, match="concurrency"):
            rd.RetabPlugin(concurrency=bad)  # type: ignore[arg-type]


async def test_plugin_setup_without_a_key_says_where_to_put_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RETAB_TEST_NO_KEY", raising=False)
    plugin = rd.RetabPlugin("http://127.0.0.1:9", api_key_env="RETAB_TEST_NO_KEY")
    with pytest.raises(UsageError, match="set RETAB_TEST_NO_KEY in the workers' environment"):
        await plugin.setup(worker=None)  # type: ignore[arg-type]


def test_collection_arguments_are_checked() -> None:
    with pytest.raises(UsageError, match=r"takes a dask\.bag\.Bag"):
        rd.map_bag(["a.pdf"], categories=CATEGORIES)  # type: ignore[arg-type]
    frame = dd.from_pandas(pd.DataFrame({"path": ["a.pdf"]}), npartitions=1)
    with pytest.raises(UsageError, match="column='nope' is not a column"):
        rd.map_dataframe(frame, column="nope", categories=CATEGORIES)
    with pytest.raises(UsageError, match="key='id' is not a column"):
        rd.map_dataframe(frame, column="path", key="id", categories=CATEGORIES)
    with pytest.raises(UsageError, match="not with a Series"):
        rd.map_dataframe(frame["path"], column="path", categories=CATEGORIES)
    with pytest.raises(UsageError, match="chunk_size"):
        rd.map_futures(None, ["a.pdf"], chunk_size=0, categories=CATEGORIES)  # type: ignore[arg-type]


def test_collections_are_lazy_and_named_for_progress() -> None:
    rows = rd.map_bag(db.from_sequence(["a.pdf", "b.pdf"], npartitions=2), categories=CATEGORIES)
    assert rows.npartitions == 2
    assert all(name.startswith("retab-classifications-") for name, _ in rows.__dask_keys__())
    series = dd.from_pandas(pd.Series(["a.pdf", "b.pdf"]), npartitions=1)
    results = rd.map_dataframe(series, categories=CATEGORIES)
    assert tuple(results.columns) == rd.result_columns()


def test_schemas_and_file_blueprints_run_on_dask_with_their_result_column() -> None:
    assert rd.result_columns("schemas") == ("key", "status", "run_id", "json_schema", "error")
    made = make_job(
        "schemas", {"instructions": "Invoices"}, batch_id=None, timeout=None, plugin="retab"
    )
    assert made.row(
        "k",
        record=SchemaGeneration(id="schgen_1", status="completed", json_schema={"type": "object"}),
    )["json_schema"] == {"type": "object"}
    assert rd.result_columns("file_blueprints") == ("key", "status", "run_id", "output", "error")
    make_job("file_blueprints", {"intent": "bills"}, batch_id=None, timeout=None, plugin="retab")
    with pytest.raises(UsageError, match="bad options for file_blueprints"):
        make_job("file_blueprints", {"model": "x"}, batch_id=None, timeout=None, plugin="retab")
