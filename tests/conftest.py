"""Shared test settings: hypothesis profiles (quick by default, `long` for fuzz runs)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from edge import logs

# Readable lines with plain tracebacks: the default renders every logged exception with
# its locals, which costs more than the daemon's own work in tests that crash on purpose.
logs.configure("info", json=False)

settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=100_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
