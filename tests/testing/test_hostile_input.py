"""Client input never gets a 5xx: deep JSON, bytes that are not UTF-8, and fuzzing.

Requests go over a raw socket, so that the server sees bytes a well-behaved
client library would refuse to send.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retab_async.testing import LocalRetab, create_app

from .conftest import Api, create_body
from .raw_http import exchange, request, status_of

NOT_UTF8 = b"Bearer sk_\xff\xfe\xc3("


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
async def test_deeply_nested_json_is_422_with_a_clear_message(api: Api, depth: int) -> None:
    body = create_body()
    nested = "[" * depth + "]" * depth
    raw = json.dumps(body)[:-1] + ', "instructions": ' + nested + "}"
    status, answer, _ = await api.call(
        "POST",
        "/v1/classifications",
        data=raw.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 422, answer
    assert "nested deeper than 64 levels" in answer["message"]


async def test_json_within_the_depth_limit_is_validated_as_usual(api: Api) -> None:
    nested: object = "x"
    for _ in range(60):
        nested = [nested]
    status, answer, _ = await api.call(
        "POST", "/v1/classifications", json=create_body(instructions=nested)
    )
    assert status == 422
    assert "instructions" in answer["message"] and "nested" not in answer["message"]


@pytest.mark.retab_server(max_json_depth=3)
async def test_the_depth_limit_is_configurable(api: Api) -> None:
    status, answer, _ = await api.call(
        "POST", "/v1/classifications", json=create_body(instructions=[[["x"]]])
    )
    assert status == 422
    assert "nested deeper than 3 levels" in answer["message"]


@pytest.mark.parametrize(
    "header",
    [
        (b"Authorization", NOT_UTF8),
        (b"Authorization", b"\xff\xfe"),
        (b"Api-Key", b"sk_local_\xe9\xff"),
        (b"Api-Key", b"\x80"),
    ],
)
async def test_auth_header_that_is_not_utf8_is_401(
    server: LocalRetab, header: tuple[bytes, bytes]
) -> None:
    response = await exchange(server, request(b"GET", b"/v1/classifications", [header]))
    assert status_of(response) == 401
    assert b'{"detail":"Not authenticated"}' in response


# -- fuzzing -------------------------------------------------------------------

_SAFE_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_QUERY_KEYS = st.sampled_from(
    [
        "limit",
        "order",
        "after",
        "before",
        "status",
        "filename",
        "from_date",
        "to_date",
        "include_output",
        "x",
    ]
)
_QUERY = st.lists(
    st.tuples(_QUERY_KEYS, st.one_of(st.text(max_size=20), st.binary(max_size=20))), max_size=4
).map(
    lambda pairs: "&".join(
        f"{k}={quote_from_bytes(v if isinstance(v, bytes) else v.encode('utf-8', 'surrogatepass'))}"
        for k, v in pairs
    )
)
_ID = st.one_of(
    st.just(b"clss_0000000000000000"), _SAFE_BYTES.map(lambda b: quote_from_bytes(b).encode())
)
# Every route of every primitive the server serves, read from its router.
_ROUTES = sorted(
    (route.method.encode(), route.resource.canonical.encode())
    for route in create_app().router.routes()
    if route.method != "*"
    and route.resource is not None
    and route.resource.canonical.startswith("/v1/")
)
_CREATE_PATHS = [path for method, path in _ROUTES if method == b"POST" and b"{" not in path]
_CREATE_ROUTE = st.tuples(st.just(b"POST"), st.sampled_from(_CREATE_PATHS))
_OTHER_ROUTE = st.one_of(
    st.tuples(st.sampled_from(_ROUTES), _ID).map(
        lambda pair: (pair[0][0], pair[0][1].replace(b"{id}", pair[1]))
    ),
    st.tuples(
        st.sampled_from([b"GET", b"POST", b"DELETE", b"PUT", b"PATCH", b"HEAD"]),
        st.one_of(
            st.sampled_from([b"/", b"/_local/requests", b"/_local/runs", b"//v1//classifications"]),
            st.binary(min_size=1, max_size=30).map(lambda b: b"/" + quote_from_bytes(b).encode()),
        ),
    ),
)
# Half the requests are creates: they parse the most input.
_ROUTE = st.one_of(_CREATE_ROUTE, _OTHER_ROUTE)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_DOC = st.fixed_dictionaries(
    {
        "filename": st.sampled_from(["a.txt", "b.pdf", "c.exe", "", "d.png"]),
        "url": st.one_of(
            st.just("data:text/plain;base64," + base64.b64encode(b"INVOICE").decode()),
            st.text(max_size=30),
        ),
    }
)
_CREATE = st.fixed_dictionaries(
    {},
    optional={
        "document": st.one_of(_DOC, _JSON),
        "categories": st.one_of(st.just([{"name": "invoice"}]), _JSON),
        "model": _JSON,
        "n_consensus": st.one_of(st.integers(-3, 20), _JSON),
        "first_n_pages": _JSON,
        "instructions": _JSON,
        "background": st.one_of(st.just(True), _JSON),
        "bust_cache": _JSON,
    },
)
_DEEP = st.sampled_from([10, 64, 65, 1_000, 5_000, 50_000]).map(
    lambda n: b'{"document": ' + b"[" * n + b"]" * n + b"}"
)
_BODY = st.one_of(
    _DEEP,
    st.one_of(
        st.just(b""),
        st.binary(max_size=200),
        _JSON.map(lambda v: json.dumps(v).encode()),
        _CREATE.map(lambda v: json.dumps(v).encode()),
    ),
)
# Half the requests carry the right key, so that they reach the handlers.
_AUTH = st.one_of(
    st.sampled_from(
        [[(b"Authorization", b"Bearer sk_local_test")], [(b"Api-Key", b"sk_local_test")]]
    ),
    st.one_of(
        _SAFE_BYTES.map(lambda b: [(b"Authorization", b"Bearer " + b)]),
        _SAFE_BYTES.map(lambda b: [(b"Api-Key", b)]),
        st.just([]),
    ),
)
_HEADERS = st.lists(
    st.tuples(
        st.sampled_from([b"Idempotency-Key", b"Content-Type", b"Accept-Encoding", b"X-Other"]),
        _SAFE_BYTES,
    ),
    max_size=3,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(route=_ROUTE, query=_QUERY, auth=_AUTH, headers=_HEADERS, body=_BODY)
async def test_no_client_input_gets_a_5xx(
    server: LocalRetab,
    route: tuple[bytes, bytes],
    query: str,
    auth: list[tuple[bytes, bytes]],
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    method, path = route
    target = path + (b"?" + query.encode() if query else b"")
    response = await exchange(server, request(method, target, auth + headers, body))
    assert response, "the connection was closed without an answer"
    assert status_of(response) < 500, response[:500]


_FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)


def test_every_primitive_is_fuzzed() -> None:
    assert b"/v1/classifications" in _CREATE_PATHS and len(_CREATE_PATHS) >= 2


@_FUZZ
@given(
    path=st.sampled_from(_CREATE_PATHS),
    body=_BODY,
    headers=_HEADERS,
    nesting=st.sampled_from([0, 0, 65, 1_000, 50_000]),
)
async def test_no_create_body_gets_a_5xx(
    server: LocalRetab,
    path: bytes,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    nesting: int,
) -> None:
    if nesting:
        body = b'{"categories": ' + b"[" * nesting + b"]" * nesting + b", " + body[1:]
    auth = [(b"Authorization", b"Bearer " + server.api_key.encode())]
    sent = request(b"POST", path, auth + headers, body)
    response = await exchange(server, sent)
    assert response, "the connection was closed without an answer"
    assert status_of(response) < 500, response[:500]


@_FUZZ
@given(name=st.sampled_from([b"Authorization", b"Api-Key"]), value=_SAFE_BYTES)
async def test_any_wrong_auth_header_gets_401(
    server: LocalRetab, name: bytes, value: bytes
) -> None:
    if name == b"Authorization":
        value = b"Bearer " + value
    if value.strip() in (b"sk_local_test", b"Bearer sk_local_test"):
        return
    response = await exchange(server, request(b"GET", b"/v1/classifications", [(name, value)]))
    assert status_of(response) in (400, 401), response[:500]  # 400: bytes HTTP forbids
