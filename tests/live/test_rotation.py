"""A real mitmdump rotating its capture: no flow lost or duplicated across segments."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from inspector.capture.jsonl import read_events
from inspector.capture.load import analyze_file
from inspector.capture.segments import session_files
from inspector.lab.common import free_port
from inspector.mitm.options import parse_rotate
from tests.support.procs import start_mitmdump

REQUESTS = 150


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a) -> None:
        pass


def test_real_mitmdump_rotates_into_gzip_segments_losing_nothing(tmp_path: Path) -> None:
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    listen = free_port()
    cap = tmp_path / "cap.jsonl"
    child = start_mitmdump(
        "--mode",
        f"reverse:http://127.0.0.1:{backend.server_port}@{listen}",
        "--set",
        "tokentax_stream=127.0.0.1:0",
        "--set",
        f"tokentax_save={cap}",
        "--set",
        "tokentax_save_rotate=4KB",
        "--set",
        f"tokentax_inbound={listen}",
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{listen}", timeout=30) as c:
            for i in range(REQUESTS):
                assert c.get(f"/r/{i}").status_code == 200
    finally:
        child.stop()
        backend.shutdown()
    files = session_files(tmp_path)
    assert len(files) >= 3
    assert all(f.name.endswith(".jsonl.gz") for f in files[:-1])
    flows = []
    for f in files:
        import gzip

        with gzip.open(f) if f.name.endswith(".gz") else open(f, "rb") as fh:
            seg = list(read_events(fh, str(f)))
        assert seg[0]["type"] == "session"
        flows += [e for e in seg if e["type"] == "flow"]
    assert len(flows) == REQUESTS
    assert len({e["id"] for e in flows}) == REQUESTS
    assert sorted(e["path"] for e in flows) == sorted(f"/r/{i}" for i in range(REQUESTS))
    snap = analyze_file(tmp_path, show_progress=False).snapshot()
    assert snap["flows"]["inbound"] == REQUESTS


@pytest.mark.parametrize(
    ("text", "want"),
    [("off", None), ("100MB", (100_000_000, None)), ("1h", (None, 3600.0)), ("30m", (None, 1800.0))],
)
def test_parse_rotate(text: str, want) -> None:
    assert parse_rotate(text) == want


@pytest.mark.parametrize("text", ["100", "1x", "-1h", "999B", "0s"])
def test_parse_rotate_bad_values_are_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="tokentax_save_rotate") as exc:
        parse_rotate(text)
    assert "\n" not in str(exc.value)
