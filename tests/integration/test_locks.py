"""The cross-process locks (``outlook_sync.locks``) against the real Redis of the test run.

A sync run holds ``exclusive("sync-run:<id>", heartbeat=True)``: its lease must be
renewed while the holder lives, however long the run takes, and nobody else may
get the lock meanwhile. A holder that waits too long gets ``LockTimeout``.
"""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from outlook_sync import locks

LEASE = 3.0  # seconds: short, so "longer than twice the lease" is quick (renewed every second)


def _name() -> str:
    return f"test-{uuid.uuid4().hex}"


class Holder(threading.Thread):
    """Holds a lock in its own thread (as a worker thread does) until told to let go."""

    def __init__(self, name: str, **options):
        super().__init__(daemon=True)
        self.lock_name, self.options = name, options
        self.holding, self.release, self.done = threading.Event(), threading.Event(), threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            with locks.exclusive(self.lock_name, **self.options):
                self.holding.set()
                self.release.wait(60)
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            self.error = exc
        finally:
            self.done.set()


def test_lock_uses_redis_in_the_test_run():
    assert locks._redis() is not None, "the suite must run with CACHE_URL=redis://... (scripts/test.sh)"


def test_heartbeat_keeps_the_lock_for_longer_than_twice_the_lease():
    name = _name()
    holder = Holder(name, timeout=LEASE, wait=5, heartbeat=True)
    holder.start()
    assert holder.holding.wait(10)
    started = time.monotonic()
    attempts = 0
    # Contend for 3 leases: every attempt (each blocks up to 0.25 s inside redis-py) must time out.
    while time.monotonic() - started < 3 * LEASE:
        with pytest.raises(locks.LockTimeout):
            with locks.exclusive(name, timeout=LEASE, wait=0.25):
                pass
        attempts += 1
    assert attempts >= 3
    holder.release.set()
    assert holder.done.wait(10) and holder.error is None, holder.error
    with locks.exclusive(name, timeout=LEASE, wait=5):  # free again once the holder let go
        pass


def test_without_heartbeat_the_lease_expires_so_a_dead_holder_frees_the_lock():
    """The other half of the lease: a holder that stops renewing (killed) frees the lock within the lease."""
    name = _name()
    holder = Holder(name, timeout=LEASE, wait=5, heartbeat=False)
    holder.start()
    assert holder.holding.wait(10)
    try:
        with locks.exclusive(name, timeout=LEASE, wait=10 * LEASE):  # gets it once the un-renewed lease ran out
            assert not holder.done.is_set()  # ... while the first holder still "holds" it
    finally:
        holder.release.set()
        holder.done.wait(10)


def test_waiting_longer_than_wait_raises_lock_timeout():
    name = _name()
    holder = Holder(name, timeout=30, wait=5, heartbeat=True)
    holder.start()
    assert holder.holding.wait(10)
    try:
        with pytest.raises(locks.LockTimeout) as raised:
            with locks.exclusive(name, wait=0.3):
                pytest.fail("got a lock another thread holds")
        assert name in str(raised.value)
    finally:
        holder.release.set()
        assert holder.done.wait(10) and holder.error is None


def test_mailbox_slots_cap_concurrency_and_time_out():
    mailbox = f"{uuid.uuid4().hex}@contoso-weddings.example"
    with locks.mailbox_slot(mailbox, limit=2), locks.mailbox_slot(mailbox, limit=2):
        with pytest.raises(locks.LockTimeout):
            with locks.mailbox_slot(mailbox, limit=2, wait=0.3):
                pytest.fail("a third slot of two")
    with locks.mailbox_slot(mailbox, limit=2):  # given back on exit
        pass


def test_a_batch_holds_several_slots_at_once_and_a_waiter_gets_one_when_it_is_given_back():
    """A ``$batch`` holds the slots of the items Outlook runs in parallel; nobody gets a fifth of four, and a
    waiter gets the slot the batch gives back (woken by the release, well before its own deadline)."""
    mailbox = f"{uuid.uuid4().hex}@contoso-weddings.example"
    got = threading.Event()

    def wait_for_one():
        with locks.mailbox_slot(mailbox, limit=4, wait=30):
            got.set()

    with locks.mailbox_slot(mailbox, limit=4, count=3):
        with locks.mailbox_slot(mailbox, limit=4):  # the fourth
            with pytest.raises(locks.LockTimeout):
                with locks.mailbox_slot(mailbox, limit=4, wait=0.3):
                    pytest.fail("a fifth slot of four")
            waiter = threading.Thread(target=wait_for_one, daemon=True)
            waiter.start()
            assert not got.wait(0.3)
        assert got.wait(10)
        waiter.join(10)
    with locks.mailbox_slot(mailbox, limit=4, count=4, wait=5):  # all four given back on exit
        pass


def test_a_mailbox_slot_is_kept_for_longer_than_twice_its_lease(monkeypatch):
    """Slots have a short lease (a killed worker's are given back soon) renewed while their holder lives."""
    monkeypatch.setattr(locks, "SLOT_LEASE_SECONDS", LEASE)
    mailbox = f"{uuid.uuid4().hex}@contoso-weddings.example"
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold():
        try:
            with locks.mailbox_slot(mailbox, limit=1):
                held.set()
                release.wait(60)
        finally:
            done.set()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)
    started = time.monotonic()
    attempts = 0
    try:
        while time.monotonic() - started < 3 * LEASE:
            with pytest.raises(locks.LockTimeout):
                with locks.mailbox_slot(mailbox, limit=1, wait=0.25):
                    pytest.fail("got the slot its live holder still has")
            attempts += 1
    finally:
        release.set()
        assert done.wait(10)
    assert attempts >= 3
    with locks.mailbox_slot(mailbox, limit=1, wait=5):  # given back on exit
        pass


def test_keys_carry_the_runs_prefix(settings):
    """Two test runs (or deployments) on one Redis never share a lock: every key is under REDIS_KEY_PREFIX."""
    assert settings.REDIS_KEY_PREFIX, "scripts/test.sh sets a per-run REDIS_KEY_PREFIX"
    name = _name()
    holder = Holder(name, timeout=30, wait=5)
    holder.start()
    assert holder.holding.wait(10)
    try:
        keys = [key.decode() for key in locks._redis().scan_iter(match=f"*{name}*")]
        assert keys == [f"{settings.REDIS_KEY_PREFIX}:wedsync:lock:{name}"]
    finally:
        holder.release.set()
        holder.done.wait(10)
