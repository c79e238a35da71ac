"""The crash-resume journal of a batch: JSON lines, appended as the batch goes.

Each line is one event for one input key::

    {"v": 1, "key": "a.pdf", "event": "started", "run_id": "clss_...", "idempotency_key": "..."}
    {"v": 1, "key": "a.pdf", "event": "finished", "run_id": "clss_...", "record": {...}}
    {"v": 1, "key": "a.pdf", "event": "error", "error": "...", "error_type": "ConnectError"}
    {"v": 1, "key": "a.pdf", "event": "abandoned", "run_id": "clss_..."}

Lines reach the kernel as they are written, so a killed process loses at most
the line it was writing; a torn last line is ignored on reading.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from ._errors import UsageError

__all__ = ["Journal", "KeyState"]

_VERSION = 1


class _Line(msgspec.Struct, frozen=True, omit_defaults=True):
    key: str
    event: str
    v: int = _VERSION
    run_id: str | None = None
    idempotency_key: str | None = None
    record: Any = None
    error: str | None = None
    error_type: str | None = None


_line_decoder = msgspec.json.Decoder(_Line)
_encoder = msgspec.json.Encoder()


@dataclass
class KeyState:
    """What the journal says about one input."""

    run_id: str | None = None
    idempotency_key: str | None = None
    record: Any = None
    generation: int = 0


@dataclass
class Journal:
    """An open checkpoint file."""

    path: Path
    states: dict[str, KeyState] = field(default_factory=dict)
    torn_lines: int = 0
    _file: IO[str] | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Journal:
        """Read what ``path`` holds (if it exists) and open it for appending.

        Raises :class:`UsageError` when it is not a readable journal file.
        """
        journal = cls(Path(path))
        if journal.path.is_dir():
            raise UsageError(f"checkpoint {str(journal.path)!r} is a directory")
        if journal.path.exists():
            journal._load()
        try:
            journal._file = journal.path.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise UsageError(
                f"cannot write checkpoint {str(journal.path)!r}: {exc.strerror}"
            ) from None
        return journal

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read checkpoint {str(self.path)!r}: {exc}") from None
        lines = text.splitlines()
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                line = _line_decoder.decode(raw)
            except msgspec.DecodeError:
                if number == len(lines):  # torn by a crash mid-write
                    self.torn_lines += 1
                    continue
                raise UsageError(
                    f"checkpoint {str(self.path)!r} line {number} is not a journal entry"
                ) from None
            self._apply(line)

    def _apply(self, line: _Line) -> None:
        state = self.states.setdefault(line.key, KeyState())
        if line.event == "started":
            state.run_id, state.idempotency_key = line.run_id, line.idempotency_key
        elif line.event == "finished" and line.record is not None:
            state.record = line.record
            state.run_id = line.run_id
        elif line.event == "abandoned":
            state.run_id = state.idempotency_key = None
            state.generation += 1

    def idempotency_key(self, key: str) -> str:
        """A key for the create of input ``key``: the same after a crash, a new one after
        the input's run was abandoned (cancelled when a batch was interrupted)."""
        generation = self.states.get(key, KeyState()).generation
        seed = f"{self.path.resolve()}\0{key}\0{generation}".encode()
        return "rtab-batch-" + hashlib.sha256(seed).hexdigest()[:40]

    def _write(self, line: _Line) -> None:
        if self._file is None:
            return
        self._file.write(_encoder.encode(line).decode() + "\n")
        self._apply(line)

    def started(self, key: str, run_id: str, idempotency_key: str | None) -> None:
        """Record that input ``key`` has run ``run_id``."""
        self._write(_Line(key=key, event="started", run_id=run_id, idempotency_key=idempotency_key))

    def finished(self, key: str, run_id: str, record: Any) -> None:
        """Record the final record of input ``key`` (a msgspec Struct)."""
        self._write(_Line(key=key, event="finished", run_id=run_id, record=record))

    def error(self, key: str, error: BaseException) -> None:
        """Record an error that left input ``key`` without a final record (for the
        reader: a rerun tries that input again, with the same idempotency key)."""
        self._write(
            _Line(key=key, event="error", error=str(error), error_type=type(error).__name__)
        )

    def abandoned(self, key: str, run_id: str | None) -> None:
        """Record that input ``key``'s run was cancelled because the batch stopped early."""
        self._write(_Line(key=key, event="abandoned", run_id=run_id))

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
