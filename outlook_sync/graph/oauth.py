"""Sign-in with Microsoft through MSAL: authorization URL (state + PKCE), code redemption, refresh.

No hand-written token HTTP calls: ``msal.ConfidentialClientApplication`` does
them against ``settings.MICROSOFT_AUTHORITY`` (Microsoft, or the emulator over
TLS with ``settings.GRAPH_CA_BUNDLE`` trusted through a session that ignores
environment CA settings).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import msal
from msal.exceptions import MsalError
import requests
from django.conf import settings
from django.utils import timezone

from .errors import IdentityUnavailable, OAuthError, ReauthorizationRequired

logger = logging.getLogger(__name__)

#: Graph scopes WedSync asks for. MSAL adds ``openid profile offline_access`` itself.
SCOPES = ["Calendars.ReadWrite", "User.Read"]

#: AADSTS codes meaning the refresh token is dead for good (the supplier must reconnect).
_DEAD_REFRESH_TOKEN_HINTS = ("AADSTS700082", "AADSTS50173", "AADSTS70043", "AADSTS70008", "AADSTS50076", "AADSTS65001")

#: Microsoft's ``error`` values we pass on as they are; any other value (the callback's query is
#: attacker-controlled) becomes ``sign_in_failed``, so ``error.code`` is always one of a fixed set.
_KNOWN_ERRORS = {"access_denied", "consent_required", "invalid_grant", "interaction_required", "login_required"}
_UNAVAILABLE_ERRORS = {"temporarily_unavailable", "server_error"}


def _fixed_code(error: object) -> str:
    code = str(error)
    if code in _KNOWN_ERRORS:
        return code
    return "microsoft_unavailable" if code in _UNAVAILABLE_ERRORS else "sign_in_failed"


@dataclass(frozen=True)
class TokenSet:
    """Tokens from Microsoft. Never log or return this object."""

    access_token: str
    refresh_token: str
    expires_at: dt.datetime
    tenant_id: str = ""
    microsoft_user_id: str = ""
    username: str = ""

    def __repr__(self) -> str:
        return f"<TokenSet for {self.microsoft_user_id or '?'} expires {self.expires_at:%Y-%m-%dT%H:%M:%SZ}>"


def http_session() -> requests.Session:
    """A session for Microsoft endpoints: trusts ``GRAPH_CA_BUNDLE`` (if set) and ignores proxy/CA env vars."""
    session = requests.Session()
    session.trust_env = False
    session.verify = settings.GRAPH_CA_BUNDLE or True
    return session


def _app() -> msal.ConfidentialClientApplication:
    if not settings.MICROSOFT_CLIENT_ID or not settings.MICROSOFT_CLIENT_SECRET:
        raise OAuthError("not_configured", status=503)
    try:
        return msal.ConfidentialClientApplication(
            settings.MICROSOFT_CLIENT_ID,
            client_credential=settings.MICROSOFT_CLIENT_SECRET,
            authority=settings.MICROSOFT_AUTHORITY,
            http_client=http_session(),
            instance_discovery=False,
            token_cache=msal.TokenCache(),  # we keep tokens ourselves, encrypted
        )
    except (requests.RequestException, ValueError) as exc:
        logger.warning("Microsoft sign-in service unreachable: %s", type(exc).__name__)
        raise OAuthError("microsoft_unavailable", status=502, unreachable=True) from None


def start_auth_flow(*, redirect_uri: str | None = None, login_hint: str | None = None) -> dict:
    """Begin the auth-code + PKCE flow. Returns MSAL's flow dict (``auth_uri``, ``state``, verifier, nonce)."""
    return _app().initiate_auth_code_flow(
        SCOPES,
        redirect_uri=redirect_uri or settings.MICROSOFT_REDIRECT_URI,
        login_hint=login_hint,
        prompt="select_account",
        response_mode="query",
    )


def _token_set(result: dict) -> TokenSet:
    claims = result.get("id_token_claims") or {}
    return TokenSet(
        access_token=result["access_token"],
        refresh_token=result["refresh_token"],
        expires_at=timezone.now() + dt.timedelta(seconds=int(result.get("expires_in", 3600))),
        tenant_id=str(claims.get("tid", "")),
        microsoft_user_id=str(claims.get("oid", "")),
        username=str(claims.get("preferred_username", "")),
    )


def redeem_code(flow: dict, auth_response: dict) -> TokenSet:
    """Exchange the code Microsoft sent back for tokens (MSAL checks state, PKCE and nonce)."""
    if auth_response.get("error"):
        code = _fixed_code(auth_response["error"])
        raise OAuthError(code)
    try:
        result = _app().acquire_token_by_auth_code_flow(flow, auth_response, scopes=SCOPES)
    except ValueError as exc:  # state mismatch, missing code, ...
        raise OAuthError("invalid_state", detail=str(exc)[:200]) from None
    except requests.RequestException as exc:
        logger.warning("Token redemption failed to reach Microsoft: %s", type(exc).__name__)
        raise OAuthError("microsoft_unavailable", status=502, unreachable=True) from None
    if "error" in result:
        code = _fixed_code(result["error"])
        logger.info("Microsoft refused the authorization code: %s %s", code, str(result.get("error_codes", ""))[:100])
        raise OAuthError(code, detail=str(result.get("error_description", ""))[:200])
    if not result.get("refresh_token"):
        raise OAuthError("no_refresh_token")
    return _token_set(result)


def refresh(refresh_token: str) -> TokenSet:
    """Get new tokens with a refresh token (Microsoft rotates it: store the new one).

    Raises :class:`ReauthorizationRequired` when the refresh token is dead
    (revoked, expired after 90 days idle, password changed): retrying cannot help.
    Other failures raise :class:`~.errors.IdentityUnavailable` (a GraphError) and may be retried later.
    """
    try:
        result = _app().acquire_token_by_refresh_token(refresh_token, scopes=SCOPES)
    except (requests.RequestException, MsalError, ValueError) as exc:  # unreachable, 5xx (MSAL raises), a body that isn't JSON
        raise IdentityUnavailable(type(exc).__name__, code="microsoft_unavailable") from exc
    if "error" in result:
        description = str(result.get("error_description", ""))
        if result["error"] == "invalid_grant" or any(hint in description for hint in _DEAD_REFRESH_TOKEN_HINTS):
            aadsts = next((hint for hint in _DEAD_REFRESH_TOKEN_HINTS if hint in description), "invalid_grant")
            raise ReauthorizationRequired(description[:200], code=aadsts)
        raise IdentityUnavailable(description[:200], code=str(result["error"])[:64], status=502)
    result.setdefault("refresh_token", refresh_token)
    return _token_set(result)
