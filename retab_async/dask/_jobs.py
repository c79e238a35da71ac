"""What a Dask task carries: the job (primitive, options, batch id) and its result rows.

A :class:`Job` is pickled into the task graph, so it holds plain data only and
never a secret: the API key stays on the workers (see ``_worker``). A result row
is a plain ``dict`` so that a Bag of rows converts to a DataFrame as it is.
"""

from __future__ import annotations

import hashlib
import inspect
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import msgspec

from .._documents import normalize_categories
from .._errors import RunCancelled, RunFailed, UsageError
from .._models.common import MIMEData
from .._models.splits import normalize_subdocuments
from .._resources.classifications import Classifications
from .._resources.edits import Edits
from .._resources.extractions import Extractions
from .._resources.file_blueprints import FileBlueprints
from .._resources.parses import Parses
from .._resources.partitions import Partitions
from .._resources.schema_generations import Schemas
from .._resources.splits import Splits
from .._runs.batch import BatchItem

__all__ = ["BASE_COLUMNS", "Job", "input_key", "make_job", "result_columns", "result_meta"]

BASE_COLUMNS = ("key", "status", "run_id")
"""The leading columns of every result row; the primitive's output fields and
``error`` follow."""

# The resources that can run on a cluster, by primitive name. A resource has
# ``start(document, ..., idempotency_key=...)`` and a ``primitive`` description;
# a new primitive is one entry here.
_RESOURCES: dict[str, type[Any]] = {
    resource.primitive.name: resource
    for resource in (
        Classifications,
        Extractions,
        Parses,
        Edits,
        Splits,
        Partitions,
        Schemas,
        FileBlueprints,
    )
}

_MAX_BATCH_ID = 128


@dataclass(frozen=True)
class Job:
    """One batch as the tasks see it: which primitive, its options, and the batch id.

    Attributes:
        primitive: the resource name on the client (``"classifications"``).
        options: keyword arguments for the resource's ``start`` (plain data).
        batch_id: names the batch; with the input key it makes each create's
            idempotency key, so a replayed task re-attaches instead of starting again.
        timeout: seconds to wait for each run, or ``None``; a run past it is
            cancelled on the server and its row carries the ``WaitTimeout``.
        fields: the output fields copied into each row.
        plugin: the name of the worker plugin that holds the client.
    """

    primitive: str
    options: Mapping[str, Any]
    batch_id: str
    timeout: float | None
    fields: tuple[str, ...]
    plugin: str

    def idempotency_key(self, key: str) -> str:
        """The ``Idempotency-Key`` of input ``key``'s create: the same in every replay."""
        seed = f"{self.primitive}\0{self.batch_id}\0{key}".encode()
        return "rtab-dask-" + hashlib.sha256(seed).hexdigest()[:40]

    def columns(self) -> tuple[str, ...]:
        """The columns of a result row, in order."""
        return (*BASE_COLUMNS, *self.fields, "error")

    def row(
        self,
        key: str,
        *,
        record: Any | None = None,
        error: BaseException | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """The result row of one input, from its final record and/or its error."""
        row: dict[str, Any] = dict.fromkeys(self.columns())
        row["key"] = key
        row["run_id"] = run_id
        if record is not None:
            row["status"] = record.status
            row["run_id"] = record.id
            row.update(self._output_fields(record))
        if error is not None:
            row["status"] = row["status"] or _status_of(error)
            row["error"] = describe(error)
        return row

    def _output_fields(self, record: Any) -> dict[str, Any]:
        resource = _RESOURCES[self.primitive]
        output = getattr(record, resource.primitive.result_field, None)
        if output is None:
            return {}
        data = msgspec.to_builtins(output)
        if self.fields == (_column(resource.primitive.result_field),):
            return {self.fields[0]: data}  # a free-form result (an extraction's object)
        return {
            _column(name): value for name, value in data.items() if _column(name) in self.fields
        }


def make_job(
    primitive: str,
    options: Mapping[str, Any],
    *,
    batch_id: str | None,
    timeout: float | None,
    plugin: str,
) -> Job:
    """Check a batch's arguments on the client, before any task runs.

    Raises :class:`UsageError` for an unknown primitive, options its ``start``
    does not take, bad categories, a bad batch id or timeout.
    """
    resource = _resource_type(primitive)
    primitive = resource.primitive.name
    options = _check_options(primitive, resource, dict(options))
    if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
        raise UsageError("timeout must be positive seconds per run, or None")
    return Job(
        primitive=primitive,
        options=options,
        batch_id=_check_batch_id(batch_id) if batch_id is not None else _new_batch_id(),
        timeout=timeout,
        fields=output_fields(primitive),
        plugin=plugin,
    )


def result_columns(primitive: str = "classifications") -> tuple[str, ...]:
    """The columns of a result row for ``primitive``: ``key``, ``status``,
    ``run_id``, the primitive's output fields, ``error``.

    Raises :class:`UsageError` for an unknown primitive.
    """
    return (*BASE_COLUMNS, *output_fields(primitive), "error")


def result_meta(primitive: str = "classifications") -> dict[str, str]:
    """The column dtypes of a result row, as Dask's ``meta=`` takes them.

    ``rows.to_dataframe(meta=result_meta())`` makes a DataFrame of a Bag of rows
    without computing a partition to guess its columns (which would start runs).
    """
    return dict.fromkeys(result_columns(primitive), "object")


def output_fields(primitive: str) -> tuple[str, ...]:
    """The primitive's output fields as row columns (from its record type)."""
    description = _resource_type(primitive).primitive
    hints = typing.get_type_hints(description.record_type)
    output_type = _struct_in(hints.get(description.result_field))
    if output_type is None:
        return (_column(description.result_field),)
    return tuple(_column(f.name) for f in msgspec.structs.fields(output_type))


def input_key(index: int, raw: Any) -> tuple[str, Any]:
    """The key and the document of one input.

    Keys name inputs in rows and make the idempotency keys, so they must be
    stable across replays: a :class:`BatchItem`'s key, a path or URL, a
    ``(filename, ...)`` pair's filename, a ``MIMEData``'s URL or filename, and
    for raw bytes a hash of their content. ``index`` (the position in its
    partition) names anything else; such an input is not a document and ends
    with a ``DocumentError`` row without creating a run.
    """
    if isinstance(raw, BatchItem):
        return raw.key, raw.document
    if isinstance(raw, str | PurePath):
        return str(raw), raw
    if isinstance(raw, MIMEData):
        return (raw.url if raw.url.startswith("https://") else raw.filename), raw
    if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[0], str):
        return raw[0], raw
    if isinstance(raw, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(raw).hexdigest()[:32], raw
    return f"#{index}", raw


def describe(error: BaseException) -> str:
    """One line for a row's ``error`` column."""
    if isinstance(error, RunFailed) and error.error is not None:
        return f"{error.error.code}: {error.error.message}"
    return f"{type(error).__name__}: {error}"


def _status_of(error: BaseException) -> str:
    return "cancelled" if isinstance(error, RunCancelled) else "error"


def _resource_type(primitive: object) -> type[Any]:
    name = getattr(primitive, "name", primitive)  # a Primitive description, or its name
    if not isinstance(name, str) or name not in _RESOURCES:
        raise UsageError(
            f"cannot run primitive {primitive!r} on Dask; expected one of {sorted(_RESOURCES)}"
        )
    return _RESOURCES[name]


def _check_options(primitive: str, resource: type[Any], options: dict[str, Any]) -> dict[str, Any]:
    if "idempotency_key" in options or "document" in options:
        raise UsageError("document and idempotency_key are set per input; do not pass them")
    try:
        inspect.signature(resource.start).bind(None, None, **options)
    except TypeError as exc:
        raise UsageError(f"bad options for {primitive}: {exc}") from None
    if "categories" in options:
        cats = normalize_categories(options["categories"])
        options["categories"] = msgspec.to_builtins(cats)  # plain data in the graph
    if "subdocuments" in options:
        subdocuments = normalize_subdocuments(options["subdocuments"])
        options["subdocuments"] = msgspec.to_builtins(subdocuments)
    return options


def _check_batch_id(batch_id: object) -> str:
    if (
        not isinstance(batch_id, str)
        or not 1 <= len(batch_id) <= _MAX_BATCH_ID
        or not all(" " < ch <= "~" for ch in batch_id)
    ):
        raise UsageError(
            f"batch_id must be 1-{_MAX_BATCH_ID} printable ASCII characters without spaces, "
            f"not {batch_id!r}"
        )
    return batch_id


def _new_batch_id() -> str:
    import uuid

    return uuid.uuid4().hex


def _struct_in(hint: Any) -> type[msgspec.Struct] | None:
    candidates: Sequence[Any] = typing.get_args(hint) or (hint,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _column(name: str) -> str:
    return f"output_{name}" if name in (*BASE_COLUMNS, "error") else name
