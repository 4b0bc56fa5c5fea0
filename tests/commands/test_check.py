"""`tokentax check` and `tokentax diff --fail-on-regression` on real sessions: the lab gateway
behind real mitmdump with the addon. Each session is recorded once for the module."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from junitparser import Failure, JUnitXml

from inspector.schema.events import encode
from tests.support.captures import capture_events

from .gate_sessions import Recorded, record, tokentax


@pytest.fixture(scope="module")
def naive(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("naive"), "--gateway", "naive")


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("cached"), "--gateway", "cached")


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return record(tmp_path_factory.mktemp("poison"), "--gateway", "poison", "--auth-fail-first", "1")


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def test_naive_gateway_breaks_the_default_budget(naive: Recorded) -> None:
    assert naive.statuses == [200] * 12
    res = tokentax("check", str(naive.capture))
    assert res.returncode == 1, res.stderr
    out = lines(res.stdout)
    assert len(out) == 2
    assert out[0].startswith("BROKEN token tax share of time to first byte (tax_share_of_ttfb) ")
    assert out[0].endswith("over the limit 20.0 %")
    assert out[-1] == "tokentax check: 1 of 2 budgets broken"
    assert "Traceback" not in res.stderr


def test_cached_gateway_passes_the_default_budget(cached: Recorded) -> None:
    res = tokentax("check", str(cached.capture))
    assert res.returncode == 0, res.stdout + res.stderr
    assert lines(res.stdout) == ["tokentax check: 0 of 2 budgets broken"]


def test_poisoned_gateway_fails_on_error_cached(poisoned: Recorded) -> None:
    res = tokentax("check", str(poisoned.capture))
    assert res.returncode == 1
    out = lines(res.stdout)
    assert out[0].startswith("BROKEN finding error-cached (never) fired: Gateway caches auth failures")
    assert out[-1] == "tokentax check: 1 of 2 budgets broken"


def test_fail_on_findings(cached: Recorded, naive: Recorded) -> None:
    ok = tokentax("check", str(cached.capture), "--fail-on", "warning")
    assert ok.returncode == 0, ok.stdout
    assert lines(ok.stdout)[-1] == "tokentax check: 0 of 2 budgets broken, 0 findings at or above warning"
    bad = tokentax("check", str(naive.capture), "--fail-on", "critical")
    assert bad.returncode == 1
    assert any(line.startswith("FINDING critical [token-refetch]") for line in lines(bad.stdout))


def test_a_directory_of_segments_is_one_session(naive: Recorded, tmp_path: Path) -> None:
    seg = tmp_path / "segments"
    seg.mkdir()
    # two self-contained segments, as the rotating writer leaves them: each opens with the session
    events = capture_events(naive.capture)
    session, flows = events[0], events[1:]
    half = len(flows) // 2
    (seg / "001.jsonl").write_bytes(b"".join(encode(ev) for ev in (session, *flows[:half])))
    (seg / "002.jsonl").write_bytes(b"".join(encode(ev) for ev in (session, *flows[half:])))
    whole = tokentax("check", str(naive.capture), "-v")
    parts = tokentax("check", str(seg), "-v")
    assert parts.returncode == whole.returncode == 1
    assert parts.stdout == whole.stdout


def test_har_without_listener_information_is_judged_on_inferred_roles(naive: Recorded) -> None:
    # no listener information: inbound requests are recognised by containment (docs/findings.md),
    # so the tax is known and the naive session breaks the default budget as its JSONL does
    res = tokentax("check", str(naive.har()))
    assert res.returncode == 1, res.stdout + res.stderr
    assert lines(res.stdout)[0].startswith("BROKEN token tax share of time to first byte (tax_share_of_ttfb)")


def test_a_capture_without_its_inbound_requests_fails_on_the_unknown_tax(naive: Recorded, tmp_path: Path) -> None:
    # the inbound requests cut out of the HAR: nothing to divide by, so the share is unknown (null)
    inbound_ports = {ev["port"] for ev in capture_events(naive.capture) if ev.get("role") == "inbound"}
    doc = json.loads(naive.har().read_text())
    doc["log"]["entries"] = [
        e for e in doc["log"]["entries"] if urlsplit(e["request"]["url"]).port not in inbound_ports
    ]
    har = tmp_path / "no-inbound.har"
    har.write_text(json.dumps(doc))
    res = tokentax("check", str(har))
    assert res.returncode == 1, res.stdout + res.stderr
    out = lines(res.stdout)
    assert out[0].startswith("UNKNOWN token tax share of time to first byte (tax_share_of_ttfb) is unknown")
    assert "allow_unknown = true" in out[0]
    assert out[-1] == "tokentax check: 1 of 2 budgets broken (1 unknown)"
    budget = tmp_path / "allow.toml"
    budget.write_text('allow_unknown = true\nnever = ["error-cached"]\ntax_share_of_ttfb = 0.2\n')
    res = tokentax("check", str(har), "--budget", str(budget))
    assert res.returncode == 0, res.stdout
    assert lines(res.stdout)[0].startswith("allowed token tax share of time to first byte")


def test_junit_xml_read_by_a_junit_parser(naive: Recorded, tmp_path: Path) -> None:
    budget = tmp_path / "b.toml"
    budget.write_text(
        'never = ["error-cached"]\nauth_calls_per_request = 0.1\ntax_share_of_ttfb = 0.2\nstampedes = 0\n'
        "[kinds.introspection]\nallow_unknown = true\nauth_calls_per_request = 0.1\n"
    )
    out = tmp_path / "check.xml"
    res = tokentax("check", str(naive.capture), "--budget", str(budget), "--fail-on", "critical", "--junit", str(out))
    assert res.returncode == 1
    xml = JUnitXml.fromfile(str(out))
    suites = {s.name: s for s in xml}
    budgets, findings = suites["tokentax budgets"], suites["tokentax findings"]
    assert budgets.tests == 5 and budgets.failures == 2 and budgets.skipped == 0
    cases = {c.name: c for c in budgets}
    assert set(cases) == {
        "never error-cached",
        "auth_calls_per_request",
        "tax_share_of_ttfb",
        "stampedes",
        "kind introspection auth_calls_per_request",
    }
    fail = cases["auth_calls_per_request"].result
    assert len(fail) == 1 and isinstance(fail[0], Failure)
    assert fail[0].message == "auth calls per inbound request (auth_calls_per_request) 1.00, over the limit 0.10"
    assert "redundant" in (fail[0].text or "")  # evidence lines from the token-refetch finding
    assert cases["stampedes"].is_passed
    # no introspection calls in a session with inbound requests: a known 0 per request, passed
    assert cases["kind introspection auth_calls_per_request"].is_passed
    fcases = {c.name: c for c in findings}
    assert findings.tests == len(fcases) >= 3 and findings.failures == 1
    refetch = fcases["token-refetch"].result
    assert isinstance(refetch[0], Failure) and refetch[0].message.startswith("critical [token-refetch] 11 of 12")
    assert "a redundant fetch is one made while" in (refetch[0].text or "")
    assert fcases["token-lifetime"].is_passed
    assert lines(res.stdout)[-1] == "tokentax check: 2 of 5 budgets broken, 1 finding at or above critical"


def test_markdown_for_a_pull_request(naive: Recorded) -> None:
    res = tokentax("check", str(naive.capture), "--format", "md")
    assert res.returncode == 1
    md = res.stdout
    assert md.startswith("### tokentax check failed")
    assert "| ❌ | tax_share_of_ttfb | 20.0 % |" in md
    assert "| ✅ | never error-cached | never | did not fire |" in md


def test_diff_fail_on_regression(naive: Recorded, cached: Recorded) -> None:
    worse = tokentax("diff", str(cached.capture), str(naive.capture), "--fail-on-regression")
    assert worse.returncode == 1, worse.stderr
    err = lines(worse.stderr)
    assert any(e.startswith("tokentax diff: regression: token tax per request 0.0 ms -> ") for e in err)
    assert any("auth calls per inbound request" in e for e in err)
    assert any("new finding critical [token-refetch]" in e for e in err)
    assert err[-1].startswith("tokentax diff: ") and err[-1].endswith("regressions (tolerance 10 %)")
    assert "tokentax diff: before -> after" in worse.stdout  # the comparison itself as usual
    better = tokentax("diff", str(naive.capture), str(cached.capture), "--fail-on-regression", "--tolerance", "5%")
    assert better.returncode == 0, better.stderr
    assert lines(better.stderr) == ["tokentax diff: 0 regressions (tolerance 5 %)"]
    plain = tokentax("diff", str(cached.capture), str(naive.capture))
    assert plain.returncode == 0  # without the flag diff only reports
    bad = tokentax("diff", str(cached.capture), str(naive.capture), "--fail-on-regression", "--tolerance", "lots")
    assert bad.returncode == 2 and lines(bad.stderr) == [
        "tokentax: error: invalid --tolerance 'lots': expected a percentage such as 10% or 0.1"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "tokentax: error: {path}: budget file not found"),
        ("tax_ms_per_reqest = 5\n", "tokentax: error: {path}: tax_ms_per_reqest: unknown key (expected one of: "),
        ('tax_share_of_ttfb = "20%"\n', "tokentax: error: {path}: tax_share_of_ttfb: expected a number, got a string"),
        ("[kinds.token]\nredundant = []\n", "tokentax: error: {path}: kinds.token.redundant: expected a number"),
        ("never = [\n", "tokentax: error: {path}: not valid TOML"),
    ],
)
def test_bad_budget_file_exits_2_with_one_line(
    cached: Recorded, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "budget.toml"
    if content is not None:
        path.write_text(content)
    res = tokentax("check", str(cached.capture), "--budget", str(path))
    assert res.returncode == 2
    assert res.stdout == ""
    err = lines(res.stderr)
    assert len(err) == 1 and err[0].startswith(message.format(path=path)), err


def test_missing_capture_exits_2(tmp_path: Path) -> None:
    res = tokentax("check", str(tmp_path / "nope.jsonl"))
    assert res.returncode == 2 and lines(res.stderr) == [
        f"tokentax: error: {tmp_path / 'nope.jsonl'}: no such capture file"
    ]
