"""Outside clients pointed at the emulator: Microsoft's official ``msgraph-sdk`` and ``python-o365``.

The emulator was not written with these clients, so they check it the way a real
integration would: their URL forms, their paging and their error handling.

* msgraph-sdk: a ``GraphServiceClient`` over an ``httpx.AsyncClient`` that trusts the
  emulator's CA, with the SDK's default middleware (retry, redirect, the ``/me`` URL
  replacement) and ``request_adapter.base_url`` set to ``{emulator}/v1.0``. The bearer
  token comes from the emulator's own OAuth flow.
* python-o365: an ``Account`` whose protocol's ``service_url`` is the emulator, with a
  ``requests`` session trusting the CA, and a token backend holding the emulator's tokens.
"""
from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.graph_request_adapter import options as sdk_options
from msgraph_core import GraphClientFactory


class StaticTokenProvider(AccessTokenProvider):
    def __init__(self, token: str, host: str):
        self.token = token
        self.validator = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri: str, additional_authentication_context=None) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self.validator


class _SdkConnection:
    """The SDK's httpx client and the transport under it; ``aclose()`` closes both.

    msgraph-core's ``create_with_default_middleware`` wraps the client's transport in its
    middleware pipeline, and closing the client closes only that wrapper: the pooled
    connections of the transport underneath stayed open until garbage collection
    (``ResourceWarning: unclosed transport``, an error in this suite). The transport is
    ours here, so we close it ourselves.
    """

    def __init__(self, client: httpx.AsyncClient, transport: httpx.AsyncHTTPTransport):
        self.client, self.transport = client, transport

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.transport.aclose()


def graph_sdk(emulator, token: str) -> tuple[GraphServiceClient, _SdkConnection]:
    """A GraphServiceClient talking to the emulator; ``await`` the returned connection's ``aclose()`` when done."""
    host = urlsplit(emulator.base_url).netloc
    transport = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=emulator.ca_file), trust_env=False)
    http = httpx.AsyncClient(transport=transport, trust_env=False, timeout=30)
    http = GraphClientFactory.create_with_default_middleware(client=http, options=sdk_options)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticTokenProvider(token, host)), client=http)
    adapter.base_url = emulator.graph_url
    return GraphServiceClient(request_adapter=adapter), _SdkConnection(http, transport)


def o365_account(emulator, email: str, client_id: str, client_secret: str, redirect_uri: str, scopes: list[str]):
    """An O365 ``Account`` signed in as ``email`` through O365's own auth-code flow (msal under the hood),
    with Graph at the emulator and a requests session that trusts the emulator's CA."""
    import msal
    import requests
    from O365 import Account
    from O365.connection import MSGraphProtocol
    from O365.utils import BaseTokenBackend

    class MemoryBackend(BaseTokenBackend):
        def load_token(self):
            return self.has_data

        def save_token(self, force=False):
            return True

        def delete_token(self):
            return True

        def check_token(self):
            return self.has_data

    protocol = MSGraphProtocol(api_version="v1.0")
    protocol.protocol_url = emulator.base_url + "/"
    protocol.service_url = emulator.graph_url + "/"
    backend = MemoryBackend()
    account = Account((client_id, client_secret), protocol=protocol, token_backend=backend, tenant_id="common",
                      verify_ssl=emulator.ca_file, raise_http_errors=False, timeout=30)
    session = requests.Session()
    session.trust_env = False
    session.verify = emulator.ca_file
    con = account.con
    con._msal_client = msal.ConfidentialClientApplication(
        client_id, client_credential=client_secret, authority=f"{emulator.authority}/common",
        token_cache=backend, http_client=session, instance_discovery=False)
    url, flow = con.get_authorization_url(requested_scopes=scopes, redirect_uri=redirect_uri)
    location = emulator.control.consent(url, email)
    assert con.request_token(location, flow=flow), "O365 could not redeem the code"
    return account
