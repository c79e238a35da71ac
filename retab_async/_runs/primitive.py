"""What the run machinery needs to know about one primitive: its paths and record type.

Run handles, the poller and tokens use nothing else, so extractions, parses,
splits, partitions and edits fit in by adding one :class:`Primitive` each.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import msgspec

from .._errors import DecodeError, UsageError
from .._http.transport import Response
from .._models.common import Classification, ListMetadata, Page, PrimitiveError
from .._models.edits import Edit
from .._models.extractions import Extraction
from .._models.file_blueprints import FileBlueprint
from .._models.parses import Parse
from .._models.partitions import Partition
from .._models.schema_generations import SchemaGeneration
from .._models.splits import Split

__all__ = [
    "CLASSIFICATIONS",
    "EDITS",
    "EXTRACTIONS",
    "FILE_BLUEPRINTS",
    "PARSES",
    "PARTITIONS",
    "PRIMITIVES",
    "SCHEMA_GENERATIONS",
    "Primitive",
    "RunRecord",
    "SPLITS",
    "TOKEN_PREFIX",
    "Scan",
    "check_id",
    "shared",
]


class RunRecord(Protocol):
    """What every primitive's record has in common."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def error(self) -> PrimitiveError | None: ...


R = TypeVar("R", bound=RunRecord)

_MAX_ID = 255


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.~-]{1,255}")

TOKEN_PREFIX = "rtab1"
"""How a run token starts (``rtab1.<data>.<checksum>``; see ``tokens.py``)."""
_TOKEN_START = f"{TOKEN_PREFIX}."


def check_id(run_id: object, what: str = "run id") -> str:
    """Validate an id (a run's, or ``what`` else) and return it percent-encoded for a
    path (D14).

    Raises :class:`UsageError` for a non-string, an empty id, one with ``/``, ``\\``,
    ``..``, ``?``, ``#``, whitespace, control or non-ASCII characters, or a run token
    given where an id goes.
    """
    # Ids as the API makes them (``clss_...``) need neither checks nor quoting.
    if (
        type(run_id) is str
        and _PLAIN_ID.fullmatch(run_id)
        and ".." not in run_id
        and not run_id.startswith(_TOKEN_START)
    ):
        return run_id
    if not isinstance(run_id, str):
        raise UsageError(f"{what} must be a string, not {type(run_id).__name__}")
    if not run_id:
        raise UsageError(f"{what} must not be empty")
    if run_id.startswith(_TOKEN_START):
        raise UsageError(
            f"this looks like a run token, not a {what}: resume its run with "
            "client.resume(token) (or <resource>.resume(token))"
        )
    if len(run_id) > _MAX_ID:
        raise UsageError(f"{what} is {len(run_id)} characters long; at most {_MAX_ID} allowed")
    for bad in ("/", "\\", "..", "?", "#", "%"):
        if bad in run_id:
            raise UsageError(f"{what} {run_id!r} must not contain {bad!r}")
    for ch in run_id:
        if not ch.isascii() or ch.isspace() or unicodedata.category(ch).startswith("C"):
            raise UsageError(f"{what} {run_id!r} must be printable ASCII without spaces")
    return quote(run_id, safe="")


class _RawPage(msgspec.Struct, frozen=True):
    data: list[msgspec.Raw] = []
    list_metadata: ListMetadata = ListMetadata()


class _IdStatus(msgspec.Struct, frozen=True):
    id: str
    status: str = "pending"


class Scan(msgspec.Struct, frozen=True):
    """A list page read for its ids and statuses only; full rows stay undecoded.

    Attributes:
        rows: ``(id, status, raw row)`` per row that has at least an id.
        next_cursor: the ``after`` cursor of the next page, or ``None``.
    """

    rows: list[tuple[str, str, msgspec.Raw]]
    next_cursor: str | None


_raw_page_decoder = msgspec.json.Decoder(_RawPage)
_id_status_decoder = msgspec.json.Decoder(_IdStatus)


@dataclass(frozen=True, eq=False)
class Primitive(Generic[R]):
    """A kind of run: where it lives on the API and what its record looks like.

    Attributes:
        name: its name in tokens, checkpoints and the poller (``"classifications"``);
            also the path segment unless ``collection`` says otherwise.
        record_type: the msgspec Struct of a record.
        list_status_filter: whether its list takes a ``status`` filter.
        result_field: the record field that holds a completed run's result.
        collection: the collection path below ``/v1/`` when it is not ``name``
            (``"files/blueprints"``).
        listable: whether ``GET`` on the collection lists its runs; without a list,
            runs are watched by per-run ``GET`` only.
        deletable: whether ``DELETE`` on a record exists.
    """

    name: str
    record_type: type[R]
    list_status_filter: bool = True
    result_field: str = "output"
    collection: str = ""
    listable: bool = True
    deletable: bool = True
    _decoder: msgspec.json.Decoder[R] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_decoder", msgspec.json.Decoder(self.record_type))

    def __repr__(self) -> str:
        return f"Primitive({self.name!r})"

    @property
    def path(self) -> str:
        """The collection path, e.g. ``/v1/classifications``."""
        return f"/v1/{self.collection or self.name}"

    @property
    def list_rounds(self) -> bool:
        """Whether the poller may watch many runs by list rounds: it pages each status's
        list, so a list with a ``status`` filter is needed."""
        return self.listable and self.list_status_filter

    def record_path(self, run_id: str) -> str:
        """The path of one record; validates the id."""
        return f"{self.path}/{check_id(run_id)}"

    def fetch_path(self, run_id: str, *, output: bool) -> str:
        """The path and query of a ``GET`` of one record, with or without its output
        (``include_output``); validates the id."""
        query = "?include_output=true" if output else "?include_output=false"
        return f"{self.path}/{check_id(run_id)}{query}"

    def cancel_path(self, run_id: str) -> str:
        """The cancel path of one record; validates the id."""
        return f"{self.path}/{check_id(run_id)}/cancel"

    def has_result(self, record: R) -> bool:
        """Whether ``record`` is completed and carries its result (list rows may not)."""
        return record.status == "completed" and getattr(record, self.result_field, None) is not None

    def decode(self, response: Response) -> R:
        """Decode one record. Raises :class:`DecodeError`."""
        try:
            record: R = self._decoder.decode(response.body)
        except msgspec.DecodeError as exc:
            raise _decode_error(
                exc, response.body, self.record_type.__name__, response.status, response.request_id
            ) from exc
        return record

    def convert(self, data: Any) -> R:
        """A record from already-decoded JSON data. Raises :class:`DecodeError`."""
        try:
            record: R = msgspec.convert(data, self.record_type)
            return record
        except msgspec.ValidationError as exc:
            raise DecodeError(f"not a valid {self.record_type.__name__}: {exc}") from exc

    def scan_page(self, response: Response) -> Scan:
        """Read a list page cheaply: ids and statuses now, full rows on demand
        (:meth:`decode_row`). Raises :class:`DecodeError` for a page that is not a page."""
        raw = decode_with(_raw_page_decoder, response, "list page")
        rows = []
        for row in raw.data:
            try:
                head = _id_status_decoder.decode(row)
            except msgspec.DecodeError:
                continue  # not a run at all; decode_page reports such rows
            rows.append((head.id, head.status, row))
        return Scan(rows=rows, next_cursor=raw.list_metadata.after)

    def decode_row(self, row: msgspec.Raw) -> R:
        """Decode one raw list row. Raises :class:`DecodeError`."""
        try:
            record: R = self._decoder.decode(row)
        except msgspec.DecodeError as exc:
            raise _decode_error(exc, bytes(row), self.record_type.__name__, None, None) from exc
        return record

    def decode_page(self, response: Response) -> Page[R]:
        """Decode a list page; rows that do not decode are kept in ``Page.invalid``."""
        raw = decode_with(_raw_page_decoder, response, "list page")
        rows: list[R] = []
        invalid: list[tuple[str, str]] = []
        for row in raw.data:
            try:
                rows.append(self._decoder.decode(row))
            except msgspec.DecodeError as exc:
                invalid.append((bytes(row).decode("utf-8", "replace")[:2000], str(exc)))
        return Page(data=rows, list_metadata=raw.list_metadata, invalid=invalid)


_SCALARS = frozenset({type(None), bool, int, float})


def shared(record: R, source: object) -> R:
    """``record`` with each field that equals ``source``'s attribute of the same name
    replaced by ``source``'s object (lists, dicts, strings and records; numbers and
    ``None`` cost nothing to keep).

    What a run echoes of its request (categories, a schema, instructions, the model)
    is then held once, by its create options and by every record of the run, and a
    newer record of a run shares with the one before it what did not change (its id,
    file, creation time...): the values are equal, so only memory changes. Thousands
    of runs waited on at once each hold a record.
    """
    changes: dict[str, Any] = {}
    for name in record.__struct_fields__:  # type: ignore[attr-defined]
        value = getattr(record, name)
        kind = type(value)
        if kind in _SCALARS:
            continue
        theirs = getattr(source, name, None)
        if theirs is not value and type(theirs) is kind and theirs == value:
            changes[name] = theirs
    return msgspec.structs.replace(record, **changes) if changes else record  # type: ignore[type-var]


def decode_with(decoder: msgspec.json.Decoder[Any], response: Response, what: str) -> Any:
    """Decode ``response.body`` with ``decoder``; map failures to :class:`DecodeError`."""
    try:
        return decoder.decode(response.body)
    except msgspec.DecodeError as exc:
        raise _decode_error(exc, response.body, what, response.status, response.request_id) from exc


def _decode_error(
    exc: msgspec.DecodeError, body: bytes, what: str, status: int | None, request_id: str | None
) -> DecodeError:
    if not body:
        message = f"expected a {what} but the response body was empty"
    elif isinstance(exc, msgspec.ValidationError):
        message = f"response is not a valid {what}: {exc}"
    else:
        message = f"response body is not valid JSON ({exc}); expected a {what}"
    # Cut-short JSON can come from a dropped connection: worth another attempt.
    malformed = bool(body) and not isinstance(exc, msgspec.ValidationError)
    return DecodeError(
        message, body=body, status=status, request_id=request_id, malformed=malformed
    )


CLASSIFICATIONS: Primitive[Classification] = Primitive("classifications", Classification)

EXTRACTIONS: Primitive[Extraction] = Primitive("extractions", Extraction)

PARSES: Primitive[Parse] = Primitive("parses", Parse, list_status_filter=False)

SCHEMA_GENERATIONS: Primitive[SchemaGeneration] = Primitive(
    "schemas",
    SchemaGeneration,
    list_status_filter=False,
    result_field="json_schema",
    collection="schemas/generate",
    listable=False,
    deletable=False,
)

EDITS: Primitive[Edit] = Primitive("edits", Edit)

FILE_BLUEPRINTS: Primitive[FileBlueprint] = Primitive(
    "file_blueprints",
    FileBlueprint,
    list_status_filter=False,
    collection="files/blueprints",
    listable=False,
    deletable=False,
)

SPLITS: Primitive[Split] = Primitive("splits", Split)

PARTITIONS: Primitive[Partition] = Primitive("partitions", Partition)

PRIMITIVES: dict[str, Primitive[Any]] = {
    primitive.name: primitive
    for primitive in (
        CLASSIFICATIONS,
        EXTRACTIONS,
        PARSES,
        SCHEMA_GENERATIONS,
        EDITS,
        FILE_BLUEPRINTS,
        SPLITS,
        PARTITIONS,
    )
}
"""Every primitive by name, for resuming a run from a token."""
