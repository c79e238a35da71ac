"""The NDJSON stream reader: framing, limits and errors, with chunk boundaries anywhere."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retab_async import DecodeError
from retab_async._models.ndjson import MAX_LINE_BYTES, StreamLineTooLong, iter_ndjson

ANY = msgspec.json.Decoder()


class Event(msgspec.Struct):
    n: int


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read(parts: Iterable[bytes], decoder: Any = ANY, **options: Any) -> list[Any]:
    return [item async for item in iter_ndjson(_chunks(parts), decoder, **options)]


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


async def test_one_object_per_line() -> None:
    assert await _read([b'{"a": 1}\n{"a": 2}\n']) == [{"a": 1}, {"a": 2}]


async def test_final_line_without_newline() -> None:
    assert await _read([b'{"a": 1}\n{"a": 2}']) == [{"a": 1}, {"a": 2}]


async def test_data_prefix_crlf_blank_lines_and_comments() -> None:
    body = b': keep-alive\r\ndata: {"a": 1}\r\n\r\ndata:{"a": 2}\n   \n\n{"a": 3}\r\n'
    assert await _read([body]) == [{"a": 1}, {"a": 2}, {"a": 3}]


async def test_empty_stream() -> None:
    assert await _read([]) == []
    assert await _read([b"", b"\n\n", b""]) == []


async def test_typed_decoder() -> None:
    assert await _read([b'{"n": 1}\n{"n": 2}\n'], msgspec.json.Decoder(Event)) == [
        Event(1),
        Event(2),
    ]


async def test_invalid_json_names_the_line() -> None:
    with pytest.raises(DecodeError, match="stream line 2 is not valid JSON") as info:
        await _read([b'{"a": 1}\n{"a": \n'])
    assert info.value.malformed and info.value.body == '{"a": '


async def test_cut_short_final_line() -> None:
    with pytest.raises(DecodeError, match="stream line 2") as info:
        await _read([b'{"a": 1}\n{"a": [1, 2'])
    assert info.value.malformed


async def test_wrong_shape_is_not_malformed() -> None:
    with pytest.raises(DecodeError, match=r"stream line 1 is not a valid event.*\$\.n") as info:
        await _read([b'{"n": "x"}\n'], msgspec.json.Decoder(Event))
    assert not info.value.malformed


async def test_items_before_an_error_are_delivered() -> None:
    seen = []
    with pytest.raises(DecodeError):
        async for item in iter_ndjson(_chunks([b'{"a": 1}\nnot json\n']), ANY):
            seen.append(item)
    assert seen == [{"a": 1}]


async def test_line_at_the_limit_is_accepted() -> None:
    line = b'"' + b"x" * 98 + b'"'
    assert await _read([line + b"\r\n", line], max_line_bytes=100) == ["x" * 98] * 2


async def test_line_over_the_limit() -> None:
    line = b'"' + b"x" * 99 + b'"'
    with pytest.raises(StreamLineTooLong) as info:
        await _read([b"1\n", line + b"\n"], max_line_bytes=100)
    assert info.value.line_number == 2 and info.value.limit == 100
    assert isinstance(info.value, DecodeError) and info.value.malformed


async def test_final_line_over_the_limit_without_newline() -> None:
    with pytest.raises(StreamLineTooLong):
        await _read([b'"' + b"x" * 99 + b'"'], max_line_bytes=100)


async def test_long_line_refused_before_it_ends() -> None:
    """Memory stays bounded: the reader gives up once a line passes the limit."""
    fed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal fed
        while True:
            fed += 1
            yield b"x" * 10

    with pytest.raises(StreamLineTooLong):
        async for _ in iter_ndjson(endless(), ANY, max_line_bytes=100):
            pass
    assert fed == 11


async def test_default_limit_is_16_mib() -> None:
    assert MAX_LINE_BYTES == 16 * 1024 * 1024
    big = b'"' + b"y" * (MAX_LINE_BYTES - 2) + b'"\n'
    parts = [big[i : i + 65536] for i in range(0, len(big), 65536)]
    [value] = await _read(parts)
    assert len(value) == MAX_LINE_BYTES - 2
    with pytest.raises(StreamLineTooLong):
        await _read([b'"' + b"y" * (MAX_LINE_BYTES - 1) + b'"\n'])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(json_values, max_size=6),
    prefixes=st.lists(st.sampled_from([b"", b"data: ", b"data:"]), min_size=6, max_size=6),
    endings=st.lists(
        st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\n: ping\n"]), min_size=6, max_size=6
    ),
    trailing_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0), max_size=12),
)
async def test_any_chunking_gives_the_same_items(
    items: list[Any],
    prefixes: list[bytes],
    endings: list[bytes],
    trailing_newline: bool,
    cuts: list[int],
) -> None:
    lines = [
        p + json.dumps(item, ensure_ascii=False).encode()
        for p, item in zip(prefixes, items, strict=False)
    ]
    body = b"".join(line + end for line, end in zip(lines, endings, strict=False))
    if lines and not trailing_newline:
        body = body[: -len(endings[len(lines) - 1])]
    assert await _read(_split(body, cuts)) == items


@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0), max_size=20))
async def test_multibyte_characters_split_across_chunks(cuts: list[int]) -> None:
    items = [{"name": "Zoë 北京 🧾"}, {"text": "€" * 20}]
    body = b"".join(json.dumps(i, ensure_ascii=False).encode() + b"\n" for i in items)
    assert await _read(_split(body, cuts)) == items


async def test_source_is_closed_when_the_reader_is_left_early() -> None:
    closed = False

    async def source() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            yield b'{"a": 1}\n{"a": 2}\n'
            yield b'{"a": 3}\n'
        finally:
            closed = True

    reader = iter_ndjson(source(), ANY)
    async for _ in reader:
        break
    await reader.aclose()
    assert closed


async def test_source_is_closed_after_an_error() -> None:
    closed = False

    async def source() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            yield b"oops\n"
            yield b"1\n"
        finally:
            closed = True

    with pytest.raises(DecodeError):
        await _read_from(source())
    assert closed


async def _read_from(source: AsyncIterator[bytes]) -> list[Any]:
    return [item async for item in iter_ndjson(source, ANY)]
