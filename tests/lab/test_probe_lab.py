"""`tokentax probe` against the lab: the auth latency shows in the gateway route, not the direct one."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import httpx

from inspector.lab.session import LabProcess


def test_probe_sees_the_callout_in_the_gateway_route_only() -> None:
    secret = "probe-secret-" + secrets.token_urlsafe(16)
    lab = LabProcess(
        ["--gateway", "naive", "--auth-latency", "300ms", "--backend-latency", "5ms", "--client-secret", secret]
    )
    info = lab.start()
    try:
        # the direct route is the backend itself: it answers 401 without a valid bearer, and
        # probe draws no conclusion from error answers, so the test fetches a real token first
        token = httpx.post(
            info["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(info["client_id"], secret),
            trust_env=False,
        ).json()["access_token"]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "inspector",
                "probe",
                "-n",
                "5",
                "--interval",
                "0",
                "--format",
                "json",
                "--label",
                f"direct={info['backend']}/inventory",
                "--label",
                f"gateway={info['gateway']}/inventory",
                "--label",
                f"auth={info['token_url']}",
                "--auth-basic",
                f"{info['client_id']}:{secret}",
                "-H",
                f"Authorization: Bearer {token}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        lab.stop()
    assert out.returncode == 0, out.stderr
    assert secret not in out.stdout + out.stderr and token not in out.stdout + out.stderr
    doc = json.loads(out.stdout)
    by = {t["label"]: t for t in doc["targets"]}
    assert [by[k]["status"] for k in ("direct", "gateway", "auth")] == [{"200": 5}] * 3
    ttfb = {k: by[k]["phases"]["ttfb"]["p50"] for k in ("direct", "gateway", "auth")}
    assert ttfb["auth"] >= 300 and ttfb["gateway"] >= 300 and ttfb["direct"] < 300
    assert ttfb["gateway"] - ttfb["direct"] >= 0.8 * ttfb["auth"]
    assert doc["estimate"] is not None and "auth server alone takes" in json.dumps(doc["estimate"])
