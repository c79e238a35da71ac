"""What the local server knows about one primitive: the :class:`ServerPrimitive` description.

The server's routes, validation and stand-in model are built from a table of
these (``_primitives/__init__.py``), one module per primitive. The machinery
(lifecycle, idempotency, faults, listing and cursors, the request log, cancel,
delete, the failure marker, consensus plumbing) reads only the fields below and
never asks which primitive it serves.

Every route a description gets, under ``/v1/<name>`` (or ``/v1/<collection>``)::

    POST   /v1/<name>               create (sync, or background: true)
    GET    /v1/<name>               list (unless has_list is false)
    GET    /v1/<name>/{id}          get (include_output)
    DELETE /v1/<name>/{id}          delete (unless has_delete is false)
    POST   /v1/<name>/{id}/cancel   cancel (idempotent)

A route a primitive lacks is not served: the server answers ``405`` (or ``404``),
as the API does.

plus its ``extra_routes`` (an extraction's ``/stream`` and ``/{id}/sources``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

__all__ = [
    "FAIL_MARKER",
    "CreateRequest",
    "ExtraRoute",
    "Issue",
    "Outcome",
    "RecordFilter",
    "Refusal",
    "ServerPrimitive",
]

FAIL_MARKER = b"[[retab:fail]]"
"""A document whose bytes (or URL) contain this marker ends ``failed``, on every primitive."""

Issue = dict[str, Any]
"""One validation problem, in the shape of FastAPI's (``{type, loc, msg, input}``)."""

RecordFilter = Callable[[Mapping[str, Any]], bool]
"""A primitive's own list filter: given a stored record's ``file`` and request fields
(no output), whether it is listed."""


class CreateRequest(Protocol):
    """What every valid create request offers the machinery: its document and its mode."""

    @property
    def filename(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def mime_type(self) -> str: ...

    @property
    def content(self) -> bytes | None: ...

    @property
    def model(self) -> str: ...

    @property
    def background(self) -> bool: ...


C = TypeVar("C", bound=CreateRequest)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A valid create refused with another status than ``400`` (shape B), for example a
    ``404`` for a file id the server does not know."""

    status: int
    code: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What a primitive's stand-in model answers for one create, decided at create time.

    Attributes:
        output: the record's ``output`` once the run has completed.
        consensus: the record's ``consensus`` once completed (``None`` for one vote).
        error: a ``PrimitiveError`` body: the run ends ``failed`` with it.
        credits: the ``usage.credits`` of a completed run.
        kept: what the primitive's own routes read later (an extraction keeps the
            document text for ``/sources``); the machinery only stores it.
    """

    output: Any
    consensus: Any = None
    error: dict[str, Any] | None = None
    credits: float = 1.0
    kept: Any = None


ExtraHandler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]
"""A primitive's own route: called with the request and the primitive's
:class:`~._routes.RunRoutes` (typed ``Any`` here, as that module builds on this one;
handlers annotate it)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ExtraRoute:
    """A route only one primitive has.

    Attributes:
        method: the HTTP method.
        path: below the collection path: ``"/stream"``, ``"/{id}/sources"``.
        operation: its name in the request log and for fault injection.
        handler: called with the request and the primitive's :class:`RunRoutes`, which
            gives it the generic steps (start a run, look one up, wait for it).
    """

    method: str
    path: str
    operation: str
    handler: ExtraHandler


def _no_conflict(request: Any) -> str | Refusal | None:
    return None


def _no_filters(query: Any) -> RecordFilter | None:
    return None


@dataclass(frozen=True, kw_only=True, eq=False)
class ServerPrimitive(Generic[C]):
    """Everything the local server needs to serve one primitive.

    Attributes:
        name: the collection's path segment (``"extractions"``).
        noun: the record's name in messages (``"Extraction"``).
        id_prefix: run ids are this prefix and 16 hex digits (``"extr_"``).
        parse_create: validates a decoded create body: a request, or the issues
            answered ``422`` (shape D).
        check_create: a request that is valid but refused: the message of a ``400``,
            a :class:`Refusal` for another status, or ``None``.
        compute: the deterministic stand-in model, run once per create.
        record: the request fields a record echoes, in the order they are sent
            (between ``model`` and ``output``).
        placeholder: ``output`` while the run is in flight.
        empty_output: ``output`` after ``failed``/``cancelled`` and with
            ``include_output=false`` (``None`` only where the official model allows it).
        has_consensus: whether records carry a ``consensus`` field.
        has_list, has_delete: whether those routes exist.
        collection: the collection path below ``/v1/`` when it is not ``name``
            (``"files/blueprints"``).
        result_field: the record field that holds the result (``"output"``;
            ``"json_schema"`` for a schema generation).
        has_file, has_model, has_usage: whether records carry ``file``, ``model``
            and ``usage``.
        object_name: the record's ``object`` field (``"file.blueprint"``), if any.
        has_timestamps: whether records carry ``started_at`` and ``completed_at``.
        file_of: the record's ``file`` for a request (a blueprint names the uploaded
            file it reads); by default one made from the document's bytes.
        has_status_filter: whether the list takes ``status`` (unknown query
            parameters are ignored, as by the API, so without it ``status`` is ignored).
        list_filters: reads the primitive's own list filters from the query (a
            ``MultiDict``); raises ``QueryError`` for bad values.
        extra_routes: routes only this primitive has.
    """

    name: str
    noun: str
    id_prefix: str
    parse_create: Callable[[Any], C | list[Issue]]
    compute: Callable[[C], Outcome]
    record: Callable[[C], dict[str, Any]]
    placeholder: Any
    empty_output: Any
    check_create: Callable[[C], str | Refusal | None] = _no_conflict
    has_consensus: bool = True
    has_list: bool = True
    has_delete: bool = True
    has_status_filter: bool = True
    list_filters: Callable[[Any], RecordFilter | None] = _no_filters
    extra_routes: tuple[ExtraRoute, ...] = ()
    collection: str = ""
    result_field: str = "output"
    has_file: bool = True
    has_model: bool = True
    has_usage: bool = True
    object_name: str | None = None
    has_timestamps: bool = False
    file_of: Callable[[C], dict[str, str]] | None = None

    def __repr__(self) -> str:
        return f"ServerPrimitive({self.name!r})"

    @property
    def path(self) -> str:
        """The collection path, e.g. ``/v1/extractions``."""
        return f"/v1/{self.collection or self.name}"

    @property
    def stage(self) -> str:
        """The ``details.stage`` of its failures (``"extraction"``)."""
        return self.noun.lower()
