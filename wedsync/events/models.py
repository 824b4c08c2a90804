"""A wedding supplier's WedSync calendar events.

Events are written only through :mod:`wedsync.events.actions`, which bumps
``version`` on every change and sends :data:`wedsync.events.signals.event_changed`
after the transaction commits. Deletion is soft (a tombstone with
``is_deleted``) so that sync can see that an event went away.
"""
import uuid

from django.conf import settings
from django.db import models


class EventType(models.TextChoices):
    CLIENT_MEETING = "client_meeting", "Client meeting"
    VENUE_VISIT = "venue_visit", "Venue visit"
    VENDOR_MEETING = "vendor_meeting", "Vendor meeting"
    WEDDING_CEREMONY = "wedding_ceremony", "Wedding ceremony"
    WEDDING_RECEPTION = "wedding_reception", "Wedding reception"
    ENGAGEMENT_SHOOT = "engagement_shoot", "Engagement shoot"
    DEADLINE = "deadline", "Deadline"
    TASK_DUE = "task_due", "Task due"
    REHEARSAL = "rehearsal", "Rehearsal"


class CalendarEventQuerySet(models.QuerySet):
    def live(self):
        """Events that have not been deleted."""
        return self.filter(is_deleted=False)

    def for_supplier(self, supplier):
        return self.filter(supplier=supplier)


class CalendarEvent(models.Model):
    """One event in a supplier's WedSync calendar.

    ``starts_at``/``ends_at`` are aware datetimes; ``time_zone`` is the IANA zone
    the supplier entered them in (used to show and sync the event in local time).
    All-day events run from local midnight to local midnight (end exclusive).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    supplier = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_events")
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    location = models.CharField(max_length=255, blank=True, default="")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone, e.g. Europe/London")
    is_all_day = models.BooleanField(default=False)
    attendees = models.JSONField(default=list, blank=True, help_text='[{"name": "...", "email": "..."}]')
    client_name = models.CharField(max_length=255, blank=True, default="")
    wedding_reference = models.CharField(max_length=255, blank=True, default="")
    travel_minutes = models.PositiveIntegerField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CalendarEventQuerySet.as_manager()

    class Meta:
        db_table = "wedsync_calendar_events"
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["supplier", "starts_at"], name="wedsync_event_supplier_start")]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gte=models.F("starts_at")), name="wedsync_event_ends_after_start"),
            models.CheckConstraint(condition=models.Q(event_type__in=EventType.values), name="wedsync_event_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_type_display()}: {self.title}"
