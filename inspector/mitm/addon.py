"""The mitmproxy addon: flows in, events out to the sinks. Passive: it never changes traffic.

Hooks do the least possible on the flow path: build the event (pure record layer), feed
the in-process analyzer, hand one encoded line to the capture thread and the stream's
client queues. No hook waits on I/O and no error ever reaches mitmproxy: failures are
counted, logged without their message (which could quote traffic), and the flow goes on.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions

from inspector.analyzer import Analyzer
from inspector.capture.infer import LiveContainment
from inspector.live.capture_writer import CaptureWriter, Rotation
from inspector.live.metrics import AnalyzerCollector, MetricsServer, make_registry, otlp_dropped_family
from inspector.live.otlp import OtlpExporter, require_proto
from inspector.live.stream_server import StreamServer
from inspector.mitm.listen import listen_bound, listen_from_options
from inspector.mitm.options import (
    DEFAULT_STREAM,
    parse_endpoint,
    parse_metrics,
    parse_otlp_url,
    parse_rotate,
    parse_seconds,
)
from inspector.record import roles as R
from inspector.record.fingerprint import Fingerprinter, key_from_text
from inspector.record.flow_record import (
    RecordContext,
    connect_error_event,
    flow_event,
    is_inbound_client,
    probe_event_for,
)
from inspector.record.gateway import named_gateway
from inspector.schema import events as E

log = logging.getLogger("tokentax")

SUMMARY_TICK_S = 0.5
# Finished flows wait in a small batch before their events are built and ingested: done
# together, the record layer's and the analyzer's code and tables stay in the CPU caches
# that mitmproxy's own work evicts between two flows. bench/overhead.py measured the
# addon's cost per flow inside mitmdump at about a third of building each event at once.
# Small, so one flush is a short pause, and run just after the hook that filled the batch
# (that flow's response is not held up by it); flushed on every tick, before any reader, and
# soon for a flow with big bodies (the batch never holds much memory).
FLOW_BATCH = 64
BATCH_MAX_BYTES = 256 * 1024


class TokenTax:
    def __init__(self) -> None:
        self.rctx = RecordContext()
        self._infer_roles = True  # set in configure: no inbound listener named, no [inbound] rule
        self._analyzer = Analyzer()
        self._flows: list[Any] = []  # finished flows whose events are not built yet, in order
        self._flush_scheduled = False
        self.capture: CaptureWriter | None = None
        self.stream: StreamServer | None = None
        self.errors = 0
        self.status_interval = 5.0
        self._stream_addr: tuple[str, int] | None = None
        self.metrics: MetricsServer | None = None
        self._metrics_addr: tuple[str, int] | None = None
        self.otlp: OtlpExporter | None = None
        self._otlp_url: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._session: E.Event | None = None
        self._last_error_logged = 0.0
        self._capture_error_reported = ""
        self._running = False
        # client connections that sent a request / whose eager upstream connect was refused
        # (ids removed when the client disconnects): a connection with no request is a probe
        self._requested: set[str] = set()
        self._refused: set[str] = set()
        self._infer: LiveContainment | None = None  # inbound by containment when no listener is named

    @property
    def pending(self) -> int:
        """Finished flows whose events are not built yet (at most one batch; tests and status)."""
        return len(self._flows)

    @property
    def analyzer(self) -> Analyzer:
        """The analyzer with every finished flow ingested: each reader gets current figures."""
        if self._flows:
            self._flush()
        return self._analyzer

    # -- options -------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            "tokentax_inbound", str, "", "Listeners that face clients: ports or mode specs, comma separated."
        )
        loader.add_option("tokentax_rules", str, "", "TOML file of role rules (hosts, paths, listeners per role).")
        loader.add_option(
            "tokentax_callout",
            str,
            "",
            "Listeners in front of the auth side, each with an optional kind: '9101=forward_auth,9100'.",
        )
        loader.add_option(
            "tokentax_forward_auth_window",
            str,
            "60",
            "Seconds a forward-auth decision counts as reusable when judging repeats as redundant.",
        )
        loader.add_option(
            "tokentax_gateway",
            str,
            "",
            "The gateway product (traefik, nginx, envoy, ...) when its headers do not say: findings give its fix.",
        )
        loader.add_option("tokentax_save", str, "", "Append tokentax events to this JSONL capture file.")
        loader.add_option(
            "tokentax_save_rotate",
            str,
            "off",
            "Rotate the capture into gzip-compressed segments by size (100MB) or age (1h), or 'off'.",
        )
        loader.add_option(
            "tokentax_stream",
            str,
            DEFAULT_STREAM,
            "HOST:PORT of the live event stream for TUIs (port 0 picks one), or 'off'.",
        )
        loader.add_option("tokentax_stream_token", str, "", "Token stream clients must present.")
        loader.add_option("tokentax_status", str, "5", "Seconds between headless status lines; 0 turns them off.")
        loader.add_option(
            "tokentax_fingerprint_key", str, "", "Key for token fingerprints; empty means random per session."
        )
        loader.add_option("tokentax_summary", bool, True, "Print the findings summary when mitmdump exits.")
        loader.add_option(
            "tokentax_metrics", str, "off", "HOST:PORT to serve Prometheus /metrics on (port 0 picks one), or 'off'."
        )
        loader.add_option("tokentax_metrics_expose", bool, False, "Allow tokentax_metrics on a non-loopback address.")
        loader.add_option(
            "tokentax_otlp",
            str,
            "",
            "OTLP/HTTP traces endpoint (e.g. http://127.0.0.1:4318/v1/traces); needs tokentax[otel].",
        )

    def configure(self, updated: set[str]) -> None:
        o = ctx.options
        try:
            if "tokentax_inbound" in updated:
                self.rctx.inbound = R.parse_listeners(o.tokentax_inbound)
            if updated & {"tokentax_rules", "tokentax_callout"}:
                self.rctx.rules = R.with_rules(
                    R.read_rules_file(o.tokentax_rules), R.parse_callout_listeners(o.tokentax_callout)
                )
            # decided once here, not per flow: no inbound listener and no [inbound] rule
            self._infer_roles = not self.rctx.inbound and not R.names_inbound(self.rctx.rules)
            if "tokentax_forward_auth_window" in updated:
                window = parse_seconds(o.tokentax_forward_auth_window, "tokentax_forward_auth_window")
                self.analyzer.cfg = replace(self.analyzer.cfg, forward_auth_window_s=window)
            if "tokentax_gateway" in updated:
                named = named_gateway(o.tokentax_gateway, "tokentax_gateway")
                self.analyzer.cfg = replace(self.analyzer.cfg, gateway=named)
            if "tokentax_status" in updated:
                self.status_interval = parse_seconds(o.tokentax_status, "tokentax_status")
            if "tokentax_fingerprint_key" in updated:
                self.rctx.fpr = Fingerprinter(key_from_text(o.tokentax_fingerprint_key))
            if updated & {"tokentax_stream", "tokentax_stream_token"}:
                self._stream_addr = parse_endpoint(o.tokentax_stream, "tokentax_stream", o.tokentax_stream_token)
            if updated & {"tokentax_metrics", "tokentax_metrics_expose"}:
                self._metrics_addr = parse_metrics(o.tokentax_metrics, o.tokentax_metrics_expose)
            if "tokentax_otlp" in updated:
                self._otlp_url = parse_otlp_url(o.tokentax_otlp)
                if self._otlp_url is not None:
                    require_proto()
            if updated & {"tokentax_save", "tokentax_save_rotate"}:
                self._open_capture(o.tokentax_save, parse_rotate(o.tokentax_save_rotate))
        except ValueError as exc:
            if not self._running:
                # At startup: one clean error line. mitmproxy's errorcheck then stops mitmdump
                # ("Error logged during startup, exiting..."); raising would add a traceback.
                log.error(f"tokentax: {exc}")
                return
            raise exceptions.OptionsError(f"tokentax: {exc}") from None

    def _open_capture(self, path: str, rotate: tuple[int | None, float | None] | None = None) -> None:
        if self.capture is not None:
            self.capture.close()
            self.capture = None
        if not path:
            return
        try:
            self.capture = CaptureWriter(
                Path(path).expanduser(),
                session=self._session_event(),
                rotate=Rotation(*rotate) if rotate is not None else None,
            )
        except OSError as exc:
            raise ValueError(f"cannot write capture {path}: {exc.strerror or exc}") from None

    def _session_event(self) -> E.Event:
        if self._session is None:
            o = ctx.options
            self._session = E.session_event(
                time.time(),
                source="live",
                key_id=self.rctx.fpr.key_id,
                inbound=o.tokentax_inbound,
                roles_inferred=self._infer_roles,
            )
            self._session["listen"] = listen_from_options(o)  # "host:port mode"; bound ones in running()
            named = self._analyzer.cfg.gateway  # parsed in configure, before any capture opens
            if named is not None:  # the name goes with the capture: a later `report` gives its fixes
                self._session["gateway"] = named
            self.analyzer.ingest(self._session)
        return self._session

    # -- lifecycle -----------------------------------------------------------------------

    async def running(self) -> None:
        self._running = True
        listeners = listen_bound(ctx.master)
        if listeners:
            self._session_event()["listen"] = listeners
        listen = self._session_event().get("listen") or []
        where = "off"
        if self._stream_addr is not None:
            host, port = self._stream_addr
            self.stream = StreamServer(host, port, ctx.options.tokentax_stream_token, self._greeting)
            try:
                bound = await self.stream.start()
                where = f"{bound[0]}:{bound[1]}"
            except OSError as exc:
                self.stream = None
                print(
                    f"tokentax: cannot listen for TUIs on {host}:{port}: {exc.strerror or exc}; "
                    f"stream off (set tokentax_stream=HOST:PORT or off)",
                    file=sys.stderr,
                    flush=True,
                )
        metrics = await self._start_metrics()
        if self._otlp_url is not None:
            self.otlp = OtlpExporter(self._otlp_url, self.analyzer)
            self.otlp.start()
        self._tasks.append(asyncio.create_task(self._ticker()))
        save = f", saving to {ctx.options.tokentax_save}" if self.capture else ""
        if listen:  # its own line, before the ready line (whose format scripts parse)
            print(f"tokentax: listen {', '.join(listen)}", flush=True)
        print(f"tokentax: ready; stream {where}{metrics}{save}", flush=True)

    async def _start_metrics(self) -> str:
        """Serve /metrics on this loop; returns the ready line's `, metrics H:P` part."""
        if self._metrics_addr is None:
            return ""
        host, port = self._metrics_addr
        collector = AnalyzerCollector(self._analyzer, extra=self._otlp_metrics, before=self._flush)
        self.metrics = MetricsServer(host, port, make_registry(collector))
        try:
            bound = await self.metrics.start()
        except OSError as exc:
            self.metrics = None
            print(
                f"tokentax: cannot serve metrics on {host}:{port}: {exc.strerror or exc}; metrics off "
                f"(set tokentax_metrics=HOST:PORT or off)",
                file=sys.stderr,
                flush=True,
            )
            return ", metrics off"
        return f", metrics {bound[0]}:{bound[1]}"

    def _otlp_metrics(self) -> list[Any]:
        return [] if self.otlp is None else [otlp_dropped_family(self.otlp.dropped)]

    def _greeting(self) -> list[bytes]:
        return [E.encode(self._session_event()), E.encode(self._summary_event())]

    def _summary_event(self) -> E.Event:
        self.analyzer.advance(time.time())
        return {"v": E.SCHEMA_VERSION, "type": E.SUMMARY, "ts": time.time(), "report": self.analyzer.snapshot()}

    async def _ticker(self) -> None:
        last_status = time.monotonic()
        while True:
            await asyncio.sleep(SUMMARY_TICK_S)
            try:
                self._tick()
                if self.status_interval and time.monotonic() - last_status >= self.status_interval:
                    last_status = time.monotonic()
                    self._print_status()
            except Exception as exc:
                self._count_error("tick", exc)

    def _tick(self) -> None:
        self._flush()
        dropped = self.stream.dropped if self.stream else 0
        cap_err = self.capture.error if self.capture else ""
        if cap_err and cap_err != self._capture_error_reported:
            self._capture_error_reported = cap_err
            print(f"tokentax: error: {cap_err}", file=sys.stderr, flush=True)
        addon_ev = E.addon_event(time.time(), errors=self.errors, dropped=dropped, capture_error=cap_err)
        self.analyzer.ingest(addon_ev)
        if self.stream is not None and self.stream.clients:
            self.stream.publish(E.encode(addon_ev))
            self.stream.publish(E.encode(self._summary_event()))

    def _print_status(self) -> None:
        from inspector.views.report.text import status_line

        self.analyzer.advance(time.time())
        print(status_line(self.analyzer.snapshot()), flush=True)

    async def done(self) -> None:
        self._flush()  # while the stream and the exporter still take events
        for t in self._tasks:
            t.cancel()
        if self.stream is not None:
            await self.stream.stop()
        if self.metrics is not None:
            await self.metrics.stop()
        if self.otlp is not None:
            await self.otlp.close()
        self._tick()
        if self.capture is not None:
            self.capture.write(
                E.encode(
                    E.addon_event(time.time(), errors=self.errors, dropped=self.stream.dropped if self.stream else 0)
                )
            )
            self.capture.close()
        if ctx.options.tokentax_summary:
            from rich.console import Console

            from inspector.views.report.text import summary_renderable

            Console(file=sys.stdout, soft_wrap=False).print(summary_renderable(self.analyzer.snapshot()))

    # -- flow hooks ----------------------------------------------------------------------

    def _defer(self, flow: Any) -> None:
        """Queue a finished flow; build the batch's events once it is full (or the flow is big)."""
        req, resp = flow.request, flow.response
        size = len(req.raw_content or b"") + (len(resp.raw_content or b"") if resp is not None else 0)
        self._flows.append(flow)
        if len(self._flows) >= FLOW_BATCH or size > BATCH_MAX_BYTES:
            self._flush_soon()

    def _flush_soon(self) -> None:
        """Flush once this hook has returned: the flow whose response completed the batch goes
        out to its client first, and does not wait for the batch's events to be built."""
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside an event loop (a script, a test): now
            self._flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        """Build, save, stream and ingest the events of the queued flows, in arrival order."""
        flows, self._flows = self._flows, []
        for flow in flows:
            try:
                self._emit(flow_event(flow, self.rctx))
            except Exception as exc:
                self._count_error("record", exc)

    def _emit(self, ev: E.Event) -> None:
        if self._flows:
            self._flush()  # events leave in the order their flows finished
        if self._infer_roles and ev.get("type") == E.FLOW:
            if self._infer is None:
                self._infer = LiveContainment()
            ev = self._infer.classify(ev)
        self._analyzer.ingest_recorded(ev)
        if self.capture is not None:
            self.capture.write_event(ev)  # encoded (lean, v2) in the writer's thread
        if self.stream is not None and self.stream.clients:
            self.stream.publish(E.encode(ev))  # the stream protocol stays v1
        if self.otlp is not None:
            self.otlp.observe(ev)

    def _count_error(self, where: str, exc: BaseException) -> None:
        self.errors += 1
        now = time.monotonic()
        if now - self._last_error_logged > 5:  # at most one log line per 5 s
            self._last_error_logged = now
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            loc = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else "?"
            # The message is left out on purpose: it could quote traffic (a token, a header).
            log.error(
                f"tokentax: addon error #{self.errors} in {where}: {type(exc).__name__} at {loc}; "
                f"flow passed through untouched"
            )

    def response(self, flow: Any) -> None:
        try:
            self._defer(flow)
        except Exception as exc:
            self._count_error("response", exc)

    def error(self, flow: Any) -> None:
        try:
            if flow.request is None:
                return
            self._defer(flow)
        except Exception as exc:
            self._count_error("error", exc)

    def requestheaders(self, flow: Any) -> None:
        try:
            self._requested.add(flow.client_conn.id)
        except Exception as exc:
            self._count_error("requestheaders", exc)

    def client_disconnected(self, client: Any) -> None:
        """A client connection that closed without a request is a probe, never a request."""
        try:
            cid = client.id
            refused = cid in self._refused
            self._refused.discard(cid)
            if cid in self._requested:
                self._requested.discard(cid)
                return
            ev = probe_event_for(client, self.rctx, "upstream refused" if refused else "no request")
            if ev is not None:
                self._emit(ev)
        except Exception as exc:
            self._count_error("client_disconnected", exc)

    def server_connect_error(self, data: Any) -> None:
        """Eager reverse mode: a refused upstream produces no flow, only this hook."""
        try:
            if getattr(data.client, "proxy_mode", None) is None:
                return
            from mitmproxy.proxy.mode_specs import ReverseMode

            if not isinstance(data.client.proxy_mode, ReverseMode):
                return  # other modes also raise a flow error for the same failure
            if data.client.id not in self._requested and is_inbound_client(data.client, self.rctx):
                # No request was read from this client (eager mode connects upstream first):
                # counted as a probe when it disconnects, not as a failed inbound request.
                self._refused.add(data.client.id)
                return
            self._emit(connect_error_event(data.server, data.client, self.rctx, f"conn-{uuid.uuid4()}"))
        except Exception as exc:
            self._count_error("server_connect_error", exc)
