"""drf-spectacular hook: fields a ``ContractSerializer`` leaves out when empty (``?`` in the spec) are not required."""
from __future__ import annotations

import re


def drop_optional_from_required(result, generator, request, public):
    from .serializers import ContractSerializer

    optional: dict[str, set[str]] = {}

    def walk(cls) -> None:
        for sub in cls.__subclasses__():
            optional[sub.__name__.removesuffix("Serializer")] = set(sub.optional_fields)
            walk(sub)

    walk(ContractSerializer)
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        fields = optional.get(name)
        if fields and "required" in schema:
            schema["required"] = [field for field in schema["required"] if field not in fields]
            if not schema["required"]:
                del schema["required"]
    return result


#: Error responses every operation under /api/ may give (all in the one error shape).
_ERROR_STATUSES = {
    "400": "The request is at fault: `validation_error` (see `details`), `parse_error`, or an action's own code (e.g. `unknown_events` with `ids`).",
    "401": "`not_authenticated`: sign in first.",
    "403": "`csrf_failed` (send the `csrftoken` cookie's value in the `X-CSRFToken` header) or `permission_denied`.",
    "404": "`not_connected` (Outlook isn't connected), `sync_not_found`, `event_not_found`, `change_not_found` (undo), or `no_such_endpoint`.",
    "405": "`method_not_allowed`.",
    "409": "The integration's state refuses it: `needs_reconnect`, `no_calendar`, `sync_disabled`, `has_conflict`, `no_conflict`, `already_connected`, `account_in_use` (the Microsoft account is linked to another supplier), and for undo `already_undone`, `nothing_to_undo`, `sync_in_progress`.",
    "415": "`unsupported_media_type`: send JSON.",
    "502": "Microsoft couldn't be reached or refused (`microsoft_unavailable`).",
    "503": "`sync_unavailable`: the job queue is unreachable; `temporarily_unavailable`: Redis (rate limits, locks) is unreachable; try again after `Retry-After`.",
}

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "The one error shape of every API error. `details` (when the request was at fault) maps each field "
        "(dotted for nested fields, `body` for the request as a whole) to a list of messages; `ids` lists ids "
        "from the request that were not found (e.g. `specificEvents`). Messages are written for the supplier "
        "and never echo more than 100 characters of what was sent."
    ),
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Stable, for the frontend."},
                "message": {"type": "string", "description": "For the supplier, shown as is."},
                "details": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                "ids": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["code", "message"],
            "additionalProperties": False,
        },
    },
    "required": ["success", "error"],
    "additionalProperties": False,
}


#: Only the rate-limited operations (``wedsync.security.SCOPES``) can answer 429.
_THROTTLED = ("429", "`throttled`: too many requests; wait the seconds in the `Retry-After` header and try again.")


def _throttled(path: str, method: str) -> bool:
    from django.urls import Resolver404, resolve

    from wedsync.security import SCOPES

    try:
        match = resolve(re.sub(r"\{[^}]+\}", "x", path))
    except Resolver404:
        return False
    return (match.url_name, method.upper()) in SCOPES


def document_errors(result, generator, request, public):
    """Every operation documents its error responses with the shared ``ApiError`` schema."""
    result.setdefault("components", {}).setdefault("schemas", {})["ApiError"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/ApiError"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = dict(_ERROR_STATUSES)
            if _throttled(path, method):
                statuses[_THROTTLED[0]] = _THROTTLED[1]
            for status, text in statuses.items():
                operation["responses"].setdefault(status, {"description": text, "content": {"application/json": {"schema": ref}}})
    return result
