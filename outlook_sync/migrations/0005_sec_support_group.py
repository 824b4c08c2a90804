"""Data migration: the least-privilege "Support" group (see outlook_sync.support)."""
from django.db import migrations


def create_support_group(apps, schema_editor):
    from outlook_sync.support import ensure_support_group

    ensure_support_group(apps)


class Migration(migrations.Migration):

    dependencies = [
        ("outlook_sync", "0004_sec_support_permission_and_audit"),
        ("events", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_support_group, migrations.RunPython.noop)]
