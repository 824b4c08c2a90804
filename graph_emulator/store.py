"""All emulator state, as plain JSON-serialisable dicts.

One :class:`Store` holds registered apps, users, calendars, events (with the
per-mailbox change sequence that delta queries are built on), OAuth codes and
tokens, subscriptions and delta tokens. Everything runs on one asyncio event
loop and mutations never await, so no locking is needed.

Why a change *sequence* rather than timestamps: delta queries must return
exactly the changes since a token, and two writes in the same clock tick
must still be ordered. Each write to a mailbox takes the next number; an
event remembers the numbers at which its time range changed (``history``) so
that a delta can tell whether it *was* inside the window when the token was
issued (then moving it out gives an ``@removed`` entry) or never was.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import uuid
from typing import Callable

from . import tz

PERSISTED_KEYS = (
    "tenant_id", "apps", "users", "calendars", "events", "tombstones", "seq", "transactions",
    "codes", "refresh_tokens", "access_tokens", "subscriptions", "delta_tokens", "invitations", "signing_key_pem",
)
HISTORY_LIMIT = 50


def graph_id(kind: bytes = b"\x00\x00") -> str:
    """A long opaque id in Graph's style (``AAMkA...=``): URL-safe base64 with padding."""
    raw = b"\x00\x00\x8e" + kind + secrets.token_bytes(69)
    return base64.urlsafe_b64encode(raw).decode()[:-2] + "AA="


def change_key() -> str:
    return base64.b64encode(b"\x0f\x00\x00\x00" + secrets.token_bytes(14)).decode().replace("/", "_").replace("+", "-")


class Store:
    def __init__(self) -> None:
        self.tenant_id = str(uuid.uuid4())
        self.signing_key_pem: str | None = None
        #: Apps given on the command line survive ``reset``; others do not.
        self.cli_apps: dict[str, dict] = {}
        self.on_event_change: Callable[[dict, str], None] | None = None
        self.dirty = False
        self.clear()

    # --- lifecycle ---
    def clear(self) -> None:
        self.apps: dict[str, dict] = {k: dict(v) for k, v in self.cli_apps.items()}
        self.users: dict[str, dict] = {}
        self.calendars: dict[str, dict] = {}
        self.events: dict[str, dict] = {}
        self.tombstones: dict[str, list] = {}  # user id -> [{id, calendar_id, seq, history}]
        self.seq: dict[str, int] = {}  # user id -> last change number
        self.transactions: dict[str, dict] = {}  # user id -> {transactionId: [event id, unix time of the create]}
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.delta_tokens: dict[str, dict] = {}
        self.skip_tokens: dict[str, dict] = {}  # in memory only
        self.invitations: list[dict] = []
        self.dirty = True

    def to_json(self) -> dict:
        return {key: getattr(self, key) for key in PERSISTED_KEYS}

    def load_json(self, data: dict) -> None:
        for key in PERSISTED_KEYS:
            if key in data:
                setattr(self, key, data[key])
        for client_id, app in self.cli_apps.items():
            self.apps[client_id] = dict(app)

    def save(self, path: str) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".graph-emulator-", dir=directory)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.to_json(), handle)
        os.replace(tmp, path)
        self.dirty = False

    def load(self, path: str) -> bool:
        if not os.path.exists(path):
            return False
        with open(path) as handle:
            self.load_json(json.load(handle))
        self.dirty = False
        return True

    # --- apps ---
    def register_app(self, client_id: str, client_secret: str | None, redirect_uris: list[str], *, from_cli: bool = False) -> dict:
        app = {"client_id": client_id, "client_secret": client_secret, "redirect_uris": list(redirect_uris or [])}
        existing = self.apps.get(client_id)
        if existing and from_cli:
            app["redirect_uris"] = sorted(set(existing["redirect_uris"]) | set(app["redirect_uris"]))
        self.apps[client_id] = app
        if from_cli:
            self.cli_apps[client_id] = dict(app)
        self.dirty = True
        return app

    @property
    def open_registration(self) -> bool:
        """With no registered app, any client id, secret and redirect URI is accepted."""
        return not self.apps

    # --- users and calendars ---
    def create_user(self, email: str, display_name: str | None = None, password: str | None = None,
                    tenant_id: str | None = None, user_id: str | None = None, time_zone: str | None = None) -> dict:
        email = email.strip()
        user = {
            "id": user_id or str(uuid.uuid4()),
            "tenantId": tenant_id or self.tenant_id,
            "email": email,
            "displayName": display_name or email.split("@")[0].replace(".", " ").title(),
            "password": password,
            "timeZone": time_zone or "UTC",
        }
        self.users[user["id"]] = user
        self.seq[user["id"]] = 0
        self.create_calendar(user, "Calendar", default=True)
        self.dirty = True
        return user

    def user_by_email(self, email: str) -> dict | None:
        wanted = (email or "").strip().lower()
        for user in self.users.values():
            if user["email"].lower() == wanted:
                return user
        return None

    def user_by_id_or_email(self, key: str) -> dict | None:
        return self.users.get(key) or self.user_by_email(key)

    def create_calendar(self, user: dict, name: str, *, default: bool = False, color: str = "auto", hex_color: str = "") -> dict:
        calendar = {
            "id": graph_id(b"\x01\x00"),
            "user_id": user["id"],
            "name": name,
            "color": color,
            "hexColor": hex_color,
            "isDefaultCalendar": default,
            "changeKey": change_key(),
        }
        self.calendars[calendar["id"]] = calendar
        self.dirty = True
        return calendar

    def calendars_of(self, user_id: str) -> list[dict]:
        return [c for c in self.calendars.values() if c["user_id"] == user_id]

    def default_calendar(self, user_id: str) -> dict:
        for calendar in self.calendars_of(user_id):
            if calendar["isDefaultCalendar"]:
                return calendar
        raise KeyError(user_id)

    # --- events: the change sequence ---
    def next_seq(self, user_id: str) -> int:
        self.seq[user_id] = self.seq.get(user_id, 0) + 1
        return self.seq[user_id]

    def events_of(self, user_id: str, calendar_id: str | None = None) -> list[dict]:
        return [
            e for e in self.events.values()
            if e["user_id"] == user_id and (calendar_id is None or e["calendar_id"] == calendar_id)
        ]

    def record_write(self, event: dict, change_type: str) -> None:
        """Stamp a created/updated event: new changeKey, modified time, change number, history."""
        seq = self.next_seq(event["user_id"])
        event["seq"] = seq
        event["changeKey"] = change_key()
        event["modified"] = tz.iso(tz.now())
        history = event.setdefault("history", [])
        history.append([seq, event["start"], event["end"]])
        del history[:-HISTORY_LIMIT]
        self.dirty = True
        if self.on_event_change:
            self.on_event_change(event, change_type)

    def delete_event(self, event: dict) -> None:
        self.events.pop(event["id"], None)
        seq = self.next_seq(event["user_id"])
        self.tombstones.setdefault(event["user_id"], []).append(
            {"id": event["id"], "calendar_id": event["calendar_id"], "seq": seq, "history": event.get("history", [])}
        )
        txns = self.transactions.get(event["user_id"], {})
        for key in [k for k, v in txns.items() if (v if isinstance(v, str) else v[0]) == event["id"]]:
            del txns[key]
        self.dirty = True
        if self.on_event_change:
            self.on_event_change(event, "deleted")

    # --- tokens ---
    def new_token(self, prefix: str) -> str:
        return prefix + secrets.token_urlsafe(48)
