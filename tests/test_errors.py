"""The error tree, the error-body parser (shapes A-G) and the one exception mapping."""

from __future__ import annotations

import asyncio
import inspect

import aiohttp
import pytest

from retab_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeout,
    RetabError,
    ServerError,
    UnprocessableEntityError,
)
from retab_async._error_body import parse_error_body
from retab_async._http.transport import (
    Response,
    error_for_status,
    parse_retry_after,
    translate_exception,
)


def test_shape_a_plain_string() -> None:
    detail = parse_error_body(b'{"detail": "Not authenticated"}', 401)
    assert detail.message == "Not authenticated" and detail.code is None


def test_shape_b_structured() -> None:
    body = b'{"detail": {"code": "NOT_FOUND", "message": "Classification not found", "details": {"id": "x"}}}'
    detail = parse_error_body(body, 404)
    assert (detail.code, detail.message, detail.details) == (
        "NOT_FOUND",
        "Classification not found",
        {"id": "x"},
    )


def test_shape_b_with_the_real_cause_nested() -> None:
    body = b'{"detail": {"code": "HTTP_EXCEPTION", "message": "Failed", "details": {"error": {"code": "QUOTA", "message": "Quota exceeded"}}}}'
    detail = parse_error_body(body, 400)
    assert (detail.code, detail.message) == ("QUOTA", "Quota exceeded")
    body = b'{"detail": {"code": "HTTP_EXCEPTION", "message": "Failed", "details": {"error": "disk full"}}}'
    assert parse_error_body(body, 500).message == "Failed: disk full"


def test_shape_c_validation_list() -> None:
    body = b'{"detail": [{"loc": ["query", "limit"], "msg": "too big", "type": "less_than_equal"}]}'
    detail = parse_error_body(body, 422)
    assert detail.message == "query.limit: too big"
    assert detail.validation[0].loc == ("query", "limit")


def test_shape_d_envelope_with_json_in_a_string() -> None:
    body = b'{"status_code": 10422, "message": "[{\\"loc\\": [\\"body\\", \\"categories\\"], \\"msg\\": \\"Field required\\", \\"type\\": \\"missing\\"}]", "data": null}'
    detail = parse_error_body(body, 422)
    assert detail.message == "body.categories: Field required"
    assert detail.validation[0].type == "missing"


def test_shape_e_unwrapped() -> None:
    detail = parse_error_body(b'{"code": "X", "message": "Y", "details": null}', 400)
    assert (detail.code, detail.message) == ("X", "Y")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"Bad Gateway", "Bad Gateway"),
        (b"", "request failed (502) with an empty body"),
        (b"<html><h1>502</h1></html>", "<html><h1>502</h1></html>"),
        (b"\xff\xfe\x00", "\ufffd\ufffd\x00"),
    ],
)
def test_shape_f_text_or_empty(body: bytes, message: str) -> None:
    assert parse_error_body(body, 502).message == message


def test_shape_g_compile_errors() -> None:
    body = b'{"detail": {"code": "SPEC", "message": "bad spec", "errors": [{"path": "a"}]}}'
    detail = parse_error_body(body, 400)
    assert detail.code == "SPEC" and detail.details == {"errors": [{"path": "a"}]}


@pytest.mark.parametrize(
    "body", [b"[]", b"null", b"42", b'{"detail": 5}', b'{"other": 1}', b'{"detail": [1, "x"]}']
)
def test_odd_json_never_raises(body: bytes) -> None:
    assert parse_error_body(body, 400).message


def _response(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> Response:
    return Response(status, headers or {}, body, "GET", "https://x.test/v1/classifications/a")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (418, APIStatusError),
    ],
)
def test_status_families(status: int, cls: type[APIStatusError]) -> None:
    error = error_for_status(
        _response(status, headers={"x-request-id": "req_1", "Retry-After": "2"})
    )
    assert type(error) is cls
    assert error.status == status and error.request_id == "req_1" and error.retry_after == 2.0
    assert error.body == "{}"
    assert f"-> {status}" in str(error) and "req_1" in str(error)


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def _all_client_errors() -> list[type[BaseException]]:
    found = set()
    for name in dir(aiohttp):
        value = getattr(aiohttp, name)
        if inspect.isclass(value) and issubclass(value, aiohttp.ClientError):
            found.add(value)
    return sorted(found, key=lambda c: c.__name__)


def _instance(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, aiohttp.ClientResponseError):
        from multidict import CIMultiDict, CIMultiDictProxy
        from yarl import URL

        info = aiohttp.RequestInfo(URL("https://x.test"), "GET", CIMultiDictProxy(CIMultiDict()))
        return cls(info, (), status=502, message="Bad Gateway")
    if issubclass(cls, aiohttp.ClientConnectorError):
        key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, None, None, None, None)
        try:
            return cls(key, OSError(111, "Connection refused"))
        except TypeError:
            return cls.__new__(cls)
    try:
        return cls()
    except TypeError:
        return cls.__new__(cls)


@pytest.mark.parametrize("cls", _all_client_errors(), ids=lambda c: c.__name__)
def test_every_aiohttp_client_error_is_translated(cls: type[BaseException]) -> None:
    error = translate_exception(_instance(cls), "GET", "https://x.test/v1/a")
    assert isinstance(error, RetabError)
    assert not isinstance(error, aiohttp.ClientError)
    assert str(error)


def test_timeouts_become_request_timeout() -> None:
    assert isinstance(translate_exception(asyncio.TimeoutError(), "GET", "u"), RequestTimeout)
    assert isinstance(translate_exception(aiohttp.ServerTimeoutError(), "GET", "u"), RequestTimeout)
    assert isinstance(
        translate_exception(aiohttp.ServerDisconnectedError(), "GET", "u"), ConnectError
    )


def test_every_error_class_is_drawn_in_the_tree() -> None:
    import retab_async
    from retab_async import _errors

    drawn = _errors.__doc__ or ""
    classes = {
        value
        for name in retab_async.__all__
        if isinstance(value := getattr(retab_async, name), type) and issubclass(value, RetabError)
    }
    assert drawn.split("::", 1)[1].lstrip().startswith("RetabError\n")
    for cls in classes - {RetabError}:
        assert f"── {cls.__name__} " in drawn, cls.__name__


def test_new_protocol_and_pause_errors_sit_where_callers_catch_them() -> None:
    from retab_async import DecodeError, PauseTimeout, ProtocolError, TransportError

    assert issubclass(PauseTimeout, RequestTimeout) and issubclass(PauseTimeout, TransportError)
    assert issubclass(ProtocolError, RetabError) and not issubclass(ProtocolError, DecodeError)
    pause = PauseTimeout("paused", method="GET", url="u", retry_after=42.0)
    assert pause.retry_after == 42.0


def test_the_attempt_number_is_given_when_the_error_is_built() -> None:
    error = error_for_status(_response(503), attempt=3)
    assert error.attempt == 3 and error_for_status(_response(503)).attempt == 1
