"""System checks: refuse to run without token encryption keys."""
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, register


@register()
def token_encryption_keys(app_configs, **kwargs):
    keys = [k for k in settings.TOKEN_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        return [Error("TOKEN_ENCRYPTION_KEYS is not set.", hint="Generate one with `python manage.py rotate_token_keys --generate`.", id="outlook_sync.E001")]
    for key in keys:
        try:
            Fernet(key.strip())
        except ValueError:
            return [Error("TOKEN_ENCRYPTION_KEYS holds a value that is not a Fernet key.", id="outlook_sync.E002")]
    return []
