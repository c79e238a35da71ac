"""Splits on the local server: validation and a deterministic splitter.

The document is read page by page (form-feed separated parts of a text
document, numbered from 1: D19; binary documents get the parser's stand-in
pages, which name the file). Each page goes to one subdocument, by the first
rule that decides:

1. *its name*: the first subdocument, in the order given, whose name appears in
   the page as whole words, case-insensitively (``bank_statement`` finds "Bank
   statement");
2. *its description*: the subdocument whose description shares the most words
   with the page (a tie goes to the one listed first);
3. *continuation*: the previous page's subdocument (page 1: the first listed), as
   a page that names nothing continues what came before.

All pages of a subdocument form one entry of the output, unless it has
``allow_multiple_instances``: then each run of consecutive pages is an instance,
and a page whose first line names the subdocument (a heading) starts a new one.
Entries are ordered by their first page.

Pages decided by rules 2 and 3 are guesses: with ``n_consensus > 1`` a few votes
(fewer than half) put them elsewhere (the previous page's subdocument, or the
next one listed), the output is the per-page majority (so the same as with one
vote), and ``consensus`` is ``{choices, likelihoods}`` with one likelihood per
output entry (contract section 3).

Records (:data:`SPLITS`) echo ``subdocuments``, ``n_consensus`` and
``instructions``; ``output`` is ``[]`` until completed (D15).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._primitive import Issue, Outcome, ServerPrimitive
from .._validation import _check_document, _check_int, _check_type, _issue
from .page_votes import (
    Labels,
    PageChoice,
    likelihood,
    majority,
    name_pattern,
    page_texts,
    votes,
    words,
)

__all__ = ["SPLITS", "SplitCreate", "parse_split_create", "split_pages"]

_CREATE_FIELDS = frozenset(
    {
        "document",
        "subdocuments",
        "model",
        "instructions",
        "n_consensus",
        "bust_cache",
        "background",
    }
)
_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "of"}
    | {"on", "or", "that", "the", "this", "to", "with", "page", "pages", "document"}
)


@dataclass(frozen=True)
class SplitCreate:
    """A valid split create body, with the document decoded."""

    filename: str
    url: str
    mime_type: str
    content: bytes | None
    subdocuments: list[dict[str, Any]]
    model: str
    instructions: str | None
    n_consensus: int
    bust_cache: bool
    background: bool


def parse_split_create(body: Any) -> SplitCreate | list[Issue]:
    """Validate a decoded ``POST /v1/splits`` body: a :class:`SplitCreate`, or the
    problems (answered ``422``)."""
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    issues = [
        _issue("extra_forbidden", [key], "Extra inputs are not permitted", body[key])
        for key in body
        if key not in _CREATE_FIELDS
    ]
    document = _check_document(body.get("document"), issues)
    subdocuments = _check_subdocuments(body.get("subdocuments"), issues)
    model = _check_type(body, "model", str, "retab-small", issues)
    instructions = _check_type(body, "instructions", (str, type(None)), None, issues)
    n_consensus = _check_int(body, "n_consensus", 1, 1, 16, issues)
    bust_cache = _check_type(body, "bust_cache", bool, False, issues)
    background = _check_type(body, "background", bool, False, issues)
    if issues or document is None or subdocuments is None:
        return issues
    return SplitCreate(
        filename=document[0],
        url=document[1],
        mime_type=document[2],
        content=document[3],
        subdocuments=subdocuments,
        model=model,
        instructions=instructions,
        n_consensus=n_consensus,
        bust_cache=bust_cache,
        background=background,
    )


def _check_subdocuments(raw: Any, issues: list[Issue]) -> list[dict[str, Any]] | None:
    if raw is None:
        issues.append(_issue("missing", ["subdocuments"], "Field required"))
        return None
    if not isinstance(raw, list) or not raw:
        msg = "List should have at least 1 item after validation"
        issues.append(_issue("too_short", ["subdocuments"], msg, raw))
        return None
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        loc: list[str | int] = ["subdocuments", index]
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            issues.append(_issue("missing", [*loc, "name"], "Field required", item))
            continue
        description = item.get("description") or ""
        multiple = item.get("allow_multiple_instances") or False
        if not isinstance(description, str):
            msg = "Input should be a valid string"
            issues.append(_issue("string_type", [*loc, "description"], msg, description))
        elif not isinstance(multiple, bool):
            msg = "Input should be a valid boolean"
            issues.append(_issue("bool_type", [*loc, "allow_multiple_instances"], msg, multiple))
        elif name in seen:
            msg = f"Subdocument names must be unique; {name!r} is repeated"
            issues.append(_issue("value_error", [*loc, "name"], msg, name))
        else:
            seen.add(name)
            result.append(
                {"name": name, "description": description, "allow_multiple_instances": multiple}
            )
    return result


# -- the splitter -----------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    choice: PageChoice
    heading: bool  # its first line names its subdocument: a new instance may start here


def split_pages(
    pages: list[str], subdocuments: list[dict[str, Any]], n_consensus: int = 1
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The output and the consensus (``None`` for one vote) of splitting ``pages``."""
    decided = _decide(pages, subdocuments)
    choices = [page.choice for page in decided]
    headings = [page.heading for page in decided]
    multiple = {s["name"] for s in subdocuments if s["allow_multiple_instances"]}
    all_votes = votes(choices, "\f".join(pages), max(1, n_consensus))
    final = majority(all_votes)
    output = _group(final, headings, multiple)
    if n_consensus <= 1:
        return output, None
    consensus = {
        "choices": [_group(vote, headings, multiple) for vote in all_votes],
        "likelihoods": [likelihood(all_votes, e["name"], e["pages"], "name") for e in output],
    }
    return output, consensus


def _decide(pages: list[str], subdocuments: list[dict[str, Any]]) -> list[_Page]:
    names = [s["name"] for s in subdocuments]
    patterns = [name_pattern(name) for name in names]
    descriptions = [
        set(words(s["description"])) - _STOPWORDS - set(words(s["name"])) for s in subdocuments
    ]
    decided: list[_Page] = []
    previous = names[0]
    for text in pages:
        named = [n for n, p in zip(names, patterns, strict=True) if p and p.search(text)]
        if named:
            name, sure = named[0], True
            first_line = next((line for line in text.splitlines() if line.strip()), "")
            pattern = patterns[names.index(name)]
            heading = pattern is not None and pattern.search(first_line) is not None
        else:
            name, sure, heading = _guess(text, names, descriptions, previous), False, False
        alternative = previous if previous != name else _next(names, name)
        labels: Labels = (name,)
        other = None if alternative is None else (alternative,)
        decided.append(_Page(PageChoice(labels, sure, other), heading))
        previous = name
    return decided


def _guess(text: str, names: list[str], descriptions: list[set[str]], previous: str) -> str:
    present = set(words(text))
    scores = [len(description & present) for description in descriptions]
    best = max(scores)
    return names[scores.index(best)] if best > 0 else previous


def _next(names: list[str], name: str) -> str | None:
    if len(names) < 2:
        return None
    return names[(names.index(name) + 1) % len(names)]


def _group(labels: list[Labels], headings: list[bool], multiple: set[str]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    merged: dict[str, dict[str, Any]] = {}
    previous: str | None = None
    for number, (page_labels, heading) in enumerate(zip(labels, headings, strict=True), start=1):
        name = page_labels[0]
        if name in multiple:
            if previous != name or heading:
                entries.append({"name": name, "pages": []})
            entries[-1]["pages"].append(number)
        else:
            if name not in merged:
                merged[name] = {"name": name, "pages": []}
                entries.append(merged[name])
            merged[name]["pages"].append(number)
        previous = name
    return entries


# -- the description -----------------------------------------------------------------


def _compute(request: SplitCreate) -> Outcome:
    pages = page_texts(request.content, filename=request.filename, mime_type=request.mime_type)
    output, consensus = split_pages(pages, request.subdocuments, request.n_consensus)
    return Outcome(
        output=output, consensus=consensus, credits=float(len(pages) * request.n_consensus)
    )


def _record(request: SplitCreate) -> dict[str, Any]:
    return {
        "subdocuments": request.subdocuments,
        "n_consensus": request.n_consensus,
        "instructions": request.instructions,
    }


SPLITS: ServerPrimitive[SplitCreate] = ServerPrimitive(
    name="splits",
    noun="Split",
    id_prefix="splt_",
    parse_create=parse_split_create,
    compute=_compute,
    record=_record,
    placeholder=[],
    empty_output=[],
)
"""Splits: contract section 3, D15 and D19."""
