"""Issue acceptance on the real stack: lab gateway -> mitmdump + addon -> lab auth server and backend."""

from __future__ import annotations

import base64

import httpx

from inspector.views.report.render import render


def test_naive_gateway_50_requests_50_callouts_49_redundant(lab_run) -> None:
    r = lab_run("--gateway", "naive", n=50)
    s = r.snap
    assert r.statuses == [200] * 50
    assert s["flows"]["inbound"] == 50 and s["callouts"]["total"] == 50
    assert s["callouts"]["redundant"] == 49 and s["callouts"]["failed"] == 0
    f = r.finding("token-refetch")
    assert f is not None and "49 of 50" in f["title"]
    assert f"{s['tax']['ms_per_inbound']:.0f} ms token tax per request" in f["title"]
    assert s["tax"]["ms_per_inbound"] > 0
    # the lab's token lives 38399 s (JWT exp - iat): the lifetime question is answered
    assert r.finding("token-lifetime")["title"].startswith("Service token lives 10 h 39 min")


def test_cached_gateway_one_callout_no_refetch(lab_run) -> None:
    r = lab_run("--gateway", "cached", n=50)
    s = r.snap
    assert s["flows"]["inbound"] == 50 and s["callouts"]["total"] == 1 and s["callouts"]["redundant"] == 0
    assert r.finding("token-refetch") is None
    assert s["tokens"][0]["uses"] == 50
    assert r.finding("token-shared-across-routes") is not None


def test_eight_concurrent_callers_every_backend_hop_correlated_exactly(lab_run) -> None:
    r = lab_run("--gateway", "naive", n=48, concurrency=8)
    a = r.analyzer
    inbound = [e for e in a.recent if e["role"] == "inbound"]
    assert len(inbound) == 48
    backend_ids = set()
    for ev in inbound:
        hops = a.hops_for(ev["id"])
        backends = [h for h in hops if h.role == "backend"]
        assert len(backends) == 1 and backends[0].mode == "exact"
        assert all(h.trace == ev["trace"]["id"] for h in hops)
        backend_ids.add(backends[0].id)
    assert len(backend_ids) == 48


def test_new_token_per_call_is_redundant_but_never_identical(lab_run) -> None:
    r = lab_run("--gateway", "naive", "--token-mode", "new", n=12)
    c = r.snap["callouts"]
    assert c["redundant"] == 11 and c["identical"] == 0 and r.snap["tokens_distinct"] == 12


def test_reissued_same_token_counts_identical(lab_run) -> None:
    r = lab_run("--gateway", "naive", "--token-mode", "same", n=12)
    c = r.snap["callouts"]
    assert c["identical"] == 11 and r.finding("identical-token-responses") is not None


def test_auth_401_invalid_client_recorded(lab_run) -> None:
    r = lab_run("--gateway", "naive", "--auth-fail-first", "3", "--auth-fail-kind", "401", n=6)
    c = r.snap["callouts"]
    assert c["failed"] == 3 and c["failures"] == {"401 invalid_client": 3}
    assert r.finding("auth-failure") is not None and r.finding("error-cached") is None


def test_auth_500_recorded(lab_run) -> None:
    r = lab_run("--gateway", "naive", "--auth-fail-first", "2", "--auth-fail-kind", "500", n=4)
    assert r.snap["callouts"]["failures"] == {"500 server_error": 2}


def test_auth_timeout_recorded(lab_run) -> None:
    r = lab_run(
        "--gateway",
        "naive",
        "--auth-fail-first",
        "1",
        "--auth-fail-kind",
        "timeout",
        "--gateway-auth-timeout",
        "300ms",
        n=2,
    )
    c = r.snap["callouts"]
    assert c["failures"].get("timeout") == 1, c
    assert r.statuses[0] >= 500 and r.statuses[1] == 200


def test_auth_server_refusing_connections_recorded(lab_run, unused_port) -> None:
    r = lab_run("--gateway", "naive", n=3, upstreams={"auth": f"http://127.0.0.1:{unused_port}"})
    s = r.snap
    assert s["callouts"]["failures"] == {"refused": 3}, s["callouts"]
    assert all(code >= 500 for code in r.statuses)


def test_poison_gateway_error_cached(lab_run) -> None:
    r = lab_run("--gateway", "poison", "--auth-fail-first", "1", n=8)
    s = r.snap
    assert s["callouts"]["total"] == 1 and s["callouts"]["failed"] == 1
    f = r.finding("error-cached")
    assert f is not None and f["severity"] == "critical"
    assert s["aftermath"]["bad_bearer_after_failure"] == 8  # every backend call carried "Bearer undefined"
    assert s["aftermath"]["error_reused"] == 7  # the first request made the failed callout itself


def test_no_secret_reaches_any_output(lab_run) -> None:
    grabbed: dict[str, str] = {}

    def grab_token(session) -> None:
        # The auth server re-issues the same token: fetch it directly (bypassing the proxy) to know it.
        info = session.lab.info
        grabbed["token"] = httpx.post(
            info["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(info["client_id"], session_secret[0]),
            trust_env=False,
        ).json()["access_token"]

    session_secret: list[str] = []
    r = lab_run("--gateway", "naive", n=10, tap=True, during=grab_token, secret_out=session_secret)
    info = r.session.lab.info
    token = grabbed["token"]
    basic = base64.b64encode(f"{info['client_id']}:{r.secret}".encode()).decode()
    secrets_ = [token, token.split(".")[2], r.secret, basic]
    outputs = {
        "capture": r.capture.read_bytes(),
        "stream": b"\n".join(r.stream_lines),
        "mitmdump": r.session.mitm.output().encode(),
    }
    for fmt in ("text", "md", "json", "html"):
        try:
            outputs[f"report.{fmt}"] = render(r.snap, fmt).encode()
        except ModuleNotFoundError:  # html report lands with the captures work
            pass
    assert b'"type":"flow"' in outputs["stream"]
    for name, blob in outputs.items():
        for sec in secrets_:
            assert sec.encode() not in blob, f"secret leaked into {name}"
