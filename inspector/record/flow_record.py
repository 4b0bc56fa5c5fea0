"""mitmproxy flow -> tokentax flow event. Pure apart from the connection-reuse memory.

This is the one place that reads raw traffic. It copies out facts and keyed
fingerprints and nothing else: no header values, no bodies, no query strings.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from inspector.record import kinds as K
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
    discovery: K.Discovery = field(default_factory=K.Discovery)  # endpoints named by discovery documents


def _listener(client_conn: Any) -> tuple[int | None, str | None]:
    port = None
    sockname = getattr(client_conn, "sockname", None)
    if sockname and len(sockname) >= 2:
        port = sockname[1]
    mode = getattr(client_conn, "proxy_mode", None)
    return port, (mode.full_spec if mode is not None else None)


@lru_cache(maxsize=512)  # a handful of listeners, one label each: formatted once, not per flow
def _listener_label(port: int | None, spec: str | None) -> str:
    if spec and spec != "regular":
        return spec if "@" in spec or port is None else f"{spec}@{port}"
    return f"{spec or 'regular'}@{port}" if port else (spec or "")


def _role(
    flow: Any, ctx: RecordContext, port: int | None, spec: str | None, host: str, req_port: int, path: str
) -> tuple[str | None, str, R.Rule | None]:
    """The role a listener or a rule gives, and the rule (for its `kind`); (None, "", None) otherwise."""
    if ctx.inbound.matches(port, spec):
        return "inbound", "listener", None
    rule = R.rule_by_listener(port, spec, ctx.rules)
    if rule is not None:
        return rule.role, "listener", rule
    rule = R.rule_by_host_path(host, req_port, path, ctx.rules)
    if rule is not None:
        return rule.role, "rule", rule
    return None, "", None


# Only a response with one of these can carry an answer the record layer reads.
_NEEDLES = (b"access_token", b'"error"', b'"active"', b'"keys"', b'"issuer"', b'"sub"')


def flow_event(flow: Any, ctx: RecordContext) -> Event:
    """Build the event for a finished HTTP flow (response or error).

    Runs in mitmproxy's event loop for every flow: each request property (which decodes
    bytes on every access) is read once, and callout-only work is skipped for other roles.
    """
    req = flow.request
    resp = flow.response
    port, spec = _listener(flow.client_conn)
    method = req.method
    host = req.host
    req_port = req.port
    raw_path = req.path
    path = raw_path.split("?", 1)[0]
    clean_path = clean_text(path[:MAX_PATH])
    clean_host = clean_text(host)
    req_body = req.raw_content
    rqh = header_map(req.headers)
    rsh = header_map(resp.headers) if resp is not None else {}
    form = T.parse_form_or_json(req_body, rqh.get("content-type", "")) if method == "POST" else {}
    role, role_by, rule = _role(flow, ctx, port, spec, host, req_port, path)
    resp_obj = None
    body = None
    maybe_callout = role is None or role == "callout"
    if resp is not None and maybe_callout and "json" in rsh.get("content-type", "json").lower():
        body = resp.raw_content
        if body and rsh.get("content-encoding"):
            body = T.bounded_decode(body, rsh["content-encoding"])
        if body and any(n in body for n in _NEEDLES):  # only what can be an auth answer
            resp_obj = T.parse_json_object(body)
    bearer = T.bearer_facts(rqh.get("authorization"), ctx.fpr)
    endpoint = f"{clean_host}:{req_port}{clean_path}"
    kind: str | None = None
    kind_by = ""
    discovered: list[str] = []
    if maybe_callout and K.looks_like_discovery(resp_obj):
        # Metadata, not auth work per request: it names the endpoints, and is no callout itself.
        assert resp_obj is not None
        discovered = ctx.discovery.register(resp_obj)
        role, role_by = "other", "shape"
    elif maybe_callout:
        if rule is not None and rule.kind:
            kind, kind_by = rule.kind, "rule"
        else:
            token_response = T.looks_like_token_response(resp_obj)
            kind, kind_by = K.shape_kind(method, path, endpoint, rqh, form, resp_obj, token_response, ctx.discovery)
        if kind is None and method == "POST" and R.is_token_path(path, ctx.rules):
            kind, kind_by = "token", "hint"
        if role is None and kind is not None:
            role, role_by = "callout", ("shape" if kind_by == "shape" else kind_by)
        elif role == "callout" and kind is None:
            kind, kind_by = "forward_auth", "default"  # auth side, no OAuth shape: a decision call
    if role is None:
        # Behind a known inbound listener everything else is the gateway's egress.
        role, role_by = ("backend", "default") if bearer is not None or ctx.inbound else ("other", "default")

    sc = flow.server_conn
    reused = bool(sc is not None and sc.id and ctx.conns.seen_before(sc.id))
    timing = hop_timing(flow, reused)
    end = None
    if resp is not None:
        end = resp.data.timestamp_end or resp.data.timestamp_start
    elif flow.error is not None:
        end = flow.error.timestamp
    ev: Event = {
        "v": SCHEMA_VERSION,
        "type": FLOW,
        "id": flow.id,
        "ts": req.data.timestamp_start,
        "end": end,
        "role": role,
        "role_by": role_by,
        "listener": _listener_label(port, spec),
        "method": clean_text(method),
        "scheme": clean_text(req.scheme),
        # req.host, not pretty_host: the target either way in reverse and regular mode, and
        # pretty_host parses the Host header through IDNA (a quarter of the record cost).
        "host": clean_host,
        "port": req_port,
        "path": clean_path,
        "status": resp.status_code if resp is not None else None,
        "timing": timing,
        "size": {"req": len(req_body or b""), "resp": len(resp.raw_content or b"") if resp is not None else 0},
    }
    if flow.error is not None:
        ev["error"] = error_facts(str(flow.error.msg))
    tr = trace_id(rqh)
    if tr:
        ev["trace"] = {"id": tr[0], "src": tr[1]}
    if bearer is not None:
        ev["bearer"] = bearer
    if role == "callout":
        _callout_facts(ev, kind or "forward_auth", kind_by, endpoint, form, rqh, rsh, resp_obj, body, bearer, ctx)
    elif discovered:
        ev["discovery"] = sorted(set(discovered))
    if resp is not None:
        hints = gateway_hints(rsh)
        if hints:
            ev["gateway"] = hints
    return ev


def _callout_facts(
    ev: Event,
    kind: str,
    kind_by: str,
    endpoint: str,
    form: dict[str, str],
    rqh: dict[str, str],
    rsh: dict[str, str],
    resp_obj: dict | None,
    body: bytes | None,
    bearer: dict | None,
    ctx: RecordContext,
) -> None:
    """`kind`, `key` and the answer facts of one callout (docs/events.md)."""
    ev["kind"] = kind
    ev["kind_by"] = kind_by
    key: dict[str, Any] = {"endpoint": endpoint}
    status = ev["status"]
    fpr = ctx.fpr
    if kind in ("token", "exchange", "introspection"):
        key.update(T.request_facts(form, rqh.get("authorization")))
    if kind in ("token", "exchange"):
        if kind == "exchange":
            key.update(K.exchange_key(form, fpr))
        if resp_obj is not None and (T.looks_like_token_response(resp_obj) or T.looks_like_token_error(resp_obj)):
            ev["token"] = T.response_facts(resp_obj, fpr)
            itt = resp_obj.get("issued_token_type")
            if kind == "exchange" and isinstance(itt, str):
                ev["token"]["issued_token_type"] = clean_text(itt[:200])
    elif kind == "introspection":
        tkey, facts = K.introspection_request(form, fpr)
        key.update(tkey)
        if K.looks_like_introspection(resp_obj):
            assert resp_obj is not None
            facts.update(K.introspection_answer(resp_obj, fpr))
        elif T.looks_like_token_error(resp_obj):
            assert resp_obj is not None
            facts["error"] = clean_text(str(resp_obj["error"])[:80])
        ev["introspection"] = facts
    elif kind == "jwks":
        facts = K.freshness(rsh, ev.get("end")) if status is not None else {}
        if K.looks_like_jwks(resp_obj):
            assert resp_obj is not None and body is not None
            facts.update(K.jwks_answer(resp_obj, body, fpr))
        ev["jwks"] = facts
    elif kind == "userinfo":
        if bearer is not None and bearer.get("fp"):
            key["bearer_fp"] = bearer["fp"]
        facts = {}
        if resp_obj is not None and status is not None and 200 <= status < 300 and isinstance(resp_obj.get("sub"), str):
            facts = K.userinfo_answer(resp_obj, fpr)
        elif T.looks_like_token_error(resp_obj):
            assert resp_obj is not None
            facts["error"] = clean_text(str(resp_obj["error"])[:80])
        ev["userinfo"] = facts
    else:  # forward_auth
        key.update(K.forwarded_credential(rqh, fpr))
        ev["forward_auth"] = {"decision": K.decision(status) if "error" not in ev else "error"}
    ev["key"] = key


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
    rule = R.rule_by_listener(port, spec, ctx.rules)
    if role is None:
        rule = R.rule_by_host_path(str(host), sport, "/", ctx.rules)
        role = rule.role if rule is not None else None
        role_by = "rule"
    if role is None:
        role, role_by = ("backend", "default") if ctx.inbound else ("other", "default")
    ts = server.timestamp_start or client.timestamp_start
    ev: Event = {
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
    if role == "callout" and rule is not None and rule.kind:
        ev["kind"], ev["kind_by"] = rule.kind, "rule"
    return ev
