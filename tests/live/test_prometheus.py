"""A real Prometheus scraping two sidecars: the fleet-wide sum equals the two reports' sum,
the docs' alert rules load, and every dashboard query runs.

Needs Debian's `prometheus` package (.ci/run installs it); skips with that reason if the
binary is absent. Synchronisation polls Prometheus' HTTP API with a bounded deadline.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector.lab.common import free_port
from tests.live.conftest import report_json, send
from tests.live.test_docs import alert_rules, dashboard_exprs, for_prometheus

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus binary not installed (Debian package 'prometheus'; .ci/run installs it)"
)

DEADLINE_S = 90.0


def poll(what: str, check: Callable[[], Any], proc: subprocess.Popen, deadline_s: float = DEADLINE_S) -> Any:
    """Call `check` until it returns something truthy; fail naming `what` at the deadline."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited ({proc.returncode}) while waiting for {what}")
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}: {last!r}")


def rfc3339(ts: str) -> float:
    """Prometheus' lastScrape (nanosecond RFC 3339) as epoch seconds."""
    ts = re.sub(r"(\.\d{6})\d+", r"\1", ts).replace("Z", "+00:00")
    return datetime.fromisoformat(ts).timestamp()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[str]], tuple[str, subprocess.Popen]]]:
    """Call with scrape targets; returns (base URL, process) of a running, ready Prometheus."""
    procs: list[subprocess.Popen] = []

    def start(targets: list[str]) -> tuple[str, subprocess.Popen]:
        rules = tmp_path / "tokentax-alerts.yml"
        rules.write_text(alert_rules(), encoding="utf-8")
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: [{str(rules)!r}]\n"
            "scrape_configs:\n  - job_name: tokentax\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n",
            encoding="utf-8",
        )
        port = free_port()
        assert PROMETHEUS is not None
        with (tmp_path / "prometheus.log").open("wb") as logf:  # a file, not a pipe nobody drains
            proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=logf,
                stderr=logf,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        poll("prometheus /-/ready", lambda: httpx.get(f"{base}/-/ready", trust_env=False).status_code == 200, proc)
        return base, proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def query(base: str, expr: str) -> dict[str, Any]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": expr}, trust_env=False, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", (expr, body)
    return body["data"]


def test_fleet_sum_in_prometheus_equals_the_reports(sidecars, prometheus) -> None:
    naive = sidecars()
    cached = sidecars("--gateway", "cached")
    send(naive.url, 10, concurrency=2)
    send(cached.url, 8)
    traffic_done = time.time()
    targets = [naive.metrics, cached.metrics]
    base, proc = prometheus(targets)

    def scraped_after_traffic() -> bool:
        active = httpx.get(f"{base}/api/v1/targets", trust_env=False).json()["data"]["activeTargets"]
        fresh = {
            t["labels"]["instance"] for t in active if t["health"] == "up" and rfc3339(t["lastScrape"]) > traffic_done
        }
        return fresh == set(targets)

    poll("both targets up and scraped after the traffic", scraped_after_traffic, proc)
    result = query(base, "sum(tokentax_redundant_callouts_total)")["result"]
    fleet_redundant = float(result[0]["value"][1])
    per_node = {
        r["metric"]["instance"]: float(r["value"][1])
        for r in query(base, "tokentax_redundant_callouts_total")["result"]
    }

    # the docs' alert rules loaded and evaluate; every dashboard query runs
    def rules_evaluated() -> list[dict[str, Any]]:
        groups = httpx.get(f"{base}/api/v1/rules", trust_env=False).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        never = "0001-01-01"  # Prometheus' zero time: not evaluated yet
        return rules if rules and not any(r.get("lastEvaluation", never).startswith(never) for r in rules) else []

    rules = poll("the alert rules evaluated", rules_evaluated, proc)
    assert {r["name"] for r in rules} == {"GatewayRefetchesTokens", "TokentaxAddonErrors"}
    assert all(r["health"] == "ok" for r in rules), rules
    for expr in dashboard_exprs():
        query(base, for_prometheus(expr))
    ratio = query(
        base,
        "sum by (instance) (rate(tokentax_redundant_callouts_total[1m]))"
        " / sum by (instance) (rate(tokentax_callouts_total[1m]))",
    )
    assert ratio["resultType"] == "vector"

    naive.stop()
    cached.stop()
    reports = {naive.metrics: report_json(naive.capture), cached.metrics: report_json(cached.capture)}
    assert reports[naive.metrics]["callouts"]["redundant"] >= 8
    assert fleet_redundant == sum(r["callouts"]["redundant"] for r in reports.values())
    assert per_node == {addr: float(r["callouts"]["redundant"]) for addr, r in reports.items()}
