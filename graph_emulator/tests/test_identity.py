"""Identity: discovery, consent, code redemption with PKCE, rotating refresh tokens, AADSTS errors."""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import msal

from .conftest import (CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, authorize_url, get_code, http_session, pkce_pair, redeem,
                       refresh, sign_in)


def claims(jwt: str) -> dict:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def msal_app(emulator, tenant="common"):
    return msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=CLIENT_SECRET, authority=f"{emulator.authority}/{tenant}",
        http_client=http_session(emulator), instance_discovery=False, token_cache=msal.TokenCache(),
    )


def test_msal_auth_code_pkce_and_refresh_over_tls(emulator, control):
    user = control.create_user("alice@contoso.com", "Alice Adams")
    app = msal_app(emulator)
    flow = app.initiate_auth_code_flow(scopes=["Calendars.ReadWrite", "User.Read"], redirect_uri=REDIRECT_URI, response_mode="query")
    location = control.consent(flow["auth_uri"], "alice@contoso.com")
    assert location.startswith(REDIRECT_URI)
    auth_response = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert auth_response["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["tid"] == user["tenantId"]
    assert result["id_token_claims"]["oid"] == user["id"]
    assert result["id_token_claims"]["preferred_username"] == "alice@contoso.com"
    assert result["id_token_claims"]["aud"] == CLIENT_ID
    assert 3000 < result["expires_in"] <= 3600
    me = http_session(emulator).get(f"{emulator.graph_url}/me", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.status_code == 200 and me.json()["mail"] == "alice@contoso.com"

    refreshed = app.acquire_token_by_refresh_token(result["refresh_token"], scopes=["Calendars.ReadWrite", "User.Read"])
    assert "access_token" in refreshed, refreshed
    assert refreshed["refresh_token"] != result["refresh_token"]
    # refresh-tokens.md: the platform "doesn't revoke old refresh tokens when used to fetch new access tokens".
    again = app.acquire_token_by_refresh_token(result["refresh_token"], scopes=["Calendars.ReadWrite", "User.Read"])
    assert "access_token" in again, again
    assert control.stats()["token_requests"] == {"authorization_code": 1, "refresh_token": 2}
    # Revocation kills every one of them, the rotated-away ones included.
    control.revoke_refresh_tokens("alice@contoso.com")
    for token in (result["refresh_token"], refreshed["refresh_token"], again["refresh_token"]):
        dead = app.acquire_token_by_refresh_token(token, scopes=["Calendars.ReadWrite", "User.Read"])
        assert dead.get("error") == "invalid_grant" and 50173 in dead["error_codes"], dead


def test_discovery_document(emulator, control):
    session = http_session(emulator)
    common = session.get(f"{emulator.authority}/common/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{emulator.authority}/{{tenantid}}/v2.0"
    assert common["token_endpoint"] == f"{emulator.authority}/common/oauth2/v2.0/token"
    assert common["authorization_endpoint"] == f"{emulator.authority}/common/oauth2/v2.0/authorize"
    assert session.get(common["jwks_uri"]).json()["keys"][0]["kty"] == "RSA"
    user = control.create_user("bob@contoso.com")
    specific = session.get(f"{emulator.authority}/{user['tenantId']}/v2.0/.well-known/openid-configuration").json()
    assert specific["issuer"] == f"{emulator.authority}/{user['tenantId']}/v2.0"
    unknown = session.get(f"{emulator.authority}/00000000-0000-0000-0000-000000000001/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400


def test_msal_with_tenant_id_authority_and_organizations(emulator, control):
    user = control.create_user("carol@contoso.com")
    for tenant in ("organizations", user["tenantId"]):
        app = msal_app(emulator, tenant)
        flow = app.initiate_auth_code_flow(scopes=["Calendars.ReadWrite"], redirect_uri=REDIRECT_URI, response_mode="query")
        location = control.consent(flow["auth_uri"], "carol@contoso.com")
        result = app.acquire_token_by_auth_code_flow(flow, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()})
        assert "access_token" in result, result


def test_id_token_claims_and_client_info(emulator, control):
    user = control.create_user("alice@contoso.com", "Alice Adams")
    verifier, challenge = pkce_pair()
    location = control.consent(authorize_url(emulator, challenge, nonce="n-123"), "alice@contoso.com")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st"] and "session_state" in query
    body = redeem(emulator, query["code"][0], verifier).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["ext_expires_in"] == 3600
    assert "Calendars.ReadWrite" in body["scope"].split()
    c = claims(body["id_token"])
    assert c["nonce"] == "n-123" and c["ver"] == "2.0" and c["tid"] == user["tenantId"] and c["oid"] == user["id"]
    assert c["iss"] == f"{emulator.authority}/{user['tenantId']}/v2.0" and c["nbf"] <= c["iat"] < c["exp"]
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=" * (-len(body["client_info"]) % 4)))
    assert info == {"uid": user["id"], "utid": user["tenantId"]}


def test_consent_page_lists_users_and_deny_redirects_access_denied(emulator, control):
    control.create_user("alice@contoso.com", "Alice Adams")
    control.create_user("bob@contoso.com", "Bob Brown")
    _, challenge = pkce_pair()
    page = http_session(emulator).get(authorize_url(emulator, challenge))
    assert page.status_code == 200
    assert "alice@contoso.com" in page.text and "bob@contoso.com" in page.text and 'value="deny"' in page.text
    location = control.consent(authorize_url(emulator, challenge, state="xyz"), "alice@contoso.com", accept=False)
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(REDIRECT_URI)
    assert query["error"] == ["access_denied"] and query["state"] == ["xyz"]
    assert query["error_description"][0].startswith("AADSTS65004")


def test_bad_client_or_redirect_uri_is_an_error_page_not_a_redirect(emulator, control):
    _, challenge = pkce_pair()
    session = http_session(emulator)
    wrong_redirect = session.get(authorize_url(emulator, challenge, redirect_uri="https://evil.example/cb"), allow_redirects=False)
    assert wrong_redirect.status_code == 400 and "AADSTS50011" in wrong_redirect.text
    wrong_client = session.get(authorize_url(emulator, challenge, client_id="nope"), allow_redirects=False)
    assert wrong_client.status_code == 400 and "AADSTS700016" in wrong_client.text


def test_missing_pkce_is_reported_on_the_redirect(emulator, control):
    control.create_user("alice@contoso.com")
    url = authorize_url(emulator, "x").replace("code_challenge=x&", "")
    response = http_session(emulator).get(url, allow_redirects=False)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["invalid_request"]


def test_code_is_single_use(emulator, control):
    control.create_user("alice@contoso.com")
    code, verifier = get_code(emulator, "alice@contoso.com")
    assert redeem(emulator, code, verifier).status_code == 200
    again = redeem(emulator, code, verifier)
    assert again.status_code == 400
    body = again.json()
    assert body["error"] == "invalid_grant" and body["error_codes"] == [54005]
    assert body["error_description"].startswith("AADSTS54005:")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


def test_wrong_code_verifier(emulator, control):
    control.create_user("alice@contoso.com")
    code, _ = get_code(emulator, "alice@contoso.com")
    response = redeem(emulator, code, "not-the-verifier-" + "x" * 40)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert response.json()["error_codes"] == [501481]


def test_wrong_redirect_uri_at_redemption(emulator, control):
    control.create_user("alice@contoso.com")
    code, verifier = get_code(emulator, "alice@contoso.com")
    response = redeem(emulator, code, verifier, redirect_uri="http://127.0.0.1:8765/other/")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert response.json()["error_codes"] == [500112]


def test_expired_code(emulator, control):
    control.create_user("alice@contoso.com")
    control.set_config(code_lifetime_s=0)  # expired as soon as it is issued (no waiting for a clock to pass)
    code, verifier = get_code(emulator, "alice@contoso.com")
    response = redeem(emulator, code, verifier)
    assert response.status_code == 400 and response.json()["error_codes"] == [70008]


def test_wrong_client_secret_is_401_invalid_client(emulator, control):
    control.create_user("alice@contoso.com")
    code, verifier = get_code(emulator, "alice@contoso.com")
    response = redeem(emulator, code, verifier, client_secret="wrong")
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_revoked_refresh_token_gives_50173(emulator, control):
    control.create_user("alice@contoso.com")
    tokens = sign_in(emulator, "alice@contoso.com")
    control.revoke_refresh_tokens("alice@contoso.com")
    response = refresh(emulator, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert response.json()["error_codes"] == [50173] and "AADSTS50173" in response.json()["error_description"]


def test_idle_refresh_token_gives_700082(emulator, control):
    control.create_user("alice@contoso.com")
    tokens = sign_in(emulator, "alice@contoso.com")
    control.age_refresh_tokens("alice@contoso.com", 91)
    response = refresh(emulator, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error_codes"] == [700082]


def test_expired_access_token_is_401(emulator, control):
    control.create_user("alice@contoso.com")
    tokens = sign_in(emulator, "alice@contoso.com")
    session = http_session(emulator)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert session.get(f"{emulator.graph_url}/me", headers=headers).status_code == 200
    control.expire_access_tokens("alice@contoso.com")
    response = session.get(f"{emulator.graph_url}/me", headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert session.get(f"{emulator.graph_url}/me").status_code == 401


def test_msal_reports_revoked_refresh_token(emulator, control):
    control.create_user("alice@contoso.com")
    tokens = sign_in(emulator, "alice@contoso.com")
    control.revoke_refresh_tokens("alice@contoso.com")
    result = msal_app(emulator).acquire_token_by_refresh_token(tokens["refresh_token"], scopes=["Calendars.ReadWrite"])
    assert result["error"] == "invalid_grant" and 50173 in result["error_codes"]
