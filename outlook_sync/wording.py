"""The frontend contract of Graph outcomes: the spec's ``SyncError`` and ``OutlookCalendar`` shapes, and the supplier's words.

:mod:`outlook_sync.graph` says what happened (a typed error per transport
failure, status and Graph code; parsed calendars); this module decides what the
supplier reads and which stable WedSync code the API returns for it. Nothing
here calls Microsoft.
"""
from __future__ import annotations

from typing import Any

from .graph import errors
from .graph.types import GraphCalendar
from .sync import outcomes

#: Per error class (Graph's and the run's own outcomes): the stable WedSync code and the words for a wedding supplier.
_WORDING: tuple[tuple[type[errors.GraphError], str, str], ...] = (
    (outcomes.SyncBusy, "sync_busy", "Another sync of your calendar was still running. We'll sync again shortly."),
    (outcomes.KeptChanging, "kept_changing", "This event kept changing while we synced it. We'll try again with the next sync."),
    (errors.BadRequestError, "bad_request", "Outlook didn't accept this event's details."),
    (errors.UnauthorizedError, "unauthorized", "Outlook asked us to sign in again. We'll retry."),
    (errors.ForbiddenError, "forbidden", "Your Microsoft account doesn't allow WedSync to change this calendar."),
    (errors.NotFoundError, "not_found", "This event no longer exists in Outlook."),
    (errors.PreconditionFailedError, "changed_in_outlook", "This event was changed in Outlook at the same time. We'll compare both versions."),
    (errors.DeltaExpiredError, "delta_expired", "Outlook asked us to re-read your calendar. We'll do that automatically."),
    (errors.ThrottledError, "throttled", "Outlook is busy and asked us to slow down. We'll retry shortly."),
    (errors.MailboxBusy, "outlook_busy", "Outlook is busy with other requests. We'll retry shortly."),
    (errors.RetryableServerError, "outlook_unavailable", "Outlook isn't responding right now. We'll retry shortly."),
    (errors.GraphConnectionError, "connection_failed", "We couldn't reach Outlook. We'll retry shortly."),
    (errors.IdentityUnavailable, "microsoft_unavailable", "We couldn't reach Microsoft to renew the Outlook connection. We'll retry shortly."),
    (errors.ReauthorizationRequired, "needs_reconnect", "Your Outlook connection has expired. Please reconnect Outlook to keep your calendars in sync."),
    (errors.ForeignUrlError, "untrusted_link", "Outlook's reply pointed somewhere we don't trust, so we stopped this sync. Please contact support if this repeats."),
)
_DEFAULT = ("graph_error", "Outlook couldn't complete that. We'll try again.")

def _wording(error: BaseException) -> tuple[str, str]:
    for cls, code, message in _WORDING:
        if isinstance(error, cls):
            return code, message
    return _DEFAULT


def error_code(error: BaseException) -> str:
    """The stable WedSync code for what happened (e.g. ``needs_reconnect``), never Microsoft's."""
    return _wording(error)[0]


def user_message(error: BaseException) -> str:
    """What the supplier reads about it."""
    return _wording(error)[1]


def sync_error(error: errors.GraphError, *, event_id: Any = "", event_type: str = "") -> dict[str, Any]:
    """The spec's ``SyncError`` for one event: the stable WedSync ``errorCode`` (e.g. ``not_found``), never Microsoft's
    (``ErrorItemNotFound`` is a provider code; the frontend and the supplier get what it means)."""
    return {"eventId": str(event_id), "eventType": event_type, "errorCode": error_code(error),
            "errorMessage": user_message(error), "retryable": error.retryable}


def run_error(error: errors.GraphError) -> dict[str, Any]:
    """A run-level ``SyncError``: the stable WedSync code (e.g. ``needs_reconnect``), not Microsoft's."""
    return sync_error(error)


INTERNAL_EVENT_ERROR = {"errorCode": "internal_error", "errorMessage": "Something went wrong syncing this event. We'll retry.", "retryable": True}
INTERNAL_RUN_ERROR = {"eventId": "", "eventType": "", "errorCode": "internal_error", "errorMessage": "Something went wrong on our side. We'll try again.", "retryable": True}
INTERRUPTED_RUN_ERROR = {"eventId": "", "eventType": "", "errorCode": "interrupted", "retryable": True,
                         "errorMessage": "This sync was interrupted. The next sync picked up where it stopped."}


# --- signing in with Microsoft ---
#: Words for each sign-in failure code (:class:`~outlook_sync.graph.errors.OAuthError`).
_SIGN_IN_MESSAGES = {
    "access_denied": "You cancelled the Microsoft sign-in, so Outlook isn't connected. You can try again whenever you like.",
    "consent_required": "Your Microsoft account needs permission from your IT admin before WedSync can use your calendar.",
    "invalid_grant": "That Microsoft sign-in expired before we could finish. Please connect Outlook again.",
    "microsoft_unavailable": "Microsoft's sign-in is having trouble right now. Please try connecting Outlook again in a few minutes.",
    "not_configured": "Outlook sign-in isn't set up on this WedSync server yet. Please contact support.",
    "invalid_state": "This sign-in link is no longer valid. Please connect Outlook again.",
    "no_refresh_token": "Microsoft didn't allow WedSync to stay connected. Please try again and accept all permissions.",
}
_SIGN_IN_GENERIC = "Microsoft couldn't complete the sign-in. Please try connecting Outlook again."
_SIGN_IN_UNREACHABLE = "We couldn't reach Microsoft. Please try again in a minute."


def sign_in_message(error: errors.OAuthError) -> str:
    """What the supplier reads when connecting Outlook failed."""
    if error.unreachable:
        return _SIGN_IN_UNREACHABLE
    return _SIGN_IN_MESSAGES.get(error.code, _SIGN_IN_GENERIC)


# --- calendars ---
def calendar_contract(calendar: GraphCalendar) -> dict[str, Any]:
    """The spec's ``OutlookCalendar`` shape."""
    return {
        "id": calendar.id,
        "name": calendar.name,
        "color": calendar.color,
        "isDefaultCalendar": calendar.is_default,
        "canEdit": calendar.can_edit,
        "owner": {"name": calendar.owner_name, "address": calendar.owner_email},
    }


def calendar_from_contract(data: dict) -> GraphCalendar:
    """Back from :func:`calendar_contract` (the calendar list cached on the integration)."""
    owner = data.get("owner") or {}
    return GraphCalendar(id=str(data["id"]), name=data.get("name") or "", color=data.get("color") or "auto", is_default=bool(data.get("isDefaultCalendar")),
                         can_edit=bool(data.get("canEdit", True)), owner_name=owner.get("name") or "", owner_email=owner.get("address") or "")
