"""One error shape for every API response that is not a success.

Every 4xx from the API has the body::

    {"success": false, "error": {"code": "validation_error", "message": "...", "details": {...}}}

``code`` is stable and meant for the frontend; ``message`` is written for a
wedding supplier and can be shown as is; ``details`` holds per-field messages
when the request body was at fault.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

_MESSAGES = {
    "not_authenticated": "Please sign in to WedSync to continue.",
    "authentication_failed": "Please sign in to WedSync to continue.",
    "permission_denied": "You don't have access to that.",
    "not_found": "We couldn't find that.",
    "method_not_allowed": "That action isn't available here.",
    "parse_error": "We couldn't read that request. Please try again.",
    "unsupported_media_type": "We couldn't read that request. Please try again.",
    "throttled": "Too many requests. Please wait a moment and try again.",
    "validation_error": "Some details need fixing.",
}


class ApiError(exceptions.APIException):
    """An error raised by an action or view, with a stable code and a friendly message."""

    def __init__(self, code: str, message: str, status_code: int = 400, details: dict | None = None):
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = details or {}
        super().__init__(detail=message, code=code)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    """The body shape every API error uses."""
    body: dict = {"success": False, "error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def exception_handler(exc, context):
    """DRF exception handler that renders every error in the shared shape."""
    if isinstance(exc, ApiError):
        return Response(error_body(exc.error_code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"nonFieldErrors": exc.detail}
        response.data = error_body("validation_error", _MESSAGES["validation_error"], details)
        return response
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    if isinstance(exc, exceptions.NotAuthenticated) or isinstance(exc, exceptions.AuthenticationFailed):
        # Session auth answers 403 by default; 401 tells the frontend to send the user to sign in.
        response.status_code = status.HTTP_401_UNAUTHORIZED
        code = "not_authenticated"
    response.data = error_body(code, _MESSAGES.get(code, str(getattr(exc, "detail", "Something went wrong."))))
    return response
