"""Budgets held against report snapshots: parsing (strict), evaluation, unknown figures, docs."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from inspector.analyzer import Analyzer
from inspector.analyzer.budget import (
    ALLOWED,
    BROKEN,
    KEY_KEYS,
    KIND_KEYS,
    OK,
    ROUTE_KEYS,
    SESSION_KEYS,
    UNKNOWN,
    default_budget,
    evaluate,
    finding_results,
    parse_budget,
    summary,
)
from inspector.schema.errors import UserError
from tests.support.factory import naive_request

DOCS = Path(__file__).resolve().parents[2] / "docs" / "budgets.md"


def naive_snapshot(n: int = 10, auth_ms: float = 100) -> dict[str, Any]:
    a = Analyzer()
    for i in range(n):  # 7 s apart: over a minute, so per-hour figures are not withheld (docs/findings.md)
        for ev in naive_request(1000.0 + i * 7, i, "fp-1", auth_ms=auth_ms):
            a.ingest(ev)
    return a.snapshot()


def by_status(results: list[dict[str, Any]]) -> dict[str, str]:
    return {r["name"]: r["status"] for r in results}


def test_default_budget_breaks_on_the_naive_tax() -> None:
    s = naive_snapshot()
    res = evaluate(default_budget(), s)
    assert by_status(res) == {"never error-cached": OK, "tax_share_of_ttfb": BROKEN}
    broken = next(r for r in res if r["status"] == BROKEN)
    # one line naming the figure, the measured value and the limit
    assert broken["message"] == (
        f"token tax share of time to first byte (tax_share_of_ttfb) {s['tax']['share_of_ttfb'] * 100:.1f} %, "
        "over the limit 20.0 %"
    )
    assert broken["evidence"] and "redundant" in broken["evidence"][0]
    sm = summary(res, None)
    assert (sm["budgets"], sm["broken"], sm["passed"]) == (2, 1, False)


def test_every_session_figure_measured() -> None:
    s = naive_snapshot()
    b = parse_budget(
        """
        auth_calls_per_request = 1.0
        redundant_share = 0.5
        redundant = 100
        failed = 0
        callout_p95_ms = 50
        tax_ms_per_request = 1000
        tax_share_of_ttfb = 1
        avoidable_auth_calls_per_hour = 10
        stampedes = 0
        """
    )
    res = {r["key"]: r for r in evaluate(b, s)}
    assert res["auth_calls_per_request"]["measured"] == 1.0 and res["auth_calls_per_request"]["status"] == OK
    assert res["redundant_share"]["measured"] == 0.9 and res["redundant_share"]["status"] == BROKEN
    assert res["redundant"]["measured"] == 9 and res["redundant"]["status"] == OK
    assert res["callout_p95_ms"]["status"] == BROKEN  # 100 ms calls
    assert res["tax_ms_per_request"]["measured"] == pytest.approx(90, rel=0.05)
    assert res["avoidable_auth_calls_per_hour"]["status"] == BROKEN
    assert res["stampedes"]["status"] == OK


def test_null_tax_fails_unless_allowed() -> None:
    s = naive_snapshot()
    s["tax"]["share_of_ttfb"] = None
    s["notes"] = [{"figure": "tax.share_of_ttfb", "reason": "no listener information: inbound time unknown"}]
    res = evaluate(default_budget(), s)
    r = next(r for r in res if r["key"] == "tax_share_of_ttfb")
    assert r["status"] == UNKNOWN and r["measured"] is None
    assert "unknown" in r["message"] and "no listener information" in r["message"]
    assert summary(res, None)["passed"] is False
    s["notes"] = [{"figure": "tax", "reason": "HAR without listener information"}]  # a note on the group
    r = next(r for r in evaluate(default_budget(), s) if r["key"] == "tax_share_of_ttfb")
    assert "HAR without listener information" in r["message"]
    allowed = parse_budget('allow_unknown = true\nnever = ["error-cached"]\ntax_share_of_ttfb = 0.2\n')
    res = evaluate(allowed, s)
    assert by_status(res)["tax_share_of_ttfb"] == ALLOWED
    assert summary(res, None)["passed"] is True


def test_tax_with_no_inbound_requests_is_unknown_not_zero() -> None:
    """Reports from before the null-figures contract say 0 here; check must not pass on it."""
    s = naive_snapshot()
    s["flows"]["inbound"] = 0
    s["tax"]["ms_per_inbound"] = 0.0
    s["tax"]["share_of_ttfb"] = 0.0
    r = next(r for r in evaluate(default_budget(), s) if r["key"] == "tax_share_of_ttfb")
    assert r["status"] == UNKNOWN and "no inbound requests" in r["message"]


def test_redundant_share_of_no_calls_is_unknown() -> None:
    b = parse_budget("redundant_share = 0.1\n[kinds.introspection]\nredundant_share = 0.1\n")
    s = naive_snapshot()
    s["callouts"]["by_kind"]["introspection"] = {"total": 0, "redundant": 0}
    s["callouts"]["redundant_share"] = None  # what a session without auth calls reports
    res = {r["name"]: r for r in evaluate(b, s)}
    assert res["redundant_share"]["status"] == UNKNOWN
    kind = res["kind introspection redundant_share"]
    assert kind["status"] == UNKNOWN and "no introspection calls seen" in kind["message"]


def test_per_kind_budgets_need_by_kind() -> None:
    s = naive_snapshot()
    b = parse_budget("[kinds.introspection]\nauth_calls_per_request = 0.1\np95_ms = 50\n[kinds.token]\nredundant = 0\n")
    s.get("callouts", {}).pop("by_kind", None)
    res = evaluate(b, s)
    assert {r["status"] for r in res} == {UNKNOWN}
    assert all("callouts.by_kind" in r["message"] for r in res)
    s2 = copy.deepcopy(s)
    s2["callouts"]["by_kind"] = {
        "token": {"total": 10, "redundant": 9, "identical": 9, "failed": 0, "p50_ms": 100.0, "p95_ms": 100.0},
        "introspection": {"total": 5, "redundant": 4, "identical": 0, "failed": 0, "p50_ms": 30.0, "p95_ms": 40.0},
    }
    res = {r["name"]: r for r in evaluate(b, s2)}
    assert res["kind introspection auth_calls_per_request"]["measured"] == 0.5
    assert res["kind introspection auth_calls_per_request"]["status"] == BROKEN
    assert res["kind introspection p95_ms"]["status"] == OK
    assert res["kind token redundant"]["measured"] == 9 and res["kind token redundant"]["status"] == BROKEN


def test_key_and_route_budgets() -> None:
    s = naive_snapshot()
    b = parse_budget(
        """
        [[keys]]
        match = "*/oauth2/token*"
        redundant_share = 0.5
        auth_calls = 20

        [[keys]]
        match = "nothing-like-this*"
        redundant = 0

        [[routes]]
        match = "GET *:8080/orders*"
        role = "inbound"
        p95_ms = 50
        error_share = 0
        """
    )
    res = {r["name"]: r for r in evaluate(b, s)}
    assert res["key */oauth2/token* redundant_share"]["status"] == BROKEN
    assert res["key */oauth2/token* auth_calls"]["measured"] == 10
    assert res["key */oauth2/token* auth_calls"]["evidence"][0].startswith("key 127.0.0.1:9001/oauth2/token")
    none = res["key nothing-like-this* redundant"]
    assert none["status"] == UNKNOWN and "no token key in the report matches" in none["message"]
    route = res["route GET *:8080/orders* (inbound) p95_ms"]
    assert route["status"] == BROKEN and route["measured"] > 100
    assert res["route GET *:8080/orders* (inbound) error_share"]["status"] == OK


def test_findings_as_results_and_fail_on() -> None:
    s = naive_snapshot()
    assert all(r["status"] == OK for r in finding_results(s, None))
    crit = finding_results(s, "critical")
    assert [r["name"] for r in crit if r["status"] == BROKEN] == ["token-refetch"]
    info = finding_results(s, "info")
    assert all(r["status"] == BROKEN for r in info)
    sm = summary(evaluate(parse_budget("stampedes = 0"), s) + crit, "critical")
    assert sm["broken"] == 0 and sm["findings_failing"] == 1 and sm["passed"] is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tax_ms_per_reqest = 5", "budget: tax_ms_per_reqest: unknown key"),
        ('tax_ms_per_request = "5ms"', "budget: tax_ms_per_request: expected a number, got a string"),
        ("tax_share_of_ttfb = 20", "budget: tax_share_of_ttfb: expected a share between 0 and 1"),
        ("stampedes = -1", "budget: stampedes: expected 0 or more"),
        ("stampedes = true", "budget: stampedes: expected a number, got a boolean"),
        ('allow_unknown = "yes"', "budget: allow_unknown: expected true or false"),
        ('never = ["error-cashed"]', "budget: never[0]: unknown finding id 'error-cashed'"),
        ('never = "error-cached"', "budget: never: expected a list of finding ids"),
        ("[kinds.saml]\nredundant = 0", "budget: kinds.saml: unknown kind"),
        ("[kinds.token]\ntax_ms_per_request = 0", "budget: kinds.token.tax_ms_per_request: unknown key"),
        ("[[keys]]\nredundant = 0", "budget: keys[0].match: missing"),
        ('[[routes]]\nmatch = "*"\nrole = "client"\np95_ms = 1', "budget: routes[0].role: expected one of"),
        ("keys = 3", "budget: keys: expected an array of tables"),
        ("allow_unknown = true", "budget: no limits"),
        ("this is not toml", "budget: not valid TOML"),
    ],
)
def test_bad_budget_is_one_line(text: str, message: str) -> None:
    with pytest.raises(UserError) as exc:
        parse_budget(text)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def _doc_keys() -> dict[str, set[str]]:
    """Keys documented in docs/budgets.md, per `## ` section: table rows starting with | `key` |."""
    out: dict[str, set[str]] = {}
    section = ""
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            words = re.findall(r"[a-z]+", line[3:].lower())
            section = words[0] if words else ""
            continue
        m = re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|", line)
        if m and section:
            out.setdefault(section, set()).add(m.group(1))
    return out


def test_docs_list_every_key_the_parser_accepts() -> None:
    docs = _doc_keys()
    for section, keys in (("session", SESSION_KEYS), ("kinds", KIND_KEYS), ("keys", KEY_KEYS), ("routes", ROUTE_KEYS)):
        assert docs.get(section) == set(keys), f"docs/budgets.md section {section!r} and the parser disagree"


def test_the_documented_example_parses() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        parse_budget(block, "docs example")
