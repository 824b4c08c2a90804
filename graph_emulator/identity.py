"""The Microsoft identity platform's v2 endpoints, as MSAL uses them.

* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (and the v1-style
  ``/common/discovery/instance`` that MSAL calls unless told not to);
* ``GET/POST /{tenant}/oauth2/v2.0/authorize``: a consent page listing the
  emulator's users; accept redirects with ``code``+``state``, deny with
  ``error=access_denied``;
* ``POST /{tenant}/oauth2/v2.0/token``: ``authorization_code`` (single-use,
  short-lived, PKCE S256, redirect URI must match) and ``refresh_token``
  (a new refresh token on every use; the old one stays valid, as Microsoft's
  refresh-tokens page says; revoked and 90-day-idle tokens give the AADSTS codes
  integrations must react to).

Errors use AAD's shapes: an HTML page for a bad client or redirect URI (AAD
never redirects to an unregistered URI), ``error``/``error_description`` on the
redirect for everything else at authorize, and JSON with ``error_codes`` at the
token endpoint. The id_token is an RS256 JWT (MSAL decodes but, since 1.38,
does not verify it; the keys are published at ``jwks_uri`` anyway).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import secrets
import time
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

if TYPE_CHECKING:
    from .app import Emulator

GENERIC_TENANTS = {"common", "organizations", "consumers"}
GRAPH_RESOURCE = "https://graph.microsoft.com/"
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- signing ---
class Signer:
    """RS256 signing key for id_tokens; the PEM lives in the store so tokens stay verifiable across restarts."""

    def __init__(self, store) -> None:
        if not store.signing_key_pem:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            store.signing_key_pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
        self.key = serialization.load_pem_private_key(store.signing_key_pem.encode(), password=None)
        numbers = self.key.public_key().public_numbers()
        self.n = b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
        self.e = b64url(numbers.e.to_bytes(3, "big"))
        self.kid = hashlib.sha256(self.n.encode()).hexdigest()[:27]

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def jwks(self) -> dict:
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": self.n, "e": self.e, "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"}]}


# --- helpers ---
def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def known_tenant(emu: Emulator, tenant: str) -> bool:
    if tenant.lower() in GENERIC_TENANTS or "." in tenant:
        return True
    tenants = {emu.store.tenant_id} | {u["tenantId"] for u in emu.store.users.values()}
    return tenant.lower() in {t.lower() for t in tenants}


def aad_error(status: int, error: str, code: int, message: str, request: Request | None = None) -> JSONResponse:
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {message} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def error_page(status: int, code: int, message: str) -> HTMLResponse:
    body = f"""<!doctype html><html><head><title>Sign in to your account</title></head>
<body><h1>Sorry, but we're having trouble signing you in.</h1>
<p id="error" data-code="AADSTS{code}">AADSTS{code}: {html.escape(message)}</p></body></html>"""
    return HTMLResponse(body, status_code=status)


def add_params(uri: str, params: dict, fragment: bool = False) -> str:
    parts = urlsplit(uri)
    if fragment:
        return urlunsplit(parts._replace(fragment=urlencode(params)))
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def scopes_of(text: str) -> list[str]:
    out = []
    for scope in (text or "").split():
        if scope.lower().startswith(GRAPH_RESOURCE):
            scope = scope[len(GRAPH_RESOURCE):]
        if scope not in out:
            out.append(scope)
    return out


# --- discovery ---
async def openid_configuration(request: Request) -> Response:
    emu: Emulator = request.app.state.emu
    tenant = request.path_params["tenant"]
    if not known_tenant(emu, tenant):
        return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
    base = base_url(request)
    issuer_tenant = "{tenantid}" if tenant.lower() in GENERIC_TENANTS or "." in tenant else tenant
    return JSONResponse({
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{issuer_tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": f"{base}/{tenant}/kerberos",
        "tenant_region_scope": None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })


async def jwks(request: Request) -> Response:
    return JSONResponse(request.app.state.emu.signer.jwks())


async def instance_discovery(request: Request) -> Response:
    """What MSAL asks when instance discovery is left on (we configure it off; answered anyway)."""
    base = base_url(request)
    authorize = request.query_params.get("authorization_endpoint", f"{base}/common/oauth2/v2.0/authorize")
    tenant = urlsplit(authorize).path.strip("/").split("/")[0] or "common"
    host = urlsplit(base).netloc
    return JSONResponse({
        "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })


# --- authorize ---
AUTHORIZE_FIELDS = ("client_id", "response_type", "redirect_uri", "scope", "state", "code_challenge",
                    "code_challenge_method", "nonce", "response_mode", "prompt", "login_hint", "domain_hint", "client_info", "claims")


def _check_client_and_redirect(emu: Emulator, params: dict) -> Response | None:
    """Problems shown as an error page (never redirected to an unchecked URI)."""
    client_id = params.get("client_id") or ""
    if not client_id:
        return error_page(400, 900144, "The request body must contain the following parameter: 'client_id'.")
    app = emu.store.apps.get(client_id)
    if app is None and not emu.store.open_registration:
        return error_page(400, 700016, f"Application with identifier '{client_id}' was not found in the directory 'Emulator'.")
    redirect_uri = params.get("redirect_uri") or ""
    if not redirect_uri:
        if app and len(app["redirect_uris"]) == 1:
            params["redirect_uri"] = app["redirect_uris"][0]
            return None
        return error_page(400, 900144, "The request body must contain the following parameter: 'redirect_uri'.")
    if app is not None and redirect_uri not in app["redirect_uris"]:
        return error_page(400, 50011, f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'.")
    if urlsplit(redirect_uri).scheme not in ("http", "https") and app is None:
        return error_page(400, 50011, f"The redirect URI '{redirect_uri}' is not a valid absolute URI.")
    return None


def _redirect(params: dict, payload: dict) -> Response:
    payload = {k: v for k, v in payload.items() if v is not None}
    mode = (params.get("response_mode") or "query").lower()
    if mode == "form_post":
        inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">' for k, v in payload.items())
        return HTMLResponse(
            f'<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="{html.escape(params["redirect_uri"])}">'
            f"{inputs}<noscript><button>Continue</button></noscript></form></body></html>"
        )
    return RedirectResponse(add_params(params["redirect_uri"], payload, fragment=(mode == "fragment")), status_code=302)


def _redirect_error(params: dict, error: str, code: int, message: str) -> Response:
    return _redirect(params, {"error": error, "error_description": f"AADSTS{code}: {message}", "state": params.get("state"),
                              "error_uri": f"https://login.microsoftonline.com/error?code={code}"})


def _check_request(params: dict) -> Response | None:
    """Problems reported back to the (registered) redirect URI."""
    if params.get("response_type") != "code":
        return _redirect_error(params, "unsupported_response_type", 700054, "response_type 'code' is required by this emulator.")
    if not params.get("scope"):
        return _redirect_error(params, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
    if not params.get("code_challenge"):
        return _redirect_error(params, "invalid_request", 9002325, "Proof Key for Code Exchange is required: send code_challenge with code_challenge_method S256.")
    if (params.get("code_challenge_method") or "plain") != "S256":
        return _redirect_error(params, "invalid_request", 501491, "Invalid code_challenge_method: only S256 is accepted.")
    return None


def _consent_page(emu: Emulator, tenant: str, params: dict, message: str = "", status: int = 200) -> HTMLResponse:
    users = sorted(emu.store.users.values(), key=lambda u: u["email"].lower())
    if tenant.lower() not in GENERIC_TENANTS and "." not in tenant:
        users = [u for u in users if u["tenantId"].lower() == tenant.lower()]
    hint = (params.get("login_hint") or "").lower()
    app = emu.store.apps.get(params["client_id"])
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(params[k])}">' for k in AUTHORIZE_FIELDS if params.get(k) is not None
    )
    options = "".join(
        f'<li><label><input type="radio" name="user" value="{html.escape(u["email"])}"'
        f'{" checked" if (u["email"].lower() == hint or (not hint and i == 0)) else ""}> '
        f'{html.escape(u["displayName"])} &lt;{html.escape(u["email"])}&gt;</label></li>'
        for i, u in enumerate(users)
    ) or "<li>No users exist in the emulator yet (create them through the control API).</li>"
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in scopes_of(params.get("scope", "")))
    warning = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Permissions requested</title>
<style>body{{font-family:Segoe UI,Arial,sans-serif;max-width:32rem;margin:3rem auto}}ul{{list-style:none;padding:0}}li{{margin:.4rem 0}}.error{{color:#a00}}</style></head>
<body><h1>Permissions requested</h1>
<p><strong>{html.escape(params["client_id"] if not app else app.get("name") or params["client_id"])}</strong> (graph_emulator) would like to:</p>
<ul class="scopes">{scopes}</ul>
{warning}
<form method="post" action="/{html.escape(tenant)}/oauth2/v2.0/authorize">
{hidden}
<fieldset><legend>Sign in as</legend><ul class="users">{options}</ul></fieldset>
<button type="submit" name="action" value="accept">Accept</button>
<button type="submit" name="action" value="deny">Cancel</button>
</form></body></html>"""
    return HTMLResponse(body, status_code=status)


async def authorize(request: Request) -> Response:
    emu: Emulator = request.app.state.emu
    tenant = request.path_params["tenant"]
    if request.method == "POST":
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
    else:
        params = dict(request.query_params)
    if not known_tenant(emu, tenant):
        return error_page(400, 90002, f"Tenant '{tenant}' not found.")
    problem = _check_client_and_redirect(emu, params) or _check_request(params)
    if problem is not None:
        return problem
    if request.method == "GET":
        return _consent_page(emu, tenant, params)
    action = params.get("action", "accept")
    if action == "deny":
        return _redirect_error(params, "access_denied", 65004, "User declined to consent to access the app.")
    user = emu.store.user_by_email(params.get("user", ""))
    if user is None:
        return _consent_page(emu, tenant, params, f"Unknown user '{params.get('user', '')}'.", status=400)
    if tenant.lower() not in GENERIC_TENANTS and "." not in tenant and user["tenantId"].lower() != tenant.lower():
        return _consent_page(emu, tenant, params, "That account does not belong to this tenant.", status=400)
    code = "1.A" + secrets.token_urlsafe(64)
    now = time.time()
    emu.store.codes[code] = {
        "client_id": params["client_id"],
        "redirect_uri": params["redirect_uri"],
        "user_id": user["id"],
        "scope": " ".join(scopes_of(params["scope"])),
        "code_challenge": params["code_challenge"],
        "nonce": params.get("nonce"),
        "issued_at": now,
        "expires_at": now + float(emu.config["code_lifetime_s"]),
        "used": False,
    }
    emu.store.dirty = True
    return _redirect(params, {"code": code, "state": params.get("state"), "session_state": str(uuid.uuid4())})


# --- token ---
def _client_auth(request: Request, form: dict) -> tuple[str, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return client_id, secret
        except (ValueError, UnicodeDecodeError):
            pass
    return form.get("client_id", ""), form.get("client_secret")


async def token(request: Request) -> Response:
    emu: Emulator = request.app.state.emu
    tenant = request.path_params["tenant"]
    form = {k: str(v) for k, v in (await request.form()).items()}
    grant_type = form.get("grant_type", "")
    emu.stats.token_requests[grant_type or "(none)"] += 1
    if not known_tenant(emu, tenant):
        return aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    client_id, secret = _client_auth(request, form)
    if not client_id:
        return aad_error(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
    app = emu.store.apps.get(client_id)
    if app is None and not emu.store.open_registration:
        return aad_error(400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found in the directory 'Emulator'.")
    if app is not None and app.get("client_secret"):
        if not secret:
            return aad_error(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        if not secrets.compare_digest(secret, app["client_secret"]):
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
    if grant_type == "authorization_code":
        return _redeem_code(request, emu, form, client_id)
    if grant_type == "refresh_token":
        return _redeem_refresh_token(request, emu, form, client_id)
    return aad_error(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'.")


def _redeem_code(request: Request, emu: Emulator, form: dict, client_id: str) -> Response:
    code = form.get("code", "")
    if not code:
        return aad_error(400, "invalid_request", 900144, "The request body must contain the following parameter: 'code'.")
    record = emu.store.codes.get(code)
    if record is None:
        return aad_error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the authorization code is not valid.")
    if record["used"]:
        return aad_error(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
    if time.time() >= record["expires_at"]:
        return aad_error(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
    if record["client_id"] != client_id:
        return aad_error(400, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid. The code was issued to a different client.")
    if form.get("redirect_uri", "") != record["redirect_uri"]:
        return aad_error(400, "invalid_grant", 500112, f"The reply address '{form.get('redirect_uri', '')}' does not match the reply address '{record['redirect_uri']}' provided when requesting Authorization code.")
    verifier = form.get("code_verifier", "")
    if not verifier:
        return aad_error(400, "invalid_grant", 501481, "The Code_Verifier is missing; the authorization request carried a code_challenge.")
    if not secrets.compare_digest(b64url(hashlib.sha256(verifier.encode()).digest()), record["code_challenge"]):
        return aad_error(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
    record["used"] = True
    user = emu.store.users.get(record["user_id"])
    if user is None:
        return aad_error(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
    return _issue(request, emu, user, client_id, record["scope"], nonce=record.get("nonce"), client_info=form.get("client_info") == "1")


def _redeem_refresh_token(request: Request, emu: Emulator, form: dict, client_id: str) -> Response:
    value = form.get("refresh_token", "")
    if not value:
        return aad_error(400, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
    record = emu.store.refresh_tokens.get(value)
    if record is None:
        return aad_error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: the refresh token is not valid.")
    if record["client_id"] != client_id:
        return aad_error(400, "invalid_grant", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented; the refresh token was issued to a different client.")
    if record["revoked"]:
        return aad_error(400, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
    idle_days = (time.time() - record["last_used_at"]) / 86400
    if idle_days > float(emu.config["refresh_token_inactivity_days"]):
        last = dt.datetime.fromtimestamp(record["last_used_at"], dt.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
        return aad_error(400, "invalid_grant", 700082, f"The refresh token has expired due to inactivity. The token was issued on {last} and was inactive for {int(emu.config['refresh_token_inactivity_days'])}.00:00:00.")
    user = emu.store.users.get(record["user_id"])
    if user is None:
        return aad_error(400, "invalid_grant", 50034, "The user account does not exist in the directory.")
    # refresh-tokens.md: "Refresh tokens replace themselves with a fresh token upon every use. The Microsoft identity
    # platform doesn't revoke old refresh tokens when used to fetch new access tokens." So the used token stays valid
    # (until revoked or idle too long); a new one is issued as well.
    record["last_used_at"] = time.time()
    emu.store.dirty = True
    return _issue(request, emu, user, client_id, record["scope"], nonce=None, client_info=form.get("client_info") == "1")


def _issue(request: Request, emu: Emulator, user: dict, client_id: str, scope: str, *, nonce: str | None, client_info: bool) -> Response:
    now = time.time()
    lifetime = int(emu.config["access_token_lifetime_s"])
    store = emu.store
    access_token = store.new_token("EwB")
    store.access_tokens[access_token] = {"user_id": user["id"], "client_id": client_id, "scope": scope, "expires_at": now + lifetime}
    refresh_token = store.new_token("M.C5")
    store.refresh_tokens[refresh_token] = {
        "user_id": user["id"], "client_id": client_id, "scope": scope, "issued_at": now, "last_used_at": now,
        "revoked": False, "used": False,
    }
    _prune_tokens(store, now)
    store.dirty = True
    scopes = scope.split()
    granted = [s for s in scopes if s.lower() not in OIDC_SCOPES] + [s for s in ("openid", "profile", "email") if s in scopes]
    body = {
        "token_type": "Bearer",
        "scope": " ".join(granted),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
        "refresh_token": refresh_token,
    }
    # MSAL always asks for openid; the contract is to always return an id_token.
    if True:
        issued = int(now)
        claims = {
            "aud": client_id,
            "iss": f"{base_url(request)}/{user['tenantId']}/v2.0",
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "name": user["displayName"],
            "oid": user["id"],
            "preferred_username": user["email"],
            "email": user["email"],
            "rh": "0.AAAA" + secrets.token_urlsafe(12) + ".",
            "sub": b64url(hashlib.sha256(f"{user['id']}:{client_id}".encode()).digest())[:43],
            "tid": user["tenantId"],
            "uti": secrets.token_urlsafe(16),
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        body["id_token"] = emu.signer.sign(claims)
    if client_info:
        body["client_info"] = b64url(json.dumps({"uid": user["id"], "utid": user["tenantId"]}).encode())
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _prune_tokens(store, now: float) -> None:
    """Forget long-dead access tokens and codes so a long demo's state file stays small."""
    for key in [k for k, v in store.access_tokens.items() if v["expires_at"] < now - 86400]:
        del store.access_tokens[key]
    for key in [k for k, v in store.codes.items() if v["expires_at"] < now - 3600]:
        del store.codes[key]
