"""An Outlook-like page at the emulator's root: a person's calendars as a week grid, and plain HTML forms to
create, open, edit, move and delete events. Every change goes through the same ``Calendar`` operations as Graph
clients use, so delta, change keys and change notifications follow as if the person had used Outlook.

``GET /`` (``?user=email&week=yyyy-mm-dd``) shows the week; ``GET/POST /outlook/events/{id}`` opens and saves
an event (``action=save`` or ``action=delete``); ``GET/POST /outlook/new`` creates one. The "signed-in"
mailbox is chosen on the page (a cookie); the emulator checks no password, like its consent page.
"""
from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from . import recurrence, tz
from .errors import GraphError
from .graph_api import Calendar

if TYPE_CHECKING:
    from .app import Emulator

COOKIE = "graph_emulator_mailbox"
STYLE = """body{font-family:Segoe UI,Arial,sans-serif;margin:0;background:#f3f2f1}header{background:#0f6cbd;color:#fff;padding:8px 16px;
display:flex;gap:16px;align-items:center}header a{color:#fff}main{padding:12px 16px}table{border-collapse:collapse;width:100%;background:#fff;
table-layout:fixed}th,td{border:1px solid #e1dfdd;vertical-align:top;padding:4px;font-size:13px}th{background:#faf9f8}
.ev{display:block;background:#deecf9;border-left:3px solid #0f6cbd;margin:2px 0;padding:2px 4px;color:#201f1e;text-decoration:none}
.ev.tentative{background:#fff4ce;border-color:#c19c00}.ev.free{background:#f3f2f1;border-color:#8a8886}.ev.oof{background:#e8d4f6;border-color:#8764b8}
form.edit label{display:block;margin:8px 0}form.edit input,form.edit select,form.edit textarea{width:28em}.err{color:#a4262c}"""


def _emu(request: Request) -> Emulator:
    return request.app.state.emu


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                        f"<style>{STYLE}</style></head><body>{body}</body></html>", status_code=status)


def _signed_in(request: Request) -> dict | None:
    emu = _emu(request)
    email = request.query_params.get("user") or request.cookies.get(COOKIE)
    return emu.store.user_by_email(email) if email else None


def _header(emu: Emulator, user: dict | None) -> str:
    options = "".join(f"<option value='{html.escape(u['email'])}'{' selected' if user and u['id'] == user['id'] else ''}>"
                      f"{html.escape(u['displayName'])} &lt;{html.escape(u['email'])}&gt;</option>" for u in emu.store.users.values())
    return (f"<header><strong>Outlook (graph_emulator)</strong><form method='get' action='/'>Mailbox: <select name='user' "
            f"onchange='this.form.submit()'>{options}</select> <button>Open</button></form></header>")


def _zone(user: dict):
    return tz.resolve_zone(user.get("timeZone") or "UTC")


def _week_items(emu: Emulator, user: dict, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, str, str, str, str]]:
    """(start, end, id, subject, showAs, calendar name) of every event and occurrence in the window."""
    items = []
    names = {c["id"]: c["name"] for c in emu.store.calendars_of(user["id"])}
    for record in emu.store.events_of(user["id"]):
        props = record["props"]
        if record.get("recurrence"):
            for occ in recurrence.occurrences(record, start, end):
                subject = ((occ.get("exception") or {}).get("props") or {}).get("subject", props["subject"])
                items.append((occ["start"], occ["end"], occ["id"], subject, props["showAs"], names.get(record["calendar_id"], "")))
            continue
        s, e = tz.from_iso(record["start"]), tz.from_iso(record["end"])
        if s < end and e > start or (s == e and start <= s < end):
            items.append((s, e, record["id"], props["subject"], props["showAs"], names.get(record["calendar_id"], "")))
    return sorted(items)


async def home(request: Request):
    emu = _emu(request)
    user = _signed_in(request)
    if user is None:
        return _page("Outlook", _header(emu, None) + "<main><p>Choose a mailbox above to see its calendars.</p></main>")
    zone = _zone(user)
    try:
        monday = dt.date.fromisoformat(request.query_params["week"]) if request.query_params.get("week") else dt.datetime.now(zone).date()
    except ValueError:
        monday = dt.datetime.now(zone).date()
    monday -= dt.timedelta(days=monday.weekday())
    start = dt.datetime.combine(monday, dt.time(0), zone).astimezone(dt.timezone.utc)
    end = start + dt.timedelta(days=7)
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    cells = {d: [] for d in days}
    for s, e, event_id, subject, show_as, calendar_name in _week_items(emu, user, start, end):
        local = s.astimezone(zone)
        day = max(local.date(), monday)
        if day in cells:
            cells[day].append(f"<a class='ev {html.escape(show_as)}' href='/outlook/events/{quote(event_id, safe='')}'>"
                              f"{local.strftime('%H:%M')} {html.escape(subject or '(no title)')}<br><small>{html.escape(calendar_name)}</small></a>")
    nav = (f"<p><a href='/?{urlencode({'week': (monday - dt.timedelta(days=7)).isoformat()})}'>&larr; previous week</a> | "
           f"<a href='/?{urlencode({'week': (monday + dt.timedelta(days=7)).isoformat()})}'>next week &rarr;</a> | "
           f"<a href='/outlook/new?{urlencode({'day': monday.isoformat()})}'>New event</a> | times in {html.escape(user.get('timeZone') or 'UTC')}</p>")
    head = "".join(f"<th>{d.strftime('%a %d %b')}</th>" for d in days)
    row = "".join(f"<td>{''.join(cells[d])}</td>" for d in days)
    body = _header(emu, user) + f"<main><h2>Week of {monday.strftime('%d %B %Y')}</h2>{nav}<table><tr>{head}</tr><tr style='height:300px'>{row}</tr></table></main>"
    response = _page("Outlook calendar", body)
    response.set_cookie(COOKIE, user["email"], httponly=True, samesite="lax")
    return response


def _form(user: dict, values: dict, action: str, calendars: list[dict], error: str = "", can_delete: bool = False) -> str:
    zone = _zone(user)

    def local(value: dt.datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value else ""

    show = "".join(f"<option{' selected' if values.get('showAs') == v else ''}>{v}</option>" for v in ("busy", "tentative", "free", "oof", "workingElsewhere"))
    cal_options = "".join(f"<option value='{html.escape(c['id'])}'{' selected' if values.get('calendar_id') == c['id'] else ''}>{html.escape(c['name'])}</option>"
                          for c in calendars)
    calendar_field = f"<label>Calendar <select name='calendar_id'>{cal_options}</select></label>" if calendars else ""
    delete = "<button name='action' value='delete' onclick=\"return confirm('Delete this event?')\">Delete</button>" if can_delete else ""
    return (f"<form class='edit' method='post' action='{html.escape(action)}'>{f'<p class=err>{html.escape(error)}</p>' if error else ''}"
            f"<label>Title <input name='subject' value='{html.escape(values.get('subject') or '')}'></label>"
            f"<label>Start <input type='datetime-local' name='start' value='{local(values.get('start'))}' required></label>"
            f"<label>End <input type='datetime-local' name='end' value='{local(values.get('end'))}' required></label>"
            f"<label>Location <input name='location' value='{html.escape(values.get('location') or '')}'></label>"
            f"<label>Show as <select name='showAs'>{show}</select></label>{calendar_field}"
            f"<label>Notes <textarea name='body' rows='5'>{html.escape(values.get('body') or '')}</textarea></label>"
            f"<button name='action' value='save'>Save</button> {delete} <a href='/'>Back to the week</a></form>"
            f"<p><small>Times in {html.escape(user.get('timeZone') or 'UTC')}. To move an event, change its start and end.</small></p>")


def _payload(form, user: dict) -> dict:
    zone_name = user.get("timeZone") or "UTC"
    return {
        "subject": form.get("subject") or "",
        "start": {"dateTime": f"{form.get('start')}:00", "timeZone": zone_name},
        "end": {"dateTime": f"{form.get('end')}:00", "timeZone": zone_name},
        "location": {"displayName": form.get("location") or ""},
        "showAs": form.get("showAs") or "busy",
        "body": {"contentType": "text", "content": form.get("body") or ""},
    }


async def event_page(request: Request):
    emu = _emu(request)
    user = _signed_in(request)
    if user is None:
        return RedirectResponse("/", status_code=303)
    cal = Calendar(emu, user)
    event_id = request.path_params["event_id"]
    try:
        found = cal.occurrence(event_id)
        record = found[0] if found else cal.event(event_id)
    except GraphError:
        return _page("Not found", _header(emu, user) + "<main><p>This event no longer exists. <a href='/'>Back to the week</a></p></main>", 404)
    error = ""
    if request.method == "POST":
        form = await request.form()
        try:
            if form.get("action") == "delete":
                cal.delete_occurrence(*found) if found else cal.delete(event_id)
                return RedirectResponse("/", status_code=303)
            payload = _payload(form, user)
            if found:
                cal.update_occurrence(found[0], found[1], payload, None)
            else:
                cal.update(event_id, payload)
                if form.get("calendar_id") and form.get("calendar_id") != record["calendar_id"]:
                    # Moving to another calendar: Outlook gives the event a new id in the other folder.
                    target = cal.calendar(str(form.get("calendar_id")))
                    copy_payload = {**payload, "isAllDay": record["isAllDay"]}
                    cal.delete(event_id)
                    cal.create(copy_payload, target["id"])
            return RedirectResponse(f"/?{urlencode({'week': form.get('start', '')[:10]})}", status_code=303)
        except GraphError as exc:
            error = exc.message
    props = record["props"]
    if found:
        occ = found[1]
        overrides = (occ.get("exception") or {}).get("props") or {}
        props = {**props, **overrides}
        start, end = occ["start"], occ["end"]
    else:
        start, end = tz.from_iso(record["start"]), tz.from_iso(record["end"])
    body = props["body"]["content"]
    if props["body"]["contentType"] == "html":
        from .eventmodel import html_to_text

        body = html_to_text(body)
    values = {"subject": props["subject"], "start": start, "end": end, "location": props["location"]["displayName"],
              "showAs": props["showAs"], "body": body, "calendar_id": record["calendar_id"]}
    title = "Occurrence of a series" if found else "Event"
    calendars = [] if found else emu.store.calendars_of(user["id"])
    return _page(props["subject"] or title, _header(emu, user) + f"<main><h2>{title}</h2>"
                 + _form(user, values, f"/outlook/events/{quote(event_id, safe='')}", calendars, error, can_delete=True) + "</main>",
                 400 if error else 200)


async def new_event(request: Request):
    emu = _emu(request)
    user = _signed_in(request)
    if user is None:
        return RedirectResponse("/", status_code=303)
    cal = Calendar(emu, user)
    zone = _zone(user)
    error = ""
    values: dict = {"showAs": "busy", "calendar_id": emu.store.default_calendar(user["id"])["id"]}
    if request.method == "POST":
        form = await request.form()
        try:
            cal.create(_payload(form, user), str(form.get("calendar_id") or values["calendar_id"]))
            return RedirectResponse(f"/?{urlencode({'week': form.get('start', '')[:10]})}", status_code=303)
        except GraphError as exc:
            error = exc.message
            values.update({k: form.get(k) for k in ("subject", "location", "showAs", "body", "calendar_id")})
    try:
        day = dt.date.fromisoformat(request.query_params.get("day") or "")
    except ValueError:
        day = dt.datetime.now(zone).date()
    values.setdefault("start", dt.datetime.combine(day, dt.time(9), zone))
    values.setdefault("end", dt.datetime.combine(day, dt.time(10), zone))
    return _page("New event", _header(emu, user) + "<main><h2>New event</h2>"
                 + _form(user, values, "/outlook/new", emu.store.calendars_of(user["id"]), error) + "</main>", 400 if error else 200)


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/outlook/events/{event_id}", event_page, methods=["GET", "POST"]),
    Route("/outlook/new", new_event, methods=["GET", "POST"]),
]
