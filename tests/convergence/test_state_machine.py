"""Randomized convergence (issues 13 and 14): the hypothesis state machine of :mod:`tests.convergence.machine`.

In the suite: a fixed, seeded budget (``CONVERGENCE_CASES``, default 4 cases of
up to 12 steps; ``derandomize`` so every CI run replays the same cases). More
cases: ``bash scripts/convergence.sh --cases 500`` (random seeds, printed).
"""
from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, Phase, settings as hsettings
from hypothesis.stateful import run_state_machine_as_test

from tests.convergence.machine import TIMEOUT_SECONDS, NotificationTap, SyncMachine, reset_world
from tests.faults.convergence import ARTIFACTS

pytestmark = [pytest.mark.django_db(transaction=True)]

CASES = int(os.environ.get("CONVERGENCE_CASES", "4"))
STEPS = int(os.environ.get("CONVERGENCE_STEPS", "12"))
SEED = os.environ.get("CONVERGENCE_SEED")


@pytest.fixture
def eager_celery():
    """Every task (pushes on commit, sync runs) runs in this process when it is sent: one case is one interleaving."""
    from wedsync.celery import app

    old = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


@pytest.fixture
def tap():
    """Where Graph sends change notifications in these cases (the machine forwards them to the receiver)."""
    server = NotificationTap()
    yield server
    server.close()


def test_random_interleavings_converge_with_no_lost_edit(api_client, graph, supplier, eager_celery, settings, tap):
    # A case asks for a sync far more often than a supplier could (each settle up to 8 POST /sync) and connects anew
    # (GET /auth + POST /auth/callback): over the per-user limits (THROTTLE_SYNC_RATE 20/minute, THROTTLE_AUTH_RATE
    # 10/minute), answered 429 at a point that depends on the wall clock and on earlier cases, so a replayed case
    # failed elsewhere than its first run (hypothesis: Flaky / inconsistent data generation). The limits are
    # tests/security/test_abuse_limits.py's subject, not this one's.
    settings.API_THROTTLE_RATES = {scope: "100000/minute" for scope in settings.API_THROTTLE_RATES}
    settings.WEBHOOK_PUBLIC_BASE_URL = tap.url  # connecting subscribes; Graph's notifications go to the tap
    settings.GRAPH_TIMEOUT_SECONDS = TIMEOUT_SECONDS  # a timeout fault costs about a second, not the default 30 s
    cases: list[float] = []

    class Machine(SyncMachine):
        def __init__(self):
            reset_world(api_client, graph, supplier)
            self.started = time.monotonic()
            super().__init__()

        def teardown(self):
            try:
                super().teardown()
            finally:
                cases.append(time.monotonic() - self.started)

    Machine.api_client, Machine.graph, Machine.supplier, Machine.tap = api_client, graph, supplier, tap
    options = dict(
        max_examples=CASES, stateful_step_count=STEPS, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
        # CI replays the same cases every run; the separate command passes --hypothesis-seed=N (CONVERGENCE_SEED).
        derandomize=SEED is None,
    )
    run_state_machine_as_test(Machine, settings=hsettings(**options))
    line = (f"CONVERGENCE cases={len(cases)} steps<={STEPS} seed={SEED or 'derandomized'} total={sum(cases):.1f}s "
            f"mean={sum(cases) / max(1, len(cases)):.1f}s max={max(cases or [0]):.1f}s failures=0")
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "convergence-summary.txt", "a") as handle:
        handle.write(line + "\n")
    print(line)
    assert len(cases) >= 1
