"""Typed errors built from Microsoft identity and Graph responses, in one place.

Graph error bodies look like ``{"error": {"code", "message", "innerError": {"request-id", "date"}}}``;
:meth:`GraphError.from_response` turns a response into the subclass a caller can
decide on (throttled, not found, precondition failed, delta expired, ...).
Every error carries ``user_message``: words for a wedding supplier.
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
    user_message = "Outlook couldn't complete that. We'll try again."
    error_code = "graph_error"

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

    def as_sync_error(self) -> dict:
        """The fields of the spec's ``SyncError`` this error determines."""
        return {"errorCode": self.code or self.error_code, "errorMessage": self.user_message, "retryable": self.retryable}


class BadRequestError(GraphError):
    error_code = "bad_request"
    user_message = "Outlook didn't accept this event's details."


class UnauthorizedError(GraphError):
    """401: the access token was refused (expired or revoked)."""

    retryable = True
    error_code = "unauthorized"
    user_message = "Outlook asked us to sign in again. We'll retry."


class ForbiddenError(GraphError):
    error_code = "forbidden"
    user_message = "Your Microsoft account doesn't allow WedSync to change this calendar."


class NotFoundError(GraphError):
    error_code = "not_found"
    user_message = "This event no longer exists in Outlook."


class PreconditionFailedError(GraphError):
    """412: our If-Match etag is stale — the event changed in Outlook since we read it."""

    retryable = True
    error_code = "changed_in_outlook"
    user_message = "This event was changed in Outlook at the same time. We'll compare both versions."


class DeltaExpiredError(GraphError):
    """410 SyncStateNotFound: the delta link expired; a full re-read is needed."""

    retryable = True
    error_code = "delta_expired"
    user_message = "Outlook asked us to re-read your calendar. We'll do that automatically."


class ThrottledError(GraphError):
    """429: Microsoft asked us to slow down for ``retry_after`` seconds."""

    retryable = True
    error_code = "throttled"
    user_message = "Outlook is busy and asked us to slow down. We'll retry shortly."


class RetryableServerError(GraphError):
    """5xx (503/504 mostly): Microsoft is having trouble; try again later."""

    retryable = True
    error_code = "outlook_unavailable"
    user_message = "Outlook isn't responding right now. We'll retry shortly."


class GraphConnectionError(GraphError):
    """The request never got an answer (connection refused, reset, timeout)."""

    retryable = True
    error_code = "connection_failed"
    user_message = "We couldn't reach Outlook. We'll retry shortly."


class IdentityUnavailable(GraphError):
    """The Microsoft identity platform failed while renewing the access token (unreachable, 5xx, a transient error).

    A :class:`GraphError` like any other outage, so every caller that handles
    "Outlook is unreachable" handles this too (a run ends failed and retries).
    """

    retryable = True
    error_code = "microsoft_unavailable"
    user_message = "We couldn't reach Microsoft to renew the Outlook connection. We'll retry shortly."


class ReauthorizationRequired(GraphError):
    """Microsoft refused the refresh token: the supplier has to reconnect Outlook."""

    error_code = "needs_reconnect"
    user_message = "Your Outlook connection has expired. Please reconnect Outlook to keep your calendars in sync."


class ForeignUrlError(GraphError):
    """A link (stored deltaLink, @odata.nextLink) that is not Microsoft Graph's origin: never sent, never given the token."""

    error_code = "untrusted_link"
    user_message = "Outlook's reply pointed somewhere we don't trust, so we stopped this sync. Please contact support if this repeats."


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
    """The sign-in with Microsoft failed; ``code`` is stable, ``user_message`` is for the supplier."""

    def __init__(self, code: str, user_message: str, *, detail: str = "", status: int = 400):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.user_message = user_message
        self.status = status
