"""What the command line prints.

Results go to stdout: aligned tables with a header, or JSON lines with
``--json``. Notes, errors and the progress bar go to stderr (the bar only when
stderr is a terminal), so that piped output stays plain and stable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import msgspec

from .._errors import RetabError, RunFailed, WaitTimeout
from .._models.common import as_read
from .._runs.batch import BatchProgress, BatchResult
from .._runs.primitive import CLASSIFICATIONS, Primitive

__all__ = [
    "BLUEPRINT_COLUMN",
    "OUTPUT_COLUMN",
    "PAGES_COLUMN",
    "Column",
    "Output",
    "ProgressBar",
    "ResultTable",
    "SCHEMA_COLUMN",
    "category_column",
    "error_text",
    "filled_column",
    "filled_path",
    "pages_column",
    "started_table",
]

_encode = msgspec.json.Encoder().encode

_STATUS_WIDTH = len("in_progress")
_RUN_ID_WIDTH = 21  # "clss_" and 16 hex digits; longer ids just push the last column
_OUTPUT_WIDTH = 40  # an extracted object is cut here, in the table; --json has it whole
_RECORD_OUTPUT_WIDTH = 200  # `get` shows more of it; --json has it whole
_PAGES_WIDTH = 30  # a split's or partition's entries


@dataclass(frozen=True)
class Column:
    """What one batch command's results show between STATUS and RUN.

    Attributes:
        header: the table column's title (``CATEGORY``).
        width: its width; a longer cell pushes the columns after it.
        cell: the cell of a completed run, from its ``output``.
        fields: the JSON-line fields of a result, from its record (``None`` when
            no run could be made); every key is present, ``None`` when unknown.
        result_field: the record field ``cell`` reads (``json_schema`` for a schema).
    """

    header: str
    width: int
    cell: Callable[[Any], str]
    fields: Callable[[Any], dict[str, Any]]
    result_field: str = "output"


def category_column(categories: Sequence[str]) -> Column:
    """``classify``: the chosen category; JSON adds its likelihood and reasoning."""

    def fields(record: Any) -> dict[str, Any]:
        output = record.output if record is not None else None
        return {
            "category": output.category if output is not None else None,
            "likelihood": _likelihood(record),
            "reasoning": output.reasoning if output is not None else None,
        }

    width = max(len("CATEGORY"), *(len(c) for c in categories))
    return Column("CATEGORY", width, lambda output: output.category, fields)


def _compact(output: Any) -> str:
    return _cut(_encode(output).decode())


def _cut(text: str, width: int = _OUTPUT_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _extraction_fields(record: Any) -> dict[str, Any]:
    consensus = record.consensus if record is not None else None
    return {
        "output": record.output if record is not None else None,
        "likelihoods": consensus.likelihoods if consensus is not None else None,
    }


OUTPUT_COLUMN = Column("OUTPUT", _OUTPUT_WIDTH, _compact, _extraction_fields)
"""``extract``: the extracted object (cut short in the table); JSON has it whole,
with the consensus likelihoods."""


def _parse_fields(record: Any) -> dict[str, Any]:
    output = record.output if record is not None else None
    return {
        "pages": output.pages if output is not None else None,
        "text": output.text if output is not None else None,
    }


PAGES_COLUMN = Column("PAGES", len("PAGES"), lambda output: str(len(output.pages)), _parse_fields)
"""``parse``: the number of pages; JSON has each page's text and the whole text."""


SCHEMA_COLUMN = Column(
    "SCHEMA",
    _OUTPUT_WIDTH,
    lambda schema: _cut(", ".join(schema.get("properties", {})) or "(no properties)"),
    lambda record: {"json_schema": record.json_schema if record is not None else None},
    result_field="json_schema",
)
"""``generate-schema``: the properties found; JSON has the whole schema."""


def _blueprint_cell(output: Any) -> str:
    pages, fields = output.get("page_count"), len(output.get("fields", []))
    return f"{pages} page{'' if pages == 1 else 's'}, {fields} field{'' if fields == 1 else 's'}"


BLUEPRINT_COLUMN = Column(
    "BLUEPRINT",
    len("99 pages, 99 fields"),
    _blueprint_cell,
    lambda record: {
        "file_id": record.file.id if record is not None and record.file is not None else None,
        "output": record.output if record is not None else None,
    },
)
"""``blueprint``: pages and fields found; JSON has the file's id (a local file's upload)
and the whole blueprint."""


def filled_path(output_dir: Path, key: str) -> Path:
    """Where ``edit --output-dir`` writes the filled PDF of input ``key``."""
    return output_dir / f"{Path(key).stem}_filled.pdf"


def filled_column(output_dir: Path | None) -> Column:
    """``edit``: fields filled of fields found; JSON has every field, and the path the
    filled PDF was written to (with ``--output-dir``) or its file name."""

    def cell(output: Any) -> str:
        filled = sum(1 for f in output.form_data if f.value is not None)
        return f"{filled}/{len(output.form_data)}"

    def fields(record: Any) -> dict[str, Any]:
        output = record.output if record is not None else None
        if output is None:
            return {"form_data": None, "filled_document": None}
        document = output.filled_document
        if output_dir is not None and record.file is not None:
            where: str | None = str(filled_path(output_dir, record.file.filename))
        else:
            where = document.filename if document is not None else None
        return {"form_data": output.form_data, "filled_document": where}

    return Column("FILLED", len("FILLED"), cell, fields)


def pages_column(header: str, label: str) -> Column:
    """``split``, ``partition``: each entry's ``label`` field and its pages, as
    ``invoice:1-2+4,receipt:3`` (cut short in the table); JSON has the whole output with
    the consensus likelihoods."""

    def cell(output: Any) -> str:
        text = ",".join(f"{getattr(e, label)}:{_page_ranges(e.pages)}" for e in output)
        return _cut(text, _PAGES_WIDTH) or "-"

    return Column(header, max(len(header), _PAGES_WIDTH), cell, _extraction_fields)


def _page_ranges(pages: Sequence[int]) -> str:
    ranges: list[list[int]] = []
    for page in pages:
        if ranges and page == ranges[-1][1] + 1:
            ranges[-1][1] = page
        else:
            ranges.append([page, page])
    return "+".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


class Output:
    """Prints for one CLI invocation."""

    def __init__(
        self, *, json_lines: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_lines = json_lines
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    def note(self, text: str) -> None:
        """A message for the person at the terminal (stderr)."""
        print(text, file=self.stderr, flush=True)

    def error(self, text: str) -> None:
        """One line for an error (stderr)."""
        first = text.strip().splitlines()[0] if text.strip() else "unknown error"
        print(f"error: {first}", file=self.stderr, flush=True)

    def emit(self, text: str) -> None:
        """One line of results (stdout)."""
        print(text, file=self.stdout, flush=True)

    def json(self, value: Any) -> None:
        """One JSON line (stdout); records as their fields read (see ``as_read``)."""
        self.emit(_encode(as_read(value)).decode())

    def record(self, record: Any, primitive: Primitive[Any] = CLASSIFICATIONS) -> None:
        """One record: in full as JSON, or as aligned ``field  value`` lines."""
        if self.json_lines:
            self.json(record)
            return
        fields = [("id", record.id), ("status", record.status)]
        file = getattr(record, "file", None)
        if file is not None:
            fields.append(("file", file.filename))
        fields += _result_fields(record, primitive)
        if record.error is not None:
            fields.append(("error", f"[{record.error.code}] {record.error.message}"))
        model = getattr(record, "model", None)
        if model is not None:
            fields.append(("model", model))
        fields.append(("created", getattr(record, "created_at", None) or "-"))
        width = max(len(name) for name, _ in fields)
        for name, value in fields:
            self.emit(f"{name:<{width}}  {value}")

    def records(self, records: Sequence[Any], primitive: Primitive[Any] = CLASSIFICATIONS) -> None:
        """Records as a table with a header (``list``), or one JSON line each."""
        if self.json_lines:
            for record in records:
                self.json(record)
            return
        if not records:
            self.note(f"no {primitive.name.replace('_', ' ')} found")
            return
        header, cell = _list_column(primitive)
        rows = [
            (
                r.id,
                r.status,
                r.file.filename if getattr(r, "file", None) is not None else "-",
                cell(r),
                getattr(r, "created_at", None) or "-",
            )
            for r in records
        ]
        self.table(("ID", "STATUS", "FILE", header, "CREATED"), rows)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """An aligned table; the last column is not padded."""
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = [f"{cell:<{w}}" for cell, w in zip(row[:-1], widths[:-1], strict=True)]
            self.emit("  ".join([*cells, str(row[-1])]))

    def progress_bar(self, total: int) -> ProgressBar | None:
        """A progress bar on stderr, or ``None`` when stderr is not a terminal."""
        isatty = getattr(self.stderr, "isatty", None)
        return ProgressBar(total, self.stderr) if isatty is not None and isatty() else None


def _result(record: Any, primitive: Primitive[Any]) -> Any:
    """A completed run's result, or ``None`` (placeholders and light rows alike)."""
    return getattr(record, primitive.result_field, None) if primitive.has_result(record) else None


def _result_fields(record: Any, primitive: Primitive[Any]) -> list[tuple[str, str]]:
    result = _result(record, primitive)
    if result is None:
        return []
    if primitive is CLASSIFICATIONS:
        fields = [("category", result.category)]
        likelihood = _likelihood(record)
        if likelihood is not None:
            fields.append(("likelihood", f"{likelihood:.2f}"))
        return [*fields, ("reasoning", result.reasoning)]
    text = _encode(result).decode()
    if len(text) > _RECORD_OUTPUT_WIDTH:
        text = text[: _RECORD_OUTPUT_WIDTH - 3] + "... (--json shows it whole)"
    return [(primitive.result_field, text)]


def _list_column(primitive: Primitive[Any]) -> tuple[str, Callable[[Any], str]]:
    """The ``list`` table's result column: the category, or the output cut short."""
    if primitive is CLASSIFICATIONS:
        return "CATEGORY", lambda r: r.category or "-"

    def cell(record: Any) -> str:
        result = _result(record, primitive)
        return "-" if result is None else _compact(result)

    return primitive.result_field.upper(), cell


class ResultTable:
    """Batch results printed in the order of the inputs, each as soon as every
    earlier input has its row.

    Columns: FILE, STATUS, the command's own (``column``: CATEGORY...), RUN and
    ERROR (last, so that a long message never shifts another column). ``status``
    is ``timed_out`` for a run still going when ``--timeout`` ran out, ``error``
    when no run could be made.
    """

    def __init__(self, out: Output, keys: Sequence[str], column: Column) -> None:
        self._out = out
        self._column = column
        self._order = {key: index for index, key in enumerate(keys)}
        self._pending: dict[int, BatchResult[Any]] = {}
        self._next = 0
        self._widths = (
            max(len("FILE"), *(len(k) for k in keys)),
            _STATUS_WIDTH,
            column.width,
            _RUN_ID_WIDTH,
        )
        self._header_done = False
        self.timed_out = 0
        """Results whose run was still going when ``--timeout`` ran out (counted as
        failed by the batch's progress)."""

    def add(self, result: BatchResult[Any]) -> None:
        """Take one result; print it and any rows it was holding back."""
        if isinstance(result.error, WaitTimeout):
            self.timed_out += 1
        self._pending[self._order[result.key]] = result
        while self._next in self._pending:
            self._print(self._pending.pop(self._next))
            self._next += 1

    def flush(self) -> None:
        """Print the rows still held back (after an interruption), in input order."""
        for index in sorted(self._pending):
            self._print(self._pending.pop(index))

    def _print(self, result: BatchResult[Any]) -> None:
        row = _row(result, self._column)
        if self._out.json_lines:
            self._out.json(row)
            return
        if not self._header_done:
            self._line("FILE", "STATUS", self._column.header, "RUN", "ERROR")
            self._header_done = True
        record, field = result.record, self._column.result_field
        output = getattr(record, field, None) if record is not None else None
        cell = self._column.cell(output) if output is not None else "-"
        self._line(result.key, row["status"], cell, row["run_id"] or "-", row["error"])

    def _line(self, *cells: str | None) -> None:
        padded = [f"{cell:<{w}}" for cell, w in zip(cells[:-1], self._widths, strict=True)]
        self._out.emit("  ".join([*padded, cells[-1] or ""]).rstrip())


def _row(result: BatchResult[Any], column: Column) -> dict[str, Any]:
    record, error = result.record, result.error
    if record is not None:
        status = record.status
    else:
        status = "timed_out" if isinstance(error, WaitTimeout) else "error"
    return {
        "file": result.key,
        "status": status,
        **column.fields(record),
        "run_id": result.run_id,
        "error": error_text(error) if error is not None else None,
    }


def error_text(error: RetabError) -> str:
    """A short, one-line description of why a run has no result."""
    if isinstance(error, RunFailed):
        if error.error is None:
            return "failed without an error detail"
        return f"[{error.error.code}] {error.error.message}"
    if isinstance(error, WaitTimeout):
        return f"still {error.status} after {error.elapsed:g}s (--timeout); left running"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def started_table(out: Output, rows: Sequence[tuple[str, str, str]]) -> None:
    """Runs started with ``--no-wait``: FILE and RUN (and the resume token in JSON)."""
    if out.json_lines:
        for key, run_id, token in rows:
            out.json({"file": key, "run_id": run_id, "token": token})
        return
    if rows:
        out.table(("FILE", "RUN"), [(key, run_id) for key, run_id, _ in rows])


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
