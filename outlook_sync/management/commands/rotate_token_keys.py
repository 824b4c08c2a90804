"""Re-encrypt every stored OAuth token with the newest key of TOKEN_ENCRYPTION_KEYS."""
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from outlook_sync import crypto
from outlook_sync.models import OutlookCalendarIntegration


class Command(BaseCommand):
    help = "Re-encrypt every stored Outlook token with the first (newest) key in TOKEN_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true", help="Only print a new Fernet key to put first in TOKEN_ENCRYPTION_KEYS.")

    def handle(self, *args, generate=False, **options):
        if generate:
            self.stdout.write(crypto.generate_key())
            return
        rotated = 0
        failed = []
        ids = list(OutlookCalendarIntegration.objects.values_list("id", flat=True))
        for integration_id in ids:
            with transaction.atomic():
                integration = OutlookCalendarIntegration.objects.select_for_update().get(pk=integration_id)
                try:
                    integration.access_token_encrypted = crypto.rotate(integration.access_token_encrypted)
                    integration.refresh_token_encrypted = crypto.rotate(integration.refresh_token_encrypted)
                except crypto.TokenDecryptionError:
                    failed.append(str(integration_id))
                    continue
                integration.save(update_fields=["access_token_encrypted", "refresh_token_encrypted"])
                rotated += 1
        self.stdout.write(f"Re-encrypted tokens of {rotated} integration(s).")
        if failed:
            raise CommandError(f"{len(failed)} integration(s) could not be decrypted with any configured key: {', '.join(failed)}")
