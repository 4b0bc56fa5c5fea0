"""Hardening suite fixtures and the Hypothesis profiles.

Profiles (`TOKENTAX_FUZZ` selects one; default `ci`):

- `ci`: 2,500 examples across the fuzz tests, for every CI run;
- `long`: 100,000 examples across them, run by hand:
  `TOKENTAX_FUZZ=long uv run pytest tests/hardening/test_fuzz.py -q --durations=0`.

`max_examples` is the total; each fuzz test takes a fixed share of it.

The profiles are applied per test through `strategies.fuzz_settings()` rather than loaded
globally, so other suites that use Hypothesis keep their own defaults.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("TOKENTAX_FUZZ", "ci") or "ci"
_COMMON = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
)
settings.register_profile("ci", max_examples=2_500, **_COMMON)
settings.register_profile("long", max_examples=100_000, **_COMMON)
if PROFILE not in ("ci", "long"):
    raise RuntimeError(f"TOKENTAX_FUZZ must be 'ci' or 'long', got {PROFILE!r}")
