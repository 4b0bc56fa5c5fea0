"""Prometheus metrics: the analyzer's figures in the Prometheus text format, at scrape time.

Why a custom Collector and not Counter/Histogram objects updated per flow: the analyzer
is the single source of truth (docs/architecture.md). A second count kept beside it could drift
from the report; reading the analyzer when Prometheus scrapes cannot, and costs the
flow path nothing.

Why the HTTP server runs on mitmproxy's own event loop (asyncio) rather than in
prometheus_client's thread: the analyzer is mutated by the flow hooks on that loop, so a
scrape served there reads one consistent state (bucket counts, `_count` and `_sum` of a
histogram agree) with no locks and no "dict changed size" races. Rendering is a few
dozen samples, well under a millisecond; the server never awaits anything the flow path
needs, and a slow scraper only holds its own connection.

Labels are bounded on purpose: `role` (4 values) and `outcome` (2). No token,
fingerprint, path or host label: fleet-wide series counts must not grow with traffic.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from inspector.analyzer import Analyzer
from inspector.analyzer.quantiles import Quantiles
from inspector.schema.vocab import ROLES

log = logging.getLogger("tokentax.metrics")


# Fixed `le` bounds in seconds, shared by both histograms so fleet-wide sums line up.
# Dense around 50 ms - 1 s, where token callouts live (the case that started this: 800 ms).
LE_BOUNDS_S: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.4,
    0.5,
    0.75,
    1.0,
    1.5,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

# Every metric this module exposes (histograms by their base name): docs and tests check
# dashboard and alert expressions against this set.
METRIC_NAMES: frozenset[str] = frozenset(
    {
        "tokentax_flows_total",
        "tokentax_callouts_total",
        "tokentax_redundant_callouts_total",
        "tokentax_identical_callouts_total",
        "tokentax_token_tax_seconds_total",
        "tokentax_callout_duration_seconds",
        "tokentax_inbound_ttfb_seconds",
        "tokentax_tokens_active",
        "tokentax_addon_errors_total",
        "tokentax_stream_dropped_events_total",
        "tokentax_otlp_dropped_traces_total",
    }
)


def histogram_buckets(hist: Quantiles, bounds_s: Iterable[float] = LE_BOUNDS_S) -> list[tuple[str, float]]:
    """Cumulative Prometheus buckets from a latency series (`Quantiles.cumulative_counts`).

    Exact while the series keeps its raw values (up to 10,000); above, from the sketch's
    log buckets, where a bucket counts toward `le` only if it lies entirely at or below
    `le`, so a bucket never over-reports (a value just under a bound may land in the next
    one: the log buckets are 4 % wide, so that is the most any bound is off). `+Inf` is
    the series' total count, so buckets, `_count` and `_sum` always agree.
    """
    bounds = [le for le in bounds_s if math.isfinite(le)]
    cums = hist.cumulative_counts([le * 1000.0 for le in bounds])
    out = [(_le_text(le), float(cum)) for le, cum in zip(bounds, cums, strict=True)]
    out.append(("+Inf", float(hist.n)))
    return out


def _le_text(le: float) -> str:
    return repr(float(le)) if math.isfinite(le) else "+Inf"


class AnalyzerCollector(Collector):
    """Reads the analyzer at scrape time; owns no counts of its own.

    `extra` yields further families from other sinks' own figures (the OTLP exporter's
    drops): figures the analyzer cannot know, still read rather than copied.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        clock: Callable[[], float] = time.time,
        extra: Callable[[], Iterable[Metric]] | None = None,
        before: Callable[[], None] | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.clock = clock
        self.extra = extra
        self.before = before  # brings the analyzer up to date (the addon's pending batch)

    def describe(self) -> Iterable[Metric]:
        return []  # names are fixed; skip the registry's collect() at register time

    def collect(self) -> Iterator[Metric]:
        if self.before is not None:
            self.before()
        a = self.analyzer
        flows = CounterMetricFamily(
            "tokentax_flows", "HTTP flows seen, by role (inbound, callout, backend, other).", labels=["role"]
        )
        for role in ROLES:
            flows.add_metric([role], a.flows.get(role, 0))
        yield flows
        callouts = CounterMetricFamily(
            "tokentax_callouts",
            "Auth callouts, by kind (token, exchange, introspection, jwks, userinfo, forward_auth) "
            "and outcome (ok: an answer came back).",
            labels=["kind", "outcome"],
        )
        redundant = CounterMetricFamily(
            "tokentax_redundant_callouts",
            "Auth callouts made while the answer for the same key was still valid, by kind.",
            labels=["kind"],
        )
        identical = CounterMetricFamily(
            "tokentax_identical_callouts",
            "Auth callouts that returned an answer seen before, by kind.",
            labels=["kind"],
        )
        for kind, fig in self._by_kind().items():
            callouts.add_metric([kind, "ok"], fig["ok"])
            callouts.add_metric([kind, "error"], fig["failed"])
            redundant.add_metric([kind], fig["redundant"])
            identical.add_metric([kind], fig["identical"])
        yield callouts
        yield redundant
        yield identical
        yield CounterMetricFamily(
            "tokentax_token_tax_seconds",
            "Time inbound requests spent in redundant token callouts.",
            value=a.redundant_ms / 1000.0,
        )
        yield self._histogram("tokentax_callout_duration_seconds", "Token callout duration.", a.callout_hist)
        yield self._histogram(
            "tokentax_inbound_ttfb_seconds", "Inbound time to first byte (what callers feel).", a.ttfb_hist
        )
        yield GaugeMetricFamily(
            "tokentax_tokens_active",
            "Distinct tokens whose expiry is still ahead.",
            value=a.tokens_active(self.clock()),
        )
        yield CounterMetricFamily(
            "tokentax_addon_errors", "Errors inside the addon (flows passed untouched).", value=a.addon_errors
        )
        yield CounterMetricFamily(
            "tokentax_stream_dropped_events", "Events the live stream dropped for slow clients.", value=a.dropped
        )
        if self.extra is not None:
            yield from self.extra()

    def _by_kind(self) -> dict[str, dict[str, int]]:
        """Per-kind callout counts from the report's `callouts.by_kind` (the analyzer's own figures);
        a capture or analyzer without kinds is all `token`, as old captures read."""
        a = self.analyzer
        totals = {"ok": a.callouts_ok, "failed": a.callouts_failed, "redundant": a.redundant, "identical": a.identical}
        by_kind = (a.snapshot().get("callouts") or {}).get("by_kind") if hasattr(a, "snapshot") else None
        if not isinstance(by_kind, dict) or not by_kind:
            return {"token": totals}
        out: dict[str, dict[str, int]] = {}
        for kind in sorted(by_kind):
            fig = by_kind[kind] or {}
            failed = int(fig.get("failed") or 0)
            ok = fig.get("ok")
            if ok is None:
                ok = int(fig.get("total") or 0) - failed - int(fig.get("unreadable") or 0)
            out[str(kind)] = {
                "ok": int(ok),
                "failed": failed,
                "redundant": int(fig.get("redundant") or 0),
                "identical": int(fig.get("identical") or 0),
            }
        return out

    @staticmethod
    def _histogram(name: str, doc: str, hist: Quantiles) -> HistogramMetricFamily:
        return HistogramMetricFamily(name, doc, buckets=histogram_buckets(hist), sum_value=hist.total / 1000.0)


def otlp_dropped_family(dropped: int) -> Metric:
    """The OTLP exporter's drops: its own figure (the analyzer cannot know it), read at scrape time."""
    return CounterMetricFamily(
        "tokentax_otlp_dropped_traces", "Traces the OTLP exporter dropped (queue full or POST failed).", value=dropped
    )


def make_registry(collector: Collector) -> CollectorRegistry:
    """A registry of its own: no process/platform collectors, only tokentax's figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


_MAX_HEAD = 16 * 1024
_IDLE_S = 300.0  # a kept-alive scraper comes back within its scrape interval
_MAX_CLIENTS = 64


class MetricsServer:
    """GET /metrics on the running asyncio loop. Minimal HTTP/1.1 with keep-alive."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
        self.host, self.port = host, port
        self.registry = registry
        self.scrapes = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=_MAX_HEAD)
        sock = self._server.sockets[0].getsockname()
        self.port = sock[1]
        return sock[0], sock[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for w in list(self._writers):
            w.close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), 2)
        except Exception:
            pass

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= _MAX_CLIENTS:
            writer.close()
            return
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _IDLE_S)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                    return
                keep = self._respond(head, writer)
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, OSError):
            return
        except Exception as exc:
            log.warning(f"tokentax: metrics request failed: {type(exc).__name__}")
        finally:
            self._writers.discard(writer)
            writer.close()

    def _respond(self, head: bytes, writer: asyncio.StreamWriter) -> bool:
        """Write one response; return whether the connection stays open."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._write(writer, 400, b"bad request\n", "text/plain; charset=utf-8", head_only=False, keep=False)
            return False
        method, target, version = parts
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        conn = headers.get("connection", "").lower()
        keep = conn != "close" and (version == "HTTP/1.1" or conn == "keep-alive")
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            self._write(writer, 405, b"method not allowed\n", "text/plain; charset=utf-8", False, keep)
        elif path != "/metrics":
            self._write(writer, 404, b"tokentax serves /metrics\n", "text/plain; charset=utf-8", method == "HEAD", keep)
        else:
            self.scrapes += 1
            self._write(writer, 200, generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4, method == "HEAD", keep)
        return keep

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: int, body: bytes, ctype: str, head_only: bool, keep: bool) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
        hdr = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
            f"connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        ).encode("latin-1")
        writer.write(hdr if head_only else hdr + body)
