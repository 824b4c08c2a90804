"""Subscriptions as Microsoft documents them (subscription.md, subscription-reauthorize.md,
change-notifications-delivery-webhooks.md), partly through msgraph-sdk."""
from __future__ import annotations

import asyncio
import datetime as dt
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.subscription import Subscription

from .clients import graph_sdk
from .conftest import sign_in
from .test_subscriptions import expiry, subscribe

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*", "ignore::DeprecationWarning:kiota_abstractions.*")


def test_http_notification_urls_are_refused_without_the_development_flag(alice, receiver, control):
    """subscription.md: notificationUrl must use https; so must lifecycleNotificationUrl."""
    _user, graph = alice
    control.set_config(allow_insecure_notification_urls=False)
    response = subscribe(graph, receiver)
    assert response.status_code == 400 and "HTTPS" in response.json()["error"]["message"]
    assert receiver.validations == []  # refused before any handshake
    # With the development flag, plain http is accepted only for a loopback host.
    control.set_config(allow_insecure_notification_urls=True)
    remote = subscribe(graph, receiver, notificationUrl="http://example.com/notify")
    assert remote.status_code == 400 and "HTTPS" in remote.json()["error"]["message"]
    lifecycle = subscribe(graph, receiver, lifecycleNotificationUrl="http://example.com/lifecycle")
    assert lifecycle.status_code == 400
    assert subscribe(graph, receiver).status_code == 201


def test_validation_answer_must_be_text_plain(alice, receiver):
    """change-notifications-delivery-webhooks.md: the validation answer is 200, Content-Type text/plain, the token."""
    _user, graph = alice
    receiver.mode = "json"
    response = subscribe(graph, receiver)
    assert response.status_code == 400 and response.json()["error"]["code"] == "ValidationError"
    assert "text/plain" in response.json()["error"]["message"]


def test_sdk_subscription_create_reauthorize_and_max_lifetime(emulator, control, receiver):
    """subscription.md: an Outlook event subscription lives at most 10,080 minutes; beyond is refused.
    subscription-reauthorize.md: POST /subscriptions/{id}/reauthorize answers 204."""
    control.create_user("subs@contoso.com", "Sue Bs")
    token = sign_in(emulator, "subs@contoso.com")["access_token"]

    def subscription(minutes):
        return Subscription(change_type="created,updated,deleted", notification_url=receiver.url + "/notify",
                            lifecycle_notification_url=receiver.url + "/lifecycle", resource="me/events",
                            expiration_date_time=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes),
                            client_state="sdk-state")

    async def body():
        client, http = graph_sdk(emulator, token)
        try:
            with pytest.raises(ODataError) as err:
                await client.subscriptions.post(subscription(10080 + 5))
            assert err.value.response_status_code == 400
            created = await client.subscriptions.post(subscription(10080 - 5))
            assert created.id and created.resource == "me/events"
            await client.subscriptions.by_subscription_id(created.id).reauthorize.post()
            with pytest.raises(ODataError) as missing:
                await client.subscriptions.by_subscription_id("00000000-0000-0000-0000-000000000000").reauthorize.post()
            assert missing.value.response_status_code == 404
            listed = await client.subscriptions.get()
            return [s.id for s in listed.value], created.id
        finally:
            await http.aclose()

    ids, created_id = asyncio.run(body())
    assert ids == [created_id]


def test_renewal_beyond_max_lifetime_is_refused(alice, receiver):
    _user, graph = alice
    sub = subscribe(graph, receiver).json()
    too_long = graph.patch(f"/subscriptions/{sub['id']}", json={"expirationDateTime": expiry(10080 + 60)})
    assert too_long.status_code == 400
