"""Typed errors built from Microsoft identity and Graph responses, in one place: they say what happened.

Graph error bodies look like ``{"error": {"code", "message", "innerError": {"request-id", "date"}}}``;
:meth:`GraphError.from_response` turns a transport failure, a status and a Graph
code into the subclass a caller can decide on (throttled, not found,
precondition failed, delta expired, ...). What the supplier reads about each,
and the stable WedSync code the API shows, is :mod:`outlook_sync.wording`'s.
"""
from __future__ import annotations

import email.utils
import time

import requests


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: fractional seconds or an HTTP date."""
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


class GraphError(Exception):
    """A failed Graph request. ``retryable`` says whether trying later may succeed."""

    retryable = False

    def __init__(self, message: str = "", *, status: int | None = None, code: str = "", request_id: str = "", retry_after: float | None = None):
        super().__init__(message or code or self.__class__.__name__)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    @classmethod
    def from_parts(cls, status: int, headers, body) -> GraphError:
        """Build the right subclass from a status, headers (mapping) and a decoded body (dict or None)."""
        error = (body or {}).get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
        inner = error.get("innerError") or error.get("innererror") or {}
        request_id = str(inner.get("request-id") or "") if isinstance(inner, dict) else ""
        retry_after = parse_retry_after((headers or {}).get("Retry-After") or (headers or {}).get("retry-after"))
        klass = _BY_STATUS.get(status, RetryableServerError if status >= 500 else GraphError)
        if status == 410 or code in ("SyncStateNotFound", "SyncStateInvalid", "ResyncRequired"):
            klass = DeltaExpiredError
        return klass(message, status=status, code=code, request_id=request_id, retry_after=retry_after)

    @classmethod
    def from_response(cls, response: requests.Response) -> GraphError:
        try:
            body = response.json()
        except ValueError:
            body = None
        return cls.from_parts(response.status_code, response.headers, body)


class BadRequestError(GraphError):
    """400: Graph refused the request as malformed (e.g. an event's fields)."""


class UnauthorizedError(GraphError):
    """401: the access token was refused (expired or revoked)."""

    retryable = True


class ForbiddenError(GraphError):
    """403: the account or its admin does not allow this (e.g. a read-only calendar)."""


class NotFoundError(GraphError):
    """404: the event (or subscription) no longer exists."""


class PreconditionFailedError(GraphError):
    """412: our If-Match etag is stale — the event changed in Outlook since we read it."""

    retryable = True


class DeltaExpiredError(GraphError):
    """410 SyncStateNotFound: the delta link expired; a full re-read is needed."""

    retryable = True


class ThrottledError(GraphError):
    """429: Microsoft asked us to slow down for ``retry_after`` seconds."""

    retryable = True


class RetryableServerError(GraphError):
    """5xx (503/504 mostly): Microsoft is having trouble; try again later."""

    retryable = True


class GraphConnectionError(GraphError):
    """The request never got an answer (connection refused, reset, timeout)."""

    retryable = True


class MailboxBusy(GraphError):
    """Our own limit of requests in flight to this mailbox stayed full for minutes (the client's ``slots`` timed out).

    Every later request of the run would wait as long, so the run ends and is retried (see the engine's guard).
    """

    retryable = True


class IdentityUnavailable(GraphError):
    """The Microsoft identity platform failed while renewing the access token (unreachable, 5xx, a transient error).

    A :class:`GraphError` like any other outage, so every caller that handles
    "Outlook is unreachable" handles this too (a run ends failed and retries).
    """

    retryable = True


class ReauthorizationRequired(GraphError):
    """Microsoft refused the refresh token: the supplier has to reconnect Outlook."""


class ForeignUrlError(GraphError):
    """A link (stored deltaLink, @odata.nextLink) that is not Microsoft Graph's origin: never sent, never given the token."""


_BY_STATUS: dict[int, type[GraphError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    410: DeltaExpiredError,
    412: PreconditionFailedError,
    429: ThrottledError,
}


class OAuthError(Exception):
    """The sign-in with Microsoft failed: ``code`` is stable (one of a fixed set), ``unreachable`` when Microsoft never answered."""

    def __init__(self, code: str, *, detail: str = "", status: int = 400, unreachable: bool = False):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.status = status
        self.unreachable = unreachable
