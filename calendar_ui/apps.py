from django.apps import AppConfig


class CalendarUiConfig(AppConfig):
    """The supplier's Outlook settings page (Django templates + htmx)."""

    name = "calendar_ui"
    verbose_name = "Calendar settings page"
