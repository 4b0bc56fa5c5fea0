"""Real lab sessions for the CI-gate tests: the lab gateway behind real mitmdump with the addon.

Each session is recorded once per test module (module-scoped fixtures call `record`).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from inspector.lab.session import LabSession, SessionSpec
from tests.support.procs import run_cli as tokentax  # noqa: F401 - the gate tests call it tokentax

REPO = Path(__file__).resolve().parents[2]
MITMDUMP = str(Path(sys.executable).parent / "mitmdump")
PATHS = ["/orders", "/orders/7", "/users/3", "/inventory"]


@dataclass
class Recorded:
    capture: Path
    raw: Path
    statuses: list[int]

    def har(self) -> Path:
        """The same flows as a HAR, exported by mitmdump itself (no listener information in it)."""
        har = self.raw.with_suffix(".har")
        if not har.exists():
            res = subprocess.run(
                [MITMDUMP, "-q", "-nr", str(self.raw), "--set", f"hardump={har}"],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            assert res.returncode == 0 and har.is_file(), res.stdout + res.stderr
        return har


def record(base: Path, *lab_args: str, n: int = 12) -> Recorded:
    base.mkdir(parents=True, exist_ok=True)
    capture, raw = base / "cap.jsonl", base / "raw.mitm"
    spec = SessionSpec(
        # 80 ms: a tax over 50 ms per request is critical by cost (docs/findings.md); still a quick suite
        lab_args=["--auth-latency", "80ms", *lab_args],
        save=str(capture),
        mitm_args=["-w", str(raw)],
    )
    statuses: list[int] = []
    with LabSession(spec) as s, httpx.Client(trust_env=False, timeout=30) as c:
        for i in range(n):
            statuses.append(c.get(s.gateway_url + PATHS[i % len(PATHS)]).status_code)
    return Recorded(capture, raw, statuses)
