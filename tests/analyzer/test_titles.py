"""Finding titles and evidence in one number style and with correct plurals (issue 13, item 10):
"16 897 calls/h", never "16897 per hour"; "1 backend call", never "1 backend calls" or "1 token(s)"."""

from __future__ import annotations

from typing import Any

from inspector.analyzer import Analyzer
from inspector.analyzer.findings import findings
from tests.support.factory import backend, callout, flow, naive_request


def snap(evs: list[dict[str, Any]]) -> dict[str, Any]:
    a = Analyzer()
    for ev in evs:
        a.ingest(ev)
    return a.snapshot()


def finding(s: dict[str, Any], id_: str) -> dict[str, Any]:
    return next(f for f in s["findings"] if f["id"] == id_)


def test_one_redundant_callout_is_singular() -> None:
    s = snap([ev for i in range(2) for ev in naive_request(1000.0 + i, i, "tok", auth_ms=800)])
    f = finding(s, "token-refetch")
    assert f["title"] == (
        "1 of 2 token callouts was redundant, 1.00 callouts per inbound request: 400 ms token tax per request"
    )
    assert "on a request's path: 2 callouts (1 redundant); background: 0" in f["evidence"]
    life = finding(s, "token-lifetime")
    assert life["evidence"] == ["1 token with lifetime 3 600 s from expires_in"]  # one fingerprint, fetched twice


def test_large_counts_and_rates_use_one_style() -> None:
    """A synthetic report with five-digit figures: counts grouped by a space, rates in calls/h."""
    s = snap([ev for i in range(2) for ev in naive_request(1000.0 + i, i, "tok", auth_ms=800)])
    tok = s["callouts"]["by_kind"]["token"]
    tok.update(total=16_900, redundant=16_897, avoidable_per_hour=16_897.2)
    s["lifetimes"] = [{"seconds": 3600.0, "count": 12_000, "source": "expires_in"}]
    out = {f["id"]: f for f in findings(s)}
    title = out["token-refetch"]["title"]
    assert title.startswith("16 897 of 16 900 token callouts were redundant")
    assert (
        "auth-server calls a cache would remove: 16 897 calls/h at the observed rate"
        in (out["token-refetch"]["evidence"])
    )
    assert out["token-lifetime"]["evidence"] == ["12 000 tokens with lifetime 3 600 s from expires_in"]


def test_cached_failure_counts_one_backend_call() -> None:
    evs = [callout(1000.0, 50, None, None, status=401, error="invalid_client", trace="t0")]
    evs.append(backend(1000.06, 5, None, kind="empty", trace="t0"))
    evs.append(flow("inbound", 999.999, 80, status=502, port=8080, trace="t0"))
    s = snap(evs)
    f = finding(s, "auth-failure")
    assert f["title"] == "1 token callout failed (1× 401 invalid_client)"
    bad = [e for e in f["evidence"] if "bearer" in e]
    assert bad == ["1 backend call carried an empty or garbage bearer"]
    assert finding(s, "error-cached")["title"] == (
        "Gateway caches auth failures: 1 backend call with an empty or garbage bearer after a failed token callout"
    )
