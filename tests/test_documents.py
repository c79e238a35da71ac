"""Documents and categories are checked and encoded before anything is sent."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from retab_async import Category, DocumentError, MIMEData, UsageError
from retab_async._documents import MAX_INLINE_BYTES, normalize_categories, to_mime_data


async def test_path_becomes_a_data_uri(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.7 hello")
    for doc in (path, str(path)):
        mime = await to_mime_data(doc)
        assert mime.filename == "scan.pdf"
        assert (
            mime.url
            == "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.7 hello").decode()
        )


async def test_bytes_and_file_objects(tmp_path: Path) -> None:
    mime = await to_mime_data(("note.txt", b"hi"))
    assert mime.url == "data:text/plain;base64,aGk="
    mime = await to_mime_data(("note.md", io.BytesIO(b"hi")))
    assert mime.url.startswith("data:text/markdown;base64,")
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG")
    with path.open("rb") as fh:
        mime = await to_mime_data(fh)
    assert mime.filename == "photo.png" and mime.url.startswith("data:image/png;base64,")


async def test_https_url_and_mime_data_pass_through() -> None:
    mime = await to_mime_data("https://files.test/a/report%20v2.pdf?sig=1")
    assert mime == MIMEData(
        filename="report v2.pdf", url="https://files.test/a/report%20v2.pdf?sig=1"
    )
    given = MIMEData(filename="a.txt", url="data:text/plain;base64,aGk=")
    assert await to_mime_data(given) is given


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.pdf", "does not exist"),
        (lambda p: p, "is a directory"),  # no extension: a directory all the same
        (lambda p: Path("."), "'.' is a directory"),
        (lambda p: (p / "dir.pdf").mkdir() or (p / "dir.pdf"), "is a directory"),
        (lambda p: ((p / "empty.txt").write_bytes(b"") and None) or (p / "empty.txt"), "is empty"),
        (
            lambda p: ((p / "tool.exe").write_bytes(b"x") and None) or (p / "tool.exe"),
            "unsupported file extension",
        ),
        (lambda p: "http://files.test/a.pdf", "only https"),
        (lambda p: "ftp://files.test/a.pdf", "only https"),
        (lambda p: "https://files.test/", "does not end in a file name"),
        (lambda p: "data:text/plain;base64,aGk=", "only https"),
        (lambda p: ("a.txt", "not bytes"), "must be bytes"),
        (lambda p: ("../a.txt", b"x"), "plain file name"),
        (lambda p: ("a.txt", io.StringIO("text")), "binary mode"),
        (lambda p: io.BytesIO(b"x"), "needs a name"),
        (lambda p: 42, "cannot use a int"),
        (lambda p: MIMEData(filename="a.txt", url="http://x.test/a.txt"), "data: URI"),
        (lambda p: MIMEData(filename="a.zzz", url="https://x.test/a.zzz"), "unsupported"),
    ],
)
async def test_bad_documents(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DocumentError, match=message):
        await to_mime_data(make(tmp_path))


async def test_too_large_document_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.pdf"
    with path.open("wb") as fh:
        fh.truncate(MAX_INLINE_BYTES + 1)
    with pytest.raises(DocumentError, match="https:// URL instead"):
        await to_mime_data(path)
    with pytest.raises(DocumentError, match="MiB"):
        await to_mime_data(("big.txt", b"x" * (MAX_INLINE_BYTES + 1)))


async def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_bytes(b"x")
    with pytest.raises(DocumentError, match="cannot be read"):
        await to_mime_data(tmp_path / "plain.txt" / "inside.pdf")  # a file is no folder
    os.symlink(tmp_path / "gone.pdf", tmp_path / "link.pdf")
    with pytest.raises(DocumentError, match="does not exist"):
        await to_mime_data(tmp_path / "link.pdf")


def test_categories_accept_objects_dicts_and_names() -> None:
    cats = normalize_categories(
        [Category(name="a", description="d"), {"name": "b", "description": "e"}, " c "]
    )
    assert cats == [
        Category(name="a", description="d"),
        Category(name="b", description="e"),
        Category(name="c"),
    ]


@pytest.mark.parametrize(
    ("categories", "message"),
    [
        ([], "must not be empty"),
        (["a", "a"], "listed twice"),
        (["a", " "], "blank name"),
        ([{"description": "x"}], "needs a string 'name'"),
        ([{"name": "a", "colour": "red"}], "unknown keys"),
        ([{"name": "a", "description": 5}], "description must be a string"),
        ([3], "is a int"),
        ("invoice,receipt", "not a single value"),
    ],
)
def test_bad_categories(categories: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        normalize_categories(categories)  # type: ignore[arg-type]


def test_the_same_categories_again_give_the_same_list_until_they_change() -> None:
    categories: list[object] = [{"name": "invoice", "description": "a bill"}, "receipt"]
    first = normalize_categories(categories)
    assert normalize_categories(list(categories)) is first  # equal: checked once, held once
    categories[0]["description"] = "changed"  # type: ignore[index]
    changed = normalize_categories(categories)
    assert changed is not first and changed[0].description == "changed"
    assert first[0].description == "a bill"
    categories.append({"name": "invoice"})
    with pytest.raises(UsageError, match="listed twice"):
        normalize_categories(categories)
