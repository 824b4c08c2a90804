"""The control API under ``/_emulator/`` (JSON, no auth).

Tests, benchmarks and the demo use it to create users and calendars, act as
the person in Outlook (event writes without a token, which still rotate
change keys, feed delta and trigger notifications), change limits, inject
faults, age or revoke tokens, fire lifecycle events and read statistics.
Control calls are never counted in statistics or throttling. Users are
identified by email everywhere.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import config as config_module
from . import eventmodel
from .errors import GraphError
from .graph_api import Calendar, calendar_json

if TYPE_CHECKING:
    from .app import Emulator


def _emu(request: Request) -> Emulator:
    return request.app.state.emu


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _json(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise GraphError(400, "BadRequest", "The body must be JSON.") from None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "The body must be a JSON object.")
    return body


def _user(emu: Emulator, email: str) -> dict:
    user = emu.store.user_by_email(email) or emu.store.users.get(email)
    if user is None:
        raise GraphError(404, "UserNotFound", f"No emulator user '{email}'.")
    return user


def user_json(emu: Emulator, user: dict) -> dict:
    return {
        "id": user["id"], "tenantId": user["tenantId"], "email": user["email"], "mail": user["email"],
        "userPrincipalName": user["email"], "displayName": user["displayName"], "timeZone": user.get("timeZone") or "UTC",
        "defaultCalendarId": emu.store.default_calendar(user["id"])["id"],
    }


def _render(user: dict, record: dict, zone: str | None = None) -> dict:
    return eventmodel.render(record, user, eventmodel.RenderOptions(zone or "UTC", None, True))


def endpoint(fn):
    """Wrap a control handler: GraphError -> JSON error; the state is marked dirty for the saver."""
    async def wrapper(request: Request) -> Response:
        try:
            response = await fn(request, _emu(request))
        except GraphError as exc:
            return _error(exc.status, exc.code, exc.message)
        except (KeyError, TypeError, ValueError) as exc:
            return _error(400, "BadRequest", f"{type(exc).__name__}: {exc}")
        _emu(request).store.dirty = True
        return response
    wrapper.__name__ = fn.__name__
    return wrapper


@endpoint
async def health(request: Request, emu: Emulator) -> Response:
    return JSONResponse({"ok": True, "base_url": str(request.base_url).rstrip("/")})


@endpoint
async def reset(request: Request, emu: Emulator) -> Response:
    emu.reset()
    return JSONResponse({"ok": True})


@endpoint
async def apps(request: Request, emu: Emulator) -> Response:
    if request.method == "GET":
        return JSONResponse({"value": [{k: v for k, v in a.items() if k != "client_secret"} for a in emu.store.apps.values()]})
    body = await _json(request)
    app = emu.store.register_app(str(body["client_id"]), body.get("client_secret"), list(body.get("redirect_uris") or []))
    return JSONResponse({k: v for k, v in app.items() if k != "client_secret"}, status_code=201)


@endpoint
async def users(request: Request, emu: Emulator) -> Response:
    if request.method == "GET":
        return JSONResponse({"value": [user_json(emu, u) for u in emu.store.users.values()]})
    body = await _json(request)
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise GraphError(400, "BadRequest", "email is required.")
    if emu.store.user_by_email(email):
        raise GraphError(409, "UserExists", f"A user with email '{email}' already exists.")
    user = emu.store.create_user(email, body.get("display_name") or body.get("displayName"), body.get("password"),
                                 tenant_id=body.get("tenant_id") or body.get("tenantId"), user_id=body.get("id"),
                                 time_zone=body.get("time_zone") or body.get("timeZone"))
    return JSONResponse(user_json(emu, user), status_code=201)


@endpoint
async def user_item(request: Request, emu: Emulator) -> Response:
    user = _user(emu, request.path_params["email"])
    if request.method == "DELETE":
        for record in list(emu.store.events_of(user["id"])):
            emu.store.delete_event(record)
        for calendar in emu.store.calendars_of(user["id"]):
            emu.store.calendars.pop(calendar["id"], None)
        emu.store.users.pop(user["id"], None)
        return Response(status_code=204)
    return JSONResponse(user_json(emu, user))


@endpoint
async def calendars(request: Request, emu: Emulator) -> Response:
    user = _user(emu, request.path_params["email"])
    if request.method == "GET":
        return JSONResponse({"value": [calendar_json(c, user) for c in emu.store.calendars_of(user["id"])]})
    body = await _json(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise GraphError(400, "BadRequest", "name is required.")
    calendar = emu.store.create_calendar(user, name.strip(), color=body.get("color") or "auto", hex_color=body.get("hexColor") or "")
    return JSONResponse(calendar_json(calendar, user), status_code=201)


@endpoint
async def events(request: Request, emu: Emulator) -> Response:
    user = _user(emu, request.path_params["email"])
    calendar_id = request.query_params.get("calendar_id") or None
    zone = request.query_params.get("tz")
    cal = Calendar(emu, user)
    if request.method == "GET":
        if calendar_id:
            cal.calendar(calendar_id)
        records = sorted(emu.store.events_of(user["id"], calendar_id), key=lambda r: (r["start"], r["id"]))
        return JSONResponse({"value": [_render(user, r, zone) for r in records]})
    body = await _json(request)
    record, created = cal.create(body, calendar_id)
    return JSONResponse(_render(user, record, zone), status_code=201 if created else 200)


@endpoint
async def event_item(request: Request, emu: Emulator) -> Response:
    user = _user(emu, request.path_params["email"])
    cal = Calendar(emu, user)
    event_id = request.path_params["event_id"]
    if request.method == "GET":
        return JSONResponse(_render(user, cal.event(event_id), request.query_params.get("tz")))
    if request.method == "DELETE":
        cal.delete(event_id)
        return Response(status_code=204)
    record = cal.update(event_id, await _json(request))
    return JSONResponse(_render(user, record, request.query_params.get("tz")))


@endpoint
async def config(request: Request, emu: Emulator) -> Response:
    if request.method == "PUT":
        body = await _json(request)
        unknown = config_module.validate_changes(body)
        if unknown:
            raise GraphError(400, "UnknownConfig", f"Unknown config keys: {', '.join(unknown)}. Known: {', '.join(sorted(emu.config))}.")
        emu.config.update(body)
    return JSONResponse(emu.config)


@endpoint
async def faults(request: Request, emu: Emulator) -> Response:
    if request.method == "GET":
        return JSONResponse({"value": [f.as_dict() for f in emu.faults.rules]})
    if request.method == "DELETE":
        emu.faults.clear()
        return Response(status_code=204)
    body = await _json(request)
    fault = emu.faults.add(body)
    return JSONResponse(fault.as_dict(), status_code=201)


@endpoint
async def fault_item(request: Request, emu: Emulator) -> Response:
    if not emu.faults.remove(int(request.path_params["fault_id"])):
        raise GraphError(404, "NotFound", "No such fault.")
    return Response(status_code=204)


def _live_refresh_tokens(emu: Emulator, user: dict) -> list[dict]:
    return [t for t in emu.store.refresh_tokens.values() if t["user_id"] == user["id"] and not t["revoked"]]


@endpoint
async def tokens_revoke(request: Request, emu: Emulator) -> Response:
    user = _user(emu, request.path_params["email"])
    tokens = _live_refresh_tokens(emu, user)
    for token in tokens:
        token["revoked"] = True
    return JSONResponse({"revoked": len(tokens)})


@endpoint
async def event_respond(request: Request, emu: Emulator) -> Response:
    """An attendee answers the invitation: ``{"attendee": address (or "attendees": [...]), "response": ...}``."""
    user = _user(emu, request.path_params["email"])
    record = Calendar(emu, user).event(request.path_params["event_id"])
    body = await _json(request)
    response = body.get("response")
    if response not in ("tentativelyAccepted", "accepted", "declined", "none", "notResponded"):
        raise GraphError(400, "BadRequest", "response must be tentativelyAccepted, accepted, declined, none or notResponded.")
    addresses = body.get("attendees") or ([body["attendee"]] if body.get("attendee") else [])
    changed = emu.outlook.respond(record, [str(a) for a in addresses], response)
    if not changed:
        raise GraphError(404, "NotFound", "No such attendee on this event.")
    return JSONResponse(eventmodel.render(record, user))


@endpoint
async def outlook_run(request: Request, emu: Emulator) -> Response:
    """Run Outlook's own changes now: ``{"convert_bodies": true, "fire_reminders": true, "respond": true}``."""
    body = await _json(request)
    result = {"converted": 0, "reminders": 0, "responded": 0}
    if body.get("convert_bodies"):
        result["converted"] = sum(emu.outlook.convert_body(event_id) for event_id in list(emu.store.events))
    if body.get("respond"):
        for event_id in list(emu.store.events):
            before = emu.store.events[event_id]["changeKey"]
            emu.outlook.auto_respond(event_id)
            result["responded"] += emu.store.events.get(event_id, {}).get("changeKey") != before
    if body.get("fire_reminders"):
        result["reminders"] = emu.outlook.fire_due_reminders()
    return JSONResponse(result)


@endpoint
async def user_password(request: Request, emu: Emulator) -> Response:
    """The person changes their password: every refresh token of theirs is revoked (next refresh: AADSTS50173).
    (refresh-tokens.md's revocation table is more lenient for confidential clients; the emulator is strict.)"""
    user = _user(emu, request.path_params["email"])
    body = await _json(request)
    user["password"] = body.get("password")
    tokens = _live_refresh_tokens(emu, user)
    for token in tokens:
        token["revoked"] = True
    emu.store.dirty = True
    return JSONResponse({"revoked": len(tokens)})


@endpoint
async def tokens_age(request: Request, emu: Emulator) -> Response:
    user = _user(emu, request.path_params["email"])
    days = float((await _json(request)).get("days", 91))
    tokens = _live_refresh_tokens(emu, user)
    for token in tokens:
        token["last_used_at"] -= days * 86400
        token["issued_at"] -= days * 86400
    return JSONResponse({"aged": len(tokens), "days": days})


@endpoint
async def tokens_expire_access(request: Request, emu: Emulator) -> Response:
    user = _user(emu, request.path_params["email"])
    now = time.time()
    expired = 0
    for token in emu.store.access_tokens.values():
        if token["user_id"] == user["id"] and token["expires_at"] > now:
            token["expires_at"] = now - 1
            expired += 1
    return JSONResponse({"expired": expired})


@endpoint
async def delta_expire(request: Request, emu: Emulator) -> Response:
    # Marked expired rather than forgotten, so Graph's 410 can carry the Location of a fresh initial query.
    count, now = 0, time.time()
    for table in (emu.store.delta_tokens, emu.store.skip_tokens):
        for token in table.values():
            token["expires_at"] = now - 1
            count += 1
    emu.store.dirty = True
    return JSONResponse({"expired": count})


@endpoint
async def subscriptions(request: Request, emu: Emulator) -> Response:
    wanted = request.query_params.get("user")
    user = _user(emu, wanted) if wanted else None
    subs = [s for s in emu.store.subscriptions.values() if user is None or s["user_id"] == user["id"]]
    out = []
    for sub in subs:
        item = emu.notifier.subscription_json(sub)
        item["userEmail"] = emu.store.users.get(sub["user_id"], {}).get("email")
        item["expired"] = emu.notifier.get_subscription(sub["id"]) is None
        out.append(item)
    return JSONResponse({"value": out})


@endpoint
async def subscription_lifecycle(request: Request, emu: Emulator) -> Response:
    body = await _json(request)
    payload = emu.notifier.lifecycle(request.path_params["sub_id"], str(body.get("event", "")))
    return JSONResponse({"scheduled": True, "payload": payload}, status_code=202)


@endpoint
async def stats(request: Request, emu: Emulator) -> Response:
    return JSONResponse(emu.stats.as_dict())


@endpoint
async def activity(request: Request, emu: Emulator) -> Response:
    """What is still going on, so a test can wait until the emulator is quiet instead of sleeping."""
    return JSONResponse({"requests_in_flight": emu.requests_in_flight, "pending_notifications": len(emu.notifier.tasks)})


@endpoint
async def stats_reset(request: Request, emu: Emulator) -> Response:
    emu.stats.reset({k: v for k, v in emu.throttler.mailbox_inflight.items() if v})
    return JSONResponse({"ok": True})


@endpoint
async def invitations(request: Request, emu: Emulator) -> Response:
    return JSONResponse({"value": emu.store.invitations})


ROUTES = [
    Route("/_emulator/health", health, methods=["GET"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/apps", apps, methods=["GET", "POST"]),
    Route("/_emulator/users", users, methods=["GET", "POST"]),
    Route("/_emulator/users/{email}", user_item, methods=["GET", "DELETE"]),
    Route("/_emulator/users/{email}/calendars", calendars, methods=["GET", "POST"]),
    Route("/_emulator/users/{email}/events", events, methods=["GET", "POST"]),
    Route("/_emulator/users/{email}/events/{event_id}", event_item, methods=["GET", "PATCH", "DELETE"]),
    Route("/_emulator/users/{email}/tokens/revoke", tokens_revoke, methods=["POST"]),
    Route("/_emulator/users/{email}/tokens/age", tokens_age, methods=["POST"]),
    Route("/_emulator/users/{email}/tokens/expire-access", tokens_expire_access, methods=["POST"]),
    Route("/_emulator/users/{email}/password", user_password, methods=["POST"]),
    Route("/_emulator/users/{email}/events/{event_id}/respond", event_respond, methods=["POST"]),
    Route("/_emulator/outlook/run", outlook_run, methods=["POST"]),
    Route("/_emulator/config", config, methods=["GET", "PUT"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/faults/{fault_id:int}", fault_item, methods=["DELETE"]),
    Route("/_emulator/delta/expire", delta_expire, methods=["POST"]),
    Route("/_emulator/subscriptions", subscriptions, methods=["GET"]),
    Route("/_emulator/subscriptions/{sub_id}/lifecycle", subscription_lifecycle, methods=["POST"]),
    Route("/_emulator/stats", stats, methods=["GET"]),
    Route("/_emulator/activity", activity, methods=["GET"]),
    Route("/_emulator/stats/reset", stats_reset, methods=["POST"]),
    Route("/_emulator/invitations", invitations, methods=["GET"]),
]
