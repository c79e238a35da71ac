"""Every exception retab-async raises.

::

    RetabError
    ├── UsageError                  bad arguments, caught before anything is sent
    │   ├── DocumentError           a document that cannot be read or sent
    │   └── TokenError              a run token that is malformed, tampered with or foreign
    ├── ClientStateError            a client used after it was closed, or from another event loop
    ├── TransportError              no HTTP response was received
    │   ├── ConnectError            the connection could not be made or was dropped
    │   └── RequestTimeout          the per-request timeout (or the retry budget) elapsed
    │       └── PauseTimeout        a client-wide Retry-After pause outlasts the deadline
    ├── APIStatusError              the server answered with a non-2xx status
    │   ├── BadRequestError         400
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── ConflictError           409
    │   ├── GoneError               410
    │   ├── UnprocessableEntityError 422
    │   ├── RateLimitError          429
    │   └── ServerError             5xx
    ├── DecodeError                 a 2xx body that is not the expected JSON (or is too large)
    ├── ProtocolError               an answer the API never gives: a redirect, another run's record
    ├── UploadError                 an upload did not end in a stored file
    │   ├── UploadExpired           the upload session expired (410): upload again
    │   ├── UploadMismatch          the server found another size or checksum (422)
    │   └── FileChangedError        the local file changed while it was uploaded
    ├── CheckpointError             a batch's checkpoint cannot be written (also an OSError)
    ├── OutputValidationError       an output that does not fit the type asked for (a ValueError)
    └── RunError                    a background run did not end as hoped
        ├── RunFailed               the run ended ``failed`` (carries the server's error)
        ├── RunCancelled            the run ended ``cancelled``
        └── WaitTimeout             the wait deadline passed first

Nothing here ever carries the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._status import FAILURE_STATUSES

if TYPE_CHECKING:
    from ._error_body import ErrorDetail, PrimitiveError

__all__ = [
    "outcome_error",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "CheckpointError",
    "ClientStateError",
    "ConflictError",
    "ConnectError",
    "DecodeError",
    "DocumentError",
    "FileChangedError",
    "GoneError",
    "NotFoundError",
    "OutputValidationError",
    "PauseTimeout",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "RequestTimeout",
    "RetabError",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "ServerError",
    "TokenError",
    "TransportError",
    "UnprocessableEntityError",
    "UploadError",
    "UploadExpired",
    "UploadMismatch",
    "UsageError",
    "WaitTimeout",
]


class RetabError(Exception):
    """Root of every error raised by retab-async.

    Attributes:
        idempotency_key: on an error of a create, the ``Idempotency-Key`` it was
            sent with (``None`` elsewhere). The create may have started a run even
            so (a timeout, a dropped connection, a 5xx): calling it again with the
            same arguments and ``idempotency_key=error.idempotency_key`` within 24
            hours returns that run, or starts it, exactly once.
    """

    idempotency_key: str | None = None


class UsageError(RetabError, ValueError):
    """An argument is wrong; nothing was sent to the server."""


class DocumentError(UsageError):
    """A document cannot be turned into a request (missing, unreadable, too large...)."""


class TokenError(UsageError):
    """A run token is malformed, was altered, or belongs to another base URL."""


class ClientStateError(RetabError, RuntimeError):
    """The client cannot be used here: it was closed already (a closed client stays
    closed), or it was opened in another event loop (a client belongs to the loop
    that opened it, with ``async with``, ``open()`` or its first request)."""


class TransportError(RetabError):
    """The request got no HTTP response.

    Attributes:
        method: the HTTP method of the request.
        url: the URL of the request (never with credentials).
    """

    def __init__(self, message: str, *, method: str, url: str) -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class ConnectError(TransportError):
    """The connection failed, was refused, or was dropped before a full response."""


class RequestTimeout(TransportError):
    """The per-request timeout elapsed, or the retry policy's total budget ran out
    during an attempt (this is not a wait deadline)."""


class PauseTimeout(RequestTimeout):
    """The client is paused (a ``429``/``503`` asked to wait with ``Retry-After``) for
    longer than this request's deadline allows; nothing was sent.

    Raised at once rather than at the deadline: waiting could not help.

    Attributes:
        retry_after: seconds left in the client-wide pause.
    """

    def __init__(self, message: str, *, method: str, url: str, retry_after: float) -> None:
        super().__init__(message, method=method, url=url)
        self.retry_after = retry_after


class APIStatusError(RetabError):
    """The server answered with a status outside 2xx.

    Attributes:
        status: the HTTP status code.
        request_id: the ``x-request-id`` response header, if any.
        error: the parsed error body (code, message, details, validation items).
        body: the raw response body as text.
        headers: the response headers.
        retry_after: seconds the server asked us to wait (``Retry-After``), if any.
        method, url: what was requested.
        attempt: which attempt of the request got this answer (1 for the first).
    """

    def __init__(
        self,
        *,
        status: int,
        error: ErrorDetail,
        body: str,
        headers: Mapping[str, str],
        request_id: str | None,
        retry_after: float | None,
        method: str,
        url: str,
        attempt: int = 1,
    ) -> None:
        self.status = status
        self.error = error
        self.body = body
        self.headers = dict(headers)
        self.request_id = request_id
        self.retry_after = retry_after
        self.method = method
        self.url = url
        self.attempt = attempt
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.method} {self.url} -> {self.status}"
        if self.error.code:
            text += f" [{self.error.code}]"
        text += f": {self.error.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    @property
    def code(self) -> str | None:
        """The machine-readable error code, when the body had one."""
        return self.error.code


class BadRequestError(APIStatusError):
    """400: the server rejected the request (for example a malformed date)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or not accepted."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not do this."""


class NotFoundError(APIStatusError):
    """404: no such record (or not readable yet, right after a create)."""


class ConflictError(APIStatusError):
    """409: for example an idempotency key reused with a different body."""


class GoneError(APIStatusError):
    """410: the thing asked for existed but is gone (an expired upload session)."""


class UnprocessableEntityError(APIStatusError):
    """422: the request failed validation; see ``error.validation``."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long the server asked us to wait."""


class ServerError(APIStatusError):
    """5xx: the server or a gateway in front of it failed."""


class DecodeError(RetabError):
    """A successful response whose body is not the JSON we expected.

    Attributes:
        body: the start of the raw body (at most 2,000 characters).
        status: the HTTP status, when the body came from a response.
        request_id: the ``x-request-id`` header, when known.
        malformed: the body was not JSON at all (possibly cut short), so a retry may help.
    """

    def __init__(
        self,
        message: str,
        *,
        body: bytes | str = b"",
        status: int | None = None,
        request_id: str | None = None,
        malformed: bool = False,
    ) -> None:
        super().__init__(message)
        self.malformed = malformed
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        self.body = raw[:2000]
        self.status = status
        self.request_id = request_id


class ProtocolError(RetabError):
    """The server answered in a way the API never does, so the answer is not trusted.

    Raised for a redirect (never followed: it could downgrade ``https://`` to plain
    ``http://`` or lead to another host) and for a record whose id is not the id
    that was asked for. Never retried.

    Attributes:
        method, url: what was requested.
        status: the HTTP status of the answer.
        request_id: the ``x-request-id`` header, when known.
        location: where a redirect pointed (``None`` for other violations).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int,
        request_id: str | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status
        self.request_id = request_id
        self.location = location


class RunError(RetabError):
    """A background run did not complete.

    Attributes:
        run_id: the id of the run.
        record: the last record seen, if any.
    """

    def __init__(self, message: str, *, run_id: str, record: Any = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.record = record


class RunFailed(RunError):
    """The run ended ``failed`` (or ``error``).

    Attributes:
        error: the server's :class:`PrimitiveError` (``None`` if it gave none).
    """

    def __init__(self, *, run_id: str, error: PrimitiveError | None, record: Any = None) -> None:
        detail = "no error detail was given" if error is None else f"[{error.code}] {error.message}"
        super().__init__(f"run {run_id} failed: {detail}", run_id=run_id, record=record)
        self.error = error


class RunCancelled(RunError):
    """The run ended ``cancelled``."""

    def __init__(self, *, run_id: str, record: Any = None) -> None:
        super().__init__(f"run {run_id} was cancelled", run_id=run_id, record=record)


class OutputValidationError(RetabError, ValueError):
    """A run's output does not fit the type it was decoded into.

    Attributes:
        path: where the problem is, as a JSONPath such as ``$.items[0].qty``
            (``$`` for the output as a whole).
        reason: what is wrong there, e.g. ``Expected `int`, got `str```.
        target: the name of the type decoded into.
    """

    def __init__(self, *, path: str, reason: str, target: str) -> None:
        super().__init__(f"output does not fit {target} at {path}: {reason}")
        self.path = path
        self.reason = reason
        self.target = target


def outcome_error(record: Any) -> RunFailed | RunCancelled | None:
    """The exception a terminal run's outcome stands for: :class:`RunFailed` for a
    ``failed`` (or ``error``) run, :class:`RunCancelled` for a ``cancelled`` one, else
    ``None``. The one mapping from a record's status to a run outcome."""
    status = record.status
    if status in FAILURE_STATUSES:
        return RunFailed(run_id=record.id, error=record.error, record=record)
    if status == "cancelled":
        return RunCancelled(run_id=record.id, record=record)
    return None


class WaitTimeout(RunError, TimeoutError):
    """The wait deadline passed before the run reached a terminal state.

    Attributes:
        status: the last status seen.
        elapsed: seconds waited.
        cancelled: whether the run was cancelled on the server because of the timeout.
    """

    def __init__(
        self,
        *,
        run_id: str,
        status: str,
        elapsed: float,
        cancelled: bool = False,
        record: Any = None,
    ) -> None:
        text = f"run {run_id} still {status!r} after waiting {elapsed:.2f}s"
        if cancelled:
            text += "; it was cancelled on the server"
        super().__init__(text, run_id=run_id, record=record)
        self.status = status
        self.elapsed = elapsed
        self.cancelled = cancelled


class UploadError(RetabError):
    """An upload did not end in a stored file; nothing of it can be used.

    Attributes:
        filename: the file being uploaded.
        file_id: the reserved file's id, once there was one.
    """

    def __init__(self, message: str, *, filename: str, file_id: str | None = None) -> None:
        super().__init__(message)
        self.filename = filename
        self.file_id = file_id


class UploadExpired(UploadError):
    """The upload session expired (``410``) before it was completed: upload again.
    The server's answer is the ``__cause__`` (a :class:`GoneError`)."""


class UploadMismatch(UploadError):
    """The server found another size or checksum than was reserved (``422`` on complete):
    the bytes were damaged on the way, or the file was replaced between reading and
    sending it. The server's answer is the ``__cause__``."""


class FileChangedError(UploadError):
    """The local file changed (in size or content) while it was being uploaded."""


class CheckpointError(RetabError, OSError):
    """A batch's checkpoint journal could not be written (a full disk, a lost mount...).

    The batch stops. Every line written before stays readable, so running the
    batch again with the same checkpoint resumes it.

    Attributes:
        path: the checkpoint file.
        errno: the operating system's error number (``errno.ENOSPC``...).
    """

    def __init__(self, message: str, *, path: str, errno: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = errno


# -- names a user of the official ``retab`` SDK or of openai-python will try -----------------
# Aliases (the same class objects), not a second hierarchy: ``except APIError`` catches
# exactly what ``except APIStatusError`` catches. Exported from the package with the rest.

APIError = APIStatusError
"""Alias of :class:`APIStatusError` (the official SDK's name for a non-2xx answer)."""
APIConnectionError = TransportError
"""Alias of :class:`TransportError`: no HTTP response (the official SDK's and openai's name)."""
APITimeoutError = RequestTimeout
"""Alias of :class:`RequestTimeout` (the official SDK's and openai's name)."""
InternalServerError = ServerError
"""Alias of :class:`ServerError`: 5xx (the official SDK's and openai's name)."""
ValidationError = UnprocessableEntityError
"""Alias of :class:`UnprocessableEntityError`: 422 (the official SDK's name)."""
APIResponseValidationError = DecodeError
"""Alias of :class:`DecodeError`: a 2xx body that does not decode (openai's name)."""
