from django.apps import AppConfig


class OutlookSyncConfig(AppConfig):
    """Two-way sync between WedSync events and one Outlook calendar via Microsoft Graph."""

    name = "outlook_sync"
    verbose_name = "Outlook calendar sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (registers system checks and signal receivers)
