"""Graph-shaped errors.

Every Graph failure has the body ``{"error": {"code", "message", "innerError":
{"request-id", "date", "client-request-id"}}}``; handlers raise
:class:`GraphError` and the dispatcher renders it.
"""
from __future__ import annotations

import datetime as dt
import uuid


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(code: str, message: str, request_id: str | None = None, client_request_id: str | None = None) -> dict:
    request_id = request_id or str(uuid.uuid4())
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }


DEFAULT_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "ErrorAccessDenied",
    404: "ErrorItemNotFound",
    409: "ErrorConflict",
    410: "SyncStateNotFound",
    412: "ErrorIrresolvableConflict",
    424: "FailedDependency",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

DEFAULT_MESSAGES = {
    429: "Application is over its MailboxConcurrency limit.",
    500: "An internal server error occurred.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable. Please retry later.",
    504: "The request timed out.",
}
