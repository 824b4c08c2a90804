"""Token lifecycle: a valid access token on demand, one refresh at a time per integration.

Refresh tokens rotate: if two workers refreshed the same token at once, the
loser would present a token Microsoft already replaced and the account would be
lost. So refreshes run under a cross-process lock, and whoever gets the lock
second re-reads the row and finds fresh tokens already stored.
"""
from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from . import locks
from .graph import oauth
from .graph.client import GraphClient
from .graph.errors import IdentityUnavailable, ReauthorizationRequired
from .models import OutlookCalendarIntegration

logger = logging.getLogger(__name__)

#: Refresh when less than this is left (MSAL treats < 5 minutes as expired).
REFRESH_MARGIN = dt.timedelta(minutes=5)
#: Beat refreshes tokens this far ahead of expiry.
REFRESH_AHEAD = dt.timedelta(minutes=15)


def _fresh(integration: OutlookCalendarIntegration, margin: dt.timedelta) -> bool:
    return integration.token_expires_at - timezone.now() > margin


def access_token(integration_id, *, force_refresh: bool = False, margin: dt.timedelta = REFRESH_MARGIN) -> str:
    """A usable access token for the integration, refreshing it first if needed.

    ``force_refresh`` is for a 401 from Graph: the stored token was refused even
    though it looked valid. Raises :class:`ReauthorizationRequired` when the
    supplier must reconnect (and marks the integration so).
    """
    return current_token(integration_id, force_refresh=force_refresh, margin=margin)[0]


def current_token(integration_id, *, force_refresh: bool = False, margin: dt.timedelta = REFRESH_MARGIN,
                  refused: str | None = None) -> tuple[str, dt.datetime]:
    """:func:`access_token` with its expiry. ``refused``: the token Graph refused (with ``force_refresh``), when
    the caller knows it; a fresh stored token other than that one (another worker refreshed) is used as it is."""
    integration = OutlookCalendarIntegration.objects.get(pk=integration_id)
    if integration.needs_reauthorization:
        raise ReauthorizationRequired("integration needs reauthorization", code=integration.reauthorization_reason or "invalid_grant")
    if (not force_refresh or (refused is not None and integration.get_access_token() != refused)) and _fresh(integration, margin):
        return integration.get_access_token(), integration.token_expires_at
    refused_token = integration.access_token_encrypted
    try:
        with _refresh_lock(integration_id):
            return _refresh(integration, refused_token, force_refresh=force_refresh, margin=margin)
    except locks.LockTimeout:
        # Another worker has been refreshing for too long: treat it like the identity platform being slow.
        raise IdentityUnavailable("token refresh lock busy", code="refresh_busy") from None


def graph_client(integration: OutlookCalendarIntegration, **kwargs) -> GraphClient:
    """A Graph client for a stored integration: tokens come from (and are refreshed into) the database, and the
    mailbox's request slots are shared by every process (:func:`outlook_sync.locks.mailbox_slots`).

    The token is read once (from ``integration`` itself while it is fresh) and kept, not read per request
    (:class:`TokenSource`).
    """
    return GraphClient(integration.microsoft_user_id, TokenSource(integration), slots=locks.mailbox_slots, **kwargs)


class TokenSource:
    """The token provider of one Graph client (:func:`graph_client`): no database read per request.

    The access token held by the integration as the caller loaded it is used while it is fresh (the first
    request reads nothing); after that it comes from :func:`current_token` and is kept while it stays fresh.
    A refused token (``force_refresh``, after a 401) always goes to :func:`current_token`, which refreshes it
    under the lock unless another worker already did.
    """

    def __init__(self, integration: OutlookCalendarIntegration):
        self.integration_id = integration.pk
        loaded = not integration.needs_reauthorization and integration.access_token_encrypted and integration.token_expires_at
        self._loaded = integration if loaded else None
        self._token: str | None = None
        self._expires_at: dt.datetime | None = None

    def __call__(self, force_refresh: bool) -> str:
        if self._token is None and self._loaded is not None:
            self._token, self._expires_at = self._loaded.get_access_token(), self._loaded.token_expires_at
            self._loaded = None
        if not force_refresh and self._token is not None and self._expires_at - timezone.now() > REFRESH_MARGIN:
            return self._token
        refused = self._token if force_refresh else None
        self._token, self._expires_at = current_token(self.integration_id, force_refresh=force_refresh, refused=refused)
        return self._token


def _refresh_lock(integration_id):
    return locks.exclusive(f"token-refresh:{integration_id}")


def _refresh(integration: OutlookCalendarIntegration, refused_token: str, *, force_refresh: bool, margin: dt.timedelta) -> tuple[str, dt.datetime]:
    integration.refresh_from_db()
    if integration.needs_reauthorization:
        raise ReauthorizationRequired("integration needs reauthorization", code=integration.reauthorization_reason or "invalid_grant")
    already_refreshed = integration.access_token_encrypted != refused_token
    if (already_refreshed or not force_refresh) and _fresh(integration, margin):
        return integration.get_access_token(), integration.token_expires_at
    try:
        tokens = oauth.refresh(integration.get_refresh_token())
    except ReauthorizationRequired as exc:
        mark_needs_reauthorization(integration.id, exc.code)
        raise
    integration.set_tokens(access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_at=tokens.expires_at)
    integration.save(update_fields=["access_token_encrypted", "refresh_token_encrypted", "token_expires_at", "updated_at"])
    logger.info("Refreshed Outlook tokens for integration %s (expire %s)", integration.id, tokens.expires_at.isoformat())
    return tokens.access_token, tokens.expires_at


def mark_needs_reauthorization(integration_id, reason_code: str) -> None:
    """Stop syncing this integration until the supplier reconnects; say why."""
    with transaction.atomic():
        updated = OutlookCalendarIntegration.objects.filter(pk=integration_id, needs_reauthorization=False).update(
            needs_reauthorization=True,
            reauthorization_reason=reason_code,
            last_sync_status="error",
            updated_at=timezone.now(),
        )
    if updated:
        logger.warning("Integration %s needs reauthorization (%s); sync paused", integration_id, reason_code)


def integrations_due_for_refresh(within: dt.timedelta = REFRESH_AHEAD):
    """Ids of healthy integrations whose access token expires within ``within`` (for beat)."""
    return list(
        OutlookCalendarIntegration.objects.filter(needs_reauthorization=False, token_expires_at__lt=timezone.now() + within).values_list("id", flat=True)
    )
