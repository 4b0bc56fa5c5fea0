"""Severity by cost, not by share of calls: how bad a repeated auth call is depends on
what it costs the callers (ms per request, share of time to first byte) and the auth
server (calls per hour a cache would remove). docs/findings.md states the thresholds.

Any kind of callout can use it: pass the kind's measured figures; an unknown figure
(None) meets no threshold.
"""

from __future__ import annotations

from inspector.schema.vocab import Severity

# Critical: a cost every caller feels. Both must hold, so a cheap hop on a fast route
# (0.8 ms of a 2 ms request) is never critical, nor a large share of nothing.
CRITICAL_MS_PER_REQUEST = 50.0
CRITICAL_SHARE_OF_TTFB = 0.10
# Warning: any one of these.
WARNING_MS_PER_REQUEST = 5.0
WARNING_SHARE_OF_TTFB = 0.02
WARNING_AVOIDABLE_PER_HOUR = 1_000.0


def _at_least(value: float | None, threshold: float) -> bool:
    return value is not None and value >= threshold


def severity_by_cost(
    ms_per_request: float | None, share_of_ttfb: float | None, avoidable_per_hour: float | None
) -> Severity:
    """`critical` when the repeated calls cost each request >= 50 ms and >= 10 % of its time
    to first byte; `warning` when they cost >= 5 ms or >= 2 % per request, or the auth server
    takes >= 1,000 avoidable calls per hour; `info` otherwise."""
    if _at_least(ms_per_request, CRITICAL_MS_PER_REQUEST) and _at_least(share_of_ttfb, CRITICAL_SHARE_OF_TTFB):
        return "critical"
    if (
        _at_least(ms_per_request, WARNING_MS_PER_REQUEST)
        or _at_least(share_of_ttfb, WARNING_SHARE_OF_TTFB)
        or _at_least(avoidable_per_hour, WARNING_AVOIDABLE_PER_HOUR)
    ):
        return "warning"
    return "info"
