"""Create the demo supplier with realistic wedding events this week and next (idempotent)."""
import datetime as dt
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from wedsync.events import actions, selectors

ZONE = "Europe/London"

# (day offset from this week's Monday, start "HH:MM" or None for all-day, minutes, type, title, location, attendees, travel)
WEEK = [
    (0, "10:00", 60, "client_meeting", "Consultation: Priya & Tom", "WedSync studio, Bath", [("Priya Shah", "priya.shah@example.com")], None),
    (0, "14:00", 90, "venue_visit", "Venue visit: Hatley Park orangery", "Hatley Park, Wiltshire", [("Priya Shah", "priya.shah@example.com")], 45),
    (1, "11:30", 45, "vendor_meeting", "Florist tasting with Petal & Stem", "Petal & Stem, Frome", [("Rosa Petal", "rosa@petalandstem.example")], 30),
    (1, None, None, "deadline", "Final guest numbers to caterer", "", [], None),
    (2, "16:00", 120, "engagement_shoot", "Engagement shoot: Mia & Leo", "Pulteney Bridge, Bath", [("Mia Clarke", "mia.clarke@example.com")], 20),
    (3, "09:00", 30, "task_due", "Send timeline to photographer", "", [], None),
    (4, "17:00", 90, "rehearsal", "Rehearsal: Priya & Tom", "St Mary's Church, Bradford-on-Avon", [], 40),
    (5, "14:00", 60, "wedding_ceremony", "Ceremony: Priya & Tom", "St Mary's Church, Bradford-on-Avon", [], 40),
    (5, "16:00", 360, "wedding_reception", "Reception: Priya & Tom", "Hatley Park, Wiltshire", [], 25),
    # next week
    (7, "10:30", 60, "client_meeting", "Consultation: Mia & Leo", "WedSync studio, Bath", [("Mia Clarke", "mia.clarke@example.com")], None),
    (8, "13:00", 90, "vendor_meeting", "Menu tasting with Oak & Ember", "Oak & Ember, Bristol", [("Sol Baker", "sol@oakandember.example")], 35),
    (9, None, None, "deadline", "Order confirmation to the florist", "", [], None),
    (11, "11:00", 60, "venue_visit", "Venue visit: The Tithe Barn", "The Tithe Barn, Bradford-on-Avon", [("Mia Clarke", "mia.clarke@example.com")], 30),
]


class Command(BaseCommand):
    help = "Create the demo supplier (and a support login) with wedding events this week and next."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="avery")
        parser.add_argument("--password", default="wedding-demo-2026")
        parser.add_argument("--support-password", default="support-demo-2026")

    def handle(self, *args, username, password, support_password, **options):
        users = get_user_model()
        supplier, created = users.objects.get_or_create(username=username, defaults={"email": f"{username}@wedsync.example", "first_name": "Avery", "last_name": "Planner"})
        supplier.set_password(password)
        supplier.is_staff = True  # may use the admin to edit their own events in the demo
        supplier.save()
        supplier.user_permissions.set(Permission.objects.filter(content_type__app_label="events"))
        # Support is staff in the least-privilege "Support" group, never a superuser (see outlook_sync.support).
        support, _ = users.objects.get_or_create(username="support", defaults={"email": "support@wedsync.example"})
        support.is_staff = True
        support.is_superuser = False
        support.set_password(support_password)
        support.save()
        support.user_permissions.clear()
        call_command("ensure_support_group", verbosity=0)  # by name: the events domain imports nothing of outlook_sync
        support.groups.set([Group.objects.get(name="Support")])
        if selectors.supplier_events(supplier).exists():
            self.stdout.write("Demo supplier already has events; left them as they are.")
            return
        zone = ZoneInfo(ZONE)
        today = timezone.localdate(timezone=zone)
        monday = today - dt.timedelta(days=today.weekday())  # this week and the next: "My calendar" opens on a full week
        for offset, start, minutes, event_type, title, location, attendees, travel in WEEK:
            day = monday + dt.timedelta(days=offset)
            if start is None:
                starts_at = dt.datetime.combine(day, dt.time(0), zone)
                ends_at = starts_at + dt.timedelta(days=1)
            else:
                starts_at = dt.datetime.combine(day, dt.time.fromisoformat(start), zone)
                ends_at = starts_at + dt.timedelta(minutes=minutes)
            actions.create_event(
                supplier, event_type=event_type, title=title, location=location, starts_at=starts_at, ends_at=ends_at,
                time_zone=ZONE, is_all_day=start is None, travel_minutes=travel,
                attendees=[{"name": name, "email": email} for name, email in attendees],
                client_name="Priya & Tom" if "Priya" in title else "",
            )
        self.stdout.write(f"Created {len(WEEK)} events in the weeks of {monday:%d %B %Y} and the week after.")
