"""The crash-resume journal of a batch: JSON lines, appended as the batch goes.

The first line says which batch the journal belongs to; every other line is
one event for one input key::

    {"event": "batch", "v": 2, "batch": "5f0c...", "params": {"categories": "9a1e...", ...}}
    {"key": "a.pdf", "event": "started", "run_id": "clss_...", "idempotency_key": "...",
     "digest": "c2d4...", "at": 1764620000.5}
    {"key": "a.pdf", "event": "finished", "run_id": "clss_...", "record": {...}}
    {"key": "a.pdf", "event": "error", "error": "...", "error_type": "ConnectError"}
    {"key": "a.pdf", "event": "abandoned", "run_id": "clss_..."}

``params`` holds one digest per parameter of the batch (see ``_fingerprint``),
``digest`` the digest of the input's content when its run was started. A
rerun with other parameters is refused when the journal is opened; the batch
refuses inputs whose content changed. ``mode="restart"`` replaces the journal
(atomically) with an empty one instead.

Each line reaches the kernel in one ``write`` as it is made, so a killed process
loses at most the line it was writing. A write that fails (a full disk) is
rolled back to the last whole line and ends writing for good; the batch then
raises :class:`CheckpointError`. A torn last line found on opening is dropped
from the file, with a warning in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from hashlib import blake2b
from pathlib import Path
from typing import Any, Literal

import msgspec

from .._errors import CheckpointError, UsageError
from .fingerprint import params_digest

__all__ = ["RESTART_HINT", "CheckpointMode", "Journal", "KeyState"]

_log = logging.getLogger("retab_async")
_VERSION = 2

CheckpointMode = Literal["resume", "restart"]

RESTART_HINT = (
    "to start over, pass checkpoint_mode='restart' (CLI: --restart), or use another checkpoint file"
)


class _Line(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    key: str = ""
    event: str
    run_id: str | None = None
    idempotency_key: str | None = None
    digest: str | None = None
    at: float | None = None
    record: Any = None
    error: str | None = None
    error_type: str | None = None
    # the header line
    v: int | None = None
    batch: str | None = None
    params: dict[str, str] | None = None


_line_decoder = msgspec.json.Decoder(_Line)
_encoder = msgspec.json.Encoder()


@dataclass
class KeyState:
    """What the journal says about one input."""

    run_id: str | None = None
    idempotency_key: str | None = None
    digest: str | None = None
    started_at: float | None = None
    record: Any = None
    generation: int = 0

    @property
    def resumable(self) -> bool:
        """Whether a rerun takes this input's result or run from the journal."""
        return self.run_id is not None or self.record is not None


@dataclass
class Journal:
    """An open checkpoint file of one batch (see the module docstring)."""

    path: Path
    params: dict[str, str]
    batch_id: str = ""
    states: dict[str, KeyState] = field(default_factory=dict)
    torn_lines: int = 0
    _fd: int | None = None
    _size: int | None = None  # bytes of whole lines, for regular files
    _failure: OSError | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        params: dict[str, str],
        mode: CheckpointMode = "resume",
    ) -> Journal:
        """Open the journal at ``path`` for a batch with ``params`` (parameter digests).

        ``mode="resume"`` reads what ``path`` holds (if anything) and appends to it;
        ``mode="restart"`` replaces it with an empty journal. A device or pipe is
        written to but never read.

        Raises:
            UsageError: ``path`` cannot be read or opened, is not a journal, or
                belongs to a batch with other parameters (naming them).
            CheckpointError: the journal's first line cannot be written.
        """
        if mode not in ("resume", "restart"):
            raise UsageError(f"checkpoint_mode must be 'resume' or 'restart', not {mode!r}")
        journal = cls(Path(path), dict(params))
        target = journal.path
        if target.is_dir():
            raise UsageError(f"checkpoint {str(target)!r} is a directory")
        regular = target.is_file() or not target.exists()
        if regular and mode == "restart":
            journal._replace()
        elif regular:
            journal._resume()
        else:
            journal._start(target, 0, regular=False)
        return journal

    # -- opening ----------------------------------------------------------------

    def _resume(self) -> None:
        good = self._load() if self.path.exists() else 0
        if not self.batch_id:  # nothing to resume: a new journal
            self._start(self.path, os.O_CREAT | os.O_TRUNC, regular=True)
            return
        self._fd = self._open(self.path, 0)
        self._size = good
        try:
            if good < os.fstat(self._fd).st_size:
                os.ftruncate(self._fd, good)  # drop the torn last line
        except OSError as exc:
            self.close()
            raise UsageError(
                f"cannot write checkpoint {str(self.path)!r}: {exc.strerror}"
            ) from None

    def _replace(self) -> None:
        """Start an empty journal in a new file, then rename it over ``path``."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        try:
            self._start(temporary, os.O_CREAT | os.O_TRUNC, regular=True)
            try:
                os.replace(temporary, self.path)
            except OSError as exc:
                self.close()
                raise UsageError(
                    f"cannot write checkpoint {str(self.path)!r}: {exc.strerror}"
                ) from None
        finally:
            if self._fd is None:  # not replaced
                with contextlib.suppress(OSError):
                    temporary.unlink(missing_ok=True)

    def _start(self, path: Path, flags: int, *, regular: bool) -> None:
        """Open ``path`` and write the first line of a new journal.

        Raises :class:`CheckpointError` when that line cannot be written.
        """
        self.batch_id = secrets.token_hex(16)
        self._fd = self._open(path, flags)
        self._size = 0 if regular else None
        self._write(_Line(event="batch", v=_VERSION, batch=self.batch_id, params=self.params))
        if self.failed:
            self.close()
            self.check()

    def _open(self, path: Path, flags: int) -> int:
        try:
            return os.open(path, os.O_WRONLY | os.O_APPEND | flags, 0o644)
        except OSError as exc:
            raise UsageError(
                f"cannot write checkpoint {str(self.path)!r}: {exc.strerror}"
            ) from None

    def _load(self) -> int:
        """Read the journal; returns the length in bytes of its whole lines."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read checkpoint {str(self.path)!r}: {exc.strerror}") from None
        *whole, tail = data.split(b"\n")  # a tail without a newline is a torn line
        last = max((i for i, raw in enumerate(whole, 1) if raw.strip()), default=0)
        offset, seen = 0, False
        for number, raw in enumerate(whole, 1):
            if raw.strip():
                try:
                    line = _line_decoder.decode(raw)
                except msgspec.DecodeError:
                    if number == last and not tail.strip():  # torn, then a newline
                        self._torn(number)
                        return offset
                    raise UsageError(
                        f"checkpoint {str(self.path)!r} line {number} is not a journal entry"
                    ) from None
                self._take(line, first=not seen)
                seen = True
            offset += len(raw) + 1
        if tail.strip():
            self._torn(len(whole) + 1)
        return offset

    def _torn(self, number: int) -> None:
        self.torn_lines += 1
        _log.warning(
            "checkpoint %s: line %d was cut short by an interrupted write; "
            "it is dropped and its input is taken up again",
            self.path,
            number,
        )

    def _take(self, line: _Line, *, first: bool) -> None:
        if first and line.event == "batch":
            self._check_header(line)
            return
        if not self.batch_id:
            raise UsageError(
                f"checkpoint {str(self.path)!r} was written by an older version of retab-async "
                f"and cannot be checked against this batch; {RESTART_HINT}"
            )
        self._apply(line)

    def _check_header(self, header: _Line) -> None:
        if header.v != _VERSION or not header.batch or header.params is None:
            raise UsageError(
                f"checkpoint {str(self.path)!r} has a journal format this version cannot "
                f"read (v={header.v}); {RESTART_HINT}"
            )
        names = sorted(set(header.params) | set(self.params))
        changed = [n for n in names if header.params.get(n) != self.params.get(n)]
        if changed:
            raise UsageError(
                f"checkpoint {str(self.path)!r} belongs to a batch with other parameters "
                f"({', '.join(changed)} changed); resuming would mix results of both; "
                f"{RESTART_HINT}"
            )
        self.batch_id = header.batch

    def _apply(self, line: _Line) -> None:
        state = self.states.setdefault(line.key, KeyState())
        if line.event == "started":
            state.run_id, state.idempotency_key = line.run_id, line.idempotency_key
            state.digest, state.started_at = line.digest, line.at
        elif line.event == "finished" and line.record is not None:
            state.record = line.record
            state.run_id = line.run_id
        elif line.event == "abandoned":
            state.run_id = state.idempotency_key = None
            state.generation += 1

    # -- reading ----------------------------------------------------------------

    def idempotency_key(self, key: str, digest: str) -> str:
        """The key for the create of input ``key`` with content ``digest``.

        The same after a crash (so the create is replayed, not repeated); a new one
        in another journal, after the input's run was abandoned, or for other
        parameters or content (so a changed body never reuses a key).
        """
        generation = self.states.get(key, KeyState()).generation
        parts = (self.batch_id, params_digest(self.params), key, str(generation), digest)
        seed = "\0".join(parts).encode("utf-8", "surrogateescape")
        return "rtab-batch-" + blake2b(seed, digest_size=20).hexdigest()

    # -- writing ----------------------------------------------------------------

    def _write(self, line: _Line) -> None:
        if line.event != "batch":
            self._apply(line)
        if self._fd is None or self._failure is not None:
            return
        data = _encoder.encode(line) + b"\n"
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            self._failure = exc
            self._roll_back()
            return
        if self._size is not None:
            self._size += len(data)

    def _roll_back(self) -> None:
        """Cut a partly written line off, so the file ends with a whole line."""
        if self._fd is not None and self._size is not None:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                _log.warning("checkpoint %s: could not remove a partial line", self.path)

    def check(self) -> None:
        """Raise :class:`CheckpointError` if a write has failed."""
        exc = self._failure
        if exc is not None:
            raise CheckpointError(
                f"cannot write checkpoint {str(self.path)!r}: {exc.strerror or exc}; "
                "the batch stopped, and the lines written so far are kept: run it again "
                "with the same checkpoint to resume",
                path=str(self.path),
                errno=exc.errno,
            ) from exc

    @property
    def failed(self) -> bool:
        """Whether a write has failed (writing has then stopped for good)."""
        return self._failure is not None

    def started(self, key: str, run_id: str, idempotency_key: str | None, digest: str) -> None:
        """Record that input ``key`` (content ``digest``) has run ``run_id``."""
        line = _Line(
            key=key,
            event="started",
            run_id=run_id,
            idempotency_key=idempotency_key,
            digest=digest,
            at=time.time(),
        )
        self._write(line)

    def finished(self, key: str, run_id: str, record: Any) -> None:
        """Record the final record of input ``key`` (a msgspec Struct)."""
        self._write(_Line(key=key, event="finished", run_id=run_id, record=record))

    def error(self, key: str, error: BaseException) -> None:
        """Record an error that left input ``key`` without a final record (for the
        reader: a rerun tries that input again)."""
        self._write(
            _Line(key=key, event="error", error=str(error), error_type=type(error).__name__)
        )

    def abandoned(self, key: str, run_id: str | None) -> None:
        """Record that input ``key``'s run is given up (cancelled when a batch stopped
        early, or lost on the server): its next create gets a new idempotency key."""
        self._write(_Line(key=key, event="abandoned", run_id=run_id))

    def close(self) -> None:
        """Close the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError as exc:  # some file systems report a failed write only here
                _log.warning("checkpoint %s: closing failed: %s", self.path, exc)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
