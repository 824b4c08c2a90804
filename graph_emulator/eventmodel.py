"""Events: validating Graph JSON into stored records and rendering them back.

A stored event keeps its start/end as UTC instants plus the zone names the
writer used (``start_tz``/``end_tz``), so it can be rendered in whatever zone
a reader asks for with ``Prefer: outlook.timezone``. All-day events are
floating dates: they are validated as midnight-to-midnight in the writer's
zone and always read back as midnights, whatever zone the reader asks for.
"""
from __future__ import annotations

import copy
import datetime as dt
import html
import re
import secrets
import uuid
from urllib.parse import quote

from . import tz
from .errors import GraphError
from .store import graph_id

WRITABLE = {
    "subject", "body", "start", "end", "isAllDay", "location", "locations", "attendees",
    "reminderMinutesBeforeStart", "isReminderOn", "showAs", "categories", "sensitivity", "importance",
    "transactionId", "singleValueExtendedProperties", "multiValueExtendedProperties", "responseRequested",
    "allowNewTimeProposals", "hideAttendees", "isOnlineMeeting", "onlineMeetingProvider", "recurrence",
    "originalStartTimeZone", "originalEndTimeZone", "isDraft", "organizer", "uid",
}
#: Read-only properties a client may echo back; Graph ignores them on write.
IGNORED = {
    "id", "changeKey", "createdDateTime", "lastModifiedDateTime", "bodyPreview", "webLink", "iCalUId", "type",
    "isCancelled", "isOrganizer", "responseStatus", "seriesMasterId", "hasAttachments", "occurrenceId",
    "onlineMeeting", "onlineMeetingUrl", "originalStart", "calendar", "instances", "attachments", "extensions",
    "cancelledOccurrences", "exceptionOccurrences",
}
ENUMS = {
    "showAs": ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown"),
    "sensitivity": ("normal", "personal", "private", "confidential"),
    "importance": ("low", "normal", "high"),
}
ENUM_TYPES = {"showAs": "microsoft.graph.freeBusyStatus", "sensitivity": "microsoft.graph.sensitivity", "importance": "microsoft.graph.importance"}
ATTENDEE_TYPES = ("required", "optional", "resource")
EXT_ID_RE = re.compile(r"^(String|Integer|Boolean|SystemTime|Double|Binary|Guid|Long|Short|Float|Currency|Object|CLSID)\s+(\{[0-9a-f-]{36}\}\s+(Name|Id)\s+\S.*|0x[0-9a-f]{1,4})$", re.IGNORECASE)


def bad_request(message: str, code: str = "RequestBodyRead") -> GraphError:
    return GraphError(400, code, message)


def new_record(user: dict, calendar: dict) -> dict:
    now = tz.iso(tz.now())
    return {
        "id": graph_id(b"\x46\x00"),
        "user_id": user["id"],
        "calendar_id": calendar["id"],
        "created": now,
        "modified": now,
        "changeKey": "",
        "seq": 0,
        "history": [],
        "start": None,
        "end": None,
        "start_tz": "UTC",
        "end_tz": "UTC",
        "isAllDay": False,
        "props": {
            "subject": "",
            "body": {"contentType": "text", "content": ""},
            "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
            "attendees": [],
            "reminderMinutesBeforeStart": 15,
            "isReminderOn": True,
            "showAs": "busy",
            "categories": [],
            "sensitivity": "normal",
            "importance": "normal",
            "responseRequested": True,
            "allowNewTimeProposals": True,
            "hideAttendees": False,
            "isOnlineMeeting": False,
            "onlineMeetingProvider": "unknown",
            "isCancelled": False,
            "isDraft": False,
        },
        "transactionId": None,
        "iCalUId": "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper(),
        "ext": [],
    }


def _time_part(record: dict, payload: dict, key: str) -> None:
    value = payload[key]
    if value is None:
        raise bad_request(f"The property '{key}' cannot be null.", "ErrorInvalidRequest")
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise bad_request(f"Cannot read the value of property '{key}': expected {{dateTime, timeZone}}.")
    zone_name = value.get("timeZone") or "UTC"
    if not isinstance(zone_name, str) or not tz.is_known_zone(zone_name):
        raise GraphError(
            400, "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone_name}'.",
        )
    try:
        instant = tz.to_instant(value["dateTime"], zone_name)
    except tz.BadDateTime:
        raise bad_request(f"Cannot convert the literal '{value['dateTime']}' to the expected type 'Edm.DateTimeOffset'.") from None
    record[key] = tz.iso(instant)
    record[f"{key}_tz"] = zone_name


def _attendees(value) -> list[dict]:
    if not isinstance(value, list):
        raise bad_request("Property 'attendees' must be a collection.")
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("emailAddress"), dict):
            raise bad_request("Each attendee needs an emailAddress.")
        address = item["emailAddress"].get("address") or ""
        kind = item.get("type") or "required"
        if kind not in ATTENDEE_TYPES:
            raise bad_request(f"Cannot convert the literal '{kind}' to the expected type 'microsoft.graph.attendeeType'.")
        out.append({
            "type": kind,
            "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
            "emailAddress": {"name": item["emailAddress"].get("name") or address, "address": address},
        })
    return out


def _location(value) -> dict:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise bad_request("Property 'location' must be an object.")
    location = {"displayName": value.get("displayName") or "", "locationType": value.get("locationType") or "default",
                "uniqueIdType": value.get("uniqueIdType") or "unknown"}
    for key in ("address", "coordinates", "locationUri", "uniqueId"):
        if key in value:
            location[key] = value[key]
    return location


def _merge_ext(record: dict, value) -> None:
    if not isinstance(value, list):
        raise bad_request("Property 'singleValueExtendedProperties' must be a collection.")
    by_id = {p["id"].lower(): p for p in record["ext"]}
    for prop in value:
        if not isinstance(prop, dict) or not isinstance(prop.get("id"), str):
            raise bad_request("Each extended property needs an 'id'.")
        if not EXT_ID_RE.match(prop["id"].strip()):
            raise GraphError(400, "ErrorInvalidProperty", f"The extended property id '{prop['id']}' is not valid.")
        val = prop.get("value")
        if val is not None and not isinstance(val, str):
            raise bad_request("Extended property values are strings.")
        key = prop["id"].strip().lower()
        if key in by_id:
            by_id[key]["value"] = val
        else:
            entry = {"id": prop["id"].strip(), "value": val}
            record["ext"].append(entry)
            by_id[key] = entry


def apply_payload(record: dict, payload, *, creating: bool) -> dict:
    """Return a validated copy of ``record`` with ``payload`` (Graph event JSON) applied."""
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object.", "BadRequest")
    new = copy.deepcopy(record)
    props = new["props"]
    for key, value in payload.items():
        if key.startswith("@odata") or key.startswith("@") or key in IGNORED:
            continue
        if key not in WRITABLE:
            raise bad_request(f"The property '{key}' does not exist on type 'microsoft.graph.event'. Make sure to only use property names that are defined by the type.")
        if key in ("start", "end"):
            _time_part(new, payload, key)
        elif key == "isAllDay":
            new["isAllDay"] = bool(value)
        elif key == "subject":
            props["subject"] = "" if value is None else str(value)
        elif key == "body":
            value = value or {}
            kind = (value.get("contentType") or "text").lower() if isinstance(value, dict) else None
            if kind not in ("text", "html"):
                raise bad_request("Cannot convert the literal to the expected type 'microsoft.graph.bodyType'.")
            props["body"] = {"contentType": kind, "content": value.get("content") or ""}
        elif key == "location":
            props["location"] = _location(value)
        elif key == "locations":
            props["locations"] = [_location(v) for v in (value or [])]
        elif key == "attendees":
            props["attendees"] = _attendees(value or [])
        elif key in ENUMS:
            if value not in ENUMS[key]:
                raise bad_request(f"Cannot convert the literal '{value}' to the expected type '{ENUM_TYPES[key]}'.")
            props[key] = value
        elif key == "categories":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad_request("Property 'categories' must be a collection of strings.")
            props["categories"] = list(value)
        elif key == "reminderMinutesBeforeStart":
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad_request("Cannot convert the literal to the expected type 'Edm.Int32'.")
            props[key] = value
        elif key in ("isReminderOn", "responseRequested", "allowNewTimeProposals", "hideAttendees", "isOnlineMeeting", "isDraft"):
            props[key] = bool(value)
        elif key == "onlineMeetingProvider":
            props[key] = str(value)
        elif key == "transactionId":
            if creating:
                new["transactionId"] = value
        elif key == "singleValueExtendedProperties":
            _merge_ext(new, value)
        elif key == "recurrence":
            from . import recurrence as recurrence_module

            if value is None:
                new.pop("recurrence", None)
            else:
                new["recurrence"] = recurrence_module.validate(value)
                new.setdefault("exceptions", {})
                new.setdefault("cancelled", [])
        # originalStartTimeZone, originalEndTimeZone, organizer, uid, multiValueExtendedProperties: accepted, ignored.
    if "location" in payload and "locations" not in payload:
        props["locations"] = [dict(props["location"])] if props["location"]["displayName"] else []
    if creating and (new["start"] is None or new["end"] is None):
        raise GraphError(400, "ErrorInvalidRequest", "Your request can't be completed. The event needs a start and an end.")
    _validate_times(new)
    return new


def _local(record: dict, key: str) -> dt.datetime:
    return tz.from_iso(record[key]).astimezone(tz.resolve_zone(record[f"{key}_tz"]))


def _validate_times(record: dict) -> None:
    start, end = tz.from_iso(record["start"]), tz.from_iso(record["end"])
    if record["isAllDay"]:
        local_start, local_end = _local(record, "start"), _local(record, "end")
        if local_start.time() != dt.time(0) or local_end.time() != dt.time(0) or local_end.date() <= local_start.date():
            raise GraphError(
                400, "ErrorPropertyValidationError",
                "Your request can't be completed. If an event is marked as all-day, the start and end time must be set "
                "to midnight, the end must be at least one day after the start, and both must use the same time zone.",
            )
    elif end < start:
        raise GraphError(400, "ErrorCalendarEndDateIsEarlierThanStartDate", "The end date you entered occurs before the start date.")


# --- reading ---
def instants(record: dict) -> tuple[dt.datetime, dt.datetime]:
    return tz.from_iso(record["start"]), tz.from_iso(record["end"])


def overlaps(start: dt.datetime, end: dt.datetime, window_start: dt.datetime, window_end: dt.datetime) -> bool:
    if start == end:
        return window_start <= start < window_end
    return start < window_end and end > window_start


def etag(record: dict) -> str:
    return f'W/"{record["changeKey"]}"'


def html_to_text(content: str) -> str:
    text = re.sub(r"(?is)<(script|style|head).*?</\1>", "", content)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


def text_to_html(content: str) -> str:
    return "<html><body>" + html.escape(content).replace("\n", "<br>") + "</body></html>"


class RenderOptions:
    """How one request wants events rendered."""

    def __init__(self, zone_name: str = "UTC", select: set[str] | None = None, expand_ext: list[str] | None | bool = None,
                 body_type: str | None = None):
        self.zone_name = zone_name
        self.zone = tz.resolve_zone(zone_name)
        self.select = {s.lower() for s in select} if select else None
        #: None: no extended properties; True: all of them; list: those ids (lower case).
        self.expand_ext = expand_ext
        self.body_type = body_type


def render(record: dict, user: dict, options: RenderOptions | None = None) -> dict:
    """The event as Graph JSON."""
    options = options or RenderOptions()
    props = record["props"]
    start, end = instants(record)
    if record["isAllDay"]:
        start_text = _local(record, "start").strftime("%Y-%m-%dT00:00:00.0000000")
        end_text = _local(record, "end").strftime("%Y-%m-%dT00:00:00.0000000")
    else:
        start_text, end_text = tz.format_local(start, options.zone), tz.format_local(end, options.zone)
    body = dict(props["body"])
    if options.body_type == "text" and body["contentType"] == "html":
        body = {"contentType": "text", "content": html_to_text(body["content"])}
    elif options.body_type == "html" and body["contentType"] == "text":
        body = {"contentType": "html", "content": text_to_html(body["content"])}
    preview_source = props["body"]["content"] if props["body"]["contentType"] == "text" else html_to_text(props["body"]["content"])
    location = props["location"]
    organizer = {"emailAddress": {"name": user["displayName"], "address": user["email"]}}
    out = {
        "@odata.etag": etag(record),
        "id": record["id"],
        "createdDateTime": tz.format_utc_z(tz.from_iso(record["created"])),
        "lastModifiedDateTime": tz.format_utc_z(tz.from_iso(record["modified"])),
        "changeKey": record["changeKey"],
        "categories": list(props["categories"]),
        "transactionId": record.get("transactionId"),
        "originalStartTimeZone": record["start_tz"],
        "originalEndTimeZone": record["end_tz"],
        "iCalUId": record["iCalUId"],
        "uid": record["iCalUId"],
        "reminderMinutesBeforeStart": props["reminderMinutesBeforeStart"],
        "isReminderOn": props["isReminderOn"],
        "hasAttachments": False,
        "subject": props["subject"],
        "bodyPreview": " ".join(preview_source.split())[:255],
        "importance": props["importance"],
        "sensitivity": props["sensitivity"],
        "isAllDay": record["isAllDay"],
        "isCancelled": props["isCancelled"],
        "isOrganizer": True,
        "responseRequested": props["responseRequested"],
        "seriesMasterId": None,
        "showAs": props["showAs"],
        "type": "seriesMaster" if record.get("recurrence") else "singleInstance",
        "webLink": f"https://outlook.office365.com/owa/?itemid={quote(record['id'], safe='')}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": props["isOnlineMeeting"],
        "onlineMeetingProvider": props["onlineMeetingProvider"],
        "allowNewTimeProposals": props["allowNewTimeProposals"],
        "occurrenceId": None,
        "isDraft": props["isDraft"],
        "hideAttendees": props["hideAttendees"],
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "body": body,
        "start": {"dateTime": start_text, "timeZone": options.zone_name},
        "end": {"dateTime": end_text, "timeZone": options.zone_name},
        "location": dict(location),
        "locations": copy.deepcopy(props.get("locations") or []),
        "recurrence": copy.deepcopy(record["recurrence"]) if record.get("recurrence") else None,
        "attendees": copy.deepcopy(props["attendees"]),
        "organizer": organizer,
        "onlineMeeting": None,
    }
    if not record.get("transactionId"):
        # Absent unless the client set one on create (as observed on Graph).
        out.pop("transactionId")
    if options.select is not None:
        out = {k: v for k, v in out.items() if k.lower() in options.select or k in ("id", "@odata.etag")}
    if options.expand_ext is not None:
        if options.expand_ext is True:
            props_out = record["ext"]
        else:
            props_out = [p for p in record["ext"] if p["id"].lower() in options.expand_ext]
        out["singleValueExtendedProperties"] = [{"id": p["id"], "value": p["value"]} for p in props_out]
    return out


def matches_ext_filter(record: dict, prop_id: str, op: str | None, value: str | None) -> bool:
    """``singleValueExtendedProperties/Any(ep: ep/id eq 'X' [and ep/value eq 'V' | ne null])``."""
    for prop in record["ext"]:
        if prop["id"].lower() != prop_id.lower():
            continue
        if op is None:
            return True
        if op == "eq":
            return prop["value"] == value
        if op == "ne":
            return prop["value"] != value
    return False


def new_subscription_id() -> str:
    return str(uuid.uuid4())


def occurrence_record(master: dict, occ: dict) -> dict:
    """A record for one occurrence (or exception) of ``master``, renderable with :func:`render`."""
    record = copy.deepcopy({k: v for k, v in master.items() if k not in ("recurrence", "exceptions", "cancelled", "history")})
    record["id"] = occ["id"]
    record["start"], record["end"] = tz.iso(occ["start"]), tz.iso(occ["end"])
    exception = occ.get("exception")
    if exception:
        record["props"].update(copy.deepcopy(exception.get("props") or {}))
        record["changeKey"] = exception["changeKey"]
        record["modified"] = exception.get("modified", record["modified"])
    return record


def render_occurrence(master: dict, occ: dict, user: dict, options: RenderOptions | None = None, *, reduced: bool = False) -> dict:
    """An occurrence or exception as Graph JSON. ``reduced``: what calendarView delta carries for an occurrence --
    only id, etag/changeKey, type, seriesMasterId, start and end (the client reads the master for the rest)."""
    out = render(occurrence_record(master, occ), user, options)
    out["type"] = "exception" if occ.get("exception") else "occurrence"
    out["seriesMasterId"] = master["id"]
    out["recurrence"] = None
    out["occurrenceId"] = f"OID.{master['id']}.{occ['day']}"
    if reduced and out["type"] == "occurrence":
        keep = ("@odata.etag", "id", "changeKey", "type", "seriesMasterId", "start", "end")
        out = {k: out[k] for k in keep if k in out}
    return out
