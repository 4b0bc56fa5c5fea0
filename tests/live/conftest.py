"""Fleet fixtures: lab sidecars (lab + mitmdump with the addon) with metrics on, traffic,
scrapes and reports. Every process started here is stopped in the fixture's teardown."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inspector.lab.session import LabSession, SessionSpec

_METRICS = re.compile(r"tokentax: ready; stream \S+?, metrics (\S+?)(?:,|$)")
PATHS = ["/orders", "/orders/7", "/users/3", "/inventory"]


def traceparent() -> tuple[str, str]:
    """(header value, its trace id)."""
    tid = secrets.token_hex(16)
    return f"00-{tid}-{secrets.token_hex(8)}-01", tid


def send(url: str, n: int, *, traced: bool = True, concurrency: int = 1) -> list[tuple[int, str | None]]:
    """n GETs through the gateway listener; returns (status, trace id sent or None)."""
    out: list[tuple[int, str | None]] = []

    def worker(start: int) -> None:
        with httpx.Client(trust_env=False, timeout=30) as c:
            for i in range(start, n, concurrency):
                tp, tid = traceparent() if traced else (None, None)
                headers = {"traceparent": tp} if tp else {}
                out.append((c.get(url + PATHS[i % len(PATHS)], headers=headers).status_code, tid))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def scrape(addr: str) -> dict[tuple[str, frozenset], float]:
    """/metrics parsed by prometheus_client's own parser: (sample name, labels) -> value."""
    r = httpx.get(f"http://{addr}/metrics", trust_env=False, timeout=10)
    assert r.status_code == 200, r.text
    samples: dict[tuple[str, frozenset], float] = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def sample(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def report_json(capture: Path) -> dict[str, Any]:
    """`tokentax report FILE --format json`, the CLI as users run it."""
    p = subprocess.run(
        [sys.executable, "-m", "inspector", "report", str(capture), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@dataclass
class Sidecar:
    """One node: the lab gateway behind mitmdump with the addon and its metrics endpoint."""

    session: LabSession
    capture: Path
    secret: str

    @property
    def metrics(self) -> str:
        assert self.session.mitm is not None
        for line in self.session.mitm.lines:
            m = _METRICS.search(line)
            if m:
                return m.group(1)
        raise AssertionError(f"no metrics address in the ready line: {self.session.mitm.output()}")

    @property
    def url(self) -> str:
        return self.session.gateway_url

    def stop(self) -> None:
        self.session.stop()


@pytest.fixture
def sidecars(tmp_path: Path) -> Iterator[Any]:
    """Call to start a sidecar: sidecars(*lab_args, mitm_args=[...]) -> Sidecar (running)."""
    started: list[Sidecar] = []

    def start(*lab_args: str, mitm_args: list[str] | None = None) -> Sidecar:
        secret = "lab-secret-" + secrets.token_urlsafe(24)
        capture = tmp_path / f"node{len(started)}.jsonl"
        spec = SessionSpec(
            lab_args=["--auth-latency", "20ms", "--client-secret", secret, *lab_args],
            save=str(capture),
            mitm_args=["--set", "tokentax_metrics=127.0.0.1:0", *(mitm_args or [])],
        )
        node = Sidecar(LabSession(spec), capture, secret)
        started.append(node)
        node.session.start()
        return node

    yield start
    for node in started:
        node.stop()
