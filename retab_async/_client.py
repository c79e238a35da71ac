"""``RetabClient``: configuration, lifecycle, and one property per primitive.

The client is the facade: it reads configuration, builds the request
:class:`Pipeline` and the :class:`Poller`, and hands them to the resources.
Nothing in the package imports it.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._clock import SYSTEM_CLOCK, Clock
from ._errors import UsageError
from ._http.pipeline import Pipeline, State
from ._http.retry import RetryPolicy
from ._http.transport import Transport, normalize_base_url
from ._runs.poller import Poller
from ._runs.polling import PollPolicy

if TYPE_CHECKING:
    from ._resources.classifications import Classifications
    from ._resources.edits import Edits
    from ._resources.extractions import Extractions
    from ._resources.file_blueprints import FileBlueprints
    from ._resources.files import Files
    from ._resources.parses import Parses
    from ._resources.partitions import Partitions
    from ._resources.schema_generations import Schemas
    from ._resources.splits import Splits
    from ._runs.handle import RunHandle

__all__ = ["DEFAULT_BASE_URL", "RetabClient"]

DEFAULT_BASE_URL = "https://api.retab.com"


class RetabClient:
    """An async client for the Retab API.

    Use it as an async context manager (the recommended form)::

        async with RetabClient() as client:
            result = await client.classifications.create("invoice.pdf", ["invoice", "receipt"])

    or without one, as ``httpx.AsyncClient`` and ``AsyncOpenAI`` allow: the first
    request opens the client in the running event loop, and ``await client.aclose()``
    closes it. A client garbage-collected while open emits a ``ResourceWarning``
    ("unclosed RetabClient"). A closed client stays closed: using it raises
    :class:`ClientStateError`.

    Args:
        api_key: the API key; defaults to ``$RETAB_API_KEY``.
        base_url: the API's base URL; defaults to ``$RETAB_API_BASE_URL``, then
            ``https://api.retab.com``. A trailing ``/v1`` is dropped.
        timeout: seconds for one HTTP request (not for waiting on a run).
        sync_timeout: seconds for a synchronous create, which answers only when the run ends.
        retry: how failed requests are retried.
        poll: how background runs are polled.
        max_connections: the size of the connection pool.
        verify_ssl: verify TLS certificates (on by default).
        allow_insecure_http: allow sending the key over plain ``http://`` to a host
            that is not loopback.
        user_agent: replaces the default ``User-Agent``.
        max_response_bytes: a larger response body (counted after decompression) is
            refused with :class:`DecodeError`.
        clock: what the run machinery reads time from (poll spacing, wait deadlines,
            batch timeouts, the clean-up cancel's grace); the system clock by default.
            Tests pass a :class:`retab_async.testing.ManualClock` to decide time
            themselves. Per-request HTTP timeouts always run on real time.

    A ``429`` or ``503`` with ``Retry-After`` pauses every request of the client (up to
    ``retry.max_retry_after`` seconds). The pause counts against each request's
    ``timeout`` and the retry policy's budget: a request that cannot be sent before
    its deadline fails at once with :class:`PauseTimeout`. Cancels are not held back
    by the pause, so a clean-up cancel still reaches the server.

    A client belongs to the event loop that opened it; using it from another loop
    raises :class:`ClientStateError`.

    Raises:
        UsageError: no API key, or a base URL that is not acceptable.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        sync_timeout: float = 1800.0,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        max_connections: int = 100,
        verify_ssl: bool = True,
        allow_insecure_http: bool = False,
        user_agent: str | None = None,
        max_response_bytes: int = 64 * 1024 * 1024,
        clock: Clock | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("RETAB_API_KEY", "")
        if not key or not key.strip():
            raise UsageError("no API key: pass api_key= or set RETAB_API_KEY")
        if any(ch in key for ch in "\r\n\0") or key != key.strip():
            raise UsageError("the API key contains whitespace or control characters")
        url = base_url or os.environ.get("RETAB_API_BASE_URL") or DEFAULT_BASE_URL
        if timeout <= 0 or sync_timeout <= 0:
            raise UsageError("timeouts must be positive")
        if max_response_bytes < 1024:
            raise UsageError("max_response_bytes must be at least 1024")
        if max_connections < 1:
            raise UsageError("max_connections must be at least 1")
        self.base_url = normalize_base_url(url, allow_insecure_http=allow_insecure_http)
        self.timeout = timeout
        self.sync_timeout = sync_timeout
        self.retry = retry or RetryPolicy()
        self._transport = Transport(
            base_url=self.base_url,
            api_key=key,
            timeout=timeout,
            max_connections=max_connections,
            verify_ssl=verify_ssl,
            user_agent=user_agent,
            max_pause=self.retry.max_retry_after,
            max_response_bytes=max_response_bytes,
        )
        self.clock: Clock = clock or SYSTEM_CLOCK
        self._pipeline = Pipeline(
            self._transport,
            self.retry,
            timeout=timeout,
            sync_timeout=sync_timeout,
            clock=self.clock,
        )
        self.poller = Poller(self._pipeline, poll or PollPolicy())

    def __repr__(self) -> str:
        return f"<RetabClient {self.base_url} {self.state}>"

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # ``_warn`` is bound now: module globals may be gone when this runs at exit.
        pipeline = self.__dict__.get("_pipeline")
        if pipeline is not None and pipeline.state == "open":
            _warn(
                f"unclosed {self!r}: use 'async with RetabClient() as client' "
                "or 'await client.aclose()'",
                ResourceWarning,
                source=self,
            )

    @property
    def state(self) -> State:
        """``"unopened"``, ``"open"`` or ``"closed"``."""
        return self._pipeline.state

    @functools.cached_property
    def classifications(self) -> Classifications:
        """Classify documents: create, get, list, cancel, delete, and background runs."""
        from ._resources.classifications import Classifications

        return Classifications(self._pipeline, self.poller)

    @functools.cached_property
    def extractions(self) -> Extractions:
        """Extract data matching a JSON schema: create, stream, sources, and background runs."""
        from ._resources.extractions import Extractions

        return Extractions(self._pipeline, self.poller)

    @functools.cached_property
    def parses(self) -> Parses:
        """Parse documents into text, page by page: create, get, list, and background runs."""
        from ._resources.parses import Parses

        return Parses(self._pipeline, self.poller)

    @functools.cached_property
    def file_blueprints(self) -> FileBlueprints:
        """Describe uploaded files (pages, fields): create, get, cancel, and background runs
        (no list, no delete)."""
        from ._resources.file_blueprints import FileBlueprints

        return FileBlueprints(self._pipeline, self.poller)

    @functools.cached_property
    def schemas(self) -> Schemas:
        """Generate a JSON Schema from example documents: generate, get, cancel, and
        background runs (no list, no delete)."""
        from ._resources.schema_generations import Schemas

        return Schemas(self._pipeline, self.poller)

    @functools.cached_property
    def edits(self) -> Edits:
        """Fill documents' form fields: create, get, list, save the filled PDF, background runs."""
        from ._resources.edits import Edits

        return Edits(self._pipeline, self.poller)

    @functools.cached_property
    def files(self) -> Files:
        """Upload files of any size; list, get and link stored files."""
        from ._resources.files import Files

        return Files(self._pipeline)

    @functools.cached_property
    def splits(self) -> Splits:
        """Split documents into their subdocuments: create, get, list, and background runs."""
        from ._resources.splits import Splits

        return Splits(self._pipeline, self.poller)

    @functools.cached_property
    def partitions(self) -> Partitions:
        """Partition documents into chunks by a key: create, get, list, and background runs."""
        from ._resources.partitions import Partitions

        return Partitions(self._pipeline, self.poller)

    # -- lifecycle --------------------------------------------------------------

    async def open(self) -> RetabClient:
        """Open the HTTP session. ``async with`` does this for you, and so does the
        first request of a client never opened.

        Raises :class:`ClientStateError` if the client is open or closed already.
        """
        await self._pipeline.open()
        return self

    async def aclose(self) -> None:
        """Stop polling and close the HTTP session. Safe to call more than once.

        Raises :class:`ClientStateError` when called from another event loop than
        the one that opened the client (which alone can close its connections).
        """
        if self.state == "closed":
            return
        self._pipeline.closing()
        try:
            await self.poller.aclose()
        finally:
            await self._pipeline.close()

    async def __aenter__(self) -> RetabClient:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def resume(self, token: str) -> RunHandle[Any]:
        """A handle on the run that ``token`` (from :attr:`RunHandle.token`) describes.

        Raises :class:`TokenError` when the token is malformed, altered, names an
        unknown primitive, or was made for another base URL.
        """
        from ._runs.handle import RunHandle
        from ._runs.tokens import decode_token

        primitive, run_id, key = decode_token(token, base_url=self.base_url)
        return RunHandle(self._pipeline, self.poller, primitive, run_id, idempotency_key=key)

    @property
    def requests_in_flight(self) -> int:
        """Requests sent (or being retried) and not answered yet. A test that drives a
        ``ManualClock`` moves time only when this is 0 and ``poller.idle``."""
        return self._pipeline.in_flight
