"""One error shape for every API response that is not a success.

Every 4xx/5xx under ``/api/`` has the body::

    {"success": false, "error": {"code": "validation_error", "message": "...", "details": {...}, "ids": [...]}}

- ``code`` is stable and meant for the frontend;
- ``message`` is written for a wedding supplier and can be shown as is;
- ``details`` (only when the request was at fault) is always an object:
  field name (dotted for nested fields, ``body`` for the request as a whole)
  -> list of messages;
- ``ids`` (only when some ids in the request were not found, e.g.
  ``specificEvents``) lists those ids.

No message echoes more than :data:`MAX_ECHO` characters of what was sent.
"""
from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework.views import exception_handler as drf_exception_handler

#: At most this many characters of a value the client sent appear in an error message.
MAX_ECHO = 100
#: A message longer than this is cut (a last guard; field messages never echo more than MAX_ECHO).
MAX_MESSAGE = 300

logger = logging.getLogger(__name__)

_MESSAGES = {
    "temporarily_unavailable": "WedSync is having a short technical hiccup. Please try again in a minute; nothing was changed.",
    "not_authenticated": "Please sign in to WedSync to continue.",
    "permission_denied": "You don't have access to that.",
    "not_found": "We couldn't find that.",
    "no_such_endpoint": "There is no API endpoint at this address.",
    "method_not_allowed": "That action isn't available here.",
    "parse_error": "The request body isn't valid JSON.",
    "unsupported_media_type": "Send the request body as JSON (Content-Type: application/json).",
    "not_acceptable": "This API only answers in JSON.",
    "throttled": "Too many requests. Please wait a moment and try again.",
    "validation_error": "Some details need fixing.",
    "csrf_failed": "This request needs the X-CSRFToken header: send the value of the csrftoken cookie in it.",
    "server_error": "Something went wrong on our side. Please try again.",
}

#: Every error ``code`` the API can answer with besides an action's own codes (documented in the OpenAPI schema).
GENERIC_CODES = tuple(_MESSAGES)


def shorten(value, limit: int = MAX_ECHO) -> str:
    """``value`` as text of at most ``limit`` characters (for echoing client input)."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ApiError(exceptions.APIException):
    """An error raised by an action or view, with a stable code and a friendly message.

    ``details`` maps fields to a message or a list of messages; ``ids`` lists
    ids from the request that were not found.
    """

    def __init__(self, code: str, message: str, status_code: int = 400, details: dict | None = None, ids: list | None = None):
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = normalise_details(details) if details else {}
        self.ids = [shorten(i) for i in ids] if ids else []
        super().__init__(detail=message, code=code)


def normalise_details(detail, prefix: str = "") -> dict[str, list[str]]:
    """Any DRF/ApiError detail as ``{field: [messages]}`` (nested fields dotted, the whole body as ``body``)."""
    out: dict[str, list[str]] = {}

    def add(key: str, message) -> None:
        out.setdefault(key or "body", []).append(shorten(message, MAX_MESSAGE))

    def walk(value, key: str) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                if name in ("non_field_errors", "nonFieldErrors"):
                    walk(inner, key or "body")  # about the object itself: reported under the object's own name
                else:
                    name = shorten(name, 60)
                    walk(inner, f"{key}.{name}" if key else name)
        elif isinstance(value, (list, tuple)):
            for inner in value:
                if isinstance(inner, (dict, list, tuple)):
                    walk(inner, key)
                else:
                    add(key, inner)
        else:
            add(key, value)

    walk(detail, prefix)
    return out


def error_body(code: str, message: str, details: dict | None = None, ids: list | None = None) -> dict:
    """The body shape every API error uses."""
    body: dict = {"success": False, "error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = normalise_details(details)
    if ids:
        body["error"]["ids"] = list(ids)
    return body


def exception_handler(exc, context):
    """DRF exception handler that renders every error in the shared shape."""
    if isinstance(exc, ApiError):
        return Response(error_body(exc.error_code, exc.message, exc.details, exc.ids), status=exc.status_code)
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        # Redis (cache, rate limits, locks, job queue) is unreachable: a passing outage, not a server fault.
        logger.warning("Redis unreachable during %s: %s", context.get("request") and context["request"].path, exc.__class__.__name__)
        response = Response(error_body("temporarily_unavailable", _MESSAGES["temporarily_unavailable"]), status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = "30"
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("validation_error", _MESSAGES["validation_error"], normalise_details(exc.detail))
        return response
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    message = _MESSAGES.get(code)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        # Session auth answers 403 by default; 401 tells the frontend to send the user to sign in.
        response.status_code = status.HTTP_401_UNAUTHORIZED
        code, message = "not_authenticated", _MESSAGES["not_authenticated"]
    elif isinstance(exc, exceptions.PermissionDenied) and str(exc.detail).startswith("CSRF Failed"):
        # DRF's SessionAuthentication refuses a signed-in write without the CSRF token header.
        code, message = "csrf_failed", _MESSAGES["csrf_failed"]
    elif isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        allowed = [m for m in (getattr(view, "allowed_methods", None) or []) if m not in ("OPTIONS", "HEAD")]
        message = f"{_MESSAGES['method_not_allowed']} Use {' or '.join(allowed)}." if allowed else _MESSAGES["method_not_allowed"]
    elif message is None:
        message = "Something went wrong with that request."
    response.data = error_body(code, message)
    return response


def _json_error(status_code: int, code: str, message: str | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message or _MESSAGES[code]), status=status_code)


def api_not_found(request, *args, **kwargs):
    """Any path under ``/api/`` that no endpoint answers (wrong id format, trailing slash, typo): JSON 404."""
    return _json_error(404, "no_such_endpoint")


def handler404(request, exception=None):
    """Project 404 handler: the error shape under ``/api/``, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return _json_error(404, "no_such_endpoint")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return _json_error(500, "server_error")
    from django.views.defaults import server_error

    return server_error(request)


class ApiErrorShapeMiddleware:
    """Under ``/api/``, turn any error response that is not already JSON (e.g. a plain 405 from a
    function view, Django's CSRF page) into the error shape, so clients only ever parse one format."""

    _CODES = {400: "bad_request", 403: "permission_denied", 404: "no_such_endpoint", 405: "method_not_allowed", 413: "too_large", 500: "server_error"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (request.path.startswith("/api/") and response.status_code >= 400
                and not response.get("Content-Type", "").startswith("application/json")):
            code = self._CODES.get(response.status_code, "error")
            message = _MESSAGES.get(code) or {"bad_request": "We couldn't read that request.", "too_large": "That request is too large."}.get(code, "That request didn't work.")
            allowed = response.get("Allow")
            if response.status_code == 405 and allowed:
                message = f"{_MESSAGES['method_not_allowed']} Use {' or '.join(m.strip() for m in allowed.split(','))}."
            shaped = _json_error(response.status_code, code, message)
            if allowed:
                shaped["Allow"] = allowed
            return shaped
        return response
