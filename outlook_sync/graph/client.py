"""The only code that sends HTTP requests to Microsoft Graph.

:meth:`GraphClient.request` is the one request function: base URL from
settings, a bearer token from :mod:`outlook_sync.tokens` (refreshed once on a
401) attached only to https URLs whose scheme, host and port are
``GRAPH_BASE_URL``'s (any other link is refused as :class:`~.errors.ForeignUrlError`), at most 4 requests in flight per mailbox (:func:`outlook_sync.locks.mailbox_slot`),
retries that honour ``Retry-After`` (fractional seconds too) for 429/503/504
and connection failures, and typed errors from :mod:`.errors`. A POST is
retried after a connection failure only when it carries a ``transactionId``
(Graph then returns the event it already made instead of a duplicate).
:meth:`~GraphClient.pages` follows ``@odata.nextLink``; :meth:`~GraphClient.batch`
sends ``$batch`` requests of up to 20 and retries throttled items on their own.

Logs say method, path, status, duration and Graph's request-id; never tokens.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from .. import locks, tokens
from .errors import ForeignUrlError, GraphConnectionError, GraphError, UnauthorizedError
from .oauth import http_session

logger = logging.getLogger(__name__)

#: Graph's limit of requests in one $batch.
BATCH_LIMIT = 20
_RETRY_STATUSES = {429, 502, 503, 504}


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up and letting the caller record a retryable error."""

    max_attempts: int = 6
    base_backoff: float = 0.5
    max_backoff: float = 30.0
    #: Give up when the next wait would push the total waiting past this.
    max_total_wait: float = 120.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, for failures that gave no Retry-After."""
        return min(self.max_backoff, self.base_backoff * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class GraphResponse:
    status: int
    headers: Mapping[str, str]
    body: Any = None


@dataclass(frozen=True)
class BatchRequest:
    """One request inside a ``$batch``; ``url`` is relative to the version root (``/me/events``)."""

    id: str
    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[str] = ()

    def to_json(self) -> dict:
        item: dict = {"id": self.id, "method": self.method, "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            item["body"] = self.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            item["headers"] = headers
        if self.depends_on:
            item["dependsOn"] = list(self.depends_on)
        return item

    @property
    def retry_safe(self) -> bool:
        return self.method.upper() != "POST" or bool(isinstance(self.body, dict) and self.body.get("transactionId"))


#: Returns a bearer token; called with ``force_refresh=True`` after Graph refused the last one.
TokenProvider = Callable[[bool], str]


#: Token refreshes one request may ask for after a 401 (see ``GraphClient.request``).
MAX_TOKEN_REFRESHES = 2


class GraphClient:
    """Graph as seen by one mailbox, with tokens from ``token_provider``."""

    def __init__(self, mailbox: str, token_provider: TokenProvider, *, policy: RetryPolicy | None = None, session: requests.Session | None = None):
        self.mailbox = mailbox
        self.token_provider = token_provider
        self.policy = policy or RetryPolicy()
        self.session = session or http_session()
        self.base_url = settings.GRAPH_BASE_URL
        self.timeout = settings.GRAPH_TIMEOUT_SECONDS
        #: Requests sent (attempts included), for run statistics and tests.
        self.requests_sent = 0

    @classmethod
    def for_integration(cls, integration, **kwargs) -> GraphClient:
        """A client for a stored integration: tokens come from (and are refreshed into) the database.

        The token is read once (from ``integration`` itself while it is fresh) and kept, not read per request
        (``tokens.TokenSource``).
        """
        return cls(integration.microsoft_user_id, tokens.TokenSource(integration), **kwargs)

    @classmethod
    def with_token(cls, mailbox: str, access_token: str, **kwargs) -> GraphClient:
        """A client for a token not stored yet (while connecting); a refused token is not retried."""

        def provider(force_refresh: bool) -> str:
            if force_refresh:
                raise UnauthorizedError("access token refused", status=401, code="InvalidAuthenticationToken")
            return access_token

        return cls(mailbox, provider, **kwargs)

    # --- the one request function ---
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_safe: bool | None = None,
    ) -> GraphResponse:
        """Send one Graph request with retries; return the response or raise a :class:`GraphError`."""
        method = method.upper()
        url = path if "://" in path else f"{self.base_url}{path}"
        origin = _origin(url)
        if origin is None or origin != _origin(self.base_url):
            # A stored deltaLink or an @odata.nextLink pointing elsewhere never gets the token.
            logger.warning("Graph %s refused: %s is not Microsoft Graph (%s)", method, _without_query(url), _without_query(self.base_url))
            raise ForeignUrlError(f"refused to send the token to {_without_query(url)}")
        if retry_safe is None:
            retry_safe = method != "POST" or bool(isinstance(json, dict) and json.get("transactionId"))
        force_refresh = False
        refreshes = 0
        waited = 0.0
        for attempt in range(1, self.policy.max_attempts + 1):
            token = self.token_provider(force_refresh)
            force_refresh = False
            request_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
            try:
                response = self._send(method, url, params=params, json=json, headers=request_headers, weight=_weight(path, json))
            except (requests.ConnectionError, requests.Timeout) as exc:
                error: GraphError = GraphConnectionError(type(exc).__name__)
                if not retry_safe:
                    raise error from None
            else:
                if response.status_code < 400:
                    return GraphResponse(response.status_code, response.headers, _json_or_none(response))
                error = GraphError.from_response(response)
                if isinstance(error, UnauthorizedError) and refreshes < MAX_TOKEN_REFRESHES:
                    # Twice at most: the first may hand back a token another worker refreshed meanwhile, which
                    # Graph can have refused too; the second then refreshes for certain (tokens.current_token).
                    refreshes += 1
                    force_refresh = True
                    continue
                if response.status_code not in _RETRY_STATUSES:
                    raise error
            wait = error.retry_after if error.retry_after is not None else self.policy.backoff(attempt)
            if attempt == self.policy.max_attempts or waited + wait > self.policy.max_total_wait:
                raise error
            logger.info("Graph %s %s: %s, retrying in %.2fs (attempt %d)", method, _path(url), error.code or error.status or "connection error", wait, attempt)
            time.sleep(wait)
            waited += wait
        raise AssertionError("unreachable")  # pragma: no cover

    def _slots(self, weight: int):
        """Hold ``weight`` of the mailbox's request slots: a ``$batch`` counts as the operations Outlook runs at once.

        Outlook runs up to ``GRAPH_BATCH_PARALLELISM`` (4) items of one batch in
        parallel and they count against the mailbox's 4 concurrent requests, so a
        batch holds that many slots; 4 batches in flight would be 16 operations.
        (:func:`locks.mailbox_slot` takes several behind a gate, so two holders never deadlock holding half each.)
        """
        return locks.mailbox_slot(self.mailbox, count=max(1, weight))

    def _send(self, method: str, url: str, *, weight: int = 1, **kwargs) -> requests.Response:
        started = time.monotonic()
        with self._slots(weight):
            self.requests_sent += 1
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                logger.warning("Graph %s %s failed after %.0f ms: %s (%s)", method, _path(url), (time.monotonic() - started) * 1000, type(exc).__name__, _reason(exc))
                raise
        logger.debug(
            "Graph %s %s -> %s in %.0f ms (request-id %s)", method, _path(url), response.status_code,
            (time.monotonic() - started) * 1000, response.headers.get("request-id", "-"),
        )
        return response

    # --- conveniences ---
    def get(self, path: str, **kwargs) -> GraphResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> GraphResponse:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> GraphResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> GraphResponse:
        return self.request("DELETE", path, **kwargs)

    def pages(self, path: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> Iterator[dict]:
        """Yield each page's body, following ``@odata.nextLink`` until the last page.

        The last page carries ``@odata.deltaLink`` for delta queries.
        """
        response = self.get(path, params=params, headers=headers)
        while True:
            body = response.body or {}
            yield body
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            response = self.get(next_link, headers=headers)

    def batch(self, items: Sequence[BatchRequest]) -> dict[str, GraphResponse]:
        """Run ``items`` through ``$batch`` (20 per envelope); return responses by item id.

        Items answered 429/503/504 are sent again on their own after the
        longest ``Retry-After`` among them; other failures are returned as they
        are for the caller to turn into per-event errors.
        """
        results: dict[str, GraphResponse] = {}
        for start in range(0, len(items), BATCH_LIMIT):
            chunk = list(items[start:start + BATCH_LIMIT])
            results.update(self._batch_chunk(chunk))
        return results

    def _batch_chunk(self, chunk: list[BatchRequest]) -> dict[str, GraphResponse]:
        results: dict[str, GraphResponse] = {}
        pending = chunk
        waited = 0.0
        for attempt in range(1, self.policy.max_attempts + 1):
            envelope = self.request(
                "POST", "/$batch", json={"requests": [item.to_json() for item in pending]},
                retry_safe=all(item.retry_safe for item in pending),
            )
            retry, waits = [], []
            by_id = {item.id: item for item in pending}
            for answer in (envelope.body or {}).get("responses", []):
                item_id = str(answer.get("id"))
                if item_id not in by_id:
                    continue
                headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
                response = GraphResponse(int(answer.get("status", 500)), headers, answer.get("body"))
                if response.status in _RETRY_STATUSES and attempt < self.policy.max_attempts and by_id[item_id].retry_safe:
                    retry.append(by_id[item_id])
                    error = GraphError.from_parts(response.status, headers, response.body)
                    waits.append(error.retry_after if error.retry_after is not None else self.policy.backoff(attempt))
                    results[item_id] = response  # kept if we give up
                else:
                    results[item_id] = response
            missing = [item for item in pending if item.id not in results]
            for item in missing:  # Graph must answer every item; treat a silent one as retryable
                retry.append(item)
                waits.append(self.policy.backoff(attempt))
            if not retry:
                return results
            wait = max(waits)
            if waited + wait > self.policy.max_total_wait:
                break
            # Items that depended on a retried item must go again with it.
            retry_ids = {item.id for item in retry}
            pending = [item for item in chunk if item.id in retry_ids or set(item.depends_on) & retry_ids]
            logger.info("Graph $batch: %d item(s) throttled or failed, retrying in %.2fs", len(pending), wait)
            time.sleep(wait)
            waited += wait
        for item in pending:
            results.setdefault(item.id, GraphResponse(503, {}, {"error": {"code": "serviceUnavailable", "message": "no answer"}}))
        return results


def _weight(path: str, body: Any) -> int:
    """Mailbox slots a request holds: a ``$batch`` runs up to GRAPH_BATCH_PARALLELISM of its items at once."""
    if path.endswith("/$batch") and isinstance(body, dict):
        return max(1, min(int(getattr(settings, "GRAPH_BATCH_PARALLELISM", 4)), len(body.get("requests") or []), locks.MAILBOX_CONCURRENCY))
    return 1


def _json_or_none(response: requests.Response):
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _reason(exc: Exception) -> str:
    """The innermost cause of a connection failure (e.g. the TLS complaint), without URLs (they may hold delta tokens)."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return f"{type(exc).__name__}: {str(exc).split(' url: ')[0][:160]}"


def _path(url: str) -> str:
    """The URL's path only: query strings may hold delta tokens, which are not for logs."""
    return urlsplit(url).path


def _origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an https URL, or None for anything else (http included)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    return ("https", parts.hostname.lower(), port or 443)


def _without_query(url: str) -> str:
    """Scheme, host, port and path only: query strings may hold delta tokens."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    except ValueError:
        return "(unparsable URL)"
