"""``client.file_blueprints``: the blueprint of an uploaded file.

A run takes the id of an uploaded file (not a document). File blueprints have no
list, no delete, no ``model`` and no ``usage``: the resource builds on
:class:`BackgroundResource`, so ``list`` and ``delete`` do not exist here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import msgspec

from .._errors import UsageError
from .._mime import mime_type_for
from .._models.file_blueprints import (
    BlueprintMode,
    FileBlueprint,
    FileBlueprintOptions,
    build_file_blueprint_body,
    check_file_id,
)
from .._runs.handle import RunHandle
from .._runs.primitive import FILE_BLUEPRINTS
from .base import BackgroundResource

if TYPE_CHECKING:
    from .._runs.batch import Batch, FailurePolicy, ProgressCallback
    from .._runs.checkpoint import CheckpointMode

__all__ = ["FileBlueprints"]

FileLike = Any
"""A file id (``"file_..."``), or an uploaded file's record or :class:`FileRef` (its ``id``)."""


def _file_id(file: object) -> str:
    """The id of ``file`` (see :func:`check_file_id`). A local path, which every other
    primitive takes, is refused with how to upload it first; a string that names a
    local file but reads as a file id (``file_...``) stays an id.

    Raises :class:`UsageError`; nothing is sent.
    """
    local: str | None = None
    if isinstance(file, os.PathLike):
        local = str(os.fspath(file))
    elif (
        isinstance(file, str)
        and not file.startswith("file_")
        and (os.path.exists(file) or mime_type_for(file) is not None)
    ):
        local = file  # an existing file, or a name with a document's extension
    if local is not None:
        found = "is a local file" if os.path.exists(local) else "looks like a local file's path"
        raise UsageError(
            f"file_id {local!r} {found}, but a blueprint takes the id of an uploaded file: "
            "upload it first (`uploaded = await client.files.upload(path)`) and pass "
            "`uploaded`"
        )
    return check_file_id(file)


class FileBlueprints(BackgroundResource[FileBlueprint, FileBlueprintOptions]):
    """Describe uploaded files: their pages and fields. Reached as ``client.file_blueprints``.

    ``create`` (synchronous by default), ``start`` (a :class:`RunHandle`), ``get``,
    ``cancel``, ``handle``, ``run`` and ``map`` work as for every primitive; a
    completed record's ``output`` holds the blueprint. There is no ``list`` and no
    ``delete``: the API has neither for file blueprints.
    """

    primitive = FILE_BLUEPRINTS

    async def _document(self, document: Any) -> Any:
        """The file id, checked: it names a stored file, nothing is uploaded."""
        return _file_id(document)

    async def _body(
        self, document: FileLike, options: FileBlueprintOptions, *, background: bool
    ) -> bytes:
        options = msgspec.structs.replace(options, background=background)
        return build_file_blueprint_body(options, _file_id(document))

    async def create(
        self,
        file_id: FileLike,
        *,
        intent: str | None = None,
        mode: BlueprintMode | None = None,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> FileBlueprint:
        """Make the blueprint of the uploaded file ``file_id``.

        Synchronous by default: returns when the run has finished (check ``status``).
        With ``background=True`` it returns at once; prefer :meth:`start`.
        ``intent`` guides the analysis; ``mode`` is a legacy field the API ignores.
        Idempotency and recovery of an interrupted create work as for
        classifications (see :meth:`Classifications.create`).

        Raises:
            UsageError: a malformed file id or a bad option (nothing is sent).
            NotFoundError: the server holds no uploaded file with this id.
            APIStatusError, TransportError, DecodeError: as the request fails; each
                carries ``idempotency_key``.
        """
        options = FileBlueprintOptions(intent=intent, mode=mode)
        return await self._create(
            _file_id(file_id),
            options,
            background=background,
            idempotency_key=idempotency_key,
        )

    async def start(
        self,
        file_id: FileLike,
        *,
        intent: str | None = None,
        mode: BlueprintMode | None = None,
        idempotency_key: str | None = None,
    ) -> RunHandle[FileBlueprint]:
        """Start a background blueprint and return its :class:`RunHandle`.

        Takes the options of :meth:`create`; raises what it raises.
        """
        options = FileBlueprintOptions(intent=intent, mode=mode)
        return await self._start(_file_id(file_id), options, idempotency_key=idempotency_key)

    def run(
        self,
        file_id: FileLike,
        *,
        intent: str | None = None,
        mode: BlueprintMode | None = None,
        idempotency_key: str | None = None,
    ) -> AbstractAsyncContextManager[RunHandle[FileBlueprint]]:
        """A background blueprint for the length of an ``async with`` block: cancelled on
        the server if the block is left by an exception or a cancellation.

        Takes the options of :meth:`start`; :class:`UsageError` is raised at once.
        """
        options = FileBlueprintOptions(intent=intent, mode=mode)
        return self._run(_file_id(file_id), options, idempotency_key=idempotency_key)

    def map(
        self,
        file_ids: Iterable[FileLike],
        *,
        intent: str | None = None,
        mode: BlueprintMode | None = None,
        concurrency: int = 32,
        on_failure: FailurePolicy = "continue",
        progress: ProgressCallback | None = None,
        checkpoint: str | Any | None = None,
        checkpoint_mode: CheckpointMode = "resume",
        timeout: float | None = None,
        cancel_on_exit: bool = True,
    ) -> Batch[FileBlueprint]:
        """Make the blueprints of many uploaded files, yielding results as runs finish.

        Each input is a file id (its key, unless given as a :class:`BatchItem`).
        Batches work as for classifications (see :meth:`Classifications.map`); with a
        checkpoint, an input is known by its file id. A malformed id becomes a result
        with a :class:`UsageError`. Raises :class:`UsageError` for bad arguments.
        """
        options = FileBlueprintOptions(intent=intent, mode=mode)
        return self._map(
            file_ids,
            options,
            concurrency=concurrency,
            on_failure=on_failure,
            progress=progress,
            checkpoint=checkpoint,
            checkpoint_mode=checkpoint_mode,
            timeout=timeout,
            cancel_on_exit=cancel_on_exit,
            input_digest=_digest,
        )


async def _digest(file_id: FileLike) -> str:
    """The checkpoint digest of a file id: the file behind an id does not change."""
    return hashlib.sha256(_file_id(file_id).encode()).hexdigest()
