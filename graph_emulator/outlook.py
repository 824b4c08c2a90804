"""What Outlook does to events by itself, after a client has written them.

A sync client must expect an event to change although nobody edited it:

* **Text bodies become HTML.** Outlook stores event bodies as HTML: a body written as
  ``contentType: text`` reads back, some time later, as HTML (and the event's changeKey changes
  again). resources/itembody.md: the body's contentType "can be text or html"; the conversion is
  observed behaviour. Config ``html_body_conversion_s`` (default 2 s; null = off).
* **Attendees respond.** Each attendee's ``status`` ({response, time}) changes when they answer the
  invitation (resources/attendee.md, resources/responsestatus.md: none, organizer,
  tentativelyAccepted, accepted, declined, notResponded); that is a change to the organizer's event
  (new changeKey, an ``updated`` notification). Automatic answer after ``attendee_response_s``
  (default 5 s, answer ``attendee_auto_response``, default ``accepted``; null = off), or on demand
  with ``POST /_emulator/users/{email}/events/{id}/respond``.
* **Reminders fire.** When a reminder is due (start - reminderMinutesBeforeStart, if isReminderOn),
  Outlook updates the item's reminder state, which is a change to the event (new changeKey, an
  ``updated`` notification) without any property a client wrote changing. ``reminders_fire``
  (default true), checked every second.

Every change goes through the store's ``record_write``, so delta, notifications and change keys
behave as for any other write.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING

from . import eventmodel, tz

if TYPE_CHECKING:
    from .app import Emulator

logger = logging.getLogger("graph_emulator.outlook")
RESPONSES = ("tentativelyAccepted", "accepted", "declined")


class Outlook:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.tasks: set[asyncio.Task] = set()

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.tasks.clear()

    def _later(self, delay: float, fn, *args) -> None:
        async def run():
            await asyncio.sleep(delay)
            fn(*args)

        try:
            task = asyncio.get_running_loop().create_task(run())
        except RuntimeError:
            return
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --- hook: every event write ---
    def event_changed(self, event: dict, change_type: str) -> None:
        if change_type == "deleted":
            return
        config = self.emu.config
        if event["props"]["body"]["contentType"] == "text" and config.get("html_body_conversion_s") is not None:
            self._later(float(config["html_body_conversion_s"]), self.convert_body, event["id"], event["changeKey"])
        if config.get("attendee_response_s") is not None and any(a["status"]["response"] == "none" for a in event["props"]["attendees"]):
            self._later(float(config["attendee_response_s"]), self.auto_respond, event["id"])

    # --- the changes ---
    def convert_body(self, event_id: str, change_key: str | None = None) -> bool:
        record = self.emu.store.events.get(event_id)
        if record is None or record["props"]["body"]["contentType"] != "text":
            return False
        body = record["props"]["body"]
        record["props"]["body"] = {"contentType": "html", "content": eventmodel.text_to_html(body["content"])}
        self.emu.store.record_write(record, "updated")
        return True

    def auto_respond(self, event_id: str) -> None:
        record = self.emu.store.events.get(event_id)
        if record is None:
            return
        pending = [a["emailAddress"]["address"] for a in record["props"]["attendees"] if a["status"]["response"] == "none"]
        if pending:
            self.respond(record, pending, str(self.emu.config.get("attendee_auto_response") or "accepted"))

    def respond(self, record: dict, addresses: list[str], response: str) -> int:
        wanted = {a.lower() for a in addresses}
        changed = 0
        for attendee in record["props"]["attendees"]:
            if attendee["emailAddress"]["address"].lower() in wanted:
                attendee["status"] = {"response": response, "time": tz.format_utc_z(tz.now())}
                changed += 1
        if changed:
            self.emu.store.record_write(record, "updated")
        return changed

    def fire_due_reminders(self, now: dt.datetime | None = None) -> int:
        now = now or tz.now()
        fired = 0
        for record in list(self.emu.store.events.values()):
            props = record["props"]
            if not props["isReminderOn"] or record.get("reminder_fired_for") == record["start"]:
                continue
            due = tz.from_iso(record["start"]) - dt.timedelta(minutes=int(props["reminderMinutesBeforeStart"]))
            if due <= now:
                record["reminder_fired_for"] = record["start"]
                if tz.from_iso(record["end"]) < now - dt.timedelta(days=1):
                    continue  # long past: Outlook does not fire reminders of old events
                self.emu.store.record_write(record, "updated")
                fired += 1
        return fired

    async def reminder_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.emu.config.get("reminders_fire"):
                try:
                    self.fire_due_reminders()
                except Exception:  # never let the loop die
                    logger.exception("reminder loop")
