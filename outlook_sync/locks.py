"""Cross-process locks and the per-mailbox request cap.

With Redis (``CACHE_URL=redis://...``, production and tests) both work across
every web and worker process. Without Redis (the demo) the refresh lock is a
file lock (``fcntl``) and the mailbox cap is per process, which is enough for
the demo's single worker process.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path

import redis
from django.conf import settings

#: Microsoft allows 4 concurrent requests per app and mailbox.
MAILBOX_CONCURRENCY = 4
#: A slot whose holder died (SIGKILL, lost machine) is given back within this many seconds; a live holder's
#: slots are renewed (:func:`_renew_slots`, every second) however long it keeps them.
SLOT_LEASE_SECONDS = 15

#: Take as many of the wanted slots (members ARGV[5..]) as are free, in order; returns how many were taken.
_ACQUIRE_SLOTS = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local taken = math.min(tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1]), #ARGV - 4)
for i = 1, taken do
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4 + i])
end
if taken > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return taken
end
return 0
"""


class LockTimeout(TimeoutError):
    """Could not get a lock in time (another process holds it for too long).

    A :class:`TimeoutError`, as the Graph client's ``slots`` contract asks (:func:`mailbox_slots`).
    """


@lru_cache(maxsize=1)
def _redis() -> redis.Redis | None:
    location = settings.CACHES["default"].get("LOCATION")
    backend = settings.CACHES["default"]["BACKEND"]
    if "redis" not in backend.lower() or not location:
        return None
    url = location[0] if isinstance(location, (list, tuple)) else location
    return redis.Redis.from_url(url)


def _key(kind: str, name: str) -> str:
    """A Redis key of ours, under ``REDIS_KEY_PREFIX`` when one is set."""
    prefix = getattr(settings, "REDIS_KEY_PREFIX", "")
    return f"{prefix}:wedsync:{kind}:{name}" if prefix else f"wedsync:{kind}:{name}"


@contextlib.contextmanager
def exclusive(name: str, *, timeout: float = 60.0, wait: float = 30.0, heartbeat: bool = False):
    """Hold the named lock across processes; wait up to ``wait`` seconds for it.

    With ``heartbeat`` the Redis lease of ``timeout`` seconds is renewed every
    ``timeout / 3`` seconds while the holder lives, so a long holder keeps it,
    and a holder that was killed (SIGKILL, lost machine) frees it within
    ``timeout`` seconds instead of blocking everyone until a long expiry.

    The Redis lock is not thread-local (``thread_local=False``): the heartbeat
    thread renews the token the holder's thread acquired. (redis-py's default
    keeps the token in a ``threading.local``, which the heartbeat thread cannot
    see, so every renewal would fail and the lease would run out after
    ``timeout`` seconds while the holder still works.)
    """
    client = _redis()
    if client is not None:
        lock = client.lock(_key("lock", name), timeout=timeout, blocking_timeout=wait, thread_local=False)
        if not lock.acquire():
            raise LockTimeout(name)
        stop = threading.Event()
        beat = None
        if heartbeat:
            beat = threading.Thread(target=_renew, args=(lock, timeout, stop), daemon=True, name=f"lock-heartbeat:{name}")
            beat.start()
        try:
            yield
        finally:
            stop.set()
            if beat is not None:
                beat.join()  # never renew after the release below
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
        return
    lock_dir = Path(settings.VAR_DIR) / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name.replace(':', '_')}.lock", "w") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(name) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _renew(lock, timeout: float, stop: threading.Event) -> None:
    while not stop.wait(timeout / 3):
        try:
            lock.reacquire()
        except redis.exceptions.RedisError:
            return  # lost (or Redis away): the holder finds out when it releases


_local_slots: dict[str, threading.BoundedSemaphore] = {}
_local_slots_guard = threading.Lock()


def mailbox_slots(mailbox: str, weight: int = 1):
    """Hold ``weight`` of the mailbox's request slots (the Graph client's ``slots``): a ``$batch`` counts as the operations
    Outlook runs at once.

    Outlook runs up to ``GRAPH_BATCH_PARALLELISM`` (4) items of one batch in
    parallel and they count against the mailbox's 4 concurrent requests, so a
    batch holds that many slots (at most :data:`MAILBOX_CONCURRENCY`); 4 batches
    in flight would be 16 operations. Raises :class:`LockTimeout` when the slots
    stay taken (see :func:`mailbox_slot`).
    """
    return mailbox_slot(mailbox, count=max(1, min(weight, MAILBOX_CONCURRENCY)))


@contextlib.contextmanager
def mailbox_slot(mailbox: str, *, limit: int = MAILBOX_CONCURRENCY, wait: float = 300.0, count: int = 1):
    """Hold ``count`` of the mailbox's ``limit`` request slots while a Graph request is in flight.

    A request that needs several (a ``$batch``, whose items Outlook runs in parallel) takes them behind the
    mailbox's gate, so two of them never deadlock holding half each; it takes every free one in one Redis
    call and waits for the rest.
    """
    client = _redis()
    if client is None:
        with _local_slots_guard:
            semaphore = _local_slots.setdefault(mailbox, threading.BoundedSemaphore(limit))
        taken = 0
        try:
            with _local_gate(mailbox) if count > 1 else contextlib.nullcontext():
                for _ in range(count):
                    if not semaphore.acquire(timeout=wait):
                        raise LockTimeout(f"mailbox {mailbox}")
                    taken += 1
            yield
        finally:
            for _ in range(taken):
                semaphore.release()
        return
    key = _key("graph-slots", mailbox)
    wake = _key("graph-slots-freed", mailbox)
    members = [f"{os.getpid()}:{uuid.uuid4().hex}" for _ in range(count)]
    held = 0
    try:
        # Renewed while held, so a holder killed while it waits for slots frees the gate within a slot's lease.
        with exclusive(f"graph-batch-gate:{mailbox}", timeout=SLOT_LEASE_SECONDS, wait=wait, heartbeat=True) if count > 1 else contextlib.nullcontext():
            deadline = time.monotonic() + wait
            delay = 0.005
            while True:
                taken = client.eval(_ACQUIRE_SLOTS, 1, key, time.time(), limit, time.time() + SLOT_LEASE_SECONDS, int(SLOT_LEASE_SECONDS * 2), *members[held:])
                for member in members[held:held + taken]:
                    _slots_held(client, key, member, held=True)
                held += taken
                if held == count:
                    break
                if time.monotonic() > deadline:
                    raise LockTimeout(f"mailbox {mailbox}")
                # Woken as soon as any process gives a slot back (the release below pushes a token), at the latest
                # after ``delay``: a waiter never idles while the mailbox has a free slot (a dead holder's lapses by
                # its lease).
                client.blpop([wake], timeout=delay)
                delay = min(delay * 2, 0.05)
        yield
    finally:
        for member in members[:held]:
            _slots_held(client, key, member, held=False)
        if held:
            client.pipeline(transaction=False).zrem(key, *members[:held]).lpush(wake, *[1] * held).ltrim(wake, 0, limit - 1).expire(wake, int(SLOT_LEASE_SECONDS * 2)).execute()


_local_gates: dict[str, threading.Lock] = {}


def _local_gate(mailbox: str) -> threading.Lock:
    with _local_slots_guard:
        return _local_gates.setdefault(mailbox, threading.Lock())


#: Slots this process holds (member -> (Redis client, key)), renewed by one thread per process.
_held_slots: dict[str, tuple[redis.Redis, str]] = {}
_held_guard = threading.Lock()
_renewer: list = [None, None]  # [pid, thread]: a forked child starts its own


def _slots_held(client: redis.Redis, key: str, member: str, *, held: bool) -> None:
    with _held_guard:
        if held:
            _held_slots[member] = (client, key)
            pid = os.getpid()
            if _renewer[0] != pid or not _renewer[1].is_alive():
                if _renewer[0] != pid:
                    for other in [m for m in _held_slots if not m.startswith(f"{pid}:")]:
                        del _held_slots[other]  # the parent's, inherited by a fork: the parent renews them
                thread = threading.Thread(target=_renew_slots, daemon=True, name="mailbox-slot-leases")
                _renewer[:] = [pid, thread]
                thread.start()
        else:
            _held_slots.pop(member, None)


def _renew_slots() -> None:
    """Push the lease of every slot this process still holds ``SLOT_LEASE_SECONDS`` ahead (``ZADD XX``: a slot
    already given back, or taken back after a lapse, is never re-added). Ends with the process."""
    while True:
        time.sleep(min(1.0, SLOT_LEASE_SECONDS / 3))
        with _held_guard:
            held = list(_held_slots.items())
        expires = time.time() + SLOT_LEASE_SECONDS
        for member, (client, key) in held:
            try:
                client.pipeline(transaction=False).zadd(key, {member: expires}, xx=True).expire(key, int(SLOT_LEASE_SECONDS * 2)).execute()
            except redis.exceptions.RedisError:
                continue  # Redis away: the slot lapses, as a dead holder's would
