"""The emulator object and its ASGI application.

One port serves everything: identity endpoints (``/{tenant}/...``), Graph
(``/v1.0/...``) and the control API (``/_emulator/...``).

:class:`DropAwareApp` wraps the Starlette app to make "drop the connection"
faults possible: uvicorn would answer 500 to an exception, so instead the
wrapper finds the connection's transport (the ``send`` callable uvicorn's h11
protocol hands us is a bound method of the request cycle, which holds it),
aborts it, and swallows anything sent afterwards. Clients see a connection
closed without a response, as with a real network failure.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import logging

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import control, identity, web
from .config import default_config
from .errors import DEFAULT_CODES, DEFAULT_MESSAGES, error_body
from .graph_api import Calendar, GraphAPI
from .notifications import Notifier
from .outlook import Outlook
from .stats import Stats
from .store import Store
from .throttling import FaultProfile, Faults, Throttler

logger = logging.getLogger("graph_emulator")

DEMO_USER = {"email": "planner@contoso-weddings.example", "display_name": "Avery Quinn", "time_zone": "GMT Standard Time"}


class Emulator:
    def __init__(self, *, state_file: str | None = None, config_overrides: dict | None = None,
                 apps: list[dict] | None = None, seed_demo_user: bool = False):
        self.state_file = state_file
        self.store = Store()
        for app in apps or []:
            self.store.register_app(app["client_id"], app.get("client_secret"), app.get("redirect_uris") or [], from_cli=True)
        if state_file and self.store.load(state_file):
            logger.info("loaded state from %s", state_file)
        self.signer = identity.Signer(self.store)
        self.config_defaults = default_config(config_overrides)
        self.config = copy.deepcopy(self.config_defaults)
        self.stats = Stats()
        self.requests_in_flight = 0  # Graph requests being handled now (control API: stats)
        self.throttler = Throttler(self)
        self.faults = Faults()
        self.fault_profile = FaultProfile(self)
        self.notifier = Notifier(self)
        self.outlook = Outlook(self)

        def on_event_change(event: dict, change_type: str) -> None:
            self.notifier.event_changed(event, change_type)
            self.outlook.event_changed(event, change_type)

        self.store.on_event_change = on_event_change
        self.graph = GraphAPI(self)
        self.seed_demo = seed_demo_user
        if seed_demo_user:
            self.seed_demo_user()

    def reset(self) -> None:
        """Back to a clean slate: no users, events, tokens, subscriptions, faults; default config; zero stats."""
        self.notifier.cancel_all()
        self.outlook.cancel_all()
        self.store.clear()
        self.faults.clear()
        self.config = copy.deepcopy(self.config_defaults)
        self.throttler.reset()
        self.stats.reset({k: v for k, v in self.throttler.mailbox_inflight.items() if v})

    def seed_demo_user(self) -> None:
        if self.store.user_by_email(DEMO_USER["email"]):
            return
        user = self.store.create_user(DEMO_USER["email"], DEMO_USER["display_name"], time_zone=DEMO_USER["time_zone"])
        self.store.create_calendar(user, "Weddings", color="lightPink")
        today = dt.date.today()
        cal = Calendar(self, user)
        samples = [
            (2, "10:00", "11:00", "Venue walkthrough", "busy"),
            (5, "14:00", "15:30", "Dentist", "busy"),
            (9, "09:00", "09:30", "Call with florist", "tentative"),
        ]
        for days, start, end, subject, show_as in samples:
            day = today + dt.timedelta(days=days)
            cal.create({
                "subject": subject, "showAs": show_as,
                "start": {"dateTime": f"{day.isoformat()}T{start}:00", "timeZone": DEMO_USER["time_zone"]},
                "end": {"dateTime": f"{day.isoformat()}T{end}:00", "timeZone": DEMO_USER["time_zone"]},
            })

    def save(self) -> None:
        if self.state_file:
            self.store.save(self.state_file)

    async def periodic_save(self, every_s: float = 2.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            if self.state_file and self.store.dirty:
                try:
                    self.save()
                except OSError as exc:  # keep serving; report once per failure
                    logger.warning("could not save state to %s: %s", self.state_file, exc)


def build_app(emu: Emulator):
    """The ASGI app (wrapped for connection-drop faults)."""

    async def graph_endpoint(request):
        return await emu.graph.handle_http(request)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        tasks = [asyncio.create_task(emu.periodic_save()), asyncio.create_task(emu.notifier.reauthorization_loop()),
                 asyncio.create_task(emu.outlook.reminder_loop())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await emu.notifier.close()
            try:
                emu.save()
            except OSError as exc:
                logger.warning("could not save state: %s", exc)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"]
    routes = [
        *control.ROUTES,
        *web.ROUTES,
        Route("/v1.0", graph_endpoint, methods=methods),
        Route("/v1.0/{rest:path}", graph_endpoint, methods=methods),
        Route("/common/discovery/instance", identity.instance_discovery, methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", identity.openid_configuration, methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", identity.jwks, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/authorize", identity.authorize, methods=["GET", "POST"]),
        Route("/{tenant}/oauth2/v2.0/token", identity.token, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emu = emu
    return DropAwareApp(app, emu)


class DropAwareApp:
    """ASGI wrapper: gives handlers ``scope["emulator.drop"]`` and applies faults to identity endpoints."""

    def __init__(self, app, emu: Emulator):
        self.app = app
        self.emu = emu
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        dropped = False
        transport = getattr(getattr(send, "__self__", None), "transport", None)

        async def drop() -> None:
            nonlocal dropped
            dropped = True
            if transport is not None:
                transport.abort()
            await asyncio.sleep(0.05)  # let connection_lost run so uvicorn knows the peer is gone

        async def guarded_send(message) -> None:
            if not dropped:
                await send(message)

        scope["emulator.drop"] = drop
        path = scope.get("path", "")
        if not path.startswith(("/_emulator", "/v1.0")):
            fault = self.emu.faults.take(scope.get("method", "GET"), [path], None)
            if fault is not None:
                if fault.latency_ms:
                    await asyncio.sleep(fault.latency_ms / 1000)
                if fault.drop_connection:
                    await drop()
                    return
                if fault.status is not None:
                    if path.endswith("/token"):
                        form = await _read_form_grant(receive)
                        if form:
                            self.emu.stats.token_requests[form] += 1
                    status = fault.status
                    body = error_body(fault.error_code or DEFAULT_CODES.get(status, "UnknownError"),
                                      fault.error_message or DEFAULT_MESSAGES.get(status, "Injected fault."))
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                    await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)
                    return
        await self.app(scope, receive, guarded_send)


async def _read_form_grant(receive) -> str | None:
    """For an injected token-endpoint fault, still count the token request by grant type."""
    from urllib.parse import parse_qs

    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    values = parse_qs(b"".join(chunks).decode(errors="replace")).get("grant_type")
    return values[0] if values else None

