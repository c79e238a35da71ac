"""The HTTP edge: the aiohttp session, headers, timeouts, and the translation of
aiohttp failures and error statuses into our exceptions. Nothing from aiohttp
leaves this module.

What the edge refuses, whatever the server sends:

* a body larger than ``max_response_bytes`` *after decoding*: ``gzip`` and
  ``deflate`` bodies are inflated here, a bounded piece at a time, so a small
  compressed body that inflates to gigabytes is stopped at the limit;
* a redirect: the API never redirects, and following one could send the key
  over plain ``http://`` or to another host, so any ``3xx`` is a
  :class:`ProtocolError` naming its ``Location``.

The client-wide pause (a ``429`` or ``503`` with ``Retry-After``) counts against
each request's timeout: a request whose deadline falls inside the pause fails at
once with :class:`PauseTimeout`. Cancels pass the pause (``bypass_pause``): a
cancel stops work on the server, which is what the pause asks for, and a clean-up
cancel held back by it would leave a run going. The pause and the retry budget
run on real time, like the HTTP timeouts they count against (an injected clock
drives the run machinery above, not the wire).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import io
import ipaddress
import logging
import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, urlencode, urlsplit

import anyio

from .._error_body import parse_error_body
from .._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    DecodeError,
    GoneError,
    NotFoundError,
    PauseTimeout,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RequestTimeout,
    RetabError,
    ServerError,
    UnprocessableEntityError,
    UsageError,
)
from .._version import __version__

__all__ = [
    "Params",
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
_READ_CHUNK = 64 * 1024
_TIMEOUTS_KEPT = 16
_URLS_KEPT = 4096
# wbits for zlib: a gzip wrapper, or a zlib wrapper (raw deflate is tried as a fallback).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class Response(NamedTuple):
    """A complete HTTP response: status, headers and the whole body (a named tuple:
    immutable, and the cheapest record Python builds, once per request)."""

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


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


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
    410: GoneError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(response: Response, *, attempt: int = 1) -> APIStatusError:
    """The :class:`APIStatusError` subclass for a non-2xx response to attempt ``attempt``."""
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
        attempt=attempt,
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
            # We inflate bodies ourselves (bounded, see _read): only what we can inflate.
            "Accept-Encoding": "gzip, deflate",
        }
        self._timeout = timeout
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, URL] = {}
        self._max_connections = max_connections
        self._verify_ssl = verify_ssl
        self._max_pause = max_pause
        self._max_response_bytes = max_response_bytes
        # A Content-Length with fewer digits than the limit is below it: the usual body
        # is let through without parsing the number (_read checks any other exactly).
        self._short_length = len(str(max_response_bytes))
        # aiohttp's case-insensitive header names, set when the session opens.
        self._content_length = "Content-Length"
        self._content_encoding = "Content-Encoding"
        self._paused_until = 0.0
        self._session: aiohttp.ClientSession | None = None
        # Uploads to another origin (a signed storage URL) go without the API key: a
        # second session on the same connector (the same pool and TLS settings).
        self._keyless: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<Transport {self.base_url}>"

    async def open(self) -> None:
        """Create the session; must run inside the event loop that will use it."""
        import aiohttp
        from multidict import istr
        from yarl import URL

        self._url = URL
        self._client_error = aiohttp.ClientError
        self._content_length = aiohttp.hdrs.CONTENT_LENGTH
        self._content_encoding = aiohttp.hdrs.CONTENT_ENCODING
        if self._headers["User-Agent"] == USER_AGENT:
            self._headers["User-Agent"] = f"{USER_AGENT} aiohttp/{aiohttp.__version__}"
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,  # one host: no separate per-host limit to track
            ssl=self._verify_ssl,
            enable_cleanup_closed=False,
        )
        # Names as aiohttp's own case-insensitive strings, which carry their folded form:
        # every request copies these, and a plain str would be folded again each time.
        names = {name: istr(name) for name in self._headers}
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={names[name]: value for name, value in self._headers.items()},
            # The client's timeout is the session's: a request that keeps it passes none.
            timeout=self._client_timeout(self._timeout),
            auto_decompress=False,
            raise_for_status=False,
        )
        # aiohttp silently resends an idempotent request once when a kept-alive connection
        # drops. Our retry policy is the one place retries happen (and counts attempts), so
        # that hidden retry is turned off where this aiohttp version has it.
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False
        self._keyless = aiohttp.ClientSession(
            connector=connector,
            connector_owner=False,
            headers={"User-Agent": self._headers["User-Agent"]},
            auto_decompress=False,
            raise_for_status=False,
        )
        if hasattr(self._keyless, "_retry_connection"):
            self._keyless._retry_connection = False

    async def close(self) -> None:
        """Close the sessions and their connections."""
        keyless, self._keyless = self._keyless, None
        session, self._session = self._session, None
        if keyless is not None:
            await keyless.close()
        if session is not None:
            await session.close()

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` is on the API's own origin (scheme, host and port)."""
        return _origin(url) == _origin(self.base_url)

    async def upload(
        self,
        method: str,
        url: str,
        body: AsyncIterable[bytes],
        *,
        size: int,
        headers: Mapping[str, str],
        timeout: float | None = None,
    ) -> Response:
        """Send ``size`` bytes from ``body`` to the absolute ``url`` (a signed upload URL)
        and read the answer, as :meth:`send` does (no redirects, no body over the limit).

        The API key goes only to the API's own origin; plain ``http://`` only there or
        to a loopback host. ``timeout`` (default: the client's) bounds connecting and
        waiting for the answer; the body may take a second per MiB more.
        Raises :class:`ProtocolError` for a URL it will not send to, and as :meth:`send`.
        """
        parts = urlsplit(url)
        same = self.same_origin(url)
        # A URL we will not send to came in the reservation's answer (a 200).
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProtocolError(
                f"the upload URL {url[:80]!r} is not an http(s) URL",
                method=method,
                url=url[:80],
                status=200,
            )
        if parts.scheme == "http" and not same and not _is_loopback(parts.hostname):
            raise ProtocolError(
                f"refusing to upload over plain http:// to {parts.hostname}",
                method=method,
                url=url[:80],
                status=200,
            )
        session = self._session if same else self._keyless
        if session is None:
            raise RuntimeError("transport is not open")  # the client checks first
        import aiohttp

        seconds = self._timeout if timeout is None else timeout
        limits = aiohttp.ClientTimeout(
            total=seconds + size / 2**20, sock_connect=seconds, sock_read=seconds
        )
        label = f"{parts.scheme}://{parts.netloc}{parts.path}"  # the signature stays out
        sent = {**headers, "Content-Length": str(size)}
        try:
            async with session.request(
                method,
                self._url(url, encoded=True) if self._url else url,
                data=body,
                headers=sent,
                timeout=limits,
                allow_redirects=False,
            ) as resp:
                if 300 <= resp.status < 400:
                    raise _redirected(resp, method, label)
                data = await self._read(resp, method, label)
                return Response(resp.status, resp.headers, data, method, label)
        except (self._client_error, asyncio.TimeoutError) as exc:
            raise translate_exception(exc, method, label) from exc

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
        params: Params | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        bypass_pause: bool = False,
    ) -> Response:
        """Send one request and read the whole response.

        ``path`` must be percent-encoded already. ``timeout`` (default: the client's)
        covers any wait in the client-wide pause, which ``bypass_pause`` skips.
        Raises :class:`TransportError` subclasses for failures without a response
        (:class:`PauseTimeout` when the pause outlasts ``timeout``),
        :class:`ProtocolError` for a redirect and :class:`DecodeError` for a body over
        the size limit; any other status is returned as is.
        """
        session = self._session
        if session is None:
            raise RuntimeError("transport is not open")  # the client checks first
        seconds = self._timeout if timeout is None else timeout
        text = self.base_url + path
        if params:
            pairs = params.items() if isinstance(params, Mapping) else params
            text += "?" + _query(tuple(pairs))
        if self._paused_until and not bypass_pause:
            seconds = await self._respect_pause(seconds, method, text)
        if seconds <= 0:
            raise RequestTimeout(
                f"{method} {text}: no time left to send it", method=method, url=text
            )
        url = self._urls.get(text)
        if url is None:
            url = self._remember_url(text)
        data: bytes | io.BytesIO | None = None
        if body is not None:
            # aiohttp writes large bytes in one go (and warns); a stream is sent in chunks.
            data = body if len(body) <= _STREAM_ABOVE else io.BytesIO(body)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            # Awaited rather than entered: the whole body is read here, and reading it to
            # the end releases the connection, so the context managers' four extra
            # coroutines would do nothing on the usual path. Every early exit releases.
            # Only the arguments that differ from the session's defaults are passed.
            if data is None and headers is None and seconds == self._timeout:
                resp = await session.request(method, url, allow_redirects=False)
            else:
                limits = self._timeouts.get(seconds) or self._client_timeout(seconds)
                resp = await session.request(
                    method, url, headers=headers, data=data, timeout=limits, allow_redirects=False
                )
            try:
                status, found = resp.status, resp.headers
                if 300 <= status < 400:
                    raise _redirected(resp, method, text)
                length = found.get(self._content_length)
                if (
                    length is not None
                    and len(length) < self._short_length
                    and self._content_encoding not in found
                ):
                    data = await resp.read()  # the usual case: a plain body below the limit
                else:
                    data = await self._read(resp, method, text)
            except BaseException:
                resp.release()
                raise
        except (self._client_error, asyncio.TimeoutError) as exc:
            raise translate_exception(exc, method, text) from exc
        # The headers proxy stays valid after release and is case-insensitive.
        response = Response(status, found, data, method, text)
        if response.status in (429, 503):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait:
                self.pause(wait)
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Send one request whose answer is read as it arrives: yields its body's chunks.

        ``timeout`` (default: the client's) bounds connecting and each wait for the
        next chunk, not the whole stream. The connection is released when the block
        is left, however it is left. Raises as :meth:`send` does, and the
        :class:`APIStatusError` of a non-2xx answer (whose body is read whole).
        """
        session = self._session
        if session is None:
            raise RuntimeError("transport is not open")  # the client checks first
        seconds = self._timeout if timeout is None else timeout
        text = self.base_url + path
        if self._paused_until:
            seconds = await self._respect_pause(seconds, method, text)
        url = self._urls.get(text) or self._remember_url(text)
        import aiohttp

        limits = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
        # A stream is read as it comes: asked for uncompressed, it needs no inflating.
        headers = {
            **(headers or {}),
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
        }
        try:
            async with session.request(
                method, url, headers=headers, data=body, timeout=limits, allow_redirects=False
            ) as resp:
                if 300 <= resp.status < 400:
                    raise _redirected(resp, method, text)
                if not 200 <= resp.status < 300:
                    data = await self._read(resp, method, text)
                    raise error_for_status(Response(resp.status, resp.headers, data, method, text))
                if resp.headers.get("Content-Encoding", "identity").lower() != "identity":
                    raise DecodeError(
                        f"{method} {text}: a stream came back compressed although it was "
                        "asked for uncompressed",
                        status=resp.status,
                    )
                yield self._chunks(resp, method, text)
        except (self._client_error, asyncio.TimeoutError) as exc:
            raise translate_exception(exc, method, text) from exc

    async def _chunks(
        self, resp: aiohttp.ClientResponse, method: str, url: str
    ) -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.content.iter_any():
                yield chunk
        except (self._client_error, asyncio.TimeoutError) as exc:
            raise translate_exception(exc, method, url) from exc

    async def _read(self, resp: aiohttp.ClientResponse, method: str, url: str) -> bytes:
        """The whole (decoded) body, refusing one larger than ``max_response_bytes``.

        Compressed bodies are inflated a bounded piece at a time, so at most about
        ``max_response_bytes`` is ever held, however far the body would inflate.
        """
        limit = self._max_response_bytes
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        if encoding and encoding != "identity":
            return await self._inflate(resp, encoding, method, url)
        length = resp.content_length
        if length is not None:
            if length > limit:
                raise _too_large(length, limit, resp.status, method, url)
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit, resp.status, method, url)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _inflate(
        self, resp: aiohttp.ClientResponse, encoding: str, method: str, url: str
    ) -> bytes:
        wbits = _WBITS.get(encoding)
        if wbits is None:
            raise DecodeError(
                f"{method} {url}: unsupported Content-Encoding {encoding!r}", status=resp.status
            )
        limit = self._max_response_bytes
        inflater = _Inflater(wbits)
        out = bytearray()
        try:
            async for chunk in resp.content.iter_chunked(_READ_CHUNK):
                # At most one byte past the limit per step: a bomb stops right there.
                out += inflater.feed(chunk, limit + 1 - len(out))
                if len(out) > limit:
                    raise _too_large(len(out), limit, resp.status, method, url)
        except zlib.error as exc:
            problem = f"is not valid {encoding} ({exc})"
        else:
            if inflater.complete:
                return bytes(out)
            problem = "was cut short"
        raise DecodeError(
            f"{method} {url}: the {encoding} body {problem}", status=resp.status, malformed=True
        )

    async def _respect_pause(self, seconds: float, method: str, url: str) -> float:
        """Wait out the client-wide pause within ``seconds``; return the time left."""
        delay = self._paused_until - time.monotonic()
        if delay <= 0:
            self._paused_until = 0.0
            return seconds
        if delay >= seconds:
            raise PauseTimeout(
                f"{method} {url} not sent: the client is paused for {delay:.1f}s more "
                f"(the server's Retry-After), longer than its {seconds:.1f}s deadline",
                method=method,
                url=url,
                retry_after=delay,
            )
        await anyio.sleep(delay)
        return seconds - delay

    def _remember_url(self, text: str) -> URL:
        # Polls ask for the same few URLs again and again; parsing one costs more
        # than looking it up. Bounded: a long-lived client forgets and starts over.
        assert self._url is not None
        if len(self._urls) >= _URLS_KEPT:
            self._urls.clear()
        url = self._urls[text] = self._url(text, encoded=True)
        return url

    def _client_timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        cached = self._timeouts.get(seconds)
        if cached is None:
            import aiohttp

            cached = aiohttp.ClientTimeout(total=seconds)
            # The usual few values are kept; a budget's odd remainders are not.
            if len(self._timeouts) < _TIMEOUTS_KEPT:
                self._timeouts[seconds] = cached
        return cached


class _Inflater:
    """Incremental gzip/deflate decoding with a cap on the output of each step."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._zlib = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes, max_length: int) -> bytes:
        """Inflate ``data``, producing at most ``max_length`` bytes (>= 1).

        Raises ``zlib.error`` for data that is not of the encoding.
        """
        if not self._started and data:
            self._started = True
            if self._wbits == zlib.MAX_WBITS and data[0] & 0x0F != 8:
                # Servers that send raw deflate without the zlib header.
                self._wbits = -zlib.MAX_WBITS
                self._zlib = zlib.decompressobj(self._wbits)
        out = self._zlib.decompress(data, max_length)
        while self._zlib.eof and self._zlib.unused_data and len(out) < max_length:
            rest = self._zlib.unused_data  # a gzip body may hold several members
            self._zlib = zlib.decompressobj(self._wbits)
            out += self._zlib.decompress(rest, max_length - len(out))
        return out

    @property
    def complete(self) -> bool:
        """Whether the compressed stream ended properly (an empty body counts)."""
        return self._zlib.eof or not self._started


def _redirected(resp: aiohttp.ClientResponse, method: str, url: str) -> ProtocolError:
    location = resp.headers.get("Location", "")
    return ProtocolError(
        f"{method} {url} was redirected ({resp.status}) to {location or 'nowhere'}: the API "
        "never redirects, and a redirect is not followed (it could leave https:// or the "
        "host); check the base URL",
        method=method,
        url=url,
        status=resp.status,
        request_id=resp.headers.get("x-request-id"),
        location=location or None,
    )


Params = Mapping[str, str] | Sequence[tuple[str, str]]
"""Query parameters: a mapping, or pairs in order when a key repeats."""


@functools.lru_cache(maxsize=512)
def _query(params: tuple[tuple[str, str], ...]) -> str:
    """The encoded query string; the same few (``include_output=true``...) recur."""
    return urlencode(params, quote_via=quote)


def _too_large(size: int, limit: int, status: int, method: str, url: str) -> DecodeError:
    return DecodeError(
        f"{method} {url}: response body of {size} bytes or more exceeds the {limit}-byte limit "
        "(raise it: RetabClient(max_response_bytes=...), or the CLI's --max-response-mb)",
        status=status,
    )
