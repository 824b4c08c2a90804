"""The events actions: validation, versioning, soft delete, and the signal sent only after commit."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from wedsync.events import actions
from wedsync.events.models import CalendarEvent
from wedsync.events.signals import event_changed

LONDON = ZoneInfo("Europe/London")


def consultation(**overrides):
    values = dict(
        event_type="client_meeting",
        title="Consultation with Sam & Alex",
        starts_at=dt.datetime(2026, 6, 16, 14, 0, tzinfo=LONDON),
        ends_at=dt.datetime(2026, 6, 16, 15, 0, tzinfo=LONDON),
        time_zone="Europe/London",
        location="The Orangery, Kew",
        attendees=[{"name": "Sam", "email": "Sam@Example.com "}],
    )
    return values | overrides


@pytest.fixture
def received():
    """Every event_changed signal sent during the test, in order."""
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    event_changed.connect(receiver, dispatch_uid="test-received")
    yield calls
    event_changed.disconnect(dispatch_uid="test-received")


@pytest.mark.django_db(transaction=True)
def test_create_starts_at_version_one_and_signals_after_commit(supplier, received):
    event = actions.create_event(supplier, **consultation())
    assert event.version == 1
    assert event.attendees == [{"name": "Sam", "email": "sam@example.com"}]
    assert received == [{"signal": event_changed, "event_id": event.id, "supplier_id": supplier.id, "version": 1, "change": "created", "source": "wedsync"}]


@pytest.mark.django_db(transaction=True)
def test_no_signal_when_the_transaction_rolls_back(supplier, received):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            actions.create_event(supplier, **consultation())
            assert received == []  # not yet: still inside the transaction
            raise RuntimeError("rollback")
    assert received == []
    assert not CalendarEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_update_bumps_version_only_when_something_changes(supplier, received):
    event = actions.create_event(supplier, **consultation())
    moved = actions.update_event(event, starts_at=consultation()["starts_at"] + dt.timedelta(hours=1), ends_at=consultation()["ends_at"] + dt.timedelta(hours=1), source="outlook")
    assert moved.version == 2
    same = actions.update_event(moved, title=moved.title)
    assert same.version == 2
    assert [(c["change"], c["version"], c["source"]) for c in received] == [("created", 1, "wedsync"), ("updated", 2, "outlook")]


@pytest.mark.django_db
def test_update_with_a_stale_version_is_refused(supplier):
    event = actions.create_event(supplier, **consultation())
    actions.update_event(event, title="Consultation (moved)")
    with pytest.raises(actions.EventVersionConflict):
        actions.update_event(event, expected_version=1, title="Lost edit")
    assert CalendarEvent.objects.get(pk=event.pk).title == "Consultation (moved)"


@pytest.mark.django_db(transaction=True)
def test_delete_is_soft_and_idempotent(supplier, received):
    event = actions.create_event(supplier, **consultation())
    deleted = actions.delete_event(event)
    again = actions.delete_event(deleted)
    stored = CalendarEvent.objects.get(pk=event.pk)
    assert stored.is_deleted and stored.deleted_at is not None and stored.version == 2 == again.version
    assert not CalendarEvent.objects.live().exists()
    assert [c["change"] for c in received] == ["created", "deleted"]
    with pytest.raises(actions.EventValidationError):
        actions.update_event(stored, title="Back from the dead")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"title": "  "}, "title"),
        ({"event_type": "party"}, "event_type"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"ends_at": dt.datetime(2026, 6, 16, 13, 0, tzinfo=LONDON)}, "ends_at"),
        ({"starts_at": dt.datetime(2026, 6, 16, 14, 0)}, "starts_at"),
        ({"attendees": [{"name": "No email"}]}, "attendees"),
        ({"travel_minutes": -5}, "travel_minutes"),
        ({"is_all_day": True}, "ends_at"),
    ],
)
def test_invalid_values_are_refused_with_a_message_per_field(supplier, overrides, field):
    with pytest.raises(actions.EventValidationError) as info:
        actions.create_event(supplier, **consultation(**overrides))
    assert field in info.value.errors
    assert not CalendarEvent.objects.exists()


@pytest.mark.django_db
def test_all_day_event_runs_midnight_to_midnight_in_its_zone(supplier):
    event = actions.create_event(
        supplier,
        **consultation(
            event_type="wedding_ceremony", is_all_day=True,
            starts_at=dt.datetime(2026, 6, 20, tzinfo=LONDON), ends_at=dt.datetime(2026, 6, 21, tzinfo=LONDON),
        ),
    )
    assert event.is_all_day
