"""Microsoft Graph v1.0 calendar API under ``/v1.0``.

Requests are turned into a small :class:`GReq` and routed by a table of
regexes, so that an HTTP request and an item inside ``$batch`` go through the
same handlers, the same fault injection and the same throttling accounting:

* HTTP request: count it, resolve the bearer token, apply a matching fault,
  take a concurrency slot of (app, mailbox), spend one unit of the request
  budget, sleep the service time, run the handler.
* ``$batch``: the envelope holds no slot; up to 4 items run in parallel, each
  taking one of the mailbox's concurrency slots (an item finding none gets its
  own 429 MailboxConcurrency + Retry-After), spending budget (likewise 429),
  sleeping the service time and running the handler; ``dependsOn`` orders items
  (424 when a dependency failed).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from . import eventmodel, recurrence, tz
from .store import change_key as store_change_key
from .errors import DEFAULT_CODES, DEFAULT_MESSAGES, GraphError, error_body
from .throttling import format_retry_after

if TYPE_CHECKING:
    from .app import Emulator

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
ODATA_ALIASES = {"select", "expand", "filter", "top", "skip", "orderby", "count", "search", "skiptoken", "deltatoken"}


class Dropped(Exception):
    """The connection was dropped on purpose (a fault); nothing may be sent."""


@dataclass
class GReq:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    base: str
    user: dict | None = None
    client_id: str | None = None
    in_batch: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def graph_base(self) -> str:
        return f"{self.base}/v1.0"


@dataclass
class GResp:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_response(req: GReq | None, status: int, code: str | None = None, message: str | None = None, headers: dict | None = None) -> GResp:
    code = code or DEFAULT_CODES.get(status, "UnknownError")
    message = message or DEFAULT_MESSAGES.get(status, code)
    client_request_id = req.headers.get("client-request-id") if req else None
    return GResp(status, error_body(code, message, req.request_id if req else None, client_request_id), dict(headers or {}))


# --- request parsing helpers ---
def parse_query(query_string: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if not key.startswith("$") and key.lower() in ODATA_ALIASES:
            key = "$" + key.lower()
        elif key.startswith("$"):
            key = key.lower()
        out[key] = value
    return out


_PREFER_RE = re.compile(r'\s*([A-Za-z][\w.-]*)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,;]*))?\s*(?:;[^,]*)?(?:,|$)')


def parse_prefer(headers: dict[str, str]) -> dict[str, str]:
    prefs: dict[str, str] = {}
    text = headers.get("prefer", "")
    for m in _PREFER_RE.finditer(text):
        if not m.group(1):
            continue
        value = (m.group(2) or "").strip()
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        prefs[m.group(1).lower()] = value
    return prefs


def _int_param(req: GReq, name: str) -> int | None:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid {name} value '{raw}'.") from None
    if value < 0:
        raise GraphError(400, "BadRequest", f"Invalid {name} value '{raw}'.")
    return value


_EXT_FILTER_RE = re.compile(
    r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'((?:[^']|'')*)'"
    r"(?:\s+and\s+\1/value\s+(eq|ne)\s+('(?:[^']|'')*'|null))?\s*\)\s*$",
    re.IGNORECASE,
)
_EXPAND_RE = re.compile(r"^singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*(.*)\))?$", re.IGNORECASE)
_ID_EQ_RE = re.compile(r"id\s+eq\s+'((?:[^']|'')*)'", re.IGNORECASE)


def parse_filter(req: GReq) -> Callable[[dict], bool] | None:
    text = req.query.get("$filter")
    if not text:
        return None
    m = _EXT_FILTER_RE.match(text)
    if not m:
        raise GraphError(400, "ErrorInvalidUrlQueryFilter", f"The $filter '{text}' is not supported by graph_emulator (only singleValueExtendedProperties/Any(...)).")
    prop_id = m.group(2).replace("''", "'")
    op, raw = m.group(3), m.group(4)
    value = None if raw is None or raw.lower() == "null" else raw[1:-1].replace("''", "'")
    return lambda record: eventmodel.matches_ext_filter(record, prop_id, op, value)


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts]


def render_options(req: GReq, *, allow_expand: bool = True) -> tuple[eventmodel.RenderOptions, dict[str, str]]:
    prefs = parse_prefer(req.headers)
    applied: dict[str, str] = {}
    zone_name = prefs.get("outlook.timezone")
    if zone_name:
        if not tz.is_known_zone(zone_name):
            raise GraphError(400, "TimeZoneNotSupportedException", f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone_name}'.")
        applied["outlook.timezone"] = f'outlook.timezone="{zone_name}"'
    body_type = (prefs.get("outlook.body-content-type") or "").lower() or None
    if body_type in ("text", "html"):
        applied["outlook.body-content-type"] = f'outlook.body-content-type="{body_type}"'
    else:
        body_type = None
    select = None
    if req.query.get("$select"):
        select = {s.strip() for s in req.query["$select"].split(",") if s.strip()}
    expand: list[str] | bool | None = None
    if allow_expand and req.query.get("$expand"):
        for part in _split_top_level(req.query["$expand"]):
            m = _EXPAND_RE.match(part)
            if not m:
                continue
            if m.group(1):
                expand = [x.replace("''", "'").lower() for x in _ID_EQ_RE.findall(m.group(1))]
            else:
                expand = True
    return eventmodel.RenderOptions(zone_name or "UTC", select, expand, body_type), applied


def page_size(req: GReq, emu: Emulator, default_key: str = "default_page_size") -> tuple[int, dict[str, str]]:
    prefs = parse_prefer(req.headers)
    applied: dict[str, str] = {}
    top = _int_param(req, "$top")
    size = int(emu.config[default_key])
    raw = prefs.get("odata.maxpagesize")
    if raw:
        try:
            size = max(1, int(raw))
            applied["odata.maxpagesize"] = f"odata.maxpagesize={size}"
        except ValueError:
            pass
    if top is not None:
        size = max(1, top)
    return min(size, int(emu.config["max_page_size"])), applied


def preference_header(*applied: dict[str, str]) -> dict[str, str]:
    values = [v for a in applied for v in a.values()]
    return {"Preference-Applied": ", ".join(values)} if values else {}


def link(req: GReq, params: dict[str, str]) -> str:
    return f"{req.graph_base}{quote(req.path, safe='/$=')}?" + urlencode(params, safe="$'(),:/", quote_via=quote)


def paged(req: GReq, emu: Emulator, items: list, render: Callable[[Any], dict], extra_headers: dict) -> GResp:
    size, applied = page_size(req, emu)
    skip = _int_param(req, "$skip") or 0
    chunk = items[skip:skip + size]
    body: dict = {"@odata.context": f"{req.graph_base}/$metadata#{req.path.strip('/')}", "value": [render(i) for i in chunk]}
    if skip + size < len(items):
        params = {k: v for k, v in req.query.items() if k != "$skip"}
        params["$skip"] = str(skip + size)
        body["@odata.nextLink"] = link(req, params)
    return GResp(200, body, {**extra_headers, **preference_header(applied)})


def parse_window(req: GReq) -> tuple[dt.datetime, dt.datetime]:
    start, end = req.query.get("startDateTime"), req.query.get("endDateTime")
    if not start or not end:
        raise GraphError(400, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
    try:
        window = tz.parse_query_instant(start), tz.parse_query_instant(end)
    except tz.BadDateTime:
        raise GraphError(400, "ErrorInvalidParameter", "The value of the parameter 'StartDateTime' or 'EndDateTime' is not a valid date-time.") from None
    if window[1] < window[0]:
        raise GraphError(400, "ErrorInvalidParameter", "The parameter 'EndDateTime' must be after 'StartDateTime'.")
    return window


# --- shared calendar operations (Graph handlers and the control API use these) ---
class Calendar:
    """Event operations for one mailbox; the control API acts through the same code as Graph clients."""

    def __init__(self, emu: Emulator, user: dict):
        self.emu = emu
        self.store = emu.store
        self.user = user

    def calendar(self, calendar_id: str | None) -> dict:
        if calendar_id is None:
            return self.store.default_calendar(self.user["id"])
        calendar = self.store.calendars.get(calendar_id)
        if calendar is None or calendar["user_id"] != self.user["id"]:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return calendar

    def event(self, event_id: str, calendar_id: str | None = None) -> dict:
        record = self.store.events.get(event_id)
        if record is None or record["user_id"] != self.user["id"] or (calendar_id and record["calendar_id"] != calendar_id):
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return record

    def create(self, payload: Any, calendar_id: str | None = None) -> tuple[dict, bool]:
        """Create an event; returns (record, created). A known transactionId returns the existing event."""
        calendar = self.calendar(calendar_id)
        txn = payload.get("transactionId") if isinstance(payload, dict) else None
        if txn:
            # resources/event.md: transactionId lets "the server ... avoid redundant POST operations in case of client
            # retries". How long Outlook remembers it is not documented; the emulator remembers it only for
            # transaction_id_window_s (default short), so a client must not rely on it to deduplicate forever.
            known = self.store.transactions.get(self.user["id"], {}).get(txn)
            existing_id, at = (known, 0.0) if isinstance(known, str) else (known or [None, 0.0])
            fresh = time.time() - float(at) <= float(self.emu.config["transaction_id_window_s"])
            if existing_id and existing_id in self.store.events and fresh:
                return self.store.events[existing_id], False
        record = eventmodel.apply_payload(eventmodel.new_record(self.user, calendar), payload, creating=True)
        self.store.events[record["id"]] = record
        if txn:
            self.store.transactions.setdefault(self.user["id"], {})[txn] = [record["id"], time.time()]
        self._invite(record, [])
        self.store.record_write(record, "created")
        return record, True

    def update(self, event_id: str, payload: Any, *, if_match: str | None = None, calendar_id: str | None = None) -> dict:
        record = self.event(event_id, calendar_id)
        self._check_if_match(record, if_match)
        updated = eventmodel.apply_payload(record, payload, creating=False)
        before = [a["emailAddress"]["address"].lower() for a in record["props"]["attendees"]]
        record.clear()
        record.update(updated)
        self._invite(record, before)
        self.store.record_write(record, "updated")
        return record

    def delete(self, event_id: str, *, if_match: str | None = None, calendar_id: str | None = None) -> None:
        record = self.event(event_id, calendar_id)
        self._check_if_match(record, if_match)
        self.store.delete_event(record)

    # --- occurrences of a series (recurrence.py) ---
    def occurrence(self, event_id: str, calendar_id: str | None = None) -> tuple[dict, dict] | None:
        """(master, occurrence) for an occurrence id, None if ``event_id`` is not one; 404 if it names nothing."""
        parts = recurrence.split_id(event_id)
        if parts is None:
            return None
        master = self.event(parts[0], calendar_id)
        day = parts[1]
        if not master.get("recurrence") or day.isoformat() in (master.get("cancelled") or []) or not recurrence.is_occurrence_day(master, day):
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        start, end = recurrence.occurrence_times(master, day)
        exception = (master.get("exceptions") or {}).get(day.isoformat())
        if exception and exception.get("start"):
            start, end = tz.from_iso(exception["start"]), tz.from_iso(exception["end"])
        return master, {"id": event_id, "day": day.isoformat(), "start": start, "end": end, "exception": exception}

    def update_occurrence(self, master: dict, occ: dict, payload: Any, if_match: str | None) -> dict:
        """Editing one occurrence makes it an exception (resources/event.md, type exception)."""
        current = eventmodel.occurrence_record(master, occ)
        self._check_if_match(current, if_match)
        if isinstance(payload, dict) and "recurrence" in payload:
            raise GraphError(400, "ErrorInvalidRequest", "An occurrence or exception cannot have its own recurrence.")
        updated = eventmodel.apply_payload(current, payload, creating=False)
        exception = {"props": {k: updated["props"][k] for k in recurrence.EXCEPTION_PROPS if k in updated["props"]},
                     "start": updated["start"], "end": updated["end"], "changeKey": store_change_key(), "modified": tz.iso(tz.now())}
        master.setdefault("exceptions", {})[occ["day"]] = exception
        self.store.record_write(master, "updated")
        return master

    def delete_occurrence(self, master: dict, occ: dict) -> None:
        """Deleting one occurrence cancels it: it leaves calendarView and instances (resources/event.md,
        cancelledOccurrences)."""
        master.setdefault("cancelled", []).append(occ["day"])
        (master.get("exceptions") or {}).pop(occ["day"], None)
        self.store.record_write(master, "updated")

    @staticmethod
    def _check_if_match(record: dict, if_match: str | None) -> None:
        if not if_match or if_match.strip() == "*":
            return
        current = record["changeKey"]
        offered = [v.strip() for v in if_match.split(",")]
        if not any(v in (eventmodel.etag(record), f'"{current}"', current) for v in offered):
            raise GraphError(412, "ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.")

    def _invite(self, record: dict, before: list[str]) -> None:
        """Graph mails invitations to new attendees; the emulator records them (GET /_emulator/invitations)."""
        for attendee in record["props"]["attendees"]:
            address = attendee["emailAddress"]["address"]
            if address.lower() not in before:
                self.store.invitations.append({
                    "from": self.user["email"], "to": address, "event_id": record["id"],
                    "subject": record["props"]["subject"], "at": tz.iso(tz.now()),
                })


# --- routing ---
Handler = Callable[["GraphAPI", GReq, dict, re.Match], Awaitable[GResp]]
ROUTES: list[tuple[set[str], re.Pattern, Handler]] = []
USER_ROUTES: list[tuple[set[str], re.Pattern, Handler]] = []

_ID = r"([^/]+)"
_CAL = r"(?:/calendar|/calendars/" + _ID + r")"


def user_route(methods: str, pattern: str):
    def register(fn):
        USER_ROUTES.append((set(methods.split()), re.compile("^" + pattern + "/?$", re.IGNORECASE), fn))
        return fn
    return register


def route(methods: str, pattern: str):
    def register(fn):
        ROUTES.append((set(methods.split()), re.compile("^" + pattern + "/?$", re.IGNORECASE), fn))
        return fn
    return register


class GraphAPI:
    def __init__(self, emu: Emulator):
        self.emu = emu
        self._finished = 0  # completion counter of batch items (orders a batch's responses)

    # --- entry points ---
    async def handle_http(self, request: Request) -> Response:
        emu = self.emu
        path = request.url.path[len("/v1.0"):] or "/"
        method = request.method.upper()
        emu.stats.request(method, path)
        headers = {k.lower(): v for k, v in request.headers.items()}
        req = GReq(method, path, parse_query(request.url.query), headers, None, str(request.base_url).rstrip("/"))
        emu.requests_in_flight += 1
        try:
            resp = await self._pipeline(request, req)
        except Dropped:  # already counted; nothing reaches the client
            return Response(status_code=500)
        finally:
            emu.requests_in_flight -= 1  # however the request ended (answered, dropped, client gone)
        emu.stats.status(resp.status)
        return self._to_response(req, resp)

    def _to_response(self, req: GReq, resp: GResp) -> Response:
        headers = {"request-id": req.request_id, "client-request-id": req.headers.get("client-request-id", req.request_id),
                   "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"graph-emulator"}}',
                   **resp.headers}
        if resp.body is None:
            return Response(status_code=resp.status, headers=headers)
        return Response(json.dumps(resp.body), status_code=resp.status, headers=headers, media_type=JSON_TYPE)

    async def _pipeline(self, request: Request, req: GReq) -> GResp:
        emu = self.emu
        auth_error = self._authenticate(req)
        fault = emu.faults.take(req.method, [req.path, "/v1.0" + req.path], req.user["email"] if req.user else None)
        if fault is not None:
            result = await self._apply_fault(req, fault, request.scope.get("emulator.drop"))
            if result is not None:
                return result
        if auth_error is not None:
            return auth_error
        if req.path.rstrip("/").lower() != "/$batch":
            background = await self._background_fault(req)
            if background is not None:
                return background
        if req.method in ("POST", "PATCH", "PUT"):
            raw = await request.body()
            if raw.strip():
                try:
                    req.body = json.loads(raw)
                except ValueError:
                    return error_response(req, 400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
        mailbox = req.user["email"]
        service_s = float(emu.config["service_time_ms"]) / 1000
        if req.path.rstrip("/").lower() == "/$batch" and req.method == "POST":
            # throttling-limits.md, "Outlook service limits for JSON batching": the service runs up to 4 items of a
            # batch in parallel, each within Outlook's concurrency limit; the envelope itself holds no slot.
            return await self._batch(request, req)
        return await self._dispatch_in_a_slot(req, mailbox, service_s)

    async def _dispatch_in_a_slot(self, req: GReq, mailbox: str, service_s: float) -> GResp:
        """Run one request (or one batch item) within the mailbox's limits: it holds one of the 4 concurrent
        slots while Outlook serves it and spends one request of the 10-minute budget (throttling-limits.md,
        "Outlook service limits"); no free slot -> 429 MailboxConcurrency, budget spent -> 429 with Retry-After."""
        emu = self.emu
        slot, retry_after = emu.throttler.acquire(req.client_id, mailbox, service_s)
        if slot is None:
            return self._throttled(req, retry_after, "MailboxConcurrency")
        try:
            wait = emu.throttler.spend(req.client_id, mailbox)
            if wait:
                return self._throttled(req, wait, "RequestBudget")
            if service_s:
                await asyncio.sleep(service_s)
            return await self.dispatch(req)
        finally:
            emu.throttler.release(slot)

    async def _background_fault(self, req: GReq) -> GResp | None:
        """The "realistic" fault profile (throttling.FaultProfile): maybe slow, maybe a 503/504 without Retry-After."""
        status, delay = self.emu.fault_profile.draw()
        if delay:
            await asyncio.sleep(delay)
        if status is None:
            return None
        return error_response(req, status)

    def _throttled(self, req: GReq, retry_after: float, limit: str) -> GResp:
        message = ("Application is over its MailboxConcurrency limit." if limit == "MailboxConcurrency"
                   else f"Application is over its request limit for this mailbox ({self.emu.config['request_budget']} requests per {self.emu.config['request_window_s']} s).")
        return error_response(req, 429, "ApplicationThrottled", message, {"Retry-After": format_retry_after(retry_after)})

    def _authenticate(self, req: GReq) -> GResp | None:
        header = req.headers.get("authorization", "")
        www = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return error_response(req, 401, "InvalidAuthenticationToken", "Access token is empty.", www)
        record = self.emu.store.access_tokens.get(header[7:].strip())
        if record is None:
            return error_response(req, 401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed, there are no dots (.).", www)
        if time.time() >= record["expires_at"]:
            return error_response(req, 401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.", www)
        user = self.emu.store.users.get(record["user_id"])
        if user is None:
            return error_response(req, 401, "InvalidAuthenticationToken", "The user of this token no longer exists.", www)
        req.user, req.client_id = user, record["client_id"]
        return None

    async def _apply_fault(self, req: GReq, fault, drop) -> GResp | None:
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.drop_connection:
            # Count first: once the transport is aborted the server may cancel this task.
            if req.in_batch:
                self.emu.stats.batch_item_status("dropped")
            self.emu.stats.status("dropped")
            if drop is not None:
                await drop()
            raise Dropped()
        if fault.status is None:
            return None
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return error_response(req, fault.status, fault.error_code, fault.error_message, headers)

    async def dispatch(self, req: GReq) -> GResp:
        """Route one request (HTTP or batch item) to its handler; GraphErrors become error responses."""
        try:
            return await self._route(req)
        except GraphError as exc:
            return error_response(req, exc.status, exc.code, exc.message, exc.headers)

    async def _route(self, req: GReq) -> GResp:
        path = req.path.rstrip("/") or "/"
        m = re.match(r"^/(me|users/([^/]+))(/.*)?$", path, re.IGNORECASE)
        if m:
            target = req.user
            if m.group(2):
                key = unquote(m.group(2))
                target = self.emu.store.user_by_id_or_email(key)
                if target is None:
                    raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
                if target["id"] != req.user["id"]:
                    raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
            rest = m.group(3) or ""
            table, subject = USER_ROUTES, rest
        else:
            target, table, subject = req.user, ROUTES, path
        allowed = set()
        for methods, pattern, handler in table:
            match = pattern.match(subject)
            if match:
                if req.method in methods:
                    return await handler(self, req, target, match)
                allowed |= methods
        if allowed:
            raise GraphError(405, "Request_BadRequest", f"The HTTP method '{req.method}' is not allowed for the resource.")
        segment = subject.rstrip("/").split("/")[-1] or path
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    # --- $batch ---
    async def _batch(self, request: Request, req: GReq) -> GResp:
        emu = self.emu
        body = req.body
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return error_response(req, 400, "BadRequest", "Invalid batch payload format: 'requests' must be a non-empty array.")
        limit = int(emu.config["batch_max_requests"])
        if len(items) > limit:
            return error_response(req, 400, "BadRequest", f"Batch request cannot contain more than {limit} requests; it contained {len(items)}.")
        ids = []
        for item in items:
            if not isinstance(item, dict) or "id" not in item or "method" not in item or "url" not in item:
                return error_response(req, 400, "BadRequest", "Each batch request needs 'id', 'method' and 'url'.")
            if urlsplit(str(item["url"])).scheme or str(item["url"]).startswith("//"):
                # json-batching.md: url is "the relative resource URL the individual request would typically be sent
                # to" -- for https://graph.microsoft.com/v1.0/users it is /users.
                return error_response(req, 400, "BadRequest", f"Invalid request: the url of request '{item['id']}' must be relative (e.g. /me/events), not absolute.")
            ids.append(str(item["id"]))
        if len(set(ids)) != len(ids):
            return error_response(req, 400, "BadRequest", "Batch request ids must be unique.")
        for item in items:
            for dep in item.get("dependsOn") or []:
                if str(dep) not in ids:
                    return error_response(req, 400, "BadRequest", f"Request '{item['id']}' depends on unknown request '{dep}'.")
        order = self._batch_order(items)
        if order is None:
            return error_response(req, 400, "BadRequest", "Circular dependsOn in batch request.")
        statuses: dict[str, int] = {}
        answers: dict[str, dict] = {}
        done = {str(item["id"]): asyncio.Event() for item in items}
        parallel = asyncio.Semaphore(int(emu.config["batch_parallel_items"]))

        async def run(item: dict) -> None:
            # json-batching.md, "Sequencing requests with the dependsOn property": an item starts only after the
            # items it depends on; a failed dependency makes it fail with 424.
            for dep in item.get("dependsOn") or []:
                await done[str(dep)].wait()
            async with parallel:
                answer = await self._batch_item(request, req, item, statuses)
            statuses[answer["id"]] = answer["status"]
            answers[answer["id"]] = answer
            done[answer["id"]].set()

        await asyncio.gather(*(run(item) for item in order))
        # Responses are listed in completion order, which json-batching.md warns may differ from the request order.
        finished = sorted(answers.values(), key=lambda a: a.pop("_finished"))
        return GResp(200, {"responses": finished})

    @staticmethod
    def _batch_order(items: list[dict]) -> list[dict] | None:
        pending, done, order = list(items), set(), []
        while pending:
            for item in pending:
                if all(str(d) in done for d in item.get("dependsOn") or []):
                    order.append(item)
                    done.add(str(item["id"]))
                    pending.remove(item)
                    break
            else:
                return None
        return order

    async def _batch_item(self, request: Request, envelope: GReq, item: dict, statuses: dict[str, int]) -> dict:
        emu = self.emu
        method = str(item["method"]).upper()
        url = str(item["url"])
        parts = urlsplit(url)
        path = unquote(parts.path)
        if path.lower().startswith("/v1.0/"):
            path = path[5:]
        if not path.startswith("/"):
            path = "/" + path
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        for key in ("authorization", "client-request-id"):
            if key in envelope.headers and key not in headers:
                headers[key] = envelope.headers[key]
        req = GReq(method, path, parse_query(parts.query), headers, item.get("body"), envelope.base,
                   envelope.user, envelope.client_id, in_batch=True)
        emu.stats.batch_item(method, path)
        resp = await self._run_item(request, req, item, statuses)
        emu.stats.batch_item_status(resp.status)
        self._finished += 1
        out_headers = dict(resp.headers)
        if resp.body is not None:
            out_headers.setdefault("Content-Type", "application/json")
        answer: dict = {"id": str(item["id"]), "status": resp.status, "headers": out_headers, "_finished": self._finished}
        if resp.body is not None:
            answer["body"] = resp.body
        return answer

    async def _run_item(self, request: Request, req: GReq, item: dict, statuses: dict[str, int]) -> GResp:
        emu = self.emu
        failed = [str(d) for d in item.get("dependsOn") or [] if statuses.get(str(d), 0) >= 400]
        if failed:
            return error_response(req, 424, "FailedDependency", f"The request was not executed because request(s) {', '.join(failed)} failed.")
        fault = emu.faults.take(req.method, [req.path, "/v1.0" + req.path], req.user["email"])
        if fault is not None:
            result = await self._apply_fault(req, fault, request.scope.get("emulator.drop"))
            if result is not None:
                return result
        if req.path.rstrip("/").lower() == "/$batch":
            return error_response(req, 400, "BadRequest", "A batch request cannot contain another batch request.")
        background = await self._background_fault(req)
        if background is not None:
            return background
        service_s = float(emu.config["service_time_ms"]) / 1000
        # Each running item holds one of the mailbox's concurrent slots (throttling-limits.md, "Limits per app ID"
        # and "Outlook service limits for JSON batching"): a second batch, or other requests, running at the same
        # time get 429 MailboxConcurrency for the items that find no slot, each with its own Retry-After.
        return await self._dispatch_in_a_slot(req, req.user["email"], service_s)


# --- handlers: user ---
def _user_json(user: dict, req: GReq) -> dict:
    first, _, last = user["displayName"].partition(" ")
    return {
        "@odata.context": f"{req.graph_base}/$metadata#users/$entity",
        "businessPhones": [], "displayName": user["displayName"], "givenName": first or None, "jobTitle": None,
        "mail": user["email"], "mobilePhone": None, "officeLocation": None, "preferredLanguage": "en-US",
        "surname": last or None, "userPrincipalName": user["email"], "id": user["id"],
    }


@user_route("GET", "")
async def get_me(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    body = _user_json(user, req)
    if req.query.get("$select"):
        wanted = {s.strip().lower() for s in req.query["$select"].split(",")} | {"id", "@odata.context"}
        body = {k: v for k, v in body.items() if k.lower() in wanted}
    return GResp(200, body)


@user_route("GET", "/mailboxSettings")
async def get_mailbox_settings(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    return GResp(200, {"timeZone": user.get("timeZone") or "UTC", "language": {"locale": "en-US", "displayName": "English (United States)"},
                       "dateFormat": "yyyy-MM-dd", "timeFormat": "HH:mm"})


# --- handlers: calendars ---
def calendar_json(calendar: dict, user: dict) -> dict:
    return {
        "id": calendar["id"], "name": calendar["name"], "color": calendar["color"], "hexColor": calendar["hexColor"],
        "isDefaultCalendar": calendar["isDefaultCalendar"], "changeKey": calendar["changeKey"], "canShare": True,
        "canViewPrivateItems": True, "canEdit": True, "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness", "isTallyingResponses": True,
        "isRemovable": not calendar["isDefaultCalendar"], "owner": {"name": user["displayName"], "address": user["email"]},
    }


def _select(body: dict, req: GReq) -> dict:
    if not req.query.get("$select"):
        return body
    wanted = {s.strip().lower() for s in req.query["$select"].split(",")} | {"id", "@odata.etag"}
    return {k: v for k, v in body.items() if k.lower() in wanted}


@user_route("GET", "/calendars")
async def list_calendars(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    calendars = sorted(api.emu.store.calendars_of(user["id"]), key=lambda c: (not c["isDefaultCalendar"], c["name"].lower()))
    return paged(req, api.emu, calendars, lambda c: _select(calendar_json(c, user), req), {})


COLORS = ("auto", "lightBlue", "lightGreen", "lightOrange", "lightGray", "lightYellow", "lightTeal", "lightPink", "lightBrown", "lightRed", "maxColor")


@user_route("POST", "/calendars")
async def create_calendar(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    body = req.body if isinstance(req.body, dict) else {}
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "ErrorInvalidRequest", "The calendar name is required.")
    if any(c["name"].lower() == name.strip().lower() for c in api.emu.store.calendars_of(user["id"])):
        raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
    color = body.get("color") or "auto"
    if color not in COLORS:
        raise GraphError(400, "RequestBodyRead", f"Cannot convert the literal '{color}' to the expected type 'microsoft.graph.calendarColor'.")
    calendar = api.emu.store.create_calendar(user, name.strip(), color=color, hex_color=body.get("hexColor") or "")
    return GResp(201, calendar_json(calendar, user))


@user_route("GET", r"(?:/calendar|/calendars/" + _ID + ")")
async def get_calendar(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    calendar = Calendar(api.emu, user).calendar(unquote(m.group(1)) if m.group(1) else None)
    return GResp(200, _select(calendar_json(calendar, user), req))


# --- handlers: events ---
def _events_context(req: GReq) -> str:
    return f"{req.graph_base}/$metadata#users('{req.user['id']}')/events"


@user_route("GET", _CAL + "?/events")
async def list_events(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    cal = Calendar(api.emu, user)
    calendar = cal.calendar(unquote(m.group(1)) if m.group(1) else None)
    options, applied = render_options(req)
    keep = parse_filter(req)
    records = [r for r in api.emu.store.events_of(user["id"], calendar["id"]) if keep is None or keep(r)]
    records.sort(key=lambda r: (r["created"], r["id"]))
    return paged(req, api.emu, records, lambda r: eventmodel.render(r, user, options), preference_header(applied))


@user_route("POST", _CAL + "?/events")
async def create_event(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    calendar_id = unquote(m.group(1)) if m.group(1) else None
    options, applied = render_options(req, allow_expand=False)
    options.expand_ext = None
    record, _created = Calendar(api.emu, user).create(req.body, calendar_id)
    headers = {"Location": f"{req.graph_base}/users/{user['id']}/events/{record['id']}", "ETag": eventmodel.etag(record),
               **preference_header(applied)}
    return GResp(201, {"@odata.context": f"{_events_context(req)}/$entity", **eventmodel.render(record, user, options)}, headers)


_EVENT = r"(?:" + _CAL + r")?/events/" + _ID


@user_route("GET", _EVENT)
async def get_event(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    calendar_id = unquote(m.group(1)) if m.group(1) else None
    cal = Calendar(api.emu, user)
    options, applied = render_options(req)
    found = cal.occurrence(unquote(m.group(2)), calendar_id)
    if found:
        body = eventmodel.render_occurrence(found[0], found[1], user, options)
        return GResp(200, {"@odata.context": f"{_events_context(req)}/$entity", **body},
                     {"ETag": body["@odata.etag"], **preference_header(applied)})
    record = cal.event(unquote(m.group(2)), calendar_id)
    return GResp(200, {"@odata.context": f"{_events_context(req)}/$entity", **eventmodel.render(record, user, options)},
                 {"ETag": eventmodel.etag(record), **preference_header(applied)})


@user_route("PATCH", _EVENT)
async def patch_event(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    calendar_id = unquote(m.group(1)) if m.group(1) else None
    options, applied = render_options(req, allow_expand=False)
    cal = Calendar(api.emu, user)
    found = cal.occurrence(unquote(m.group(2)), calendar_id)
    if found:
        master = cal.update_occurrence(found[0], found[1], req.body, req.headers.get("if-match"))
        _m, occ = cal.occurrence(unquote(m.group(2)), calendar_id)
        body = eventmodel.render_occurrence(master, occ, user, options)
        return GResp(200, {"@odata.context": f"{_events_context(req)}/$entity", **body}, {"ETag": body["@odata.etag"], **preference_header(applied)})
    record = cal.update(unquote(m.group(2)), req.body, if_match=req.headers.get("if-match"), calendar_id=calendar_id)
    return GResp(200, {"@odata.context": f"{_events_context(req)}/$entity", **eventmodel.render(record, user, options)},
                 {"ETag": eventmodel.etag(record), **preference_header(applied)})


@user_route("DELETE", _EVENT)
async def delete_event(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    calendar_id = unquote(m.group(1)) if m.group(1) else None
    cal = Calendar(api.emu, user)
    found = cal.occurrence(unquote(m.group(2)), calendar_id)
    if found:
        cal.delete_occurrence(*found)
        return GResp(204)
    cal.delete(unquote(m.group(2)), if_match=req.headers.get("if-match"), calendar_id=calendar_id)
    return GResp(204)


@user_route("GET", _EVENT + "/instances")
async def event_instances(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    """event-list-instances.md: the occurrences and exceptions of a series master in startDateTime..endDateTime."""
    calendar_id = unquote(m.group(1)) if m.group(1) else None
    master = Calendar(api.emu, user).event(unquote(m.group(2)), calendar_id)
    start, end = parse_window(req)
    options, applied = render_options(req)
    if not master.get("recurrence"):
        return paged(req, api.emu, [], lambda r: r, preference_header(applied))
    occs = recurrence.occurrences(master, start, end)
    return paged(req, api.emu, occs, lambda o: eventmodel.render_occurrence(master, o, user, options), preference_header(applied))


# --- calendarView ---
def _in_window(record: dict, start: dt.datetime, end: dt.datetime) -> bool:
    s, e = eventmodel.instants(record)
    return eventmodel.overlaps(s, e, start, end)


@user_route("GET", _CAL + "?/calendarView")
async def calendar_view(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    calendar = Calendar(api.emu, user).calendar(unquote(m.group(1)) if m.group(1) else None)
    start, end = parse_window(req)
    options, applied = render_options(req)
    keep = parse_filter(req)
    items = [(r["start"], r["id"], r, None) for r in api.emu.store.events_of(user["id"], calendar["id"])
             if not r.get("recurrence") and _in_window(r, start, end) and (keep is None or keep(r))]
    for master in api.emu.store.events_of(user["id"], calendar["id"]):
        if master.get("recurrence") and (keep is None or keep(master)):
            # calendarView expands a series into its occurrences and exceptions inside the window (calendar-list-calendarview.md).
            items += [(tz.iso(o["start"]), o["id"], master, o) for o in recurrence.occurrences(master, start, end)]
    items.sort(key=lambda i: (i[0], i[1]))

    def render_item(item):
        _s, _id, record, occ = item
        return eventmodel.render(record, user, options) if occ is None else eventmodel.render_occurrence(record, occ, user, options)

    return paged(req, api.emu, items, render_item, preference_header(applied))


# --- calendarView/delta ---
#: The URL forms clients use: ``/calendarView/delta`` (event-delta.md), ``/calendarView/delta()`` (msgraph-sdk's
#: url template) and the namespace-qualified ``/calendarView/microsoft.graph.delta`` (OData function call).
_DELTA = r"/calendarView/(?:microsoft\.graph\.)?delta(?:\(\))?"
#: event-delta.md, "OData query parameters": "You cannot use $select to get only a subset of those properties" and
#: "There are other OData query parameters that the delta function for calendarView doesn't support: $expand,
#: $filter, $orderby, and $search."
DELTA_UNSUPPORTED = ("$select", "$expand", "$filter", "$orderby", "$search")
#: errors.md: "syncStateNotFound: The sync state generation is not found. The delta token is expired and data must
#: be synchronized again."
SYNC_STATE_MESSAGE = "The sync state generation is not found. The delta token is expired and data must be synchronized again."


@user_route("GET", _CAL + "?" + _DELTA)
async def calendar_view_delta(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    emu, store = api.emu, api.emu.store
    calendar = Calendar(emu, user).calendar(unquote(m.group(1)) if m.group(1) else None)
    options, applied = render_options(req, allow_expand=False)
    options.expand_ext = None
    now = time.time()
    unsupported = [k for k in DELTA_UNSUPPORTED if k in req.query]
    if unsupported:
        raise GraphError(400, "ErrorInvalidUrlQuery", "The following parameters are not supported with change tracking over the 'CalendarView' resource: "
                         f"'{', '.join(unsupported)}'.")

    def gone(window: dict | None = None) -> GraphError:
        # delta-query-overview.md, "Synchronization reset": 410 with a Location header holding the initial query
        # (no token) so the client restarts with a full synchronization.
        headers = {}
        if window:
            headers["Location"] = link(req, {"startDateTime": tz.format_utc_z(tz.from_iso(window["start"])),
                                             "endDateTime": tz.format_utc_z(tz.from_iso(window["end"]))})
        return GraphError(410, "SyncStateNotFound", SYNC_STATE_MESSAGE, headers=headers)
    if req.query.get("$skiptoken"):
        snapshot = store.skip_tokens.get(req.query["$skiptoken"].split(".")[0])
        if snapshot is None or snapshot["user_id"] != user["id"] or snapshot["calendar_id"] != calendar["id"]:
            raise gone()
        if now > snapshot["expires_at"]:
            raise gone(snapshot)
        try:
            offset = int(req.query["$skiptoken"].split(".")[1])
        except (IndexError, ValueError):
            raise gone(snapshot) from None
    else:
        if req.query.get("$deltatoken"):
            token = store.delta_tokens.get(req.query["$deltatoken"])
            if token is None or token["user_id"] != user["id"] or token["calendar_id"] != calendar["id"]:
                raise gone()
            if now > token["expires_at"]:
                raise gone(token)
            start, end = tz.from_iso(token["start"]), tz.from_iso(token["end"])
            entries = _changes_since(store, user["id"], calendar["id"], token["seq"], start, end)
        else:
            start, end = parse_window(req)
            found = [(r["start"], r["id"], "event") for r in store.events_of(user["id"], calendar["id"])
                     if not r.get("recurrence") and _in_window(r, start, end)]
            for master in store.events_of(user["id"], calendar["id"]):
                if master.get("recurrence"):
                    found += [(tz.iso(o["start"]), o["id"], "occurrence") for o in recurrence.occurrences(master, start, end)]
            found.sort()
            entries = [[kind, event_id] for _s, event_id, kind in found]
        _prune_sync_state(store, now)
        snapshot_id = secrets.token_urlsafe(18)
        snapshot = {
            "user_id": user["id"], "calendar_id": calendar["id"], "entries": entries, "seq": store.seq.get(user["id"], 0),
            "start": tz.iso(start), "end": tz.iso(end), "expires_at": now + float(emu.config["delta_token_lifetime_s"]),
        }
        store.skip_tokens[snapshot_id] = snapshot
        req.query["$skiptoken"] = f"{snapshot_id}.0"
        offset = 0
    snapshot_id = req.query["$skiptoken"].split(".")[0]
    size, size_applied = page_size(req, emu, "delta_page_size")
    chunk = snapshot["entries"][offset:offset + size]
    value = []
    window_start, window_end = tz.from_iso(snapshot["start"]), tz.from_iso(snapshot["end"])
    for kind, event_id in chunk:
        if kind == "occurrence":
            master_id, _sep, _day = event_id.rpartition(".")
            master = store.events.get(master_id)
            occ = next((o for o in recurrence.occurrences(master, window_start, window_end) if o["id"] == event_id), None) if master and master.get("recurrence") else None
            if occ is None:
                value.append({"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}})
            else:
                value.append({"@odata.type": "#microsoft.graph.event", **eventmodel.render_occurrence(master, occ, user, options, reduced=True)})
            continue
        record = store.events.get(event_id)
        if kind == "removed" or record is None:
            value.append({"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}})
        else:
            value.append({"@odata.type": "#microsoft.graph.event", **eventmodel.render(record, user, options)})
    base_path = quote(req.path, safe='/$=')
    body: dict = {"@odata.context": f"{req.graph_base}/$metadata#Collection(event)", "value": value}
    if offset + size < len(snapshot["entries"]):
        body["@odata.nextLink"] = f"{req.graph_base}{base_path}?$skiptoken={snapshot_id}.{offset + size}"
    else:
        delta_token = secrets.token_urlsafe(24)
        store.delta_tokens[delta_token] = {
            "user_id": user["id"], "calendar_id": calendar["id"], "seq": snapshot["seq"], "start": snapshot["start"],
            "end": snapshot["end"], "issued_at": now, "expires_at": now + float(emu.config["delta_token_lifetime_s"]),
        }
        store.skip_tokens.pop(snapshot_id, None)
        store.dirty = True
        body["@odata.deltaLink"] = f"{req.graph_base}{base_path}?$deltatoken={delta_token}"
    return GResp(200, body, preference_header(applied, size_applied))


def _prune_sync_state(store, now: float) -> None:
    """Forget delta tokens and page snapshots expired for over an hour (until then they answer 410 with a Location)."""
    for table in (store.delta_tokens, store.skip_tokens):
        for key in [k for k, v in table.items() if v["expires_at"] < now - 3600]:
            del table[key]


def _changes_since(store, user_id: str, calendar_id: str, seq: int, start: dt.datetime, end: dt.datetime) -> list[list[str]]:
    """What a deltaLink returns (event-delta.md, "Response"): events changed since the token that are inside the
    window now, in full; and under ``@removed`` with reason ``deleted`` both "events that are within the date range
    and that have been deleted since the previous delta call" and "events that are *outside* the date range and that
    have been added, deleted, or updated since the previous delta call". So an event edited, created or deleted
    outside the window is reported as removed, whether or not the client ever saw it; the client must filter."""
    changes: list[tuple[int, str, str]] = []
    for record in store.events_of(user_id, calendar_id):
        if record["seq"] <= seq:
            continue
        if record.get("recurrence"):
            # A series changed: its occurrences in the window come again, and cancelled ones in the window as removed.
            occs = recurrence.occurrences(record, start, end)
            changes += [(record["seq"], "occurrence", o["id"]) for o in occs]
            for day in record.get("cancelled") or []:
                when, _end = recurrence.occurrence_times(record, dt.date.fromisoformat(day))
                if start <= when < end:
                    changes.append((record["seq"], "removed", recurrence.occurrence_id(record["id"], dt.date.fromisoformat(day))))
            if not occs:
                changes.append((record["seq"], "removed", record["id"]))
            continue
        changes.append((record["seq"], "event" if _in_window(record, start, end) else "removed", record["id"]))
    for stone in store.tombstones.get(user_id, []):
        if stone["calendar_id"] == calendar_id and stone["seq"] > seq:
            changes.append((stone["seq"], "removed", stone["id"]))
    changes.sort()
    return [[kind, event_id] for _, kind, event_id in changes]


# --- getSchedule ---
AVAILABILITY = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4"}


@user_route("POST", "/calendar/getSchedule")
async def get_schedule(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    emu = api.emu
    body = req.body if isinstance(req.body, dict) else {}
    schedules = body.get("schedules")
    if not isinstance(schedules, list) or not schedules:
        raise GraphError(400, "ErrorInvalidParameter", "The parameter 'schedules' is required.")
    if len(schedules) > int(emu.config["schedule_max_users"]):
        raise GraphError(400, "ErrorInvalidParameter", f"The number of schedules requested ({len(schedules)}) exceeds the maximum of {emu.config['schedule_max_users']}.")
    try:
        start = tz.to_instant(body["startTime"]["dateTime"], body["startTime"].get("timeZone"))
        end = tz.to_instant(body["endTime"]["dateTime"], body["endTime"].get("timeZone"))
    except (KeyError, TypeError, tz.BadDateTime):
        raise GraphError(400, "ErrorInvalidParameter", "startTime and endTime ({dateTime, timeZone}) are required.") from None
    except tz.UnknownTimeZone as exc:
        raise GraphError(400, "TimeZoneNotSupportedException", f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{exc}'.") from None
    if end <= start:
        raise GraphError(400, "ErrorInvalidParameter", "endTime must be after startTime.")
    if end - start >= dt.timedelta(days=int(emu.config["schedule_max_days"])):
        raise GraphError(400, "ErrorInvalidParameter", f"The requested time duration is too long: it must be less than {emu.config['schedule_max_days']} days.")
    interval = body.get("availabilityViewInterval", 30)
    if not isinstance(interval, int) or not 5 <= interval <= 1440:
        raise GraphError(400, "ErrorInvalidParameter", "availabilityViewInterval must be between 5 and 1440 minutes.")
    options, applied = render_options(req, allow_expand=False)
    value = []
    for address in schedules:
        target = emu.store.user_by_email(str(address))
        if target is None:
            value.append({"scheduleId": address, "availabilityView": "", "scheduleItems": [],
                          "error": {"message": "The specified user could not be found.", "responseCode": "ErrorMailRecipientNotFound"}})
            continue
        items = []
        for record in sorted(emu.store.events_of(target["id"]), key=lambda r: r["start"]):
            status = record["props"]["showAs"]
            if status not in ("busy", "tentative", "oof") or record["props"]["isCancelled"] or not _in_window(record, start, end):
                continue
            s, e = eventmodel.instants(record)
            rendered = eventmodel.render(record, target, options)
            items.append({
                "isPrivate": record["props"]["sensitivity"] in ("private", "confidential"), "status": status,
                "subject": record["props"]["subject"], "location": record["props"]["location"]["displayName"],
                "isMeeting": bool(record["props"]["attendees"]), "isRecurring": False, "isException": False, "isReminderSet": record["props"]["isReminderOn"],
                "start": rendered["start"], "end": rendered["end"], "_s": s, "_e": e,
            })
        view = []
        slot_start = start
        step = dt.timedelta(minutes=interval)
        while slot_start < end:
            slot_end = min(slot_start + step, end)
            best = "0"
            for item in items:
                if eventmodel.overlaps(item["_s"], item["_e"], slot_start, slot_end) and item["_s"] != item["_e"]:
                    best = max(best, AVAILABILITY[item["status"]], key=lambda c: {"0": 0, "4": 1, "1": 2, "2": 3, "3": 4}[c])
            view.append(best)
            slot_start = slot_end
        for item in items:
            item.pop("_s")
            item.pop("_e")
        value.append({
            "scheduleId": address, "availabilityView": "".join(view), "scheduleItems": items,
            "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"], "startTime": "08:00:00.0000000",
                             "endTime": "17:00:00.0000000", "timeZone": {"name": target.get("timeZone") or "UTC"}},
        })
    return GResp(200, {"@odata.context": f"{req.graph_base}/$metadata#Collection(microsoft.graph.scheduleInformation)", "value": value},
                 preference_header(applied))


# --- subscriptions ---
@route("GET POST", "/subscriptions")
async def subscriptions_collection(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    notifier = api.emu.notifier
    if req.method == "GET":
        subs = [s for s in notifier.live_subscriptions() if s["client_id"] == req.client_id and s["user_id"] == user["id"]]
        return GResp(200, {"@odata.context": f"{req.graph_base}/$metadata#subscriptions", "value": [notifier.subscription_json(s) for s in subs]})
    sub = await notifier.create_subscription(req, user)
    return GResp(201, {"@odata.context": f"{req.graph_base}/$metadata#subscriptions/$entity", **notifier.subscription_json(sub)})


@route("POST", "/subscriptions/" + _ID + "/reauthorize")
async def subscription_reauthorize(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    """subscription-reauthorize.md: ``POST /subscriptions/{id}/reauthorize``, no body, 204 No Content."""
    notifier = api.emu.notifier
    sub = notifier.get_subscription(unquote(m.group(1)))
    if sub is None or sub["user_id"] != user["id"] or sub["client_id"] != req.client_id:
        raise GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{unquote(m.group(1))}' does not exist.")
    notifier.reauthorize(sub)
    return GResp(204)


@route("GET PATCH DELETE", "/subscriptions/" + _ID)
async def subscription_item(api: GraphAPI, req: GReq, user: dict, m) -> GResp:
    notifier = api.emu.notifier
    sub = notifier.get_subscription(unquote(m.group(1)))
    if sub is None or sub["user_id"] != user["id"] or sub["client_id"] != req.client_id:
        raise GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{unquote(m.group(1))}' does not exist.")
    if req.method == "GET":
        return GResp(200, {"@odata.context": f"{req.graph_base}/$metadata#subscriptions/$entity", **notifier.subscription_json(sub)})
    if req.method == "DELETE":
        notifier.delete_subscription(sub["id"])
        return GResp(204)
    sub = await notifier.update_subscription(req, sub)
    return GResp(200, {"@odata.context": f"{req.graph_base}/$metadata#subscriptions/$entity", **notifier.subscription_json(sub)})
