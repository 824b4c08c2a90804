"""Hypothesis profiles for the unit suite.

Locally examples are random (more bugs found over time); in CI (``CI`` set) the
run is derandomized so a red build is reproducible and never flaky.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("wedsync-dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("wedsync-ci", parent=settings.get_profile("wedsync-dev"), derandomize=True, print_blob=True)
settings.load_profile("wedsync-ci" if os.environ.get("CI") else "wedsync-dev")
