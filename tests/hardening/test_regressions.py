"""The crashes the fuzz tests found, pinned as plain examples."""

from __future__ import annotations

import gzip
import json

from mitmproxy.http import Headers
from mitmproxy.test import tflow

from inspector.analyzer import Analyzer
from inspector.record.fingerprint import Fingerprinter
from inspector.record.flow_record import RecordContext, flow_event
from inspector.schema import events as E
from inspector.views.report.render import FORMATS, render
from tests.support.factory import backend, callout, flow

CTX = RecordContext(fpr=Fingerprinter(b"k" * 32))


def _token_flow(body: bytes, *, headers: list[tuple[bytes, bytes]] | None = None) -> object:
    f = tflow.tflow(resp=True)
    f.request.method = "POST"
    f.request.path = "/oauth2/token"
    f.request.headers = Headers([(b"content-type", b"application/x-www-form-urlencoded")])
    f.request.raw_content = b"grant_type=client_credentials&client_id=gw"
    f.response.headers = Headers(headers or [(b"content-type", b"application/json")])
    f.response.raw_content = body
    return f


def test_non_utf8_request_line_and_trace_header_still_make_an_event() -> None:
    # mitmproxy hands undecodable bytes over as lone surrogates; orjson refuses those
    f = tflow.tflow(resp=True)
    f.request.data.method = b"G\xffT"
    f.request.data.path = b"/caf\xe9/\xff?q=1"
    f.request.headers = Headers([(b"x-request-id", b"id-\xfe\xff")])
    ev = E.decode(E.encode(flow_event(f, CTX)))
    assert ev["path"] == "/caf\ufffd/\ufffd" and ev["method"] == "G\ufffdT"
    assert ev["trace"]["id"] == "id-\ufffd\ufffd"


def test_json_escaped_surrogates_and_huge_numbers_in_a_token_response() -> None:
    body = (
        b'{"access_token": "abcdefghijklmnop", "token_type": "Bearer\\ud800", "scope": "a\\udcff", '
        b'"expires_in": 123456789012345678901234567890}'
    )
    ev = E.decode(E.encode(flow_event(_token_flow(body), CTX)))
    assert ev["token"]["type"] == "Bearer\ufffd" and ev["token"]["scope"] == "a\ufffd"
    assert "expires_in" not in ev["token"]  # beyond 64 bits: not a lifetime an event can carry


def test_a_token_with_a_lone_surrogate_gets_a_fingerprint() -> None:
    # json.loads decodes bytes with surrogatepass: "\xed\xa0\x80" or "\ud800" become U+D800
    for body in (
        b'{"access_token": "\xed\xa0\x80", "token_type": "Bearer"}',
        b'{"access_token": "tok\\ud800", "token_type": "Bearer"}',
    ):
        ev = E.decode(E.encode(flow_event(_token_flow(body), CTX)))
        assert len(ev["token"]["fp"]) == 12


def test_jwt_claims_beyond_64_bits_or_not_finite_are_dropped() -> None:
    import base64

    def seg(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    tok = seg({"alg": "none"}) + "." + seg({"exp": 10**30, "iat": float("nan"), "sub": "x\ud800"}) + ".sig"
    body = json.dumps({"access_token": tok, "token_type": "Bearer"}).encode()
    ev = E.decode(E.encode(flow_event(_token_flow(body), CTX)))
    assert ev["token"]["jwt"] == {"alg": "none"}  # `sub` is never kept (it names a person in a user's bearer)


def test_a_body_that_lies_about_its_content_encoding() -> None:
    body = b'{"access_token": "abcdefghijklmnop", "token_type": "Bearer", "expires_in": 60}'
    lying = _token_flow(body, headers=[(b"content-type", b"application/json"), (b"content-encoding", b"gzip")])
    ev = flow_event(lying, CTX)  # mitmproxy's .content raises ValueError here
    assert ev["token"]["expires_in"] == 60
    honest = _token_flow(
        gzip.compress(body), headers=[(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    )
    assert flow_event(honest, CTX)["token"]["expires_in"] == 60


def test_analyzer_treats_ill_typed_optional_fields_as_absent() -> None:
    t = 1_700_000_000.0
    evs = [
        flow("inbound", t, 10, status="200"),  # type: ignore[arg-type]
        flow("inbound", t + 1, 10, end="soon", timing={"ttfb": "fast", "total": [1]}),
        flow("inbound", t + 2, 10, trace={"id": ["t"]}, gateway=[None, "Kong"], id={"a": 1}),
        {**callout(t + 3, 100, "aaaa", expires_in=3600), "key": ["k"]},
        {**callout(t + 4, 100, "aaaa"), "token": {"fp": 7, "jwt": {"exp": "x", "iat": None}}},
        {**backend(t + 5, 5, "aaaa"), "bearer": {"fp": "aaaa", "kind": 3, "jwt": {"exp": 1e300}}},
        flow("other", 1e300, 1),  # no displayable time: skipped
        {"v": 1, "type": "addon", "ts": t, "errors": "3", "dropped": [1]},
        {"v": 1, "type": "session", "ts": {}, "tool": None, "source": 5},
    ]
    a = Analyzer()
    for ev in evs:
        E.check(ev)
        a.ingest(ev)
    snap = a.snapshot()
    assert snap["events"] == 6 and snap["flows"]["inbound"] == 3 and snap["callouts"]["total"] == 2
    assert snap["addon"] == {"errors": 0, "dropped": 0, "capture_error": ""}
    for fmt in FORMATS:
        render(snap, fmt)


async def test_stream_counts_no_drops_after_it_stopped(monkeypatch) -> None:
    """The addon's shutdown publishes a last addon event and summary after stopping the stream.
    A stalled client whose transport still held unsent bytes could not close, stayed in
    `clients`, and those two events counted as drops: the capture's last addon event said
    963 drops and the exit summary 961."""
    import asyncio

    from inspector.live import stream_server as S

    monkeypatch.setattr(S, "QUEUE_LIMIT", 3)
    registered = asyncio.Event()
    server = S.StreamServer("127.0.0.1", 0, "", lambda: (registered.set(), [])[1])
    host, port = await server.start()
    _reader, writer = await asyncio.open_connection(host, port, limit=1024)  # never reads
    writer.transport.pause_reading()
    writer.write(b'{"hello": "tokentax/1"}\n')
    await writer.drain()
    await asyncio.wait_for(registered.wait(), 10)
    (client,) = server.clients
    for _ in range(3):
        server.publish(b"x" * (4 << 20) + b"\n")  # 12 MB: more than the kernel buffers take
    async with asyncio.timeout(10):
        while client.queue:  # until the pump handed them to the transport
            await asyncio.sleep(0.01)
    for _ in range(5):
        server.publish(b"{}\n")
    dropped = server.dropped
    assert dropped == 2
    await server.stop()
    server.publish(b"{}\n")
    server.publish(b"{}\n")
    assert server.dropped == dropped
    writer.close()


def test_a_role_by_of_the_wrong_type_is_counted_as_unknown() -> None:
    """Found by the fuzzer: `role_by` as a list made the per-rule role count raise (unhashable)."""
    a = Analyzer()
    ev = flow("inbound", 1000.0, 10)
    ev["role_by"] = ["listener"]
    a.ingest(ev)
    snap = a.snapshot()
    assert snap["flows"]["inbound"] == 1 and snap["roles"]["by"] == {"?": 1}
    for fmt in FORMATS:
        render(snap, fmt)
