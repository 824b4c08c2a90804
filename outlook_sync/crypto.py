"""Encryption of OAuth tokens at rest (Fernet / MultiFernet).

Keys come from ``settings.TOKEN_ENCRYPTION_KEYS`` (the ``TOKEN_ENCRYPTION_KEYS``
environment variable: comma-separated Fernet keys, newest first), never from
``SECRET_KEY``. New ciphertext always uses the first key; any listed key
decrypts. To rotate: put a new key first, keep the old ones, run
``python manage.py rotate_token_keys``, then drop the old keys.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed


class TokenDecryptionError(Exception):
    """Stored ciphertext could not be decrypted with any configured key."""


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = configured_keys()
    if not keys:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEYS is empty: set at least one Fernet key (see README).")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEYS holds a value that is not a Fernet key.") from exc


def _reset(*, setting, **kwargs) -> None:
    if setting == "TOKEN_ENCRYPTION_KEYS":
        _fernet.cache_clear()


setting_changed.connect(_reset)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError("stored token cannot be decrypted with the configured keys") from None


def rotate(ciphertext: str) -> str:
    """Re-encrypt ``ciphertext`` with the newest key."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError("stored token cannot be decrypted with the configured keys") from None


def fingerprint(key: str) -> str:
    """A short, safe-to-print name of a key: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(key.strip().encode()).hexdigest()[:12]


def configured_keys() -> list[str]:
    """``TOKEN_ENCRYPTION_KEYS`` in order; the first one encrypts."""
    return [k.strip() for k in settings.TOKEN_ENCRYPTION_KEYS if k.strip()]


def generate_key() -> str:
    return Fernet.generate_key().decode()
