"""Runtime knobs of the emulator, changed through ``PUT /_emulator/config``.

Defaults follow Microsoft's documented limits; tests shrink them (e.g. a
zero code lifetime, fast notification retries) to exercise the edge cases
quickly.
"""
from __future__ import annotations

import copy

DEFAULT_CONFIG: dict = {
    # Graph: each request (and each $batch item) sleeps this long while holding its mailbox slot.
    "service_time_ms": 0,
    # Throttling per (app client id, mailbox): Outlook's documented limits.
    "concurrency_limit": 4,
    "request_budget": 10_000,
    "request_window_s": 600,
    # Retry-After for a MailboxConcurrency 429; null = time until the earliest running request should finish (min 0.1 s).
    "concurrency_retry_after_s": None,
    # Paging.
    "default_page_size": 10,
    "delta_page_size": 100,
    "max_page_size": 1000,
    # Identity.
    "access_token_lifetime_s": 3600,
    "code_lifetime_s": 600,
    "refresh_token_inactivity_days": 90,
    # How long a POSTed event's transactionId deduplicates a retry (Microsoft documents no duration).
    "transaction_id_window_s": 300,
    # Delta and skip tokens.
    "delta_token_lifetime_s": 7 * 24 * 3600,
    # Subscriptions and notifications.
    # subscription.md: notificationUrl/lifecycleNotificationUrl must be https. True (only via the CLI flag
    # --allow-insecure-notification-urls or this key) also accepts plain http to a loopback host, for development.
    "allow_insecure_notification_urls": False,
    # subscription.md, "Subscription lifetime": Outlook event, 10,080 minutes (under 7 days).
    "max_subscription_minutes": 10080,
    "validation_timeout_s": 10.0,
    "notification_timeout_s": 3.0,
    "notification_retry_delays_s": [1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600],
    "notification_retry_max_total_s": 4 * 3600,
    # Notifications queued for a subscription within this window share one POST (at most notifications_per_post).
    "notification_batch_window_s": 0.05,
    "notifications_per_post": 50,
    "duplicate_notifications": False,
    "reorder_notifications": False,
    "reorder_window_s": 0.2,
    # Send reauthorizationRequired this many seconds before a subscription expires (null = only on request).
    "reauthorization_notice_s": None,
    # Outlook changing events by itself (graph_emulator/outlook.py); null switches each off.
    "html_body_conversion_s": 2.0,
    "attendee_response_s": 5.0,
    "attendee_auto_response": "accepted",
    "reminders_fire": True,
    # Background faults without injection (throttling.FaultProfile): "none" or "realistic" (--fault-profile).
    "fault_profile": "none",
    "fault_seed": 1,
    "fault_503_rate": 0.03,
    "fault_504_rate": 0.01,
    "fault_slow_rate": 0.05,
    "fault_slow_ms": 1500,
    # getSchedule limits.
    "schedule_max_users": 20,
    "schedule_max_days": 42,
    # $batch: at most 20 requests (json-batching.md, "Batch size limitations"); Outlook runs up to 4 items of one
    # batch in parallel (throttling-limits.md, "Outlook service limits for JSON batching").
    "batch_max_requests": 20,
    "batch_parallel_items": 4,
}


def default_config(overrides: dict | None = None) -> dict:
    config = copy.deepcopy(DEFAULT_CONFIG)
    config.update(overrides or {})
    return config


def validate_changes(changes: dict) -> list[str]:
    """Names in ``changes`` that are not config keys (the control API refuses them)."""
    return [key for key in changes if key not in DEFAULT_CONFIG]
