"""Abuse limits: per-user API throttles (DRF) and the login lockout answer (django-axes).

Both answer 429 with a ``Retry-After`` header; the API in the shared error
shape (``code: "throttled"``), the login pages with a page that says how long
to wait.
"""
from __future__ import annotations

import math
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle

#: (URL name, method) -> throttle scope; rates are ``settings.API_THROTTLE_RATES[scope]``.
SCOPES = {
    ("outlook-sync", "POST"): "sync",
    ("outlook-event-force-sync", "POST"): "force_sync",
    ("outlook-availability", "GET"): "availability",
    ("outlook-auth", "GET"): "auth",
    ("outlook-auth-callback", "POST"): "auth",
}


class EndpointThrottle(SimpleRateThrottle):
    """Scoped per signed-in user (per address when anonymous); only the endpoints in :data:`SCOPES` count.

    Rates are read on each request so that a changed setting applies at once.
    """

    def allow_request(self, request, view):
        match = getattr(request, "resolver_match", None)
        self.scope = SCOPES.get((match.url_name if match else None, request.method))
        if self.scope is None:
            return True
        self.rate = settings.API_THROTTLE_RATES[self.scope]
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self):  # the rate is set per request in allow_request
        return None

    def get_cache_key(self, request, view):
        ident = request.user.pk if request.user and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def _cooloff_seconds() -> int:
    return int(math.ceil(settings.AXES_COOLOFF_TIME.total_seconds()))


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What a locked-out sign-in gets (supplier login and admin login): 429, Retry-After, words to act on."""
    from .api_errors import error_body  # not at import time: DRF loads this module while api_errors is importing

    seconds = _cooloff_seconds()
    minutes = max(1, math.ceil(seconds / 60))
    message = f"Too many wrong passwords. For your security, sign-in is paused for {minutes} minutes. Please try again after that."
    wants_json = "application/json" in request.headers.get("Accept", "") or request.content_type == "application/json"
    if wants_json:
        response: HttpResponse = JsonResponse(error_body("login_locked", message), status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message, "minutes": minutes}, status=429)
    response["Retry-After"] = str(seconds)
    return response


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with Microsoft's sign-in origin added to ``form-action`` on each response.

    "Connect Outlook" is a form posted to this site and redirected to the
    identity authority; browsers check that redirect against ``form-action``.
    The origin is read per request so that it always follows ``MICROSOFT_AUTHORITY``.
    """

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        authority = urlsplit(settings.MICROSOFT_AUTHORITY)
        if authority.scheme and authority.netloc:
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", []), f"{authority.scheme}://{authority.netloc}"]
            parts.update = update
        return parts
