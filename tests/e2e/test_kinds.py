"""Every shape of the auth tax end to end (issue 11): the lab gateway in each mode, a real
mitmdump with the addon on every hop, the lab servers' own counts as the truth.

Per kind, one session per module (recorded once, read by several tests):

- naive, with 8 concurrent callers presenting one user's bearer: the auth side holds the
  first 8 calls until all 8 have arrived (the control server's /hold, /wait, /release;
  no sleeps), so they are in flight together. The report's `callouts.by_kind[kind].total`
  equals the lab's count, the kind's finding fires, and by the documented rule (an
  answer counts only for calls that started after it arrived) the 8 first calls are not
  redundant and every later one is;
- cached, 12 requests round-robin over the three lab users: one call per key (per user,
  and one for the JWKS URL), none redundant, no finding;
- poisoned (introspect-poison, forward-auth-poison) with the first auth-side call failing
  500: the cached failure is flagged `error-cached`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector.capture.load import analyze_file
from inspector.lab.session import LabSession, SessionSpec
from tests.e2e.conftest import lab_stats, send, user_bearers

# kind: (naive mode, cached mode, finding, one key per user)
KINDS: dict[str, tuple[str, str, str, bool]] = {
    "introspection": ("introspect", "introspect-cached", "introspection-repeat", True),
    "jwks": ("jwks-nocache", "jwks-cached", "jwks-refetch", False),  # key = the JWKS URL
    "userinfo": ("userinfo", "userinfo-cached", "userinfo-repeat", True),
    "exchange": ("exchange", "exchange-cached", "exchange-refetch", True),
    "forward_auth": ("forward-auth", "forward-auth-cached", "forward-auth-repeat", True),
}
KIND_BY = {"forward_auth": "rule", "userinfo": "hint"}
CALLERS = 8  # concurrent callers in the naive sessions
EACH = 3  # requests per caller
CACHED_N = 12
LATENCY = ["--auth-latency", "30ms", "--authz-latency", "30ms"]


@dataclass
class Recorded:
    capture: Path
    snap: dict[str, Any]
    events: list[dict[str, Any]]
    lab: dict[str, Any]  # the lab servers' own counters at the end
    statuses: list[int]

    def row(self, kind: str) -> dict[str, Any]:
        return self.snap["callouts"]["by_kind"][kind]

    def finding(self, fid: str) -> dict[str, Any] | None:
        return next((f for f in self.snap["findings"] if f["id"] == fid), None)


def lab_count(lab: dict[str, Any], kind: str) -> int:
    """What the lab counted for a kind: the authorizer's decisions, or the auth server's calls."""
    return int(lab["authz"]["calls"]) if kind == "forward_auth" else int(lab["auth"]["by_kind"].get(kind, 0))


def record(tmp: Path, mode: str, traffic: Callable[[LabSession], list[int]], *lab_args: str) -> Recorded:
    capture = tmp / f"{mode}.jsonl"
    spec = SessionSpec(lab_args=[*LATENCY, "--gateway", mode, *lab_args], save=str(capture))
    with LabSession(spec) as s:
        statuses = traffic(s)
        lab = lab_stats(s)
    analyzer = analyze_file(capture, show_progress=False)
    return Recorded(capture, analyzer.snapshot(), list(analyzer.recent), lab, statuses)


def held_burst(s: LabSession) -> list[int]:
    """8 callers with one user's bearer, EACH requests apiece; the first 8 auth-side calls are
    held until all have arrived, so they are in flight at once."""
    kind = next(k for k, v in KINDS.items() if v[0] == s.spec.mode)
    bearer = user_bearers(s)[:1]
    ctl = s.direct["control"]
    server, by_kind = ("authz", None) if kind == "forward_auth" else ("auth", kind)
    statuses: list[int] = []
    with httpx.Client(trust_env=False, timeout=120) as c:
        c.post(ctl + "/hold").raise_for_status()
        t = threading.Thread(
            target=lambda: statuses.extend(send(s.gateway_url, CALLERS * EACH, CALLERS, bearers=bearer))
        )
        t.start()
        try:
            params = {"server": server, "count": str(CALLERS), **({"kind": by_kind} if by_kind else {})}
            c.get(ctl + "/wait", params=params).raise_for_status()
        finally:
            c.post(ctl + "/release").raise_for_status()
            t.join()
    return statuses


def round_robin(s: LabSession) -> list[int]:
    return send(s.gateway_url, CACHED_N, bearers=user_bearers(s))


def poisoned(s: LabSession) -> list[int]:
    return send(s.gateway_url, 6, bearers=user_bearers(s)[:1])


@pytest.fixture(scope="module")
def naive(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Recorded]:
    tmp = tmp_path_factory.mktemp("naive")
    done: dict[str, Recorded] = {}

    def get(kind: str) -> Recorded:
        if kind not in done:
            done[kind] = record(tmp, KINDS[kind][0], held_burst)
        return done[kind]

    return get


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Recorded]:
    tmp = tmp_path_factory.mktemp("cached")
    done: dict[str, Recorded] = {}

    def get(kind: str) -> Recorded:
        if kind not in done:
            done[kind] = record(tmp, KINDS[kind][1], round_robin)
        return done[kind]

    return get


@pytest.mark.parametrize("kind", list(KINDS))
def test_naive_counts_equal_the_labs_and_the_finding_fires(naive: Callable[[str], Recorded], kind: str) -> None:
    r = naive(kind)
    total = CALLERS * EACH
    assert r.statuses == [200] * total
    row = r.row(kind)
    assert row["total"] == lab_count(r.lab, kind) == total
    assert set(r.snap["callouts"]["by_kind"]) == {kind}  # no other kind on the wire
    assert row["failed"] == 0
    assert r.snap["callouts"]["total"] == total  # the sum over kinds
    f = r.finding(KINDS[kind][2])
    assert f is not None, [x["id"] for x in r.snap["findings"]]
    assert f["title"].startswith(f"{row['redundant']} of {total} ")
    assert r.snap["tax"]["total_ms"] > 0
    # the authz listener's kind comes from the session's rules file; the auth server's from each
    # call (userinfo has no body shape of its own: a bearer call on a userinfo path, a hint)
    calls = [e for e in r.events if e["role"] == "callout"]
    assert {e["kind_by"] for e in calls} == {KIND_BY.get(kind, "shape")}


@pytest.mark.parametrize("kind", list(KINDS))
def test_eight_concurrent_first_calls_are_not_redundant(naive: Callable[[str], Recorded], kind: str) -> None:
    r = naive(kind)
    calls = sorted((e for e in r.events if e["role"] == "callout"), key=lambda e: e["ts"])
    assert len(calls) == CALLERS * EACH
    # The lab held the first 8 calls until all had arrived: each of them started before any answer.
    first_answer = min(e["end"] for e in calls)
    first = [e for e in calls if e["ts"] < first_answer]
    assert len(first) == CALLERS
    # The documented rule: an answer counts only for calls that started after it arrived, so the
    # 8 concurrent first calls are not redundant and each caller's later calls (started after its
    # own first answer, for the same key) all are.
    row = r.row(kind)
    assert row["redundant"] == CALLERS * (EACH - 1)
    # The burst shows up as a stampede instead: 8 calls for one key in flight at once.
    assert r.finding("stampede") is not None


@pytest.mark.parametrize("kind", list(KINDS))
def test_cached_one_call_per_key_and_no_finding(cached: Callable[[str], Recorded], kind: str) -> None:
    r = cached(kind)
    assert r.statuses == [200] * CACHED_N
    keys = 3 if KINDS[kind][3] else 1  # three lab users, or one JWKS URL
    row = r.row(kind)
    assert row["total"] == lab_count(r.lab, kind) == keys
    assert row["redundant"] == 0 and row["failed"] == 0
    assert r.finding(KINDS[kind][2]) is None
    assert r.finding("stampede") is None


@pytest.mark.parametrize(
    ("mode", "kind"), [("introspect-poison", "introspection"), ("forward-auth-poison", "forward_auth")]
)
def test_poisoned_cache_of_a_failed_call_is_flagged(tmp_path: Path, mode: str, kind: str) -> None:
    r = record(tmp_path, mode, poisoned, "--auth-fail-first", "1", "--auth-fail-kind", "500")
    # one failed call, reused for every later caller without a new call
    assert lab_count(r.lab, kind) == 1
    assert all(code >= 500 for code in r.statuses) and len(r.statuses) == 6
    row = r.row(kind)
    assert row["total"] == 1 and row["failed"] == 1 and row["redundant"] == 0
    f = r.finding("error-cached")
    assert f is not None and f["severity"] == "critical", r.snap["findings"]
    assert r.finding("auth-failure") is not None
