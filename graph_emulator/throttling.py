"""Outlook's per-app-per-mailbox limits and injected faults.

Throttling is keyed by (app client id, mailbox): a concurrency limit
(``MailboxConcurrency``, 4 by default) and a request budget per sliding window
(10,000 per 10 minutes). Both answer ``429 ApplicationThrottled`` with a
``Retry-After`` that may be fractional. Other mailboxes and other apps are
unaffected, as with Graph.

Faults are one-shot (or ``count``-shot) rules matched by method, a path regex
and optionally the mailbox: they add latency, answer a status with a Graph
error body and optional ``Retry-After``, or drop the connection without an
answer.
"""
from __future__ import annotations

import itertools
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field


def format_retry_after(seconds: float) -> str:
    """Whole seconds print as integers; otherwise up to three decimals ("0.5")."""
    seconds = max(0.001, seconds)
    if abs(seconds - round(seconds)) < 1e-9:
        return str(int(round(seconds)))
    return f"{math.ceil(seconds * 1000) / 1000:.3f}".rstrip("0").rstrip(".")


@dataclass
class Slot:
    key: tuple
    mailbox: str
    expected_end: float


class Throttler:
    def __init__(self, emu) -> None:
        self.emu = emu
        self.slots: dict[tuple, list[Slot]] = {}
        self.mailbox_inflight: dict[str, int] = {}
        self.windows: dict[tuple, deque] = {}

    def reset(self) -> None:
        self.windows.clear()

    # --- concurrency ---
    def acquire(self, client_id: str, mailbox: str, expected_s: float) -> tuple[Slot | None, float]:
        """Take a slot; return (slot, 0) or (None, retry_after_s)."""
        key = (client_id, mailbox.lower())
        held = self.slots.setdefault(key, [])
        now = time.monotonic()
        if len(held) >= int(self.emu.config["concurrency_limit"]):
            configured = self.emu.config.get("concurrency_retry_after_s")
            if configured is not None:
                return None, float(configured)
            earliest = min(s.expected_end for s in held)
            return None, max(0.1, earliest - now)
        slot = Slot(key, mailbox.lower(), now + expected_s)
        held.append(slot)
        count = self.mailbox_inflight.get(slot.mailbox, 0) + 1
        self.mailbox_inflight[slot.mailbox] = count
        self.emu.stats.concurrency(slot.mailbox, count)
        return slot, 0.0

    def release(self, slot: Slot) -> None:
        held = self.slots.get(slot.key, [])
        if slot in held:
            held.remove(slot)
            self.mailbox_inflight[slot.mailbox] = max(0, self.mailbox_inflight.get(slot.mailbox, 1) - 1)

    # --- request budget (sliding window) ---
    def spend(self, client_id: str, mailbox: str) -> float:
        """Count one request; return 0 if allowed, else seconds until the window frees a place."""
        key = (client_id, mailbox.lower())
        window = float(self.emu.config["request_window_s"])
        budget = int(self.emu.config["request_budget"])
        now = time.monotonic()
        log = self.windows.setdefault(key, deque())
        while log and log[0] <= now - window:
            log.popleft()
        if len(log) >= budget:
            return max(0.001, log[0] + window - now) if log else window
        log.append(now)
        return 0.0


@dataclass
class Fault:
    id: int
    method: str
    path_regex: str
    status: int | None = None
    count: int | None = 1
    latency_ms: int = 0
    retry_after: str | None = None
    drop_connection: bool = False
    error_code: str | None = None
    error_message: str | None = None
    mailbox: str | None = None
    matched: int = 0
    pattern: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.path_regex)

    def matches(self, method: str, paths: list[str], mailbox: str | None) -> bool:
        if self.method not in ("*", "ANY") and self.method.upper() != method.upper():
            return False
        if self.mailbox and (mailbox or "").lower() != self.mailbox.lower():
            return False
        return any(self.pattern.search(p) for p in paths)

    def as_dict(self) -> dict:
        return {
            "id": self.id, "method": self.method, "path_regex": self.path_regex, "status": self.status,
            "count": self.count, "latency_ms": self.latency_ms, "retry_after": self.retry_after,
            "drop_connection": self.drop_connection, "error_code": self.error_code, "mailbox": self.mailbox,
            "matched": self.matched,
        }


class Faults:
    def __init__(self) -> None:
        self.rules: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict) -> Fault:
        count = spec.get("count", 1)
        retry_after = spec.get("retry_after")
        fault = Fault(
            id=next(self._ids),
            method=str(spec.get("method") or "*").upper(),
            path_regex=str(spec.get("path_regex") or spec.get("path") or ".*"),
            status=int(spec["status"]) if spec.get("status") is not None else None,
            count=None if count is None or int(count) <= 0 else int(count),
            latency_ms=int(spec.get("latency_ms") or 0),
            retry_after=None if retry_after is None else str(retry_after),
            drop_connection=bool(spec.get("drop_connection")),
            error_code=spec.get("error_code"),
            error_message=spec.get("error_message"),
            mailbox=spec.get("mailbox"),
        )
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        self.rules.clear()

    def remove(self, fault_id: int) -> bool:
        before = len(self.rules)
        self.rules = [f for f in self.rules if f.id != fault_id]
        return len(self.rules) != before

    def take(self, method: str, paths: list[str], mailbox: str | None) -> Fault | None:
        """The first matching rule, consuming one of its uses."""
        for fault in self.rules:
            if fault.matches(method, paths, mailbox):
                fault.matched += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.rules.remove(fault)
                return fault
        return None


class FaultProfile:
    """Background faults without injection: ``fault_profile`` "realistic" makes Graph misbehave now and then as
    Microsoft says it can (throttling.md, "Best practices to handle throttling"; errors.md: 503 Service Unavailable
    and 504 Gateway Timeout are transient and may come without Retry-After; "Outlook service limits": 4
    concurrent requests per app and mailbox, which the throttler enforces whatever the profile).

    Each Graph request and each $batch item independently: with ``fault_503_rate`` a 503 ServiceUnavailable
    without Retry-After, with ``fault_504_rate`` a 504 GatewayTimeout without Retry-After, with ``fault_slow_rate``
    an extra ``fault_slow_ms`` of latency (which also makes MailboxConcurrency 429s likelier). Random but
    reproducible: ``fault_seed`` seeds the generator (re-seeded when the profile is set)."""

    def __init__(self, emu) -> None:
        import random

        self.emu = emu
        self.random = random.Random(0)
        self.seeded_for: tuple | None = None

    def draw(self) -> tuple[int | None, float]:
        """(status or None, extra latency in seconds) for one request."""
        config = self.emu.config
        if config.get("fault_profile") != "realistic":
            self.seeded_for = None  # switching the profile on again starts the seeded sequence afresh
            return None, 0.0
        key = (config.get("fault_profile"), config.get("fault_seed"))
        if key != self.seeded_for:
            self.random.seed(config.get("fault_seed"))
            self.seeded_for = key
        roll = self.random.random()
        delay = float(config["fault_slow_ms"]) / 1000 if self.random.random() < float(config["fault_slow_rate"]) else 0.0
        if roll < float(config["fault_503_rate"]):
            return 503, delay
        if roll < float(config["fault_503_rate"]) + float(config["fault_504_rate"]):
            return 504, delay
        return None, delay
