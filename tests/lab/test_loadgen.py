"""The load generator sends what its schedule says, each request with its own trace."""

from __future__ import annotations

import asyncio

from inspector.lab.loadgen import LoadConfig, LoadStats, new_traceparent, run_load


async def test_loadgen_sends_the_scheduled_count_with_fresh_traces(make_lab) -> None:
    lab = await make_lab("naive")
    cfg = LoadConfig(url=lab.urls.gateway, rate=40, duration=0.5, concurrency=8)
    assert cfg.planned == 20
    stats = await run_load(cfg)
    assert (stats.sent, stats.ok, stats.errors) == (20, 20, 0)
    assert lab.auth.stats.calls == 20 and lab.backend.stats.ok == 20
    traces = {s.traceparent for s in lab.backend.recent}
    assert len(traces) == 20
    assert {s.path.split("/")[1] for s in lab.backend.recent} == {"orders", "users", "inventory"}
    assert stats.p50 is not None and stats.p95 is not None and stats.p50 <= stats.p95
    assert stats.as_dict()["sent"] == 20 and "sent 20" in stats.summary()


async def test_loadgen_counts_errors_and_honours_stop(make_lab) -> None:
    lab = await make_lab("naive", auth={"rate_401": 1.0})
    stop = asyncio.Event()
    seen: list[int | None] = []

    def on_result(status: int | None, latency: float) -> None:
        seen.append(status)
        if len(seen) == 3:
            stop.set()

    stats = await run_load(
        LoadConfig(url=lab.urls.gateway, rate=1000, duration=3600, concurrency=1), stop=stop, on_result=on_result
    )
    assert stats.sent == 3 and stats.errors == 3 and stats.ok == 0
    assert stats.statuses["502"] == 3


def test_percentiles_and_traceparent_format() -> None:
    stats = LoadStats(latencies=[i / 100 for i in range(1, 101)])
    assert stats.p50 == 0.5 and stats.p95 == 0.95
    assert LoadStats().p50 is None
    parts = new_traceparent().split("-")
    assert [len(p) for p in parts] == [2, 32, 16, 2] and parts[0] == "00" and parts[3] == "01"


async def test_loadgen_sends_user_bearers_round_robin(make_lab) -> None:
    from .conftest import user_tokens

    lab = await make_lab("introspect")
    bearers = await user_tokens(lab)
    stats = await run_load(LoadConfig(url=lab.urls.gateway, rate=40, duration=0.3, concurrency=4, bearers=bearers))
    assert stats.ok == stats.sent == 12
    assert lab.auth.stats.by_kind["introspection"] == 12
    assert {s.authorization for s in lab.backend.recent} == {f"Bearer {b}" for b in bearers}


def test_loadgen_cli_logs_the_lab_users_in_from_the_secrets_file() -> None:
    import subprocess
    import sys

    from inspector.lab.session import LabProcess

    lab = LabProcess(["--gateway", "userinfo", "--auth-latency", "0", "--backend-latency", "0"])
    info = lab.start()
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "inspector.lab.loadgen",
                info["gateway"],
                "--rate",
                "20",
                "--duration",
                "0.25s",
                "--token-url",
                info["token_url"],
                "--secrets-file",
                info["secrets_file"],
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        lab.stop()
    assert out.returncode == 0, out.stderr
    assert "sent 5" in out.stdout and "ok 5" in out.stdout
