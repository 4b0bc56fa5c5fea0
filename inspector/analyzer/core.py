"""The analyzer: the single source of truth for every figure tokentax shows.

`ingest(event)` is incremental and cheap; `snapshot()` renders the whole state as one
JSON-serialisable dict (the report, schema tokentax.report/1) that every view reads.
Time is the traffic's own time (flow timestamps), so a capture read back gives the same
figures as the live session. Memory is bounded: rings, LRUs and histograms only.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from inspector.analyzer.correlate import Correlator, Hop
from inspector.analyzer.findings import findings as build_findings
from inspector.analyzer.kinds.book import TOKEN_PATH_KINDS, KindBook, kind_of
from inspector.analyzer.kinds.book import failed as kind_failed
from inspector.analyzer.ledger import CalloutHop, TokenLedger
from inspector.analyzer.notes import known_unknowns
from inspector.analyzer.quantiles import Quantiles
from inspector.analyzer.rates import RateWindow
from inspector.analyzer.routes import template
from inspector.analyzer.sanitize import clean_flow, count
from inspector.analyzer.tokens import KeyState, KeyTable, TokenTable
from inspector.record.gateway import PRODUCTS
from inspector.schema.events import ADDON, FLOW, PROBE, SESSION, Event

REPORT_SCHEMA = "tokentax.report/1"
_NO_TIMING: dict[str, Any] = {}  # read-only: a flow without timings
FAILED_BEARERS = ("empty", "garbage")


@dataclass(frozen=True)
class AnalyzerConfig:
    skew_s: float = 30.0  # a token is treated as expired this long before it really does
    rate_window_s: int = 10
    series_s: int = 180
    stampede_min: int = 5  # this many concurrent callouts for one key is a stampede
    recent_flows: int = 5_000
    max_routes: int = 256
    max_tokens: int = 10_000
    max_keys: int = 1_000
    top_tokens: int = 50
    forward_auth_window_s: float = 60.0  # a forward-auth decision repeated within this is redundant
    # the gateway product the user named (record.gateway.named_gateway): first in the report's
    # `gateway` list, so findings give its fix, where its headers name no product
    gateway: str | None = None


def key_text(key: dict[str, Any] | None) -> str:
    if not key:
        return "?"
    parts = [str(key.get("endpoint", "?"))]
    for name, label in (
        ("client_id", "client"),
        ("scope", "scope"),
        ("audience", "aud"),
        # exchange (RFC 8693): the subject token and what was asked for
        ("resource", "resource"),
        ("subject_fp", "subject"),
        ("actor_fp", "actor"),
        ("requested_token_type", "requested"),
    ):
        if key.get(name):
            parts.append(f"{label}={key[name]}")
    return " ".join(parts)


class RouteStats:
    __slots__ = ("role", "route", "count", "errors", "hist")

    def __init__(self, role: str, route: str) -> None:
        self.role, self.route = role, route
        self.count = self.errors = 0
        self.hist = Quantiles()


class Analyzer:
    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.cfg = cfg = config or AnalyzerConfig()
        self.session: dict[str, Any] = {}
        self.first_ts: float | None = None
        self.now: float = 0.0
        self.flows = Counter({"inbound": 0, "callout": 0, "backend": 0, "other": 0})
        self.role_by: Counter[str] = Counter()  # flows per rule that gave their role
        self.rates = RateWindow(max(cfg.series_s, cfg.rate_window_s) + 60)
        self.recent: deque[Event] = deque(maxlen=cfg.recent_flows)
        self.tokens = TokenTable(cfg.max_tokens)
        self.keys = KeyTable(cfg.max_keys)
        self.issued_fps: OrderedDict[str, None] = OrderedDict()  # fingerprints ever returned by a callout
        self.corr = Correlator()
        self.ledger = TokenLedger()  # on the request path or not, origin or relay, nested (ledger.py)
        self.corr.on_match = self.ledger.matched
        self.routes: dict[tuple[str, str], RouteStats] = {}
        # (role, method, host, port, path template) -> its route; the templates themselves are
        # memoised in routes.template (bounded LRU), so this holds one entry per route, not per path
        self._route_of: dict[tuple, RouteStats] = {}
        self._key_texts: dict[int, tuple[dict, str]] = {}  # id(key dict) -> (it, key_text(it))
        # callouts
        self.callouts_ok = self.callouts_failed = self.redundant = self.identical = 0
        self.callouts_unreadable = 0
        self.callout_hist = Quantiles()
        self.redundant_any_ms = 0.0  # redundant callouts' time, on the request path or not
        self.callout_failures: Counter[str] = Counter()
        self.lifetimes: Counter[tuple[float, str]] = Counter()
        # inbound
        self.ttfb_hist = Quantiles()
        self.inbound_ttfb_ms = 0.0
        self.inbound_errors = 0
        self.errors = 0
        # auth failure aftermath
        self.last_callout_end = -1.0
        self.last_callout_failed = False
        self.any_callout_failure = False
        self.callout_starts: deque[float] = deque(maxlen=4096)
        self.error_reused = 0  # inbound errors answered with no new callout after a failed one
        self.bad_bearer_after_failure = 0  # backend calls with empty/garbage bearer after a failure
        self.bad_bearer_examples: list[str] = []
        # caller credential fp -> end of its last failed auth call and the kind: a gateway that
        # caches a failure per caller (introspection, userinfo, exchange, forward-auth) poisons
        # that caller only, while other callers' calls succeed in between
        self.failed_for: OrderedDict[str, tuple[float, str]] = OrderedDict()
        # stampedes
        self.stampedes = 0
        self.max_burst = 0
        # gateway: from its own answers to inbound requests (else from unclassified flows)
        self.gateways: Counter[str] = Counter()
        # per kind (analyzer/kinds): counters for callouts.by_kind, rules of the non-token kinds
        self.kinds = KindBook(lambda: self.cfg.forward_auth_window_s)
        self.last_callout_kind = "token"
        self.gateways_other: Counter[str] = Counter()
        # addon health (from addon events)
        self.addon_errors = 0
        self.dropped = 0
        self.probes: Counter[str] = Counter()  # inbound connections without a request, by reason
        self.capture_error = ""
        self.events = 0

    # -- ingest ------------------------------------------------------------------------

    def ingest(self, ev: Event) -> None:
        t = ev.get("type")
        if t == FLOW:
            flow = clean_flow(ev)  # a field of the wrong type counts as absent; a flow with no real time is skipped
            if flow is not None:
                self._flow(flow)
        elif t == SESSION:
            if not self.session:
                self.session = {k: v for k, v in ev.items() if k not in ("v", "type")}
                # the gateway named when the capture was made (tokentax_gateway) goes with it;
                # a name given now (--gateway) wins, and only a known product is taken
                named = ev.get("gateway")
                if self.cfg.gateway is None and isinstance(named, str) and named in PRODUCTS:
                    self.cfg = replace(self.cfg, gateway=named)
        elif t == PROBE:
            self.probes[str(ev.get("reason") or "no request")] += 1  # never an inbound request
            self._clock(ev.get("ts"))
        elif t == ADDON:
            self.addon_errors = count(ev.get("errors"))
            self.dropped = count(ev.get("dropped"))
            self.capture_error = str(ev.get("capture_error", "") or "")
            self._clock(ev.get("ts"))

    def ingest_recorded(self, ev: Event) -> None:
        """`ingest` for an event the record layer built in this process (the addon's path): such
        events are well-formed by construction, so `clean_flow`, which guards against captures
        someone edited, is skipped. The gateway tests check `clean_flow(ev) is ev` for every
        flow a real gateway made (tests/gateways/harness.py)."""
        if ev.get("type") == FLOW:
            self._flow(ev)
        else:
            self.ingest(ev)

    def ingest_many(self, events: Iterable[Event], cleaned: bool = False) -> None:
        """`ingest` each event in order, with less overhead per event: the offline readers' path
        (capture/load.py). The figures are those of ingesting one by one (tests/analyzer/test_batch.py).
        `cleaned`: the caller promises every flow event is as `sanitize.clean_flow` returns it (the
        capture readers with LoadOptions.clean vet lean records shape by shape, which is cheaper)."""
        flow = self._flow
        one = self.ingest
        for ev in events:
            if ev.get("type") == FLOW:
                if cleaned:
                    flow(ev)
                else:
                    f = clean_flow(ev)
                    if f is not None:
                        flow(f)
            else:
                one(ev)

    def _clock(self, ts: Any) -> None:
        if isinstance(ts, (int, float)) and ts > self.now:
            self.now = float(ts)

    def advance(self, now: float) -> None:
        """Move the clock on with no traffic (live views call this so idle rates fall to 0)."""
        self._clock(now)

    def _flow(self, ev: Event) -> None:
        self.events += 1
        g = ev.get
        role = ev["role"]
        ts = float(ev["ts"])
        end = g("end") or ts
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if end > self.now:
            self.now = end
        self.flows[role] += 1
        self.role_by[g("role_by") or "?"] += 1
        self.rates.add(role, ts)
        self.recent.append(ev)
        status = g("status")
        error = g("error")
        failed = error is not None or (status is not None and status >= 500)
        if failed:
            self.errors += 1
            self.rates.add("errors", ts)
        timing = g("timing") or _NO_TIMING
        total = timing.get("total") or 0.0
        path = g("path")
        route_key = (role, g("method"), g("host"), g("port"), template(path) if path else "")
        rs = self._route_of.get(route_key)
        if rs is None:
            rs = self._route_stats(*route_key)
        route = rs.route
        rs.count += 1
        if failed or (status is not None and status >= 400):
            rs.errors += 1
        if total:
            rs.hist.add(total)
        if role in ("inbound", "other"):
            counter = self.gateways if role == "inbound" else self.gateways_other
            for name in g("gateway") or ():
                counter[name] += 1

        tr = g("trace")
        trace = tr.get("id") if tr else None
        if role == "inbound":
            self._inbound(ev, ts, end, timing, trace, failed or (status is not None and status >= 400))
        elif role == "callout":
            hop = self.ledger.hop(ev, ts, end, trace)
            self.corr.add_hop(hop)
            kind = kind_of(ev)
            if kind in TOKEN_PATH_KINDS:
                self._token_path_callout(kind, ev, ts, end, total, status, error, hop)
            else:
                self._kind_callout(kind, ev, ts, end, total, status, error, hop)
            if self.last_callout_end == end:
                self.last_callout_kind = kind
        elif role == "backend":
            self.corr.add_hop(Hop(g("id", ""), role, ts, end, trace))
            self._backend(ev, ts, route)

    def _key_text(self, key: dict[str, Any] | None) -> str:
        """key_text, memoised by identity: a lean capture's reader shares one dict per distinct
        key between events (interned values; events are read-only). The memo holds the dict,
        so its id is not reused while cached; bounded."""
        if key is None:
            return key_text(key)
        hit = self._key_texts.get(id(key))
        if hit is not None and hit[0] is key:
            return hit[1]
        text = key_text(key)
        if len(self._key_texts) >= 256:
            self._key_texts.clear()
        self._key_texts[id(key)] = (key, text)
        return text

    def _route_stats(self, role: str, method: str | None, host: str | None, port: int | None, tpl: str) -> RouteStats:
        """The route of (method, host, port, path template); memoised, bounded."""
        route = f"{method or '-'} {host}:{port}{tpl}"
        rs = self.routes.get((role, route))
        if rs is None:
            if len(self.routes) >= self.cfg.max_routes:
                route = "(other routes)"
                rs = self.routes.get((role, route))
            if rs is None:
                rs = self.routes[(role, route)] = RouteStats(role, route)
        if len(self._route_of) >= 50_000:
            self._route_of.clear()
        self._route_of[(role, method, host, port, tpl)] = rs
        return rs

    def _inbound(self, ev: Event, ts: float, end: float, timing: dict, trace: str | None, failed: bool) -> None:
        ttfb = timing.get("ttfb")
        if ttfb is not None:
            self.ttfb_hist.add(ttfb)
            self.inbound_ttfb_ms += ttfb
        if failed:
            self.inbound_errors += 1
            # An error the gateway answered without a new callout, after its last callout failed.
            caller = self.failed_for.get((ev.get("bearer") or {}).get("fp") or "")
            if self.last_callout_failed and self.last_callout_end <= ts and not self._callout_started_in(ts, end):
                self.error_reused += 1
                self.kinds.of(self.last_callout_kind).error_reused += 1
            elif caller is not None and caller[0] <= ts and not self._callout_started_in(ts, end):
                self.error_reused += 1  # this caller's failure was reused, while others' calls went on
                self.kinds.of(caller[1]).error_reused += 1
        fp = (ev.get("bearer") or {}).get("fp")
        if fp:  # the caller's own bearer: if the gateway passes it on, it is no service token
            self.ledger.client_bearer(fp)
            info = self.tokens.peek(fp)
            if info is not None:
                info.client = True
        self.corr.add_inbound(ev.get("id", ""), ts, end, trace)
        bearer = ev.get("bearer")
        claims = bearer.get("jwt") if type(bearer) is dict else None
        if type(claims) is dict and isinstance(claims.get("kid"), str):
            self.kinds.jwks.saw_kid(claims["kid"], ts, end, trace)

    def _callout_started_in(self, start: float, end: float) -> bool:
        # callout_starts is in arrival (end) order; hops last well under a minute
        for s in reversed(self.callout_starts):
            if start <= s <= end:
                return True
            if s < start - 60.0:
                return False
        return False

    @property
    def redundant_ms(self) -> float:
        """The tax in ms: redundant, non-nested callouts of any kind that an inbound request waited for."""
        return self.ledger.tax_ms

    def _token_path_callout(
        self,
        kind: str,
        ev: Event,
        ts: float,
        end: float,
        total: float,
        status: int | None,
        error: Any,
        hop: CalloutHop,
    ) -> None:
        """A token or exchange callout: the token rule judges it; its kind's counters take the difference."""
        st = self.kinds.of(kind)
        r0, i0, f0, u0, ok0 = (
            self.redundant,
            self.identical,
            self.callouts_failed,
            self.callouts_unreadable,
            self.callouts_ok,
        )
        stampedes0 = self.stampedes
        burst0 = self.max_burst
        key = self._key_text(ev.get("key"))
        self._callout(ev, ts, end, total, status, error, hop, key=f"exchange {key}" if kind == "exchange" else key)
        st.total += 1
        if total:
            st.hist.add(total)
        st.redundant += self.redundant - r0
        st.identical += self.identical - i0
        st.failed += self.callouts_failed - f0
        st.unreadable += self.callouts_unreadable - u0
        st.ok += self.callouts_ok - ok0
        if self.stampedes > stampedes0:
            st.stampedes += self.stampedes - stampedes0
        if self.max_burst > burst0:
            st.max_burst = max(st.max_burst, self.max_burst)
        failed_now = self.callouts_failed > f0  # on this path a failure counts in both, once
        if failed_now:
            label = self._failure_label(status, error, ev.get("token") or {})
            st.failures[label] += 1
        self._remember_caller(ev, end, kind, failed_now)

    def _remember_caller(self, ev: Event, end: float, kind: str, failed: bool) -> None:
        """Per caller credential: did its last auth call fail (for error-cached per caller)."""
        cred = _caller_fp(ev.get("key") or {})
        if not cred:
            return
        if failed:
            self.failed_for[cred] = (end, kind)
            self.failed_for.move_to_end(cred)
            if len(self.failed_for) > 10_000:
                self.failed_for.popitem(last=False)
        else:
            self.failed_for.pop(cred, None)

    @staticmethod
    def _failure_label(status: int | None, error: Any, answer: Any) -> str:
        if error is not None:
            kind = error.get("kind", "other")
            return "timeout" if kind == "abandoned" else kind
        if type(answer) is dict and isinstance(answer.get("error"), str):
            return f"{status} {answer['error']}"
        return str(status)

    def _kind_callout(
        self, kind: str, ev: Event, ts: float, end: float, total: float, status: int | None, error: Any, hop: CalloutHop
    ) -> None:
        """A callout of a kind judged by its own rule (analyzer/kinds): same global counters as a token fetch."""
        st = self.kinds.of(kind)
        key = self.kinds.rules[kind].key(ev)
        ks = self.keys.get(key)
        ks.callouts += 1
        st.total += 1
        self.callout_starts.append(ts)
        if total:
            self.callout_hist.add(total)
            st.hist.add(total)
        burst = ks.in_flight_with(ts, end)
        if burst >= self.cfg.stampede_min:
            self.max_burst = max(self.max_burst, burst)
            st.max_burst = max(st.max_burst, burst)
            if ts - ks.last_burst_at > 1.0:
                self.stampedes += 1
                st.stampedes += 1
                ks.last_burst_at = ts
        bad = kind_failed(kind, status, error)
        v = self.kinds.judge(kind, ev, key, ts, end, not bad)
        self.ledger.judged(hop, ks, "redundant" if v.redundant else None, total, token_kind=False)
        if v.redundant:
            ks.redundant += 1
            st.redundant += 1
            self.redundant += 1
            self.redundant_any_ms += total
            self.rates.add("redundant", ts)
        if v.unreadable:
            self.callouts_unreadable += 1
            st.unreadable += 1
            return
        if end >= self.last_callout_end:
            self.last_callout_end = end
            self.last_callout_failed = bad
        self._remember_caller(ev, end, kind, bad)
        if bad:
            answer = ev.get(kind)
            label = self._failure_label(status, error, answer)
            self.callouts_failed += 1
            st.failed += 1
            ks.failed += 1
            self.any_callout_failure = True
            self.callout_failures[label] += 1
            st.failures[label] += 1
            return
        self.callouts_ok += 1
        st.ok += 1
        if v.identical:
            self.identical += 1
            st.identical += 1
            ks.identical += 1

    def _callout(
        self,
        ev: Event,
        ts: float,
        end: float,
        total: float,
        status: int | None,
        error: Any,
        hop: CalloutHop,
        key: str | None = None,
    ) -> None:
        """A token-path callout: judged against its key's issuances, then its answer or failure."""
        if key is None:
            key = self._key_text(ev.get("key"))
        ks = self.keys.get(key)
        self._judge_token_call(ev, ks, ts, end, total, hop)
        tok = ev.get("token") or {}
        fp = tok.get("fp")
        answered = error is None and status is not None and status < 400 and not tok.get("error")
        if answered and fp is None:
            # A 2xx we could not read a token from (not JSON, or over the parse limit): not a
            # failure, but no token facts either.
            self.callouts_unreadable += 1
            return
        if end >= self.last_callout_end:
            self.last_callout_end = end
            self.last_callout_failed = not answered
        if not answered:
            self._token_failure(ks, status, error, tok)
            return
        self.callouts_ok += 1
        assert fp is not None
        self.ledger.answered(hop, ks, fp, total)
        self._token_answer(ks, key, fp, tok, ts, end)

    def _judge_token_call(self, ev: Event, ks: KeyState, ts: float, end: float, total: float, hop: CalloutHop) -> None:
        """Count the call; redundant when a token for its key, issued before it started, was still
        valid and in the first half of its life (later, the call is a proactive refresh); stampede
        when many calls for one key are in flight at once."""
        ks.callouts += 1
        self.callout_starts.append(ts)
        if total:
            self.callout_hist.add(total)
        verdict = ks.judge(ts)
        if verdict == "redundant":
            ks.redundant += 1
            self.redundant += 1
            self.redundant_any_ms += total
            self.rates.add("redundant", ts)
        self.ledger.judged(hop, ks, verdict, total, ev.get("kind", "token") == "token")
        burst = ks.in_flight_with(ts, end)
        if burst >= self.cfg.stampede_min:
            self.max_burst = max(self.max_burst, burst)
            if ts - ks.last_burst_at > 1.0:
                self.stampedes += 1
                ks.last_burst_at = ts

    def _token_failure(self, ks: KeyState, status: int | None, error: Any, tok: dict[str, Any]) -> None:
        self.callouts_failed += 1
        ks.failed += 1
        self.any_callout_failure = True
        if error is not None:
            kind = error.get("kind", "other")
            self.callout_failures["timeout" if kind == "abandoned" else kind] += 1
        elif tok.get("error"):
            self.callout_failures[f"{status} {tok['error']}"] += 1
        else:
            self.callout_failures[str(status)] += 1

    def _token_answer(self, ks: KeyState, key: str, fp: str, tok: dict[str, Any], ts: float, end: float) -> None:
        """A token answer: identical or new, its lifetime, and the issuance that makes later calls redundant."""
        if fp in self.issued_fps:
            self.identical += 1
            ks.identical += 1
            self.issued_fps.move_to_end(fp)
        else:
            self.issued_fps[fp] = None
            if len(self.issued_fps) > 50_000:
                self.issued_fps.popitem(last=False)
        info = self.tokens.get_or_add(fp, ts)
        info.fetches += 1
        info.key = key
        first_issue = info.fetches == 1
        claims = tok.get("jwt") or {}
        exp, iat = claims.get("exp"), claims.get("iat")
        jwt_life = (
            float(exp - iat) if isinstance(exp, (int, float)) and isinstance(iat, (int, float)) and exp > iat else None
        )
        expires_in = tok.get("expires_in")
        remaining = float(expires_in) if isinstance(expires_in, (int, float)) else jwt_life
        if remaining is None:
            return  # lifetime unknown: this token cannot make a later fetch redundant
        # The lifetime is what the token was minted with (a server re-issuing a token reports
        # the time left in expires_in); validity runs from when the gateway got it.
        lifetime, src = (jwt_life, "jwt exp-iat") if jwt_life is not None else (remaining, "expires_in")
        info.lifetime_s, info.lifetime_src = lifetime, src
        info.issued_at = end
        info.expires_at = end + remaining
        if first_issue:
            lk = (round(lifetime), src)
            if lk in self.lifetimes or len(self.lifetimes) < 32:
                self.lifetimes[lk] += 1
        skew = min(self.cfg.skew_s, remaining * 0.1)
        ks.add_issue(end, remaining, skew)

    def _backend(self, ev: Event, ts: float, route: str) -> None:
        bearer = ev.get("bearer")
        if bearer is None:
            return
        kind = bearer.get("kind")
        if kind in FAILED_BEARERS:
            if self.any_callout_failure:
                self.bad_bearer_after_failure += 1
                if len(self.bad_bearer_examples) < 3:
                    self.bad_bearer_examples.append(f"{route} with a {kind} bearer")
            return
        fp = bearer.get("fp")
        if fp:
            info = self.tokens.use(fp, ts, route)
            if not info.client and self.ledger.is_client(fp):
                info.client = True
            if info.expires_at is None:
                claims = bearer.get("jwt") or {}
                exp = claims.get("exp")
                if isinstance(exp, (int, float)):
                    info.expires_at = float(exp)

    # -- read out ----------------------------------------------------------------------

    def hops_for(self, inbound_id: str) -> list[Hop]:
        return list(self.corr.hops_of.get(inbound_id, ()))

    def why_redundant(self, flow_id: str) -> dict[str, Any] | None:
        """Why a held callout was redundant: the earlier answer for its key that was still
        valid when it started ({kind, key, issued_at, valid_until, earlier_s}). None when no
        such answer is known (not redundant, or the flow or its key is no longer held).
        Read-only, for views that explain a selected flow."""
        ev = next((e for e in reversed(self.recent) if e.get("id") == flow_id), None)
        if ev is None or ev.get("role") != "callout":
            return None
        key = key_text(ev.get("key"))
        ks = self.keys.peek(key)
        ts = float(ev["ts"])
        found = ks.issued.valid_issue_at(ts) if ks is not None else None
        if found is None:
            return None
        at, until = found
        kind = ev.get("kind") or "token"
        return {"kind": kind, "key": key, "issued_at": at, "valid_until": until, "earlier_s": round(ts - at, 3)}

    def tokens_active(self, now: float) -> int:
        """Tokens whose known expiry is after `now`: the metrics gauge reads it at scrape time
        (a wall-clock question, so the caller passes the clock; the report keeps traffic time)."""
        return sum(1 for t in self.tokens.values() if t.expires_at is not None and t.expires_at > now)

    def _by_kind(self, inbound: int, hours: float) -> dict[str, Any]:
        """callouts.by_kind; each kind's tax is the ledger's (on the request path, nested counted once)."""
        for kind, st in self.kinds.stats.items():
            pk = self.ledger.per_kind.get(kind)
            st.redundant_ms = pk["tax_ms"] if pk is not None else 0.0
        return self.kinds.snapshot(inbound, self.inbound_ttfb_ms, hours)

    def snapshot(self) -> dict[str, Any]:
        """The `tokentax.report/1` document (inspector/schema/types.py `Report`): every view reads it."""
        now = self.now
        inbound = self.flows["inbound"]
        span = max(0.0, now - self.first_ts) if self.first_ts is not None else 0.0
        hours = span / 3600.0
        path_known = inbound > 0 or bool(self.session.get("inbound"))
        snap: dict[str, Any] = {
            "schema": REPORT_SCHEMA,
            "session": dict(self.session),
            "span": {
                "start": self.first_ts,
                "end": now if self.first_ts is not None else None,
                "seconds": round(span, 3),
            },
            "events": self.events,
            "flows": dict(self.flows),
            "roles": {"inferred": bool(self.session.get("roles_inferred")), "by": dict(self.role_by)},
            "rates": self._rates_section(now),
            "callouts": self._callouts_section(inbound, hours),
            "inbound": {
                "total": inbound,
                "errors": self.inbound_errors,
                **self.ttfb_hist.summary("ttfb_"),
                "ttfb_total_ms": round(self.inbound_ttfb_ms, 3),  # summable across proxies (share_of_ttfb)
            },
            "tokens": [t.as_dict(now) for t in self.tokens.newest(self.cfg.top_tokens)],
            "tokens_distinct": len(self.tokens),
            "lifetimes": [{"seconds": lt, "source": src, "count": n} for (lt, src), n in self.lifetimes.most_common(5)],
            "keys": [k.as_row(path_known) for k in sorted(self.keys.values(), key=lambda k: -k.callouts)[:20]],
            "tax": self._tax_section(inbound, span),
            "correlation": dict(self.corr.counts),
            "aftermath": {
                "error_reused": self.error_reused,
                "bad_bearer_after_failure": self.bad_bearer_after_failure,
                "examples": list(self.bad_bearer_examples),
            },
            "stampedes": {"count": self.stampedes, "max_burst": self.max_burst, "threshold": self.cfg.stampede_min},
            "routes": self._routes_section(),
            "gateway": self._gateway_list(),
            "gateway_named": self.cfg.gateway,
            "errors": self.errors,
            "probes": {"total": sum(self.probes.values()), "by_reason": dict(self.probes)},
            "addon": {"errors": self.addon_errors, "dropped": self.dropped, "capture_error": self.capture_error},
        }
        self._token_truth(snap, path_known, hours)
        known_unknowns(snap)  # null what the session cannot support, with the reason in snap["notes"]
        snap["findings"] = build_findings(snap)
        return snap

    def _gateway_list(self) -> list[str]:
        """Products, most likely first: the one the user named, then the headers' hints."""
        hinted = [g for g, _ in (self.gateways or self.gateways_other).most_common(3)]
        named = self.cfg.gateway
        return hinted if named is None else [named, *(g for g in hinted if g != named)]

    def _rates_section(self, now: float) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "window_s": cfg.rate_window_s,
            **{
                f"{role}_per_s": round(self.rates.rate(role, now, cfg.rate_window_s, self.first_ts), 3)
                for role in ("inbound", "callout", "backend")
            },
            "series_end": int(now),
            "series": {
                name: self.rates.series(name, now, cfg.series_s)
                for name in ("inbound", "callout", "redundant", "errors")
            },
        }

    def _callouts_section(self, inbound: int, hours: float) -> dict[str, Any]:
        callouts = self.flows["callout"]
        return {
            "total": callouts,
            "ok": self.callouts_ok,
            "redundant": self.redundant,
            "identical": self.identical,
            "failed": self.callouts_failed,
            "unreadable": self.callouts_unreadable,
            "per_inbound": round(callouts / inbound, 3) if inbound else None,
            "redundant_share": round(self.redundant / callouts, 4) if callouts else None,  # notes.py says why
            "per_hour": round(callouts / hours, 1) if hours > 0 else None,  # null below the window: notes.py
            **self.callout_hist.summary(),  # min_ms, p50_ms, p95_ms, max_ms (exact below 10,000)
            "failures": dict(self.callout_failures),
            "by_kind": self._by_kind(inbound, hours),
        }

    def _tax_section(self, inbound: int, span: float) -> dict[str, Any]:
        """Time inbound requests spent in redundant calls; notes.py nulls what the session cannot support."""
        hours = span / 3600.0
        ms_per_inbound = self.redundant_ms / inbound if inbound else 0.0
        share = self.redundant_ms / self.inbound_ttfb_ms if self.inbound_ttfb_ms else 0.0
        inbound_rate = inbound / span if span > 0 else 0.0
        return {
            "total_ms": round(self.redundant_ms, 3),
            "ms_per_inbound": round(ms_per_inbound, 3),
            "share_of_ttfb": round(share, 4),
            "avoidable_callouts_per_hour": round(self.ledger.auth_redundant() / hours, 1) if hours > 0 else None,
            "caller_seconds_per_day": round(ms_per_inbound * inbound_rate * 86400 / 1000, 1),
        }

    def _routes_section(self) -> list[dict[str, Any]]:
        rows = sorted(self.routes.values(), key=lambda r: (r.role, -r.count))[:100]
        return [
            {"role": r.role, "route": r.route, "count": r.count, "errors": r.errors, **r.hist.summary()} for r in rows
        ]

    def _token_truth(self, snap: dict[str, Any], path_known: bool, hours: float) -> None:
        """The ledger's figures: on the request path or in the background, origin or relay."""
        c = snap["callouts"]
        c.update(self.ledger.figures(path_known))
        # calls that reached an auth server, per hour: a relay's answers are not its load
        c["auth_calls_per_hour"] = round(c["auth_calls"] / hours, 1) if hours > 0 else None
        inbound = snap["flows"]["inbound"]  # the auth server's load per request: no extrapolation needed
        c["auth_calls_per_inbound"] = round(c["auth_calls"] / inbound, 3) if inbound else None
        token = c["by_kind"].get("token")
        if token is not None:  # origin and relay are token facts (a relay answers with a token issued elsewhere)
            for k in ("origin", "relayed", "relay_hit_mean_ms", "relays", "identical_origin", "proactive"):
                token[k] = c[k]
            if token.get("avoidable_per_hour") is not None and hours > 0:  # a relay's hits relieve no auth server
                token["avoidable_per_hour"] = round(self.ledger.auth_redundant("token") / hours, 1)
        for kind, row in c["by_kind"].items():
            if isinstance(row, dict):
                row.update(self.ledger.kind_figures(kind, path_known))
        # time in redundant calls, on a request's path or not (the tax is the on-path part)
        snap["tax"]["redundant_ms"] = round(self.redundant_any_ms, 3)
        if not path_known:
            why = (
                "no inbound request seen and no inbound listener named: "
                "whether a callout was on a request's path is unknown"
            )
            snap["tax"]["total_ms"] = None  # unknown, not 0: tax.redundant_ms has the time spent in them
            snap.setdefault("notes", []).append({"figure": "callouts.background", "reason": why})
            snap["notes"].append({"figure": "tax.total_ms", "reason": why})


def _caller_fp(key: dict[str, Any]) -> str:
    """The caller's own credential a per-caller auth call carries, as a fingerprint ("" when none):
    the introspected token, userinfo's bearer, the exchanged subject token, a forwarded bearer."""
    for name in ("token_fp", "bearer_fp", "subject_fp"):
        fp = key.get(name)
        if isinstance(fp, str) and fp:
            return fp
    return ""
