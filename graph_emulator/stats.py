"""Exact request statistics for benchmarks and fault tests.

Only traffic from clients is counted: HTTP requests under ``/v1.0`` (a
``$batch`` envelope counts once, its items separately), token requests,
notification deliveries and validation handshakes. Control API calls never
count.
"""
from __future__ import annotations

from collections import Counter


_ID_AFTER = {"calendars", "events", "subscriptions", "users", "calendargroups"}


def normalise_path(path: str) -> str:
    """``/me/calendars/AAMk.../events/AAMk...`` -> ``/me/calendars/{id}/events/{id}`` (query dropped)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p != ""]
    out = [
        "{id}" if i > 0 and parts[i - 1].lower() in _ID_AFTER else part
        for i, part in enumerate(parts)
    ]
    return "/" + "/".join(out)


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self, current_inflight: dict[str, int] | None = None) -> None:
        self.requests = 0
        self.batch_items = 0
        self.by_endpoint: Counter = Counter()
        self.batch_items_by_endpoint: Counter = Counter()
        self.status_counts: Counter = Counter()
        self.batch_item_status_counts: Counter = Counter()
        self.peak_concurrency: dict[str, int] = dict(current_inflight or {})
        self.token_requests: Counter = Counter({"authorization_code": 0, "refresh_token": 0})
        self.notifications = {"delivered": 0, "attempts": 0, "failed": 0, "dropped": 0, "lifecycle_delivered": 0}
        self.validations = 0

    def request(self, method: str, path: str) -> None:
        self.requests += 1
        self.by_endpoint[f"{method.upper()} {normalise_path(path)}"] += 1

    def status(self, status: int | str) -> None:
        self.status_counts[str(status)] += 1

    def batch_item(self, method: str, path: str) -> None:
        self.batch_items += 1
        self.batch_items_by_endpoint[f"{method.upper()} {normalise_path(path)}"] += 1

    def batch_item_status(self, status: int) -> None:
        self.batch_item_status_counts[str(status)] += 1

    def concurrency(self, mailbox: str, inflight: int) -> None:
        if inflight > self.peak_concurrency.get(mailbox, 0):
            self.peak_concurrency[mailbox] = inflight

    def as_dict(self) -> dict:
        return {
            "requests": self.requests,
            "batch_items": self.batch_items,
            "by_endpoint": dict(self.by_endpoint),
            "batch_items_by_endpoint": dict(self.batch_items_by_endpoint),
            "status_counts": dict(self.status_counts),
            "batch_item_status_counts": dict(self.batch_item_status_counts),
            "peak_concurrency": dict(self.peak_concurrency),
            "token_requests": dict(self.token_requests),
            "notifications": dict(self.notifications),
            "validations": self.validations,
        }
