"""The deterministic classifier behind the local server."""

from __future__ import annotations

from retab_async.testing._primitives.classifications import classify

CATS = [
    {"name": "invoice", "description": "A bill with an amount due"},
    {"name": "receipt", "description": "Proof of payment"},
    {"name": "purchase_order", "description": "An order for goods"},
]


def test_name_words_weigh_more_than_description_words() -> None:
    verdict = classify("This invoice: amount due today", "x.txt", CATS, 1)
    assert verdict.category == "invoice"
    assert "'invoice'" in verdict.reasoning and "amount" in verdict.reasoning


def test_underscored_names_match_their_words() -> None:
    assert classify("Purchase order PO-1", "x.txt", CATS, 1).category == "purchase_order"


def test_binary_documents_use_the_filename() -> None:
    verdict = classify(None, "receipt_0042.png", CATS, 1)
    assert verdict.category == "receipt"
    assert "filename" in verdict.reasoning


def test_no_match_picks_the_first_category_and_says_so() -> None:
    verdict = classify("lorem ipsum", "x.txt", CATS, 1)
    assert verdict.category == "invoice"
    assert "Nothing" in verdict.reasoning


def test_consensus_votes_are_deterministic() -> None:
    text = "invoice receipt"
    first = classify(text, "x.txt", CATS, 5)
    assert first == classify(text, "x.txt", CATS, 5)
    assert len(first.votes) == 5
    assert 0 < first.likelihood <= 1
    assert first.category in {vote["category"] for vote in first.votes}
