"""Page-by-page decisions and their consensus, shared by the split and partition stand-ins.

Both stand-ins read a document page by page (pages are the form-feed separated
parts, numbered from 1: D19) and decide, for each page, which labels it carries:
a subdocument's name for a split, values of the key for a partition. A page
decided by what it says is *sure*; one decided by a guess (a continuation, a
description's words) may go to an ``alternative`` in some consensus votes. Votes
are drawn from a hash of the document, so the same input always gives the same
answer; the consensus is the per-page majority, which fewer than half of the votes
ever leave.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .parses import parse_document

__all__ = [
    "Labels",
    "PageChoice",
    "likelihood",
    "majority",
    "name_pattern",
    "page_texts",
    "votes",
    "words",
]

Labels = tuple[str, ...]
"""What one page belongs to (a split: one subdocument name; a partition: key values)."""

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class PageChoice:
    """The stand-in's decision for one page.

    Attributes:
        labels: what the page belongs to.
        sure: whether the page says so itself (every vote agrees).
        alternative: what an unsure vote may choose instead (``None``: nothing).
    """

    labels: Labels
    sure: bool
    alternative: Labels | None = None


def page_texts(content: bytes | None, *, filename: str, mime_type: str) -> list[str]:
    """The text of each page: form-feed separated parts of a text document, the
    parser's stand-in pages (which name the file) for binary ones."""
    parsed = parse_document(
        content, filename=filename, mime_type=mime_type, table_format="markdown"
    )
    return parsed.pages


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` (letters and digits)."""
    return _WORD.findall(text.lower())


def name_pattern(name: str) -> re.Pattern[str] | None:
    """A case-insensitive pattern of ``name`` as whole words, its words separated by
    any punctuation or space (``bank_statement`` finds "Bank statement");
    ``None`` for a name without letters or digits."""
    parts = words(name)
    if not parts:
        return None
    return re.compile(r"\b" + r"[\W_]+".join(map(re.escape, parts)) + r"\b", re.IGNORECASE)


def votes(choices: Sequence[PageChoice], seed: str, n: int) -> list[list[Labels]]:
    """``n`` votes of labels per page. The first is the stand-in's own decision; in the
    others an unsure page goes to its alternative in a few votes, always fewer than
    half, so that the majority keeps the stand-in's answer and only the likelihoods
    show the doubt."""
    digest = hashlib.sha256(seed.encode()).digest()
    result = [[choice.labels for choice in choices] for _ in range(n)]
    most = (n - 1) // 2
    for page, choice in enumerate(choices):
        if choice.sure or choice.alternative is None or most == 0:
            continue
        moved = digest[page % len(digest)] % (most + 1)
        for index in range(moved):
            result[1 + (page + index) % (n - 1)][page] = choice.alternative
    return result


def majority(all_votes: Sequence[Sequence[Labels]]) -> list[Labels]:
    """The most voted labels of each page; a tie goes to the first vote's."""
    chosen: list[Labels] = []
    for page, first in enumerate(all_votes[0]):
        counts = Counter(vote[page] for vote in all_votes)
        top = max(counts.values())
        winner = first if counts[first] == top else next(k for k, c in counts.items() if c == top)
        chosen.append(winner)
    return chosen


def likelihood(
    all_votes: Sequence[Sequence[Labels]], label: str, pages: Sequence[int], field: str
) -> dict[str, Any]:
    """The consensus likelihood of one output entry (``label`` on ``pages``, from 1):
    ``field`` (``name`` or ``key``) is the share of votes that put ``label`` on any of
    the pages, ``pages`` the share that put it on each page."""
    count = len(all_votes)
    found = sum(1 for vote in all_votes if any(label in vote[p - 1] for p in pages))
    shares = [sum(1 for vote in all_votes if label in vote[p - 1]) / count for p in pages]
    return {field: found / count, "pages": shares}
