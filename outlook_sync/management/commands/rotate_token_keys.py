"""Re-encrypt every stored OAuth token with the first (newest) key of TOKEN_ENCRYPTION_KEYS.

It prints the fingerprint of the key it encrypts with. Given
``--new-key-fingerprint`` (the one ``--generate`` printed), it refuses to run
unless that key is first: a new key placed anywhere else would otherwise
"succeed" while encrypting with an old key.
"""
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from outlook_sync import crypto
from outlook_sync.models import OutlookCalendarIntegration


class Command(BaseCommand):
    help = "Re-encrypt every stored Outlook token with the first (newest) key in TOKEN_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true", help="Only print a new Fernet key (and its fingerprint) to put first in TOKEN_ENCRYPTION_KEYS.")
        parser.add_argument("--new-key-fingerprint", default="", help="Refuse unless the key with this fingerprint is first in TOKEN_ENCRYPTION_KEYS.")

    def handle(self, *args, generate=False, new_key_fingerprint="", **options):
        if generate:
            key = crypto.generate_key()
            self.stdout.write(key)
            self.stderr.write(f"fingerprint: {crypto.fingerprint(key)}")
            return
        keys = crypto.configured_keys()
        if not keys:
            raise CommandError("TOKEN_ENCRYPTION_KEYS is empty.")
        prints = [crypto.fingerprint(k) for k in keys]
        wanted = new_key_fingerprint.strip().lower()
        if wanted and prints[0] != wanted:
            where = f"number {prints.index(wanted) + 1} of {len(prints)}" if wanted in prints else "not in the list"
            raise CommandError(
                f"The key with fingerprint {wanted} is {where} in TOKEN_ENCRYPTION_KEYS; the first key ({prints[0]}) is the one that encrypts. "
                "Put the new key first, restart, and run this again. Nothing was re-encrypted."
            )
        self.stdout.write(f"Encrypting with key {prints[0]} (first of {len(prints)}: {', '.join(prints)}).")
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
        self.stdout.write(f"Re-encrypted tokens of {rotated} integration(s) with key {prints[0]}.")
        if failed:
            raise CommandError(f"{len(failed)} integration(s) could not be decrypted with any configured key: {', '.join(failed)}")
