"""The HTTP edge: the aiohttp session, headers, timeouts, and the translation of
aiohttp failures and error statuses into our exceptions. Nothing from aiohttp
leaves this module.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import io
import ipaddress
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import anyio

from ._error_body import parse_error_body
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeout,
    RetabError,
    ServerError,
    UnprocessableEntityError,
    UsageError,
)
from ._version import __version__

__all__ = [
    "Response",
    "Transport",
    "error_for_status",
    "normalize_base_url",
    "parse_retry_after",
    "translate_exception",
]

_log = logging.getLogger("retab_async")
if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

# aiohttp is imported when a client opens, not with the package: importing
# retab_async stays cheap for programs that only use its models and errors.
USER_AGENT = f"retab-async/{__version__}"
_STREAM_ABOVE = 1024 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True, slots=True)
class Response:
    """A complete HTTP response: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    method: str
    url: str

    @property
    def request_id(self) -> str | None:
        """The ``x-request-id`` header."""
        return self.headers.get("x-request-id")


def normalize_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    """Check and tidy a base URL: no trailing slash, no trailing ``/v1`` (contract 1.1).

    Raises :class:`UsageError` for a URL that is not http(s), or plain ``http://`` to a
    host that is not loopback unless ``allow_insecure_http``.
    """
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"base URL {base_url!r} must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageError("base URL must not carry credentials, a query or a fragment")
    path = parts.path
    tail = path.rsplit("/", 1)[-1]
    if len(tail) > 1 and tail[0] == "v" and tail[1:].isdigit():
        path = path[: -len(tail) - 1]
        _log.debug("dropped the version suffix /%s from the base URL", tail)
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise UsageError(
            f"refusing to send the API key over plain http:// to {parts.hostname}; "
            "use https:// or pass allow_insecure_http=True"
        )
    return f"{parts.scheme}://{parts.netloc}{path}"


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def translate_exception(exc: BaseException, method: str, url: str) -> RetabError:
    """Our exception for an aiohttp (or timeout) failure. The one place this happens."""
    import aiohttp

    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return RequestTimeout(f"{method} {url} timed out", method=method, url=url)
    if isinstance(exc, aiohttp.InvalidURL):
        return UsageError(f"invalid URL for {method}: {url}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error)
        return ConnectError(f"cannot connect for {method} {url}: {reason}", method=method, url=url)
    detail = _describe(exc)
    return ConnectError(f"{method} {url} failed: {detail}", method=method, url=url)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a half-built aiohttp exception must not hide the failure
        text = ""
    return text or type(exc).__name__


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(response: Response) -> APIStatusError:
    """The :class:`APIStatusError` subclass for a non-2xx response."""
    if response.status >= 500:
        cls: type[APIStatusError] = ServerError
    else:
        cls = _STATUS_ERRORS.get(response.status, APIStatusError)
    return cls(
        status=response.status,
        error=parse_error_body(response.body, response.status),
        body=response.body.decode("utf-8", "replace"),
        headers=response.headers,
        request_id=response.request_id,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        method=response.method,
        url=response.url,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport:
    """One aiohttp session for one client: pooled connections, shared headers, and a
    client-wide pause that a ``429`` with ``Retry-After`` imposes on every request."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float,
        max_connections: int,
        verify_ssl: bool,
        user_agent: str | None,
        max_pause: float,
        max_response_bytes: int,
    ) -> None:
        self.base_url = base_url
        self._url: type[URL] | None = None
        self._client_error: type[Exception] = Exception
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": user_agent or USER_AGENT,
            "Accept": "application/json",
        }
        self._timeout = timeout
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._max_connections = max_connections
        self._verify_ssl = verify_ssl
        self._max_pause = max_pause
        self._max_response_bytes = max_response_bytes
        self._paused_until = 0.0
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    async def open(self) -> None:
        """Create the session; must run inside the event loop that will use it."""
        import aiohttp
        from yarl import URL

        self._url = URL
        self._client_error = aiohttp.ClientError
        if self._headers["User-Agent"] == USER_AGENT:
            self._headers["User-Agent"] = f"{USER_AGENT} aiohttp/{aiohttp.__version__}"
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=self._max_connections,
            ssl=self._verify_ssl,
            enable_cleanup_closed=False,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            auto_decompress=True,
            raise_for_status=False,
            skip_auto_headers=("Content-Type",),
        )
        # aiohttp silently resends an idempotent request once when a kept-alive connection
        # drops. Our retry policy is the one place retries happen (and counts attempts), so
        # that hidden retry is turned off where this aiohttp version has it.
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False

    async def close(self) -> None:
        """Close the session and its connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def paused_for(self) -> float:
        """Seconds left in a rate-limit pause (0 when there is none)."""
        return max(0.0, self._paused_until - time.monotonic())

    def pause(self, seconds: float) -> None:
        """Hold every request of this client for ``seconds`` (capped)."""
        until = time.monotonic() + min(seconds, self._max_pause)
        self._paused_until = max(self._paused_until, until)

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and read the whole response.

        ``path`` must be percent-encoded already. Raises :class:`TransportError`
        subclasses for failures without a response; any status is returned as is.
        """
        session, make_url = self._session, self._url
        if session is None or make_url is None:
            raise RuntimeError("transport is not open")  # the client checks first
        if self._paused_until:
            await self._respect_pause()
        text = self.base_url + path
        if params:
            text += "?" + _query(tuple(params.items()))
        url = make_url(text, encoded=True)
        extra: dict[str, Any] = {}
        if body is not None:
            # aiohttp writes large bytes in one go (and warns); a stream is sent in chunks.
            extra["data"] = body if len(body) <= _STREAM_ABOVE else io.BytesIO(body)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            async with session.request(
                method, url, headers=headers, timeout=self._client_timeout(timeout), **extra
            ) as resp:
                data = await self._read(resp, method, text)
                # The headers proxy stays valid after release and is case-insensitive.
                response = Response(resp.status, resp.headers, data, method, text)
        except (self._client_error, asyncio.TimeoutError) as exc:
            raise translate_exception(exc, method, text) from exc
        if response.status in (429, 503):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait:
                self.pause(wait)
        return response

    async def _read(self, resp: aiohttp.ClientResponse, method: str, url: str) -> bytes:
        """The whole body, refusing one larger than ``max_response_bytes``."""
        limit = self._max_response_bytes
        length = resp.content_length
        if length is not None:
            if length > limit:
                raise _too_large(length, limit, resp.status, method, url)
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit, resp.status, method, url)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _respect_pause(self) -> None:
        delay = self._paused_until - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)
        else:
            self._paused_until = 0.0

    def _client_timeout(self, timeout: float | None) -> aiohttp.ClientTimeout:
        seconds = self._timeout if timeout is None else timeout
        cached = self._timeouts.get(seconds)
        if cached is None:
            import aiohttp

            cached = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return cached


@functools.lru_cache(maxsize=512)
def _query(params: tuple[tuple[str, str], ...]) -> str:
    """The encoded query string; the same few (``include_output=true``...) recur."""
    return urlencode(params, quote_via=quote)


def _too_large(size: int, limit: int, status: int, method: str, url: str) -> DecodeError:
    return DecodeError(
        f"{method} {url}: response body of {size} bytes or more exceeds the {limit}-byte limit",
        status=status,
    )
