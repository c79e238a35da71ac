"""A deterministic stand-in for the classification model.

Text documents are scored against each category: a category's name words
count three times, its description words once. Binary documents fall back to
their filename. Votes for ``n_consensus > 1`` are drawn from a hash of the
document, so that the same input always gives the same answer.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["FAIL_MARKER", "Verdict", "classify"]

FAIL_MARKER = b"[[retab:fail]]"
"""A document whose bytes contain this marker ends ``failed``."""

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is"}
    | {"it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "with"}
    | {"which", "who", "will", "not", "no"}
)


@dataclass(frozen=True)
class Verdict:
    """The classifier's answer: the decision, the votes and their agreement."""

    category: str
    reasoning: str
    votes: list[dict[str, str]]
    likelihood: float


def classify(
    text: str | None, filename: str, categories: list[dict[str, Any]], n_consensus: int
) -> Verdict:
    """Classify a document (``text`` is ``None`` for binary content)."""
    source = text if text is not None else filename.replace("_", " ").replace("-", " ")
    words = Counter(_words(source))
    scored = [(_score(words, cat), index, cat) for index, cat in enumerate(categories)]
    ranked = sorted(scored, key=lambda item: (-item[0][0], item[1]))
    best_score, _, best = ranked[0]
    reasoning = _explain(best, best_score, text is None, filename)
    votes = _votes(ranked, source, n_consensus)
    if not votes:
        return Verdict(category=best["name"], reasoning=reasoning, votes=[], likelihood=1.0)
    winners = Counter(vote["category"] for vote in votes)
    category = _majority(winners, ranked)
    if category != best["name"]:
        chosen = next(item for item in ranked if item[2]["name"] == category)
        reasoning = _explain(chosen[2], chosen[0], text is None, filename)
    likelihood = winners[category] / len(votes)
    return Verdict(category=category, reasoning=reasoning, votes=votes, likelihood=likelihood)


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def _score(words: Counter[str], category: dict[str, Any]) -> tuple[int, list[str], list[str]]:
    name_words = set(_words(str(category.get("name", "")).replace("_", " ")))
    desc_words = set(_words(str(category.get("description") or ""))) - name_words
    name_hits = sorted(w for w in name_words if words[w])
    desc_hits = sorted(w for w in desc_words if words[w])
    score = 3 * sum(words[w] for w in name_hits) + sum(words[w] for w in desc_hits)
    return score, name_hits, desc_hits


def _explain(
    category: dict[str, Any], score: tuple[int, list[str], list[str]], binary: bool, filename: str
) -> str:
    points, name_hits, desc_hits = score
    name = category["name"]
    if points == 0:
        where = f"the filename {filename!r}" if binary else "the text"
        return f"Nothing in {where} matched any category; {name!r} is the first listed."
    parts = []
    if name_hits:
        parts.append("it mentions " + ", ".join(repr(w) for w in name_hits))
    if desc_hits:
        parts.append("it shares the words " + ", ".join(repr(w) for w in desc_hits[:6]))
        parts[-1] += " with the description"
    basis = "the filename" if binary else "the document"
    return f"Chose {name!r} (score {points}) because {basis}: " + "; ".join(parts) + "."


def _votes(ranked: list[Any], source: str, n: int) -> list[dict[str, str]]:
    if n <= 1:
        return []
    digest = hashlib.sha256(source.encode()).digest()
    top, runner = ranked[0], ranked[1] if len(ranked) > 1 else ranked[0]
    close = top[0][0] - runner[0][0] <= max(1, top[0][0] // 4)
    votes = []
    for i in range(n):
        # A close call lets some voters pick the runner-up, as real consensus would.
        pick = runner if close and digest[i % len(digest)] % 3 == 0 else top
        votes.append(
            {"category": pick[2]["name"], "reasoning": f"Vote {i + 1}: score {pick[0][0]}."}
        )
    return votes


def _majority(winners: Counter[str], ranked: list[Any]) -> str:
    order = {item[2]["name"]: index for index, item in enumerate(ranked)}
    return min(winners, key=lambda name: (-winners[name], order[name]))
