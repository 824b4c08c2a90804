"""System checks: refuse to run without token encryption keys, or with a non-https webhook URL in production."""
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


@register(deploy=False)
def webhook_base_url_is_https(app_configs, **kwargs):
    """In production (DEBUG off) Microsoft must reach the webhook over https; anything else is refused."""
    url = settings.WEBHOOK_PUBLIC_BASE_URL
    if settings.DEBUG or not url or url.lower().startswith("https://"):
        return []
    return [Error("WEBHOOK_PUBLIC_BASE_URL must be an https:// URL in production.",
                  hint="Microsoft Graph only delivers change notifications over https. Set it to your public https address, or leave it empty.",
                  id="outlook_sync.E003")]
