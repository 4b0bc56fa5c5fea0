"""mitmproxy flow -> tokentax flow event. Pure apart from the connection-reuse memory.

This is the one place that reads raw traffic. It copies out facts and keyed
fingerprints and nothing else: no header values, no bodies, no query strings.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from inspector.record import roles as R
from inspector.record import tokens as T
from inspector.record.failures import error_facts
from inspector.record.fingerprint import Fingerprinter
from inspector.record.gateway import gateway_hints
from inspector.record.text import clean_text
from inspector.record.timing import hop_timing
from inspector.record.trace import trace_id
from inspector.schema.events import FLOW, SCHEMA_VERSION, Event, probe_event

MAX_PATH = 300


def header_map(headers: Any) -> dict[str, str]:
    """Headers as a plain dict with lower-case names, decoded once.

    mitmproxy's Headers.get costs microseconds per lookup (multidict, bytes/str
    conversion); the record layer looks up about thirty names per flow.
    """
    return {k.decode("latin-1").lower(): v.decode("utf-8", "surrogateescape") for k, v in headers.fields}


class ConnMemory:
    """Bounded memory of server connection ids, to tell a reused connection from a new one."""

    def __init__(self, limit: int = 50_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def seen_before(self, conn_id: str) -> bool:
        if conn_id in self._seen:
            self._seen.move_to_end(conn_id)
            return True
        self._seen[conn_id] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return False


@dataclass
class RecordContext:
    fpr: Fingerprinter = field(default_factory=Fingerprinter)
    inbound: R.Listeners = field(default_factory=R.Listeners)
    rules: R.Rules = field(default_factory=R.Rules)
    conns: ConnMemory = field(default_factory=ConnMemory)


def _listener(client_conn: Any) -> tuple[int | None, str | None]:
    port = None
    sockname = getattr(client_conn, "sockname", None)
    if sockname and len(sockname) >= 2:
        port = sockname[1]
    mode = getattr(client_conn, "proxy_mode", None)
    return port, (mode.full_spec if mode is not None else None)


def _listener_label(port: int | None, spec: str | None) -> str:
    if spec and spec != "regular":
        return spec if "@" in spec or port is None else f"{spec}@{port}"
    return f"{spec or 'regular'}@{port}" if port else (spec or "")


def _role(
    flow: Any,
    ctx: RecordContext,
    form: dict[str, str],
    resp_obj: dict | None,
    bearer: dict | None,
    port: int | None,
    spec: str | None,
) -> tuple[str, str]:
    role = R.role_by_listener(port, spec, ctx.inbound, ctx.rules)
    if role:
        return role, "listener"
    req = flow.request
    role = R.role_by_rules(req.host, req.port, req.path.split("?", 1)[0], ctx.rules)
    if role:
        return role, "rule"
    if "grant_type" in form or T.looks_like_token_response(resp_obj):
        return "callout", "shape"
    if req.method == "POST" and R.is_token_path(req.path.split("?", 1)[0], ctx.rules):
        return "callout", "hint"
    if bearer is not None or ctx.inbound:
        # Behind a known inbound listener everything else is the gateway's egress.
        return "backend", "default"
    return "other", "default"


def flow_event(flow: Any, ctx: RecordContext) -> Event:
    """Build the event for a finished HTTP flow (response or error)."""
    req = flow.request
    resp = flow.response
    port, spec = _listener(flow.client_conn)
    rqh = header_map(req.headers)
    rsh = header_map(resp.headers) if resp is not None else {}
    form = T.parse_form_or_json(req.raw_content, rqh.get("content-type", "")) if req.method == "POST" else {}
    resp_obj = None
    if resp is not None and "json" in rsh.get("content-type", "json").lower():
        body = resp.raw_content
        if body and rsh.get("content-encoding"):
            body = T.bounded_decode(body, rsh["content-encoding"])
        if body and (b"access_token" in body or b'"error"' in body):  # only what can be a token answer
            resp_obj = T.parse_json_object(body)
    bearer = T.bearer_facts(rqh.get("authorization"), ctx.fpr)
    role, role_by = _role(flow, ctx, form, resp_obj, bearer, port, spec)

    sc = flow.server_conn
    reused = bool(sc is not None and sc.id and ctx.conns.seen_before(sc.id))
    timing = hop_timing(flow, reused)
    end = None
    if resp is not None:
        end = resp.timestamp_end or resp.timestamp_start
    elif flow.error is not None:
        end = flow.error.timestamp
    ev: Event = {
        "v": SCHEMA_VERSION,
        "type": FLOW,
        "id": flow.id,
        "ts": req.timestamp_start,
        "end": end,
        "role": role,
        "role_by": role_by,
        "listener": _listener_label(port, spec),
        "method": clean_text(req.method),
        "scheme": clean_text(req.scheme),
        # req.host, not pretty_host: the target either way in reverse and regular mode, and
        # pretty_host parses the Host header through IDNA (a quarter of the record cost).
        "host": clean_text(req.host),
        "port": req.port,
        "path": clean_text(req.path.split("?", 1)[0][:MAX_PATH]),
        "status": resp.status_code if resp is not None else None,
        "timing": timing,
        "size": {"req": len(req.raw_content or b""), "resp": len(resp.raw_content or b"") if resp is not None else 0},
    }
    if flow.error is not None:
        ev["error"] = error_facts(str(flow.error.msg))
    tr = trace_id(rqh)
    if tr:
        ev["trace"] = {"id": tr[0], "src": tr[1]}
    if bearer is not None:
        ev["bearer"] = bearer
    if role == "callout":
        key = {"endpoint": f"{ev['host']}:{req.port}{ev['path']}"}
        key.update(T.request_facts(form, rqh.get("authorization")))
        ev["key"] = key
        if resp_obj is not None and (T.looks_like_token_response(resp_obj) or T.looks_like_token_error(resp_obj)):
            ev["token"] = T.response_facts(resp_obj, ctx.fpr)
    if resp is not None:
        hints = gateway_hints(rsh)
        if hints:
            ev["gateway"] = hints
    return ev


def is_inbound_client(client: Any, ctx: RecordContext) -> bool:
    """Whether a client connection came in on a listener that faces clients."""
    port, spec = _listener(client)
    return R.role_by_listener(port, spec, ctx.inbound, ctx.rules) == "inbound"


def probe_event_for(client: Any, ctx: RecordContext, reason: str) -> Event | None:
    """The probe event for a client connection that carried no request, if it came in on
    an inbound listener (elsewhere a request-less connection is not counted)."""
    if not is_inbound_client(client, ctx):
        return None
    port, spec = _listener(client)
    ts = getattr(client, "timestamp_start", None) or 0.0
    return probe_event(float(ts), listener=_listener_label(port, spec), reason=reason)


def connect_error_event(server: Any, client: Any, ctx: RecordContext, flow_id: str) -> Event:
    """An upstream that refused the connection, seen without any flow (eager reverse mode)."""
    port, spec = _listener(client)
    host, sport = (server.address or ("?", None))[:2]
    role = R.role_by_listener(port, spec, ctx.inbound, ctx.rules)
    role_by = "listener"
    if role is None:
        role = R.role_by_rules(str(host), sport, "/", ctx.rules)
        role_by = "rule"
    if role is None:
        role, role_by = ("backend", "default") if ctx.inbound else ("other", "default")
    ts = server.timestamp_start or client.timestamp_start
    return {
        "v": SCHEMA_VERSION,
        "type": FLOW,
        "id": flow_id,
        "ts": ts,
        "end": ts,
        "role": role,
        "role_by": role_by,
        "listener": _listener_label(port, spec),
        "method": None,
        "scheme": None,
        "host": str(host),
        "port": sport,
        "path": None,
        "status": None,
        "timing": {
            "reused": False,
            "connect": 0.0,
            "tls": 0.0,
            "send": 0.0,
            "wait": 0.0,
            "receive": 0.0,
            "ttfb": None,
            "total": 0.0,
        },
        "size": {"req": 0, "resp": 0},
        "error": error_facts(str(server.error or "connection refused")),
    }
