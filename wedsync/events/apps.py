from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The WedSync side: a supplier's calendar events. Knows nothing about Outlook."""

    name = "wedsync.events"
    label = "events"
    verbose_name = "WedSync calendar"
