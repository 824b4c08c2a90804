"""Create or reset the least-privilege "Support" group (view permissions plus the four support actions)."""
from django.core.management.base import BaseCommand

from outlook_sync.support import SUPPORT_GROUP, ensure_support_group


class Command(BaseCommand):
    help = 'Create or reset the "Support" group: view permissions plus resync, renew, clear conflicts and reconnect request.'

    def handle(self, *args, verbosity=1, **options):
        group = ensure_support_group()
        if verbosity:
            self.stdout.write(f'Group "{SUPPORT_GROUP}" has {group.permissions.count()} permission(s).')
