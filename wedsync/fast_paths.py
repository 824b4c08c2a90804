"""The shortest middleware stack for Microsoft's change notifications.

Graph POSTs notifications at the receiver (``outlook_sync.webhooks``) in bursts, and the receiver must answer
each within 3 s whatever else the site is doing. Those requests carry no cookie, no session, no user and no
CSRF token (``csrf_exempt``), and their answer is an empty 202 (or the validation token as text/plain): the
session, authentication, messages, CSRF, whitenoise, htmx, CSP, X-Frame-Options and django-axes middleware
would only cost time. This middleware, placed right after ``SecurityMiddleware`` (nosniff, HTTPS redirect)
and ``ApiErrorShapeMiddleware`` (the one JSON error shape, also for a 500), hands a POST to those paths
straight to its view; every other request goes through the whole stack.
"""
from __future__ import annotations

from django.urls import resolve, reverse

#: URL names whose POSTs skip the rest of the stack (the receivers of Graph's change and lifecycle notifications).
FAST_URL_NAMES = ("outlook-webhook", "outlook-webhook-lifecycle")


class NotificationFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._paths: frozenset[str] | None = None

    def __call__(self, request):
        if request.method == "POST":
            if self._paths is None:  # reversed on first use: the URLconf is not loaded yet when middleware is built
                self._paths = frozenset(reverse(name) for name in FAST_URL_NAMES)
            if request.path_info in self._paths:
                match = resolve(request.path_info)
                response = match.func(request, *match.args, **match.kwargs)
                if not response.streaming and not response.has_header("Content-Length"):
                    response.headers["Content-Length"] = str(len(response.content))  # as CommonMiddleware would: no chunked 202
                return response
        return self.get_response(request)
