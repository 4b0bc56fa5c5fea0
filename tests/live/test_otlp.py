"""OpenTelemetry: each inbound request exported as one trace over real OTLP/HTTP protobuf.

The receiver is a plain HTTP server on 127.0.0.1 that decodes `ExportTraceServiceRequest`
with opentelemetry.proto, as a collector would. mitmdump flushes its queue on shutdown,
so stopping the sidecar is the synchronisation point.
"""

from __future__ import annotations

import base64
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import io as mio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.live.conftest import sample, scrape, send


class Receiver:
    """An OTLP/HTTP traces endpoint that keeps every raw body it was sent."""

    def __init__(self) -> None:
        bodies = self.bodies = []  # type: list[bytes]
        ctypes = self.content_types = []  # type: list[str]

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                bodies.append(body)
                ctypes.append(self.headers.get("content-type", ""))
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a: Any) -> None:
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def spans(self) -> list[Span]:
        out: list[Span] = []
        for body in self.bodies:
            req = ExportTraceServiceRequest.FromString(body)
            for rs in req.resource_spans:
                assert {kv.key: kv.value.string_value for kv in rs.resource.attributes}["service.name"] == "tokentax"
                for ss in rs.scope_spans:
                    out.extend(ss.spans)
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.srv.shutdown()
    r.srv.server_close()


def attrs(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value"))
    return out


def raw_secrets(flows_file: Path) -> set[str]:
    """Every credential that crossed the proxy: bearer tokens and the Basic client credentials."""
    found: set[str] = set()
    with flows_file.open("rb") as f:
        for flow in mio.FlowReader(f).stream():
            auth = flow.request.headers.get("authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() == "bearer" and value:
                found.add(value)
                found.add(value.rsplit(".", 1)[-1])  # a JWT's signature alone
            elif scheme.lower() == "basic" and value:
                found.add(value)
                found.add(base64.b64decode(value).decode().partition(":")[2])
    return found


def test_each_inbound_request_is_one_trace_with_its_hops(sidecars, receiver: Receiver, tmp_path: Path) -> None:
    raw = tmp_path / "raw.mitm"
    node = sidecars(mitm_args=["--set", f"tokentax_otlp={receiver.url}", "-w", str(raw)])
    traced = send(node.url, 6)
    untraced = send(node.url, 3, traced=False)
    dropped = sample(scrape(node.metrics), "tokentax_otlp_dropped_traces_total")
    node.stop()  # flushes the exporter's queue

    assert dropped == 0
    assert receiver.content_types and set(receiver.content_types) == {"application/x-protobuf"}
    spans = receiver.spans()
    by_trace: dict[bytes, list[Span]] = defaultdict(list)
    for s in spans:
        by_trace[s.trace_id].append(s)
    assert len(by_trace) == len(traced) + len(untraced)  # one trace per inbound request

    for trace_spans in by_trace.values():
        roots = [s for s in trace_spans if not s.parent_span_id]
        assert len(roots) == 1
        root = roots[0]
        assert root.kind == Span.SpanKind.SPAN_KIND_SERVER and attrs(root)["tokentax.role"] == "inbound"
        hops = [s for s in trace_spans if s is not root]
        assert sorted(attrs(h)["tokentax.role"] for h in hops) == ["backend", "callout"]
        assert [attrs(h).get("tokentax.kind") for h in hops if attrs(h)["tokentax.role"] == "callout"] == ["token"]
        assert "tokentax.kind" not in attrs(root)
        for h in hops:
            assert h.parent_span_id == root.span_id and h.kind == Span.SpanKind.SPAN_KIND_CLIENT
            assert (
                root.start_time_unix_nano <= h.start_time_unix_nano <= h.end_time_unix_nano <= root.end_time_unix_nano
            )
        for s in trace_spans:
            a = attrs(s)
            assert {
                "http.request.method",
                "url.path",
                "server.address",
                "server.port",
                "http.response.status_code",
            } <= set(a)
            assert a["http.response.status_code"] == 200 and "error.type" not in a

    # the travelling W3C trace id is the OTLP trace id, and those hops are exact
    for _, tid in traced:
        assert tid is not None
        trace_spans = by_trace[bytes.fromhex(tid)]
        assert {attrs(s).get("tokentax.correlation") for s in trace_spans if s.parent_span_id} == {"exact"}
    untraced_ids = set(by_trace) - {bytes.fromhex(tid) for _, tid in traced if tid}
    assert len(untraced_ids) == 3
    for tid in untraced_ids:
        assert {attrs(s).get("tokentax.correlation") for s in by_trace[tid] if s.parent_span_id} == {"inferred"}

    blob = b"".join(receiver.bodies)
    creds = raw_secrets(raw)
    assert node.secret in creds and any(len(c) > 100 for c in creds)  # the grep below has real needles
    for secret in creds:
        assert secret.encode() not in blob


def test_failed_hops_carry_error_type(sidecars, receiver: Receiver) -> None:
    node = sidecars(
        "--auth-fail-first", "1", "--auth-fail-kind", "500", mitm_args=["--set", f"tokentax_otlp={receiver.url}"]
    )
    send(node.url, 2)
    node.stop()
    failed = [s for s in receiver.spans() if attrs(s).get("error.type")]
    callouts = [s for s in failed if attrs(s)["tokentax.role"] == "callout"]
    assert callouts and attrs(callouts[0])["error.type"] == "500"
    assert callouts[0].status.code == callouts[0].status.STATUS_CODE_ERROR


def test_dead_collector_drops_are_counted_and_traffic_flows(sidecars, unused_port: int) -> None:
    node = sidecars(mitm_args=["--set", f"tokentax_otlp=http://127.0.0.1:{unused_port}/v1/traces"])
    assert [st for st, _ in send(node.url, 5)] == [200] * 5
    node.stop()
    assert node.session.mitm is not None
    assert any("tokentax: otlp: cannot reach the OTLP endpoint" in line for line in node.session.mitm.lines)


def test_trace_id_joins_travelling_w3c_and_b3_ids_only() -> None:
    from inspector.live.otlp import trace_id_for

    w3c = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_for({"trace": {"id": w3c, "src": "traceparent"}}) == bytes.fromhex(w3c)
    assert trace_id_for({"trace": {"id": "a3ce929d0e0e4736", "src": "x-b3-traceid"}}) == bytes.fromhex(
        "0" * 16 + "a3ce929d0e0e4736"
    )
    # a request id is no trace id, and the all-zero id is invalid: both get a fresh random one
    for ev in ({"trace": {"id": w3c, "src": "x-request-id"}}, {"trace": {"id": "0" * 32, "src": "traceparent"}}, {}):
        a, b = trace_id_for(ev), trace_id_for(ev)
        assert len(a) == 16 and a != b and a != bytes(16)


def test_callout_spans_carry_their_kind() -> None:
    from inspector.live.otlp import span_attributes
    from tests.support import factory as F

    def kind_of(ev):  # type: ignore[no-untyped-def]
        return {a.key: a.value.string_value for a in span_attributes(ev, None)}.get("tokentax.kind")

    assert kind_of(F.callout(1.0, 5, "aaaa", kind="introspection")) == "introspection"
    assert kind_of(F.callout(1.0, 5, "aaaa")) == "token"  # no kind: an old capture, read as token
    assert kind_of(F.backend(1.0, 5, "aaaa")) is None


async def test_close_waits_for_a_post_in_flight_instead_of_losing_its_batch() -> None:
    """Shutdown used to cancel the export task mid-POST: the batch it had taken off the queue
    was lost, neither sent nor counted as dropped. A receiver that holds its answer until the
    exporter is closing shows the batch arrives and is counted."""
    import asyncio

    from inspector.analyzer import Analyzer
    from inspector.live.otlp import OtlpExporter
    from tests.support.factory import naive_request

    got: list[bytes] = []
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
        got.append(await reader.readexactly(length))
        arrived.set()
        await release.wait()  # answer only once close() has begun
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    a = Analyzer()
    ex = OtlpExporter(f"http://127.0.0.1:{port}/v1/traces", a, batch=1, flush_s=60)
    ex.start()
    for ev in naive_request(1000.0, 0, "fp1"):
        a.ingest(ev)
        ex.observe(ev)
    await asyncio.wait_for(arrived.wait(), 30)  # the POST is in flight, its batch off the queue
    closing = asyncio.create_task(ex.close(timeout_s=30))
    await asyncio.sleep(0)  # close() has begun: it must wait for the answer, not cancel the POST
    release.set()
    await closing
    server.close()
    assert len(got) == 1 and ex.exported == 1 and ex.dropped == 0
