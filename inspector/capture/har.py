"""Read a HAR file (HTTP Archive 1.2) into tokentax events.

Entries become mitmproxy flows through mitmproxy's own HAR reader
(`mitmproxy.io.har.request_to_flow`) and then events through the same record layer as
live traffic. Two things mitmproxy's reader leaves out are put back here, because the
figures depend on them:

- timing: the reader stamps the response as starting when the request did, so time to
  first byte would be zero. The entry's `timings` (send, wait, receive, connect, ssl)
  rebuild the timestamps; `connect: -1` means a kept-alive connection.
- failed exchanges: mitmproxy writes a failed flow as status 0 with `_error`; that
  becomes a flow error again, not a response with status 0.

A HAR does not record which proxy listener a request came in on, so `--inbound PORT`
cannot match. A reverse-proxy spec (`reverse:http://gateway:8000@8081`) still can: its
upstream address is the gateway, and requests to it are the inbound ones.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

from inspector.capture.detect import LoadOptions
from inspector.capture.flowfile import names_inbound, note, record_context, roles_note
from inspector.capture.infer import infer_inbound
from inspector.record import roles as R
from inspector.record.flow_record import RecordContext, flow_event
from inspector.schema import events as E
from inspector.schema.errors import UserError

PROGRESS_EVERY = 256


def load_har_document(fh: IO[bytes], path: Path) -> dict[str, Any]:
    """The whole HAR document, checked to have `log.entries`; UserError otherwise."""
    try:
        raw = fh.read()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # Fiddler writes a byte order mark
    try:
        doc = json.loads(raw)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a HAR file (not UTF-8 text)") from None
    except ValueError as exc:
        raise UserError(f"{path}: not a valid HAR file (broken JSON: {exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("log"), dict):
        raise UserError(f'{path}: not a HAR file (no "log" object)')
    entries = doc["log"].get("entries")
    if not isinstance(entries, list):
        raise UserError(f'{path}: not a HAR file ("log" has no "entries" list)')
    return doc


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0.0


def _normalized(entry: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy with the keys mitmproxy's reader insists on, filled from what HAR allows."""
    req = dict(entry["request"])
    resp = dict(entry.get("response") or {})
    req.setdefault("httpVersion", "HTTP/1.1")
    req.setdefault("headers", [])
    post = req.get("postData")
    if isinstance(post, dict) and "text" not in post:
        params = [(p.get("name", ""), p.get("value", "")) for p in post.get("params") or [] if isinstance(p, dict)]
        req["postData"] = {**post, "text": urlencode(params)}
    resp.setdefault("status", 0)
    resp.setdefault("httpVersion", "HTTP/1.1")
    resp.setdefault("headers", [])
    if not isinstance(resp.get("content"), dict):
        resp["content"] = {}
    out = dict(entry)
    out["request"], out["response"] = req, resp
    out.setdefault("time", 0)
    return out


class HarFlows:
    """Turns HAR entries into mitmproxy flows with their timing rebuilt."""

    def __init__(self, creator: str) -> None:
        # mitmproxy writes connect/ssl as happening alongside the request, browsers before it.
        self.sequential = creator.lower() != "mitmproxy"
        self._server_ids: dict[tuple[str, int], str] = {}

    def flow(self, entry: dict[str, Any]) -> Any:
        from mitmproxy.flow import Error
        from mitmproxy.io.har import request_to_flow

        norm = _normalized(entry)
        flow = request_to_flow(norm)
        raw_timings = norm.get("timings")
        timings: dict[str, Any] = raw_timings if isinstance(raw_timings, dict) else {}
        t0 = flow.request.timestamp_start
        send, wait, receive = _num(timings.get("send")), _num(timings.get("wait")), _num(timings.get("receive"))
        connect_raw = timings.get("connect")
        connect, ssl = _num(connect_raw), _num(timings.get("ssl"))
        pre = 0.0
        if self.sequential:
            pre = _num(timings.get("blocked")) + _num(timings.get("dns")) + connect
            connect = max(0.0, connect - ssl)  # HAR 1.2: connect includes ssl
        if not any((send, wait, receive, connect, ssl, pre)):
            wait = _num(norm.get("time"))  # no timings at all: the whole time counts as waiting
        sc = flow.server_conn
        url = urlsplit(flow.request.url)
        addr = (norm.get("serverIPAddress") or url.hostname or "", flow.request.port)
        req_end = t0 + send / 1000.0
        if isinstance(connect_raw, (int, float)) and connect_raw < 0:
            known = self._server_ids.get(addr)
            if known is not None:
                sc.id = known  # the same kept-alive connection as an earlier entry
            sc.timestamp_start = None
        else:
            # Sequential (browser) HAR: blocked, dns, connect, ssl come before the response can start; in
            # mitmproxy's model the connection is set up after the request is read (lazily), which keeps
            # send, connect, TLS and wait each as the HAR says and time to first byte their sum.
            if self.sequential:
                sc.timestamp_start = req_end + (pre - connect - ssl) / 1000.0
            else:
                sc.timestamp_start = t0 - (connect + ssl) / 1000.0
            sc.timestamp_tcp_setup = sc.timestamp_start + connect / 1000.0
            sc.timestamp_tls_setup = sc.timestamp_tcp_setup + ssl / 1000.0 if ssl else None
        self._server_ids.setdefault(addr, sc.id)
        flow.request.timestamp_end = req_end
        resp_json = norm["response"]
        if not resp_json.get("status"):
            msg = resp_json.get("_error") or "no response"
            flow.response = None
            flow.error = Error(str(msg), timestamp=t0 + _num(norm.get("time")) / 1000.0)
        elif flow.response is not None:
            flow.response.timestamp_start = req_end + (pre + wait) / 1000.0
            flow.response.timestamp_end = flow.response.timestamp_start + receive / 1000.0
        return flow


def inbound_host_rules(spec_text: str) -> tuple[tuple[R.Rule, ...], list[str]]:
    """Reverse-proxy specs in --inbound -> rules matching their upstream; items a HAR cannot match."""
    from mitmproxy.proxy.mode_specs import ProxyMode, ReverseMode

    rules: list[R.Rule] = []
    unmatched: list[str] = []
    for item in (part.strip() for part in spec_text.split(",")):
        if not item:
            continue
        mode = None if item.isdigit() else ProxyMode.parse(item)  # already validated by parse_listeners
        if isinstance(mode, ReverseMode):
            host, port = mode.address
            rules.append(R.Rule("inbound", hosts=(f"{host}:{port}",)))
        else:
            unmatched.append(item)
    return tuple(rules), unmatched


def _har_context(path: Path, opts: LoadOptions) -> RecordContext:
    ctx = record_context(opts)
    if opts.inbound:
        rules, unmatched = inbound_host_rules(opts.inbound)
        if unmatched:
            note(
                opts,
                f"{path}: a HAR file does not record proxy listeners, so --inbound {', '.join(unmatched)} "
                f"cannot match: inbound requests are inferred by containment instead; to name them, give the "
                f"reverse spec (reverse:http://GATEWAY:PORT@LISTEN) or an [inbound] hosts rule",
            )
        ctx.rules = R.Rules(rules + ctx.rules.rules, ctx.rules.token_paths, ctx.rules.routes)
    return ctx


def iter_har_flows(doc: dict[str, Any], path: Path) -> Iterator[tuple[int, Any]]:
    """(entry index, flow) for every entry; a malformed entry is a UserError naming it."""
    creator = doc["log"].get("creator")
    maker = HarFlows(str(creator.get("name", "")) if isinstance(creator, dict) else "")
    for i, entry in enumerate(doc["log"]["entries"]):
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
                raise ValueError("no request object")
            flow = maker.flow(entry)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            raise UserError(f"{path}: HAR entry {i} cannot be read ({detail})") from None
        yield i, flow


def read_har(fh: IO[bytes], path: Path, opts: LoadOptions) -> Iterator[E.Event]:
    """The session event, then one flow event per HAR entry, in file order."""
    doc = load_har_document(fh, path)
    if opts.progress is not None:
        try:
            opts.progress(fh.tell())
        except (OSError, ValueError):
            pass
    entries = doc["log"]["entries"]
    if not entries:
        raise UserError(f"{path}: the HAR file has no entries")
    ctx = _har_context(path, opts)
    if names_inbound(ctx.rules):  # a reverse spec in --inbound, or the user's [inbound] rules
        yield from _har_events(doc, path, ctx, opts, inferred=False)
    else:
        # no listener information in a HAR: `--inbound PORT` cannot match, so (as with nothing
        # given) inbound requests are inferred by containment
        if not opts.inbound:
            roles_note(path, opts, ctx.rules)
        yield from infer_inbound(_har_events(doc, path, ctx, opts, inferred=True))


def _har_events(
    doc: dict[str, Any], path: Path, ctx: RecordContext, opts: LoadOptions, inferred: bool
) -> Iterator[E.Event]:
    started = False
    for i, flow in iter_har_flows(doc, path):
        if not started:
            started = True
            yield E.session_event(
                flow.request.timestamp_start,
                source="har",
                key_id=ctx.fpr.key_id,
                inbound=opts.inbound,
                roles_inferred=inferred,
            )
        try:
            ev = flow_event(flow, ctx)
        except Exception as exc:
            raise UserError(
                f"{path}: HAR entry {i} cannot be read as an HTTP exchange ({type(exc).__name__})"
            ) from None
        yield ev
