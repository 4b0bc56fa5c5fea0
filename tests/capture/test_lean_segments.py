"""Lean captures (line format v2), rotated and compressed segments, and sessions of several files."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import pytest

from inspector.capture.jsonl import read_events
from inspector.capture.load import analyze_file
from inspector.capture.segments import session_files
from inspector.live.capture_writer import CaptureWriter, Rotation, compress
from inspector.schema.errors import UserError
from inspector.schema.lean import LeanEncoder

DATA = Path(__file__).resolve().parents[1] / "data" / "naive_gateway.jsonl"


def v1_events() -> list[dict]:
    with open(DATA, "rb") as fh:
        return list(read_events(fh, str(DATA)))


def lean_bytes(evs: list[dict]) -> bytes:
    enc = LeanEncoder()
    return b"".join(enc.encode(e) for e in evs)


def test_v1_capture_reads_and_v2_gives_the_same_events_and_report(tmp_path: Path) -> None:
    evs = v1_events()
    assert evs[0]["type"] == "session" and sum(e["type"] == "flow" for e in evs) == 126
    data = lean_bytes(evs)
    assert data.startswith(b'{"v":2,"type":"session"')
    back = list(read_events(io.BytesIO(data), "x"))
    assert back == evs
    v2 = tmp_path / "v2.jsonl"
    v2.write_bytes(data)
    a1 = analyze_file(DATA, show_progress=False).snapshot()
    a2 = analyze_file(v2, show_progress=False).snapshot()
    assert a1 == a2
    assert len(data) / len(evs) <= 300  # lean: bytes per event on the naive-gateway mix


def test_v2_flow_with_new_fields_round_trips() -> None:
    # other branches add fields (a callout kind, kind-specific facts): the format does not name fields
    ev = dict(v1_events()[1], kind="introspection", introspection={"active": True, "claims": ["sub", "scope"]})
    assert list(read_events(io.BytesIO(lean_bytes([ev, ev])), "x")) == [ev, ev]


def test_v2_line_referring_to_an_undefined_shape_is_an_error_with_its_line() -> None:
    data = lean_bytes(v1_events()[:3]).splitlines(keepends=True)
    bad = data[0] + b"[77,1,2]\n" + b"".join(data[1:])
    with pytest.raises(UserError, match=r"x: line 2: refers to shape 77"):
        list(read_events(io.BytesIO(bad), "x"))


def test_a_v2_capture_cut_short_mid_line_keeps_every_whole_line() -> None:
    data = lean_bytes(v1_events())
    warnings: list[str] = []
    got = list(read_events(io.BytesIO(data[:-40]), "x", warn=warnings.append))
    assert got == v1_events()[:-1] and "cut short" in warnings[0]


def _write_rotated(tmp_path: Path, evs: list[dict], max_bytes: int) -> CaptureWriter:
    w = CaptureWriter(tmp_path / "cap.jsonl", 0.01, session=evs[0], rotate=Rotation(max_bytes=max_bytes))
    for e in evs[1:]:
        w.write_event(e)
    w.close()
    return w


def test_rotation_by_size_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    evs = v1_events()
    # one event per batch, so segments roll often (the writer rolls between batches)
    w = CaptureWriter(tmp_path / "cap.jsonl", 0.01, session=evs[0], rotate=Rotation(max_bytes=4096))
    for e in evs[1:]:
        w.write_event(e)
    w.close()
    files = session_files(tmp_path)
    assert len(files) >= 3
    assert all(f.name.endswith(".jsonl.gz") for f in files[:-1]) and files[-1].name.endswith(".jsonl")
    flows = []
    for f in files:  # each segment is readable alone and opens with the session line
        seg = list(read_events(gzip.open(f) if f.suffix == ".gz" else open(f, "rb"), str(f)))
        assert seg[0]["type"] == "session" and seg[0]["key_id"] == evs[0]["key_id"]
        flows += [e for e in seg if e["type"] == "flow"]
    want = [e for e in evs if e["type"] == "flow"]
    assert len(flows) == len(want)
    assert [e["id"] for e in flows] == [e["id"] for e in want]
    assert flows == want


def test_directory_and_glob_are_one_session(tmp_path: Path) -> None:
    evs = v1_events()
    _write_rotated(tmp_path, evs, 4096)
    whole = analyze_file(DATA, show_progress=False).snapshot()
    for spec in (tmp_path, f"{tmp_path}/cap-*.jsonl*"):
        snap = analyze_file(spec, show_progress=False).snapshot()
        assert snap["flows"] == whole["flows"] and snap["callouts"] == whole["callouts"]
        assert snap["events"] == whole["events"]


def test_segments_in_numeric_order_and_gz_preferred_over_its_plain_twin(tmp_path: Path) -> None:
    for name in ("s-10.jsonl", "s-9.jsonl", "s-9.jsonl.gz", "s-11.jsonl.gz.tmp", ".hidden"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in session_files(tmp_path)] == ["s-9.jsonl.gz", "s-10.jsonl"]
    with pytest.raises(UserError, match="no file matches"):
        session_files(tmp_path / "nothing-*.jsonl")


def test_session_with_a_segment_truncated_by_a_crash(tmp_path: Path) -> None:
    evs = [e for e in v1_events() if e["type"] in ("session", "flow")]
    _write_rotated(tmp_path, evs, 4096)
    files = session_files(tmp_path)
    last = files[-1]
    # what a kill -9 leaves: the open segment cut mid-line (the closed ones are complete .gz)
    cut = last.read_bytes()
    last.write_bytes(cut[: cut.rindex(b"\n", 0, len(cut) - 1) + 25])
    warnings: list[str] = []
    from inspector.capture.detect import LoadOptions

    snap = analyze_file(tmp_path, LoadOptions(warn=warnings.append), show_progress=False).snapshot()
    assert any("cut short" in w for w in warnings)
    assert snap["events"] == 126 - 1


def test_compress_is_complete_and_removes_the_plain_file(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    shutil.copy(DATA, p)
    gz = compress(p)
    assert not p.exists() and gzip.decompress(gz.read_bytes()) == DATA.read_bytes()
