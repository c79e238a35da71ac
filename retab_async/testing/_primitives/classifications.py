"""Classifications on the local server: validation, a deterministic classifier, the record.

Text documents are scored against each category: a category's name words
count three times, its description words once. Binary documents fall back to
their filename. Votes for ``n_consensus > 1`` are drawn from a hash of the
document, so that the same input always gives the same answer.

Records echo ``categories``, ``n_consensus`` and ``instructions``; the output
is ``{reasoning, category}`` (``{"reasoning": "", "category": ""}`` in flight,
``null`` after failure, cancel and with ``include_output=false``: D3, D9), and
``consensus`` is ``{choices, likelihoods}`` with one likelihood for the winner.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..._mime import is_text_mime
from .._primitive import Issue, Outcome, ServerPrimitive
from .._validation import _check_document, _check_int, _check_type, _issue

__all__ = [
    "CLASSIFICATIONS",
    "ClassificationCreate",
    "Verdict",
    "classify",
    "parse_classification_create",
]

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


# -- the create request ------------------------------------------------------------

_CREATE_FIELDS = frozenset(
    {
        "document",
        "categories",
        "model",
        "first_n_pages",
        "instructions",
        "n_consensus",
        "bust_cache",
        "background",
    }
)


@dataclass(frozen=True)
class ClassificationCreate:
    """A valid classification create body, with the document decoded."""

    filename: str
    url: str
    mime_type: str
    content: bytes | None
    categories: list[dict[str, Any]]
    model: str
    first_n_pages: int | None
    instructions: str | None
    n_consensus: int
    bust_cache: bool
    background: bool

    @property
    def text(self) -> str | None:
        """The document as text, when it is a text type."""
        if self.content is None or not is_text_mime(self.mime_type):
            return None
        return self.content.decode("utf-8", "replace")


def parse_classification_create(body: Any) -> ClassificationCreate | list[Issue]:
    """Validate a decoded create body: a :class:`ClassificationCreate`, or the problems."""
    if not isinstance(body, dict):
        return [_issue("model_attributes_type", [], "Input should be a valid dictionary", body)]
    issues = [
        _issue("extra_forbidden", [key], "Extra inputs are not permitted", body[key])
        for key in body
        if key not in _CREATE_FIELDS
    ]
    document = _check_document(body.get("document"), issues)
    categories = _check_categories(body.get("categories"), issues)
    model = _check_type(body, "model", str, "retab-small", issues)
    first_n_pages = _check_int(body, "first_n_pages", None, 1, None, issues)
    instructions = _check_type(body, "instructions", (str, type(None)), None, issues)
    n_consensus = _check_int(body, "n_consensus", 1, 1, 16, issues)
    bust_cache = _check_type(body, "bust_cache", bool, False, issues)
    background = _check_type(body, "background", bool, False, issues)
    if issues or document is None or categories is None:
        return issues
    return ClassificationCreate(
        filename=document[0],
        url=document[1],
        mime_type=document[2],
        content=document[3],
        categories=categories,
        model=model,
        first_n_pages=first_n_pages,
        instructions=instructions,
        n_consensus=n_consensus,
        bust_cache=bust_cache,
        background=background,
    )


def _check_categories(raw: Any, issues: list[Issue]) -> list[dict[str, Any]] | None:
    if raw is None:
        issues.append(_issue("missing", ["categories"], "Field required"))
        return None
    if not isinstance(raw, list) or not raw:
        msg = "List should have at least 1 item after validation"
        issues.append(_issue("too_short", ["categories"], msg, raw))
        return None
    result = []
    for index, cat in enumerate(raw):
        name = cat.get("name") if isinstance(cat, dict) else None
        if not isinstance(name, str) or not name.strip():
            issues.append(_issue("missing", ["categories", index, "name"], "Field required", cat))
            continue
        description = cat.get("description", "")
        if not isinstance(description, str):
            msg = "Input should be a valid string"
            issues.append(_issue("string_type", ["categories", index, "description"], msg))
            continue
        result.append(
            {"name": name, "description": description, "handle_key": cat.get("handle_key")}
        )
    return result


# -- the description -----------------------------------------------------------------


def _compute(request: ClassificationCreate) -> Outcome:
    verdict = classify(request.text, request.filename, request.categories, request.n_consensus)
    consensus = None
    if request.n_consensus > 1:
        consensus = {"choices": verdict.votes, "likelihoods": verdict.likelihood}
    return Outcome(
        output={"reasoning": verdict.reasoning, "category": verdict.category},
        consensus=consensus,
        credits=float(request.n_consensus),
    )


def _record(request: ClassificationCreate) -> dict[str, Any]:
    return {
        "categories": request.categories,
        "n_consensus": request.n_consensus,
        "instructions": request.instructions,
    }


CLASSIFICATIONS: ServerPrimitive[ClassificationCreate] = ServerPrimitive(
    name="classifications",
    noun="Classification",
    id_prefix="clss_",
    parse_create=parse_classification_create,
    compute=_compute,
    record=_record,
    placeholder={"reasoning": "", "category": ""},
    empty_output=None,
)
"""Classifications: contract section 2."""
