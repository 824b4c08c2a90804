"""Database sessions with an idle timeout that does not cost a write on every request.

The idle timeout (``SESSION_COOKIE_AGE``) needs the session's expiry moved
forward as the supplier uses the site. Django's ``SESSION_SAVE_EVERY_REQUEST``
does that by rewriting the session row on every request (BEGIN, UPDATE,
COMMIT), even when only the expiry moves by a second. This store renews a
session only when its stored expiry lags what a save now would store by more
than ``SESSION_RENEWAL_INTERVAL_SECONDS``: it then marks the session modified
as it loads it, and Django's session middleware saves it and sends the cookie
again at the end of the request. Otherwise nothing is written.

So a session ends between ``SESSION_COOKIE_AGE - interval`` and
``SESSION_COOKIE_AGE`` after the last request that used it: never later than
the configured idle time (the stored expiry is only ever behind, and the cookie
carries the same expiry as the row).
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.sessions.backends import db


def renewal_interval() -> dt.timedelta:
    """How far the stored expiry may lag before a request writes the session (at most a tenth of its age)."""
    seconds = min(settings.SESSION_RENEWAL_INTERVAL_SECONDS, settings.SESSION_COOKIE_AGE / 10)
    return dt.timedelta(seconds=max(0, seconds))


class SessionStore(db.SessionStore):
    """``django.contrib.sessions.backends.db`` that renews the expiry at most once per :func:`renewal_interval`."""

    #: The expiry stored in the database when the session was loaded (None: not loaded, or no such session).
    stored_expiry: dt.datetime | None = None

    def _get_session_from_db(self):
        stored = super()._get_session_from_db()
        self.stored_expiry = stored.expire_date if stored is not None else None
        return stored

    async def _aget_session_from_db(self):
        stored = await super()._aget_session_from_db()
        self.stored_expiry = stored.expire_date if stored is not None else None
        return stored

    def load(self):
        data = super().load()
        self._renew_if_due(data)
        return data

    async def aload(self):
        data = await super().aload()
        self._renew_if_due(data)
        return data

    def _renew_if_due(self, data: dict) -> None:
        if self.stored_expiry is None:
            return
        # What a save now would store (``expiry`` given, so this does not load the session again).
        renewed = self.get_expiry_date(expiry=data.get("_session_expiry"))
        if renewed - self.stored_expiry > renewal_interval():
            self.modified = True
