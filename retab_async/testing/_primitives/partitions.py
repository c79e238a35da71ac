"""Partitions on the local server: validation and a deterministic partitioner.

The document is read page by page (form-feed separated parts of a text
document, numbered from 1: D19; binary documents get the parser's stand-in
pages). A page *names* a value of the key in a line ``<key>: <value>`` (or
``<key> = <value>``), the key's words matched case-insensitively and separated
by any punctuation or space, Markdown emphasis or a list bullet around them
allowed: for the key ``invoice_number``, "Invoice number: INV-7" and
"- **Invoice-Number**: INV-7" name ``INV-7``. Then:

- a page that names values belongs to the chunk of each (with
  ``allow_overlap: false``, to the first one only);
- a page that names none continues the chunk of the last value named before
  it (pages before the first value belong to the first value's chunk);
- a value named again later adds its pages to the same chunk: there is one
  chunk per value (compared case-insensitively, spelled as first seen),
  ordered by its first page;
- a document that never names a value of the key has no chunks (``[]``).

Continuation pages are guesses: with ``n_consensus > 1`` a few votes (fewer
than half) give them to the next value named instead, so the output stays the
one-vote answer and ``consensus`` is ``{choices, likelihoods}`` with one
likelihood per chunk (contract section 3).

Records (:data:`PARTITIONS`) echo ``key``, ``instructions``, ``n_consensus`` and
``allow_overlap``; ``output`` is ``[]`` until completed (D15).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .._primitive import Issue, Outcome, ServerPrimitive
from .._validation import _check_document, _check_int, _check_type, _issue
from .page_votes import Labels, PageChoice, likelihood, majority, page_texts, votes, words

__all__ = ["PARTITIONS", "PartitionCreate", "parse_partition_create", "partition_pages"]

_CREATE_FIELDS = frozenset(
    {
        "document",
        "key",
        "instructions",
        "model",
        "n_consensus",
        "allow_overlap",
        "bust_cache",
        "background",
    }
)


@dataclass(frozen=True)
class PartitionCreate:
    """A valid partition create body, with the document decoded."""

    filename: str
    url: str
    mime_type: str
    content: bytes | None
    key: str
    instructions: str
    model: str
    n_consensus: int
    allow_overlap: bool
    bust_cache: bool
    background: bool


def parse_partition_create(body: Any) -> PartitionCreate | list[Issue]:
    """Validate a decoded ``POST /v1/partitions`` body: a :class:`PartitionCreate`, or the
    problems (answered ``422``)."""
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    issues = [
        _issue("extra_forbidden", [key], "Extra inputs are not permitted", body[key])
        for key in body
        if key not in _CREATE_FIELDS
    ]
    document = _check_document(body.get("document"), issues)
    key = _required_str(body, "key", issues, blank=False)
    instructions = _required_str(body, "instructions", issues, blank=True)
    model = _check_type(body, "model", str, "retab-small", issues)
    n_consensus = _check_int(body, "n_consensus", 1, 1, 16, issues)
    allow_overlap = body.get("allow_overlap")  # the official model lets it be null: true
    if allow_overlap is not None and not isinstance(allow_overlap, bool):
        msg = "Input should be a valid boolean"
        issues.append(_issue("bool_type", ["allow_overlap"], msg, allow_overlap))
    bust_cache = _check_type(body, "bust_cache", bool, False, issues)
    background = _check_type(body, "background", bool, False, issues)
    if issues or document is None or key is None or instructions is None:
        return issues
    return PartitionCreate(
        filename=document[0],
        url=document[1],
        mime_type=document[2],
        content=document[3],
        key=key,
        instructions=instructions,
        model=model,
        n_consensus=n_consensus,
        allow_overlap=allow_overlap is not False,
        bust_cache=bust_cache,
        background=background,
    )


def _required_str(
    body: dict[str, Any], name: str, issues: list[Issue], *, blank: bool
) -> str | None:
    value = body.get(name)
    if value is None:
        issues.append(_issue("missing", [name], "Field required"))
        return None
    if not isinstance(value, str):
        issues.append(_issue("string_type", [name], "Input should be a valid string", value))
        return None
    if not blank and not value.strip():
        msg = "String should have at least 1 character"
        issues.append(_issue("string_too_short", [name], msg, value))
        return None
    return value


# -- the partitioner --------------------------------------------------------------


def partition_pages(
    pages: list[str], key: str, *, allow_overlap: bool = True, n_consensus: int = 1
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The output and the consensus (``None`` for one vote) of partitioning ``pages``
    by ``key``."""
    named = _named_values(pages, key, allow_overlap)
    if not any(named):
        return [], ({"choices": [[]] * n_consensus, "likelihoods": []} if n_consensus > 1 else None)
    choices = _decide(named)
    all_votes = votes(choices, key + "\f" + "\f".join(pages), max(1, n_consensus))
    output = _chunks(majority(all_votes))
    if n_consensus <= 1:
        return output, None
    consensus = {
        "choices": [_chunks(vote) for vote in all_votes],
        "likelihoods": [likelihood(all_votes, c["key"], c["pages"], "key") for c in output],
    }
    return output, consensus


def _named_values(pages: list[str], key: str, allow_overlap: bool) -> list[Labels]:
    """The values each page names, spelled as first seen in the document."""
    pattern = _line_pattern(key)
    if pattern is None:
        return [() for _ in pages]
    spelling: dict[str, str] = {}
    named: list[Labels] = []
    for text in pages:
        values: list[str] = []
        for match in pattern.finditer(text):
            value = match.group("value").strip()
            canonical = spelling.setdefault(value.casefold(), value)
            if canonical not in values:
                values.append(canonical)
        named.append(tuple(values if allow_overlap else values[:1]))
    return named


def _line_pattern(key: str) -> re.Pattern[str] | None:
    parts = words(key)
    if not parts:
        return None
    name = r"[\W_]*".join(map(re.escape, parts))
    return re.compile(
        rf"^[^\w\n]*{name}[^\w\n:=]*[:=][^\S\n]*(?P<value>\S[^\n]*?)[^\S\n]*$",
        re.IGNORECASE | re.MULTILINE,
    )


def _decide(named: list[Labels]) -> list[PageChoice]:
    first = next(values for values in named if values)
    choices: list[PageChoice] = []
    current: Labels = (first[0],)
    for index, values in enumerate(named):
        if values:
            choices.append(PageChoice(values, sure=True))
            current = (values[-1],)
            continue
        later = next((v for v in named[index + 1 :] if v), None)
        alternative = (later[0],) if later is not None and (later[0],) != current else None
        choices.append(PageChoice(current, sure=False, alternative=alternative))
    return choices


def _chunks(labels: list[Labels]) -> list[dict[str, Any]]:
    chunks: dict[str, dict[str, Any]] = {}
    for number, page_labels in enumerate(labels, start=1):
        for value in page_labels:
            chunks.setdefault(value, {"key": value, "pages": []})["pages"].append(number)
    return list(chunks.values())


# -- the description -----------------------------------------------------------------


def _compute(request: PartitionCreate) -> Outcome:
    pages = page_texts(request.content, filename=request.filename, mime_type=request.mime_type)
    output, consensus = partition_pages(
        pages,
        request.key,
        allow_overlap=request.allow_overlap,
        n_consensus=request.n_consensus,
    )
    return Outcome(
        output=output, consensus=consensus, credits=float(len(pages) * request.n_consensus)
    )


def _record(request: PartitionCreate) -> dict[str, Any]:
    return {
        "key": request.key,
        "instructions": request.instructions,
        "n_consensus": request.n_consensus,
        "allow_overlap": request.allow_overlap,
    }


PARTITIONS: ServerPrimitive[PartitionCreate] = ServerPrimitive(
    name="partitions",
    noun="Partition",
    id_prefix="prtn_",
    parse_create=parse_partition_create,
    compute=_compute,
    record=_record,
    placeholder=[],
    empty_output=[],
)
"""Partitions: contract section 3, D15 and D19."""
