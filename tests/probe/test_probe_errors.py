"""`tokentax probe` against real local servers that answer errors (401, 405): each route's
status counts are shown, non-2xx routes are flagged, and no comparison is drawn from them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inspector.commands import main as cli

ANSWERS = {"/gateway": 200, "/direct": 401, "/auth": 405}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = ANSWERS.get(self.path, 404)
        body = b"ok" if code == 200 else b"no"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["probe", *argv])
    return code, capsys.readouterr().out


def _labels(base: str, *names: str) -> list[str]:
    out: list[str] = []
    for n in names:
        out += ["--label", f"{n}={base}/{n}"]
    return [*out, "-n", "5", "--interval", "0"]


def test_error_answers_give_no_conclusion(base: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(capsys, *_labels(base, "direct", "gateway", "auth"), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    by = {t["label"]: t for t in doc["targets"]}
    assert by["direct"]["status"] == {"401": 5} and by["direct"]["not_2xx"] == {"401": 5} and by["direct"]["flagged"]
    assert by["auth"]["status"] == {"405": 5} and by["auth"]["not_2xx"] == {"405": 5} and by["auth"]["flagged"]
    assert by["gateway"]["status"] == {"200": 5} and by["gateway"]["not_2xx"] == {} and not by["gateway"]["flagged"]
    est = doc["estimate"]
    assert est["gateway_added_ms"] is None and est["auth_share_pct"] is None
    assert est["summary"] == (
        "no estimate: direct answered 401×5; auth answered 405×5 (not 2xx); no comparison is drawn from error answers"
    )

    code, text = _cli(capsys, *_labels(base, "direct", "gateway", "auth"))
    assert "status 401×5  errors 401×5" in text and "status 405×5  errors 405×5" in text
    assert "status 200×5  errors none" in text  # "errors none" only where there were none
    assert text.count("flagged: 5 of 5 answers not 2xx") == 2
    assert "explains" not in text and "gateway adds" not in text
    assert "tax estimate: no estimate: direct answered 401×5" in text


def test_one_error_route_is_enough_to_withhold_the_estimate(base: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--label", f"direct={base}/gateway", "--label", f"gateway={base}/gateway", "--label", f"auth={base}/auth"]
    code, out = _cli(capsys, *argv, "-n", "3", "--interval", "0", "--format", "json")
    est = json.loads(out)["estimate"]
    assert est["summary"].startswith("no estimate: auth answered 405×3 (not 2xx)")
    assert est["gateway_added_ms"] is None
