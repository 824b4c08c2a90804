"""Data migration: the Support group may view disconnects (read only, like the rest; see outlook_sync.support)."""
from django.db import migrations


def reset_support_group(apps, schema_editor):
    from outlook_sync.support import ensure_support_group

    ensure_support_group(apps)


class Migration(migrations.Migration):

    dependencies = [
        ("outlook_sync", "0010_lead_merge_all"),
        ("outlook_sync", "0011_disconnect_state_and_progress"),  # the model whose view permission the group gets
        ("events", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(reset_support_group, migrations.RunPython.noop)]
