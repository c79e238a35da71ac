"""Property tests: decoders and the error-body parser on arbitrary bytes and JSON only
ever return a model or raise DecodeError (the parser never raises at all)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retab_async import Classification, DecodeError, ErrorDetail, Page
from retab_async._error_body import parse_error_body
from retab_async._http.transport import Response
from retab_async._runs.primitive import CLASSIFICATIONS
from retab_async._runs.tokens import decode_token

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)

# Objects shaped like records, with random values in the known fields.
record_like = st.fixed_dictionaries(
    {"id": json_values},
    optional=dict.fromkeys(
        (
            "status",
            "output",
            "error",
            "consensus",
            "usage",
            "categories",
            "file",
            "n_consensus",
            "created_at",
        ),
        json_values,
    ),
)


def _response(body: bytes, status: int = 200) -> Response:
    return Response(status, {}, body, "GET", "http://127.0.0.1/v1/classifications/x")


def _decode_record(body: bytes) -> None:
    try:
        record = CLASSIFICATIONS.decode(_response(body))
    except DecodeError:
        return
    assert isinstance(record, Classification)
    assert record.output is None or record.status == "completed"


def _decode_page(body: bytes) -> None:
    try:
        page = CLASSIFICATIONS.decode_page(_response(body))
    except DecodeError:
        return
    assert isinstance(page, Page)
    assert all(isinstance(row, Classification) for row in page.data)


@SETTINGS
@given(st.binary(max_size=300))
def test_record_decoder_on_bytes(body: bytes) -> None:
    _decode_record(body)


@SETTINGS
@given(json_values)
def test_record_decoder_on_json(value: Any) -> None:
    _decode_record(json.dumps(value).encode())


@SETTINGS
@given(record_like)
def test_record_decoder_on_record_like_objects(value: dict[str, Any]) -> None:
    _decode_record(json.dumps(value).encode())


@SETTINGS
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_page_decoder(body: bytes) -> None:
    _decode_page(body)


@SETTINGS
@given(st.lists(record_like, max_size=5))
def test_page_decoder_never_drops_rows_silently(rows: list[dict[str, Any]]) -> None:
    body = json.dumps({"data": rows, "list_metadata": {"before": None, "after": None}}).encode()
    page = CLASSIFICATIONS.decode_page(_response(body))
    assert len(page.data) + len(page.invalid) == len(rows)


@SETTINGS
@given(st.binary(max_size=300), st.integers(min_value=400, max_value=599))
def test_error_parser_on_bytes(body: bytes, status: int) -> None:
    detail = parse_error_body(body, status)
    assert isinstance(detail, ErrorDetail) and detail.message


@SETTINGS
@given(json_values, st.integers(min_value=400, max_value=599))
def test_error_parser_on_json(value: Any, status: int) -> None:
    for body in (value, {"detail": value}, {"status_code": 10422, "message": value}):
        detail = parse_error_body(json.dumps(body).encode(), status)
        assert isinstance(detail, ErrorDetail) and detail.message


@SETTINGS
@given(st.text(max_size=200))
def test_token_decoder_never_crashes(token: str) -> None:
    from retab_async import TokenError

    with contextlib.suppress(TokenError):
        decode_token(token, base_url="https://api.retab.com")


def test_models_round_trip() -> None:
    record = msgspec.json.decode(
        b'{"id": "c", "status": "completed", "output": {"category": "a", "reasoning": "r"}}',
        type=Classification,
    )
    assert msgspec.json.decode(msgspec.json.encode(record), type=Classification) == record
