"""What the command line prints: results as a table or JSON lines, notes and errors
on stderr, and a progress bar on stderr when it is a terminal."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import msgspec

from ._batch import BatchProgress, BatchResult

__all__ = ["Output", "ProgressBar"]

_encode = msgspec.json.Encoder().encode


class Output:
    """Prints for one CLI invocation."""

    def __init__(
        self, *, json_lines: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_lines = json_lines
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._header = False
        self.key_width = 40

    def note(self, text: str) -> None:
        """A message for the person at the terminal (stderr)."""
        print(text, file=self.stderr, flush=True)

    def error(self, text: str) -> None:
        """One line for an error (stderr)."""
        first = text.strip().splitlines()[0] if text.strip() else "unknown error"
        print(f"error: {first}", file=self.stderr, flush=True)

    def _emit(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def record(self, record: Any) -> None:
        """One record, in full as JSON or as a short summary."""
        if self.json_lines:
            self._emit(_encode(record).decode())
            return
        line = f"{record.id}  {record.status}"
        if record.file is not None:
            line += f"  {record.file.filename}"
        if record.output is not None:
            line += f"  -> {record.output.category}: {record.output.reasoning}"
        if record.error is not None:
            line += f"  [{record.error.code}] {record.error.message}"
        self._emit(line)

    def result(self, result: BatchResult[Any]) -> None:
        """One batch result: a table row or a JSON line."""
        record = result.record
        row = {
            "file": result.key,
            "status": record.status if record is not None else "error",
            "category": record.output.category if record is not None and record.output else None,
            "likelihood": _likelihood(record),
            "reasoning": record.output.reasoning if record is not None and record.output else None,
            "run_id": result.run_id,
            "error": str(result.error) if result.error is not None else None,
        }
        if self.json_lines:
            self._emit(_encode(row).decode())
            return
        width = self.key_width
        if not self._header:
            self._emit(f"{'FILE':<{width}}  {'STATUS':<10} {'CATEGORY':<16} RUN")
            self._header = True
        category = row["category"] or ("-" if row["error"] is None else row["error"])
        run_id = row["run_id"] or "-"
        self._emit(f"{result.key:<{width}}  {row['status']:<10} {category:<16} {run_id}")

    def started(self, key: str, run_id: str, token: str) -> None:
        """A run started with ``--no-wait``."""
        if self.json_lines:
            self._emit(_encode({"file": key, "run_id": run_id, "token": token}).decode())
        else:
            self._emit(f"{key}\t{run_id}")

    def progress_bar(self, total: int) -> ProgressBar | None:
        """A progress bar on stderr, or ``None`` when stderr is not a terminal."""
        isatty = getattr(self.stderr, "isatty", None)
        return ProgressBar(total, self.stderr) if isatty is not None and isatty() else None


class ProgressBar:
    """A one-line progress bar redrawn in place."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.width = width

    def update(self, p: BatchProgress) -> None:
        """Redraw for the counts in ``p``."""
        done = p.finished
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        text = (
            f"\r[{bar}] {done}/{self.total}  running {p.running}  "
            f"ok {p.completed}  failed {p.failed}  cancelled {p.cancelled}"
        )
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        self.stream.write("\n")
        self.stream.flush()


def _likelihood(record: Any) -> float | None:
    if record is None or record.consensus is None:
        return None
    value = record.consensus.likelihoods
    return float(value) if value is not None else None
