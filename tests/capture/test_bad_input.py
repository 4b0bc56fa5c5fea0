"""Bad input: one line naming the file and the problem, exit status 2, never a traceback."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from inspector.capture.load import analyze_file
from inspector.commands.main import build_parser, main

from .conftest import Session, run_cli

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def make_bad(kind: str, tmp: Path, session: Session) -> tuple[Path, str]:
    """A bad input file and a piece of the expected message."""
    p = tmp / f"bad-{kind}"
    if kind == "empty":
        p.write_bytes(b"")
        return p, "the file is empty"
    if kind == "blank":
        p.write_bytes(b"\n\n   \n")
        return p, "the file is empty"
    if kind == "truncated-flow":
        p.write_bytes(session.raw.read_bytes()[:200])
        return p, "not a readable mitmproxy flow file"
    if kind == "corrupt-flow":
        data = bytearray(session.raw.read_bytes())
        first_len = int(data[: data.index(b":")])
        cut = len(str(first_len)) + 1 + first_len + 1  # the first whole flow, then junk
        p.write_bytes(bytes(data[:cut]) + b"12:not a flow at all" + bytes(data[cut + 20 :]))
        return p, "damaged mitmproxy flow file after 1 flows"
    if kind == "truncated-gzip":
        p.write_bytes(gzip.compress(session.raw.read_bytes())[:60])
        return p, str(p)
    if kind == "binary":
        p.write_bytes(bytes(range(256)) * 8)
        return p, "not a tokentax capture, mitmproxy flow file or HAR file"
    if kind == "png":
        p.write_bytes(PNG)
        return p, "not a tokentax capture, mitmproxy flow file or HAR file"
    if kind == "json-doc":
        p.write_text(json.dumps({"name": "package", "dependencies": {"x": "1"}}, indent=2))
        return p, "not a tokentax capture, mitmproxy flow file or HAR file"
    if kind == "fake-har":
        p.write_text(json.dumps({"log": {"version": "1.2"}}))
        return p, "not a HAR file"
    if kind == "broken-har":
        p.write_text(session.har.read_text()[:500])
        return p, "not a valid HAR file"
    if kind == "har-bad-entry":
        doc = json.loads(session.har.read_text())
        doc["log"]["entries"][2]["startedDateTime"] = "yesterday"
        p.write_text(json.dumps(doc))
        return p, "HAR entry 2 cannot be read"
    if kind == "newer-schema":
        p.write_text(json.dumps({"v": 99, "type": "session", "ts": 1.0}) + "\n")
        return p, "newer than this tokentax reads"
    if kind == "bad-jsonl-line":
        lines = session.capture.read_text().splitlines(keepends=True)
        lines.insert(3, "{this is not json\n")
        p.write_text("".join(lines))
        return p, "line 4"
    if kind == "missing":
        return tmp / "no-such-capture.jsonl", "no such file"
    if kind == "directory":
        d = tmp / "a-directory"
        d.mkdir()
        return d, "is a directory"
    raise AssertionError(kind)


KINDS = [
    "empty",
    "blank",
    "truncated-flow",
    "corrupt-flow",
    "truncated-gzip",
    "binary",
    "png",
    "json-doc",
    "fake-har",
    "broken-har",
    "har-bad-entry",
    "newer-schema",
    "bad-jsonl-line",
    "missing",
    "directory",
]


def assert_one_line_error(err: str, path: Path, expected: str) -> None:
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("tokentax: error: ")]
    assert len(errors) == 1, err
    assert lines[-1] == errors[0], err  # warnings may come first, the error is the last word
    assert str(path) in errors[0], err
    assert expected in errors[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("kind", KINDS)
def test_report_bad_input(kind: str, tmp_path: Path, naive_session: Session, capsys) -> None:
    path, expected = make_bad(kind, tmp_path, naive_session)
    assert main(["report", str(path), "--inbound", naive_session.inbound_spec]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert_one_line_error(cap.err, path, expected)


@pytest.mark.parametrize("kind", ["png", "truncated-flow", "missing"])
def test_diff_bad_input(kind: str, tmp_path: Path, naive_session: Session, capsys) -> None:
    path, expected = make_bad(kind, tmp_path, naive_session)
    assert main(["diff", str(naive_session.capture), str(path)]) == 2
    assert_one_line_error(capsys.readouterr().err, path, expected)


@pytest.mark.parametrize("kind", ["png", "json-doc", "truncated-flow", "empty"])
def test_open_bad_input(kind: str, tmp_path: Path, naive_session: Session, capsys) -> None:
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    if "open" not in sub:
        pytest.skip("the `open` command (TUI) is not built in this checkout")
    path, expected = make_bad(kind, tmp_path, naive_session)
    assert main(["open", str(path)]) == 2
    assert_one_line_error(capsys.readouterr().err, path, expected)


def test_unreadable_file(tmp_path: Path, naive_session: Session, capsys) -> None:
    if os.geteuid() == 0:
        pytest.skip(
            "running as root: permissions cannot make a file unreadable (the directory case covers open() failing)"
        )
    p = tmp_path / "locked.jsonl"
    p.write_bytes(naive_session.capture.read_bytes())
    p.chmod(0)
    assert main(["report", str(p)]) == 2
    assert_one_line_error(capsys.readouterr().err, p, "cannot read")


@pytest.mark.parametrize("kind", ["png", "truncated-flow", "newer-schema", "har-bad-entry"])
def test_real_process_prints_no_traceback(kind: str, tmp_path: Path, naive_session: Session) -> None:
    path, expected = make_bad(kind, tmp_path, naive_session)
    res = run_cli("report", str(path))
    assert res.returncode == 2
    assert res.stdout == ""
    assert_one_line_error(res.stderr, path, expected)


def test_cut_short_last_jsonl_line_is_tolerated(tmp_path: Path, naive_session: Session, capsys) -> None:
    data = naive_session.capture.read_bytes()
    whole = analyze_file(naive_session.capture, show_progress=False).snapshot()
    cut = tmp_path / "cut.jsonl"
    # drop the trailing addon line and cut the last flow line in half
    lines = data.splitlines(keepends=True)
    while not (lines[-1].startswith(b"[") or b'"type":"flow"' in lines[-1]):  # v2 flow lines are arrays
        lines.pop()
    lines[-1] = lines[-1][: len(lines[-1]) // 2]
    cut.write_bytes(b"".join(lines))
    assert main(["report", str(cut), "-f", "json"]) == 0
    cap = capsys.readouterr()
    assert "cut short" in cap.err and str(cut) in cap.err and "Traceback" not in cap.err
    got = json.loads(cap.out)
    assert sum(got["flows"].values()) == sum(whole["flows"].values()) - 1


def test_bad_inbound_and_rules(tmp_path: Path, naive_session: Session, capsys) -> None:
    assert main(["report", str(naive_session.raw), "--inbound", "notamode:xyz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tokentax: error: --inbound: ") and err.count("\n") == 1
    rules = tmp_path / "rules.toml"
    rules.write_text("[nonsense]\nx = 1\n")
    assert main(["report", str(naive_session.raw), "--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert str(rules) in err and "unknown table" in err and err.count("\n") == 1
