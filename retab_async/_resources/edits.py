"""``client.edits``: what is particular to filling documents' form fields.

Its options, its request body (a document *or* a stored template), its list
filters, and writing the filled PDF to disk. Every endpoint and the
background-run machinery come from :class:`RunResource`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import msgspec

from .._documents import DocumentLike, to_mime_data
from .._errors import UsageError
from .._models.common import Page
from .._models.edits import (
    DEFAULT_EDIT_COLOR,
    Edit,
    EditOptions,
    EditResult,
    build_edit_body,
    check_edit_input,
)
from .._runs.handle import RunHandle
from .._runs.primitive import EDITS
from .base import DateLike, Order, Paginator, Query, RunResource, page_size_of

if TYPE_CHECKING:
    from .._runs.batch import Batch, FailurePolicy, ProgressCallback
    from .._runs.checkpoint import CheckpointMode

__all__ = ["Edits", "filled_document_path", "write_filled_document"]


class Edits(RunResource[Edit, EditOptions]):
    """Fill the form fields of documents, following instructions. Reached as ``client.edits``.

    An edit takes ``instructions`` and exactly one of a document (a PDF, DOCX, XLSX
    or PPTX) or the ``template_id`` of a stored edit template. ``result.output``
    holds ``form_data`` (each field's key, position and filled value) and
    ``filled_document`` (a PDF with the values written in ``color``), which
    :meth:`save_filled_document` writes to disk.
    """

    primitive = EDITS

    async def _body(
        self, document: DocumentLike | None, options: EditOptions, *, background: bool
    ) -> bytes:
        options = msgspec.structs.replace(options, background=background)
        mime = await to_mime_data(document) if document is not None else None
        return build_edit_body(options, mime)

    async def create(
        self,
        document: DocumentLike | None = None,
        *,
        instructions: str,
        template_id: str | None = None,
        model: str = "retab-small",
        color: str = DEFAULT_EDIT_COLOR,
        bust_cache: bool = False,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> Edit:
        """Fill the form fields of ``document`` (or of the template ``template_id``)
        as ``instructions`` say.

        Give exactly one of ``document`` and ``template_id``. Synchronous by default:
        returns when the run has finished (check ``status``). With
        ``background=True`` it returns at once; prefer :meth:`start`. Idempotency and
        recovery of an interrupted create work as for classifications (see
        :meth:`Classifications.create`).

        Raises:
            UsageError: both a document and a ``template_id``, or neither; blank
                instructions; a colour that is not a hex code (nothing is sent).
            DocumentError: the document cannot be read or sent.
            NotFoundError: no template has this ``template_id``.
            APIStatusError, TransportError, DecodeError: as the request fails; each
                carries ``idempotency_key``.
        """
        options = _options(document, instructions, template_id, model, color, bust_cache)
        return await self._create(
            document, options, background=background, idempotency_key=idempotency_key
        )

    async def start(
        self,
        document: DocumentLike | None = None,
        *,
        instructions: str,
        template_id: str | None = None,
        model: str = "retab-small",
        color: str = DEFAULT_EDIT_COLOR,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> RunHandle[Edit]:
        """Start a background edit and return its :class:`RunHandle`.

        Takes the options of :meth:`create`; raises what it raises.
        """
        options = _options(document, instructions, template_id, model, color, bust_cache)
        return await self._start(document, options, idempotency_key=idempotency_key)

    def run(
        self,
        document: DocumentLike | None = None,
        *,
        instructions: str,
        template_id: str | None = None,
        model: str = "retab-small",
        color: str = DEFAULT_EDIT_COLOR,
        bust_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> AbstractAsyncContextManager[RunHandle[Edit]]:
        """A background edit for the length of an ``async with`` block: cancelled on the
        server if the block is left by an exception or a cancellation.

        Takes the options of :meth:`start`; :class:`UsageError` is raised at once.
        """
        options = _options(document, instructions, template_id, model, color, bust_cache)
        return self._run(document, options, idempotency_key=idempotency_key)

    def map(
        self,
        documents: Iterable[DocumentLike] | Iterable[tuple[str, DocumentLike]],
        *,
        instructions: str,
        model: str = "retab-small",
        color: str = DEFAULT_EDIT_COLOR,
        bust_cache: bool = False,
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | Any | None = None,
        checkpoint_mode: CheckpointMode = "resume",
        timeout: float | None = None,
        cancel_on_exit: bool = True,
    ) -> Batch[Edit]:
        """Fill many documents with the same instructions in the background, yielding
        results as runs finish.

        A batch's inputs are documents, as for every primitive (each is read, and
        checkpointed by its content); there is no ``template_id`` here. To fill one
        template many times (different instructions each time), :meth:`start` each
        run and wait for them together with :func:`as_completed`. Batches work as for
        classifications (see :meth:`Classifications.map`). Raises :class:`UsageError`
        for bad arguments.
        """
        options = _options(None, instructions, None, model, color, bust_cache, batch=True)
        return self._map(
            documents,
            options,
            concurrency=concurrency,
            on_failure=on_failure,
            progress=progress,
            checkpoint=checkpoint,
            checkpoint_mode=checkpoint_mode,
            timeout=timeout,
            cancel_on_exit=cancel_on_exit,
        )

    def list(
        self,
        *,
        filename: str | None = None,
        template_id: str | None = None,
        status: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Paginator[Edit]:
        """Matching edits: ``await`` it for the first page, iterate it for all.

        ``filename`` is a case-insensitive prefix of the input file's name;
        ``template_id`` keeps the edits of one template. Paging works as for
        classifications (see :meth:`Classifications.list`). Arguments are checked now:
        :class:`UsageError` for a bad status, order, limit, date or template id.
        """
        query = self._edit_query(
            filename, template_id, status, from_date, to_date, order, page_size_of(limit, page_size)
        )
        return self._paginate(query)

    async def list_page(
        self,
        *,
        limit: int = 10,
        after: str | None = None,
        before: str | None = None,
        filename: str | None = None,
        template_id: str | None = None,
        status: str | None = None,
        from_date: DateLike | None = None,
        to_date: DateLike | None = None,
        order: Order = "desc",
    ) -> Page[Edit]:
        """One page of edits with its cursors (``page.list_metadata``).

        Raises :class:`UsageError` for bad arguments (``after`` with ``before`` too).
        """
        query = self._edit_query(filename, template_id, status, from_date, to_date, order, limit)
        return await self._list_page(query, after=after, before=before)

    def _edit_query(
        self,
        filename: str | None,
        template_id: str | None,
        status: str | None,
        from_date: DateLike | None,
        to_date: DateLike | None,
        order: str,
        limit: int,
    ) -> Query:
        query = self._query(
            status=status,
            filename=filename,
            from_date=from_date,
            to_date=to_date,
            order=order,
            limit=limit,
        )
        if template_id is not None:
            if not isinstance(template_id, str) or not template_id:
                raise UsageError(f"template_id must be a non-empty string, not {template_id!r}")
            query.append(("template_id", template_id))
        return query

    async def save_filled_document(
        self, edit: Edit | EditResult, path: str | os.PathLike[str]
    ) -> Path:
        """Write the filled PDF of a completed edit to ``path`` and return where it went.

        ``path`` is a file path, or an existing directory (the document keeps its own
        file name there). The file is written whole or not at all: to a temporary
        file beside it, then renamed over ``path``. Nothing is sent to the API.

        Raises:
            RunFailed, RunCancelled, RunError: ``edit`` has no output (it failed, was
                cancelled, has not finished, or was fetched with ``include_output=False``).
            DocumentError: the filled document is missing, not inline, or malformed.
            OSError: the file cannot be written.
        """
        result = edit.require_output() if isinstance(edit, Edit) else edit
        return await anyio.to_thread.run_sync(write_filled_document, result, Path(path))


def filled_document_path(result: EditResult, path: Path) -> Path:
    """Where :func:`write_filled_document` writes: ``path``, or inside it when it is a
    directory (under the filled document's own file name)."""
    if path.is_dir():
        name = result.filled_document.filename if result.filled_document else "filled.pdf"
        return path / (Path(name).name or "filled.pdf")
    return path


def write_filled_document(result: EditResult, path: Path) -> Path:
    """Write the filled PDF of ``result`` to ``path`` atomically (blocking: run it in a
    worker thread from async code). Raises :class:`DocumentError`, :class:`OSError`."""
    data = result.filled_document_bytes()
    target = filled_document_path(result, path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        # mkstemp makes the file private; the result is an ordinary document.
        os.chmod(temporary, target.stat().st_mode & 0o777 if target.exists() else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _options(
    document: DocumentLike | None,
    instructions: str,
    template_id: str | None,
    model: str,
    color: str,
    bust_cache: bool,
    *,
    batch: bool = False,
) -> EditOptions:
    """The options, checked. Raises :class:`UsageError` naming what is wrong, also for
    both a document and a template, or neither (the API would answer ``400``)."""
    if not batch:
        check_edit_input(has_document=document is not None, template_id=template_id)
    return EditOptions(
        instructions=instructions,
        template_id=template_id,
        model=model,
        color=color,
        bust_cache=bust_cache,
    )
