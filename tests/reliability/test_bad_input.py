"""A catalogue of bad inputs, one case per line: each gives a clear typed error naming
the problem, sends nothing it should not, and never hangs or crashes."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from retab_async import (
    ClientStateError,
    DecodeError,
    DocumentError,
    RetabClient,
    RetabError,
    RetryPolicy,
    ServerError,
    TokenError,
    UsageError,
    WaitTimeout,
)
from retab_async._cli.main import main as cli_main
from retab_async.testing import LocalRetab

from ..conftest import CATEGORIES, INVOICE, make_client
from .conftest import Canned, RogueServer

pytestmark = pytest.mark.usefixtures("responsive_cli")

Call = Callable[[RetabClient, Path], Awaitable[Any]]
C = "clss_ok"


def _huge_file(tmp: Path) -> Path:
    # Too large to send inline, so it would be uploaded: refused first for its type.
    path = tmp / "huge.bin"
    with path.open("wb") as fh:
        fh.truncate(25 * 1024 * 1024)
    return path


def _empty(tmp: Path) -> Path:
    (tmp / "empty.txt").write_bytes(b"")
    return tmp / "empty.txt"


def _tampered(client: RetabClient) -> str:
    token = client.classifications.handle(C).token
    return token[:-1] + ("0" if token[-1] != "0" else "1")


cls = lambda c: c.classifications  # noqa: E731

# (name, call, expected error, words the message must contain)
API_CASES: list[tuple[str, Call, type[RetabError], str]] = [
    ("empty categories", lambda c, t: cls(c).create(INVOICE, []), UsageError, "must not be empty"),
    (
        "duplicate categories",
        lambda c, t: cls(c).create(INVOICE, ["a", "a"]),
        UsageError,
        "listed twice",
    ),
    ("blank category name", lambda c, t: cls(c).create(INVOICE, [""]), UsageError, "blank name"),
    (
        "category dict without name",
        lambda c, t: cls(c).create(INVOICE, [{"description": "x"}]),
        UsageError,
        "'name'",
    ),
    (
        "category of a wrong type",
        lambda c, t: cls(c).create(INVOICE, [None]),
        UsageError,
        "NoneType",
    ),
    (
        "categories as one string",
        lambda c, t: cls(c).create(INVOICE, "a,b"),
        UsageError,
        "single value",
    ),
    (
        "missing file",
        lambda c, t: cls(c).create(t / "nope.pdf", CATEGORIES),
        DocumentError,
        "does not exist",
    ),
    (
        "a directory",
        lambda c, t: cls(c).create(t, CATEGORIES),
        DocumentError,
        "is a directory, not a file",
    ),
    (
        "a directory named like a file",
        lambda c, t: cls(c).create((t / "d.pdf").mkdir() or t / "d.pdf", CATEGORIES),
        DocumentError,
        "is a directory",
    ),
    ("an empty file", lambda c, t: cls(c).create(_empty(t), CATEGORIES), DocumentError, "is empty"),
    (
        "an unreadable path",
        lambda c, t: cls(c).create(t / "f.txt" / "x.pdf", CATEGORIES),
        DocumentError,
        "cannot be read",
    ),
    (
        "an unknown extension",
        lambda c, t: cls(c).create(("a.xyz", b"x"), CATEGORIES),
        DocumentError,
        ".xyz",
    ),
    (
        "no extension",
        lambda c, t: cls(c).create(("README", b"x"), CATEGORIES),
        DocumentError,
        "(none)",
    ),
    (
        "a huge file of an unsupported type",
        lambda c, t: cls(c).create(_huge_file(t), CATEGORIES),
        DocumentError,
        "unsupported file extension",
    ),
    (
        "huge bytes",
        lambda c, t: cls(c).create(("a.txt", b"x" * (25 * 2**20)), CATEGORIES),
        DocumentError,
        "MiB",
    ),
    (
        "a str that is no path or URL",
        lambda c, t: cls(c).create("not a file at all", CATEGORIES),
        DocumentError,
        "unsupported file extension",
    ),
    (
        "an http:// URL",
        lambda c, t: cls(c).create("http://files.test/a.pdf", CATEGORIES),
        DocumentError,
        "only https",
    ),
    (
        "a file:// URL",
        lambda c, t: cls(c).create("file:///etc/passwd.txt", CATEGORIES),
        DocumentError,
        "only https",
    ),
    (
        "a text-mode file",
        lambda c, t: cls(c).create(("a.txt", io.StringIO("x")), CATEGORIES),
        DocumentError,
        "binary mode",
    ),
    (
        "a nameless file object",
        lambda c, t: cls(c).create(io.BytesIO(b"x"), CATEGORIES),
        DocumentError,
        "needs a name",
    ),
    ("a number as document", lambda c, t: cls(c).create(12, CATEGORIES), DocumentError, "int"),
    (
        "n_consensus zero",
        lambda c, t: cls(c).create(INVOICE, CATEGORIES, n_consensus=0),
        UsageError,
        "n_consensus",
    ),
    (
        "n_consensus negative",
        lambda c, t: cls(c).create(INVOICE, CATEGORIES, n_consensus=-3),
        UsageError,
        "n_consensus",
    ),
    (
        "n_consensus too big",
        lambda c, t: cls(c).create(INVOICE, CATEGORIES, n_consensus=99),
        UsageError,
        "1 to 16",
    ),
    (
        "first_n_pages zero",
        lambda c, t: cls(c).create(INVOICE, CATEGORIES, first_n_pages=0),
        UsageError,
        "first_n_pages",
    ),
    (
        "empty model",
        lambda c, t: cls(c).create(INVOICE, CATEGORIES, model=" "),
        UsageError,
        "model",
    ),
    (
        "bad idempotency key",
        lambda c, t: cls(c).create(INVOICE, CATEGORIES, idempotency_key="é"),
        UsageError,
        "printable ASCII",
    ),
    ("empty id", lambda c, t: cls(c).get(""), UsageError, "must not be empty"),
    ("id with /", lambda c, t: cls(c).get("a/b"), UsageError, "'/'"),
    ("id with ..", lambda c, t: cls(c).cancel(".."), UsageError, "'..'"),
    ("id with ?", lambda c, t: cls(c).get("a?x=1"), UsageError, "'?'"),
    ("id with #", lambda c, t: cls(c).delete("a#b"), UsageError, "'#'"),
    ("id with whitespace", lambda c, t: cls(c).get("a b"), UsageError, "without spaces"),
    ("id with a tab", lambda c, t: cls(c).get("a\tb"), UsageError, "without spaces"),
    ("non-ASCII id", lambda c, t: cls(c).get("clss_é"), UsageError, "printable ASCII"),
    ("id that is no string", lambda c, t: cls(c).get(123), UsageError, "must be a string"),
    ("overlong id", lambda c, t: cls(c).get("a" * 300), UsageError, "at most 255"),
    ("bad order", lambda c, t: cls(c).list_page(order="up"), UsageError, "'asc' or 'desc'"),
    ("limit zero", lambda c, t: cls(c).list_page(limit=0), UsageError, "1 to 100"),
    ("limit too big", lambda c, t: cls(c).list_page(limit=500), UsageError, "1 to 100"),
    (
        "malformed date",
        lambda c, t: cls(c).list_page(from_date="31/12/2026"),
        UsageError,
        "YYYY-MM-DD",
    ),
    (
        "impossible date",
        lambda c, t: cls(c).list_page(to_date="2026-02-30"),
        UsageError,
        "YYYY-MM-DD",
    ),
    (
        "unknown status filter",
        lambda c, t: cls(c).list_page(status="finished"),
        UsageError,
        "unknown status",
    ),
    ("both cursors", lambda c, t: cls(c).list_page(after="a", before="b"), UsageError, "not both"),
    ("tampered token", lambda c, t: _async(c.resume, _tampered(c)), TokenError, "checksum"),
    (
        "truncated token",
        lambda c, t: _async(c.resume, cls(c).handle(C).token[:20]),
        TokenError,
        "not a run token",
    ),
    (
        "token of another base URL",
        lambda c, t: _async(RetabClient("k", "https://other.test").resume, cls(c).handle(C).token),
        TokenError,
        "was made for",
    ),
    ("token that is no string", lambda c, t: _async(c.resume, None), TokenError, "string"),
    (
        "token where an id goes",
        lambda c, t: _async(cls(c).handle, cls(c).handle(C).token),
        UsageError,
        "looks like a run token, not a run id: resume its run with client.resume(token)",
    ),
    (
        "token of another primitive",
        lambda c, t: _async(c.parses.resume, cls(c).handle(C).token),
        TokenError,
        "for a run of classifications, not of parses",
    ),
    (
        "blueprint of a local path",
        lambda c, t: c.file_blueprints.create(str(t / "f.txt")),
        UsageError,
        "is a local file, but a blueprint takes the id of an uploaded file",
    ),
    (
        "blueprint of a missing path",
        lambda c, t: c.file_blueprints.create("nope.txt"),
        UsageError,
        "'nope.txt' looks like a local file's path, but a blueprint takes the id",
    ),
    (
        "blueprint of a Path",
        lambda c, t: c.file_blueprints.start(t / "f.txt"),
        UsageError,
        "upload it first",
    ),
    (
        "malformed template id",
        lambda c, t: c.edits.create(instructions="x", template_id="bad id/"),
        UsageError,
        "template_id must be a template's id",
    ),
    ("malformed file id", lambda c, t: c.files.get("../x"), UsageError, "file id '../x'"),
    ("wait(timeout=-1)", lambda c, t: cls(c).handle(C).wait(timeout=-1), UsageError, "timeout"),
    (
        "map with concurrency 0",
        lambda c, t: _async(cls(c).map, [INVOICE], CATEGORIES, concurrency=0),
        UsageError,
        "concurrency",
    ),
]


async def _async(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


@pytest.mark.parametrize(
    ("case", "call", "error", "words"), API_CASES, ids=[c[0] for c in API_CASES]
)
async def test_bad_api_input(
    server: LocalRetab, tmp_path: Path, case: str, call: Call, error: type[RetabError], words: str
) -> None:
    (tmp_path / "f.txt").write_bytes(b"x")
    async with make_client(server) as client:
        with anyio.fail_after(5), pytest.raises(error) as info:
            await call(client, tmp_path)
    assert words in str(info.value), (case, str(info.value))
    assert server.requests == [], case  # refused before anything was sent


async def test_methods_on_a_closed_client(server: LocalRetab) -> None:
    client = make_client(server)
    async with client:
        handle = client.classifications.handle(C)
    for call in (
        lambda: client.classifications.get(C),
        lambda: client.classifications.create(INVOICE, CATEGORIES),
        lambda: client.classifications.list_page(),
        lambda: handle.wait(),
        lambda: handle.cancel(),
    ):
        with pytest.raises(ClientStateError, match="closed"):
            await call()
    assert server.requests == []


# -- the CLI ------------------------------------------------------------------

CLI_CASES = [
    ["classify", "--local", "missing.pdf", "--categories", "a"],
    ["classify", "--local", "README.md", "--categories", ""],
    ["classify", "--local", "pyproject.toml", "--categories", "a"],
    ["classify", "--local", "README.md", "--categories", "a", "--consensus", "-1"],
    ["get", "--local", "../etc"],
    ["cancel", "--local", "a b"],
    ["wait", "--local", "clss_x", "--timeout", "-1"],
    ["list", "--local", "--limit", "-5"],
]


@pytest.mark.parametrize("argv", CLI_CASES, ids=[" ".join(a) for a in CLI_CASES])
def test_bad_cli_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(argv)
    _, err = capsys.readouterr()
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err


# -- from the server side -----------------------------------------------------

SERVER_CASES: list[tuple[str, Canned, type[RetabError], str]] = [
    ("non-JSON 200", Canned(body=b"hello, world"), DecodeError, "not valid JSON"),
    ("JSON of the wrong shape", Canned(body=b'{"identifier": 5}'), DecodeError, "Classification"),
    ("a JSON array", Canned(body=b"[1, 2, 3]"), DecodeError, "Classification"),
    (
        "an HTML error page",
        Canned(status=502, body=b"<html><h1>Bad Gateway</h1></html>", content_type="text/html"),
        ServerError,
        "Bad Gateway",
    ),
    ("an empty 204 where a body is expected", Canned(status=204), DecodeError, "body was empty"),
    (
        "a huge response",
        Canned(body=b'{"id": "' + b"x" * (2 * 2**20) + b'"}'),
        DecodeError,
        "exceeds",
    ),
    (
        "a huge chunked response",
        Canned(body=b"[" + b"1," * 2**20 + b"1]", chunked=True),
        DecodeError,
        "exceeds",
    ),
    ("wrong type inside", Canned(body=b'{"id": "c", "status": 7}'), DecodeError, "status"),
]


@pytest.mark.parametrize(
    ("case", "canned", "error", "words"), SERVER_CASES, ids=[c[0] for c in SERVER_CASES]
)
async def test_bad_server_answers(
    rogue: RogueServer, case: str, canned: Canned, error: type[RetabError], words: str
) -> None:
    rogue.canned = canned
    client = RetabClient(
        "k", rogue.base_url, retry=RetryPolicy.for_tests(attempts=2), max_response_bytes=2**20
    )
    async with client:
        with anyio.fail_after(5), pytest.raises(error) as info:
            await client.classifications.get("clss_1")
    assert words in str(info.value), (case, str(info.value))


async def test_unknown_status_is_not_terminal(rogue: RogueServer) -> None:
    rogue.canned = Canned(body=b'{"id": "clss_1", "status": "thinking_hard"}')
    async with RetabClient("k", rogue.base_url, retry=RetryPolicy.for_tests()) as client:
        record = await client.classifications.get("clss_1")
        assert record.status == "thinking_hard" and not record.done
        with pytest.raises(WaitTimeout, match="thinking_hard"):
            await client.classifications.handle("clss_1").wait(timeout=0.3)
