"""OpenTelemetry export: each inbound request as a trace, its callouts and backend calls as
child spans, POSTed as OTLP/HTTP protobuf (`ExportTraceServiceRequest`).

Why spans are built from the analyzer's correlation and not from headers: the analyzer
already decided which hop belongs to which inbound request (exact by trace id, or
inferred by time containment); exporting that decision keeps one source of truth, and
the mode travels as the `tokentax.correlation` attribute. Hops are exported with the
correlation known when their inbound request finished.

Why nothing happens on the flow path but a dict insert and a deque append: `observe`
runs inside mitmproxy hooks. Protobuf encoding and the HTTP POST run in an asyncio
task (httpx.AsyncClient) in small batches; the queue is bounded and a full queue drops
(counted) instead of waiting. A dead collector costs failed POSTs, never latency.

Secrets: attributes come only from events, which are secret-free by construction (no
header values, bodies or query strings); no event field that could hold a credential is
copied, and the error message (which could quote traffic) is left out.

The `opentelemetry-proto` package is optional (`pip install tokentax[otel]`): this module
imports without it, and `require_proto()` turns its absence into one clear line.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
import time
from collections import OrderedDict, deque
from typing import Any

import httpx

from inspector.analyzer import Analyzer
from inspector.schema.events import Event
from inspector.schema.vocab import HOP_ROLES

try:  # the optional extra
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
except ImportError:  # pragma: no cover - exercised when the extra is missing
    ExportTraceServiceRequest = None  # type: ignore[assignment,misc]

INSTALL_HINT = "pip install tokentax[otel]"
SERVICE_NAME = "tokentax"
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")


def require_proto() -> None:
    """Raise ValueError (one line) when the optional protobuf package is missing."""
    if ExportTraceServiceRequest is None:
        raise ValueError(f"tokentax_otlp needs the OpenTelemetry protobuf package: {INSTALL_HINT}")


def trace_id_for(ev: Event) -> bytes:
    """The OTLP trace id: the travelling W3C/B3 trace id when there is one (so our spans
    join the gateway's own trace), else a fresh random one."""
    trace = ev.get("trace") or {}
    tid = str(trace.get("id") or "").lower()
    if trace.get("src") in ("traceparent", "x-b3-traceid", "b3"):
        if _HEX16.fullmatch(tid):
            tid = "0" * 16 + tid  # 64-bit B3 ids, left-padded as W3C says
        if _HEX32.fullmatch(tid) and tid != "0" * 32:
            return bytes.fromhex(tid)
    return secrets.token_bytes(16)


def _attr(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def span_attributes(ev: Event, mode: str | None) -> list[KeyValue]:
    """HTTP semantic-convention attributes from one flow event, plus tokentax's own."""
    attrs: dict[str, Any] = {
        "http.request.method": ev.get("method"),
        "url.path": ev.get("path"),
        "url.scheme": ev.get("scheme"),
        "server.address": ev.get("host"),
        "server.port": ev.get("port"),
        "http.response.status_code": ev.get("status"),
        "tokentax.role": ev.get("role"),
        # the auth work a callout does (old captures without `kind` read as token)
        "tokentax.kind": (ev.get("kind") or "token") if ev.get("role") == "callout" else None,
    }
    status = ev.get("status")
    error = ev.get("error")
    if error:
        attrs["error.type"] = str(error.get("kind") or "other")
    elif isinstance(status, int) and status >= (500 if ev.get("role") == "inbound" else 400):
        attrs["error.type"] = str(status)
    if mode is not None:
        attrs["tokentax.correlation"] = mode
    timing = ev.get("timing") or {}
    if timing.get("ttfb") is not None:
        attrs["tokentax.ttfb_ms"] = float(timing["ttfb"])
    fp = (ev.get("token") or {}).get("fp") or (ev.get("bearer") or {}).get("fp")
    if fp:
        attrs["tokentax.token.fingerprint"] = fp  # a keyed hash prefix, not the token
    return [_attr(k, v) for k, v in attrs.items() if v is not None]


def _nanos(seconds: Any) -> int:
    return int(float(seconds) * 1e9) if isinstance(seconds, (int, float)) else 0


def build_spans(inbound: Event, hops: list[tuple[str, Event]]) -> list[Span]:
    """One trace: the inbound span (kind SERVER) and a CLIENT span per hop, parented to it."""
    trace_id = trace_id_for(inbound)
    root_id = secrets.token_bytes(8)
    spans = [_span(inbound, trace_id, root_id, b"", Span.SpanKind.SPAN_KIND_SERVER, None)]
    for mode, ev in hops:
        spans.append(_span(ev, trace_id, secrets.token_bytes(8), root_id, Span.SpanKind.SPAN_KIND_CLIENT, mode))
    return spans


def _span(ev: Event, trace_id: bytes, span_id: bytes, parent: bytes, kind: int, mode: str | None) -> Span:
    attrs = span_attributes(ev, mode)
    failed = any(a.key == "error.type" for a in attrs)
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=f"{ev.get('role', 'other')} {ev.get('method') or 'HTTP'}",
        kind=kind,  # type: ignore[arg-type]  # protobuf enums are ints at run time; the stub wants its ValueType
        start_time_unix_nano=_nanos(ev.get("ts")),
        end_time_unix_nano=_nanos(ev.get("end") or ev.get("ts")),
        attributes=attrs,
        status=Status(code=Status.StatusCode.STATUS_CODE_ERROR if failed else Status.StatusCode.STATUS_CODE_UNSET),
    )


def export_request(spans: list[Span]) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[_attr("service.name", SERVICE_NAME)]),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="tokentax", version="0.1.0"), spans=spans)],
            )
        ]
    )


class OtlpExporter:
    """Queue inbound requests with their hops on the flow path; encode and POST in a task."""

    def __init__(
        self,
        url: str,
        analyzer: Analyzer,
        *,
        max_queue: int = 2_048,
        max_hops: int = 20_000,
        batch: int = 64,
        flush_s: float = 1.0,
        timeout_s: float = 10.0,
    ) -> None:
        require_proto()
        self.url = url
        self.analyzer = analyzer
        self.max_queue = max_queue
        self.max_hops = max_hops
        self.batch = batch
        self.flush_s = flush_s
        self.timeout_s = timeout_s
        self.hop_events: OrderedDict[str, Event] = OrderedDict()  # hop id -> its event, bounded
        self.queue: deque[tuple[Event, list[tuple[str, Event]]]] = deque()
        self.dropped = 0  # traces not exported: queue full, or the POST failed
        self.exported = 0
        self.failed_posts = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None
        self._last_warn = 0.0
        self._closing = False  # close() asked the export task to flush what is queued and end

    # -- flow path: cheap, never waits ---------------------------------------------------

    def observe(self, ev: Event) -> None:
        """Call after the analyzer ingested `ev` (its correlation is then up to date)."""
        role = ev.get("role")
        if role in HOP_ROLES:
            self.hop_events[ev.get("id", "")] = ev
            if len(self.hop_events) > self.max_hops:
                self.hop_events.popitem(last=False)
            return
        if role != "inbound":
            return
        if len(self.queue) >= self.max_queue:
            self.dropped += 1
            return
        hops = []
        for hop in self.analyzer.hops_for(ev.get("id", "")):
            hev = self.hop_events.pop(hop.id, None)
            if hev is not None:
                hops.append((hop.mode, hev))
        self.queue.append((ev, hops))
        if self._wake is not None and len(self.queue) >= self.batch:
            self._wake.set()

    # -- export task ---------------------------------------------------------------------

    def start(self) -> None:
        self._wake = asyncio.Event()
        # trust_env off: a gateway-egress HTTP(S)_PROXY pointing at this very mitmdump must
        # not route our own exports back through the proxy.
        self._client = httpx.AsyncClient(trust_env=False, timeout=self.timeout_s)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._warn(f"export failed: {type(exc).__name__}")
            if self._closing:
                return

    async def flush(self) -> None:
        """POST everything queued, `batch` traces per request, yielding between batches."""
        while self.queue:
            items = [self.queue.popleft() for _ in range(min(self.batch, len(self.queue)))]
            spans: list[Span] = []
            for inbound, hops in items:
                spans.extend(build_spans(inbound, hops))
            body = export_request(spans).SerializeToString()
            await self._post(body, len(items))

    async def _post(self, body: bytes, traces: int) -> None:
        assert self._client is not None
        try:
            resp = await self._client.post(self.url, content=body, headers={"content-type": "application/x-protobuf"})
        except httpx.HTTPError as exc:
            self.failed_posts += 1
            self.dropped += traces
            self._warn(f"cannot reach the OTLP endpoint: {type(exc).__name__}")
            return
        if 200 <= resp.status_code < 300:
            self.exported += traces
        else:
            self.failed_posts += 1
            self.dropped += traces
            self._warn(f"the OTLP endpoint answered {resp.status_code}")

    def _warn(self, what: str) -> None:
        now = time.monotonic()
        if now - self._last_warn > 30:  # one line per 30 s at most
            self._last_warn = now
            # stderr, like the addon's other operational lines: mitmdump -q hides log warnings
            print(f"tokentax: otlp: {what}; {self.dropped} traces dropped so far", file=sys.stderr, flush=True)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop the task and send what is queued, within a bounded time."""
        if self._task is not None:
            # Let the task finish its flush, a POST in flight included: cancelling it mid-POST
            # lost the batch it had taken off the queue (found as a flaky trace test).
            self._closing = True
            if self._wake is not None:
                self._wake.set()
            try:
                await asyncio.wait_for(self._task, timeout_s)  # cancels it only past the bound
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        if self._client is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout_s)
        except Exception:
            self.dropped += len(self.queue)
            self.queue.clear()
        await self._client.aclose()
        self._client = None
