"""Client-side timing of HTTP requests, like `curl -w`, built on httpx trace hooks.

Why this exists: the proxy sees hops from the inside; the probe sees what a caller
feels. Probing a backend directly, the same backend through the gateway, and the auth
server's token endpoint side by side gives a first estimate of the token tax without
touching any traffic (see `estimate_tax`).

Phases of one sample, all in milliseconds:

- dns: our own `socket.getaddrinfo` of the hostname, timed before the request; the
  request is then sent to the resolved address (Host header and TLS SNI keep the real
  name, so virtual hosts and certificate checks are unchanged), so httpcore's
  `connect_tcp` contains no second lookup. 0 for IP literals and for a kept-alive
  connection (`reuse=True` after the first sample). The lookup is a plain blocking
  call: the probe is synchronous, so there is no event loop to keep free.
- connect: httpcore `connect_tcp.started` -> `.complete`; 0 when a connection was reused.
- tls: httpcore `start_tls.started` -> `.complete`; 0 for plain http or a reused connection.
- wait: `receive_response_headers.started` -> `.complete`: server think time.
- ttfb: from the start of the sample (before DNS) to response headers received.
- total: from the start of the sample to the body fully read (curl's time_total).

ttfb and total are cumulative like curl's time_starttransfer/time_total; the others
are durations. Failures (refused, timeout, ...) are recorded as error samples, never
raised, and do not enter the phase statistics.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

SCHEMA = "tokentax.probe/1"
PHASES: tuple[str, ...] = ("dns", "connect", "tls", "wait", "ttfb", "total")
# Header values never echoed anywhere; Authorization keeps its scheme ("Bearer ***").
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"})
_SENSITIVE_QUERY_WORDS = ("token", "secret", "password", "key", "signature", "code", "assertion")
MASK = "***"


@dataclass(frozen=True)
class Target:
    """One URL to probe and how to ask it. `headers` may hold secrets: never print them raw."""

    url: str
    label: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


@dataclass(frozen=True)
class Sample:
    """One request's outcome: phases in ms when it got a response, else an error kind."""

    status: int | None = None
    error: str | None = None
    phases: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class TargetResult:
    target: Target
    samples: list[Sample] = field(default_factory=list)


# ---------------------------------------------------------------- masking


def mask_header(name: str, value: str) -> str:
    """The value to show for a header: secrets become `***` (keeping an auth scheme)."""
    if name.lower() not in SENSITIVE_HEADERS:
        return value
    scheme, sep, _rest = value.partition(" ")
    if name.lower() in ("authorization", "proxy-authorization") and sep and scheme.isalpha():
        return f"{scheme} {MASK}"
    return MASK


def mask_headers(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Headers as displayable [name, masked value] pairs (a list: names may repeat)."""
    return [[name, mask_header(name, value)] for name, value in headers]


def mask_url(url: str) -> str:
    """The URL without a password in userinfo or secret-looking query values."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        secret = [any(w in k.lower() for w in _SENSITIVE_QUERY_WORDS) for k, _v in pairs]
        if any(secret):  # re-encode only when something is hidden: keep the user's URL otherwise
            masked = [(k, MASK if hide else v) for (k, v), hide in zip(pairs, secret)]
            query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def basic_auth_value(client_id: str, secret: str) -> str:
    """RFC 6749 section 2.3.1 client authentication (form-encoding of id/secret omitted: ASCII ids)."""
    raw = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------- measurement


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> str:
    """First address getaddrinfo gives for a TCP connection (what a client would try first)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return str(infos[0][4][0])


def classify_error(exc: BaseException) -> str:
    """A short, stable error kind for counting; looks through the exception chain."""
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in str(exc).lower():
        return "refused"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls"
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
        return "protocol"
    return "other"


def make_client(timeout: float) -> httpx.Client:
    """A client that measures the direct path: no env proxies, no redirects followed (like curl)."""
    return httpx.Client(timeout=httpx.Timeout(timeout), trust_env=False, follow_redirects=False)


def measure_once(
    client: httpx.Client,
    target: Target,
    *,
    pinned: dict[str, str] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Sample:
    """Send one request and time its phases; errors come back as an error Sample.

    `pinned` caches host -> address between samples of a kept-alive client, so a reused
    connection reports DNS as 0 (as curl does); pass None to resolve every time.
    """
    marks: dict[str, float] = {}

    def trace(name: str, _info: Mapping[str, Any]) -> None:
        # "connection.connect_tcp.started" -> "connect_tcp.started"; http11/http2 alike.
        marks.setdefault(name.split(".", 1)[1], clock())

    url = httpx.URL(target.url)
    host = url.host
    t0 = clock()
    dns = 0.0
    try:
        address = host
        if not _is_ip_literal(host):
            if pinned is not None and host in pinned:
                address = pinned[host]
            else:
                address = _resolve(host, url.port or (443 if url.scheme == "https" else 80))
                dns = clock() - t0
                if pinned is not None:
                    pinned[host] = address
        headers = httpx.Headers(list(target.headers))
        extensions: dict[str, Any] = {"trace": trace}
        if address != host:
            if "host" not in headers:
                headers["Host"] = url.netloc.decode("ascii")
            if url.scheme == "https":
                extensions["sni_hostname"] = host
            url = url.copy_with(host=address)
        request = client.build_request(target.method, url, headers=headers, content=target.body, extensions=extensions)
        response = client.send(request)
        try:
            response.read()
        finally:
            response.close()
        t_end = clock()
    except (httpx.HTTPError, OSError) as exc:
        return Sample(error=classify_error(exc))

    def span(start: str, end: str) -> float:
        if start in marks and end in marks:
            return (marks[end] - marks[start]) * 1000
        return 0.0

    headers_done = marks.get("receive_response_headers.complete", t_end)
    phases = {
        "dns": dns * 1000,
        "connect": span("connect_tcp.started", "connect_tcp.complete"),
        "tls": span("start_tls.started", "start_tls.complete"),
        "wait": span("receive_response_headers.started", "receive_response_headers.complete"),
        "ttfb": (headers_done - t0) * 1000,
        "total": (t_end - t0) * 1000,
    }
    return Sample(status=response.status_code, phases=phases)


def run_probe(
    targets: Sequence[Target],
    *,
    count: int,
    interval: float = 0.0,
    timeout: float = 10.0,
    reuse: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    on_round: Callable[[int], None] | None = None,
) -> list[TargetResult]:
    """Probe every target `count` times, round-robin, so all see the same conditions.

    Fresh client (so a fresh connection) per sample by default, like curl; with
    `reuse` one client per target is kept and its connection stays alive. `interval`
    is the pace of rounds (start to start), not a pause after each request.
    """
    results = [TargetResult(t) for t in targets]
    kept: list[httpx.Client] = [make_client(timeout) for _ in targets] if reuse else []
    pins: list[dict[str, str]] = [{} for _ in targets]
    try:
        for round_no in range(count):
            started = time.monotonic()
            if on_round is not None:
                on_round(round_no)
            for i, result in enumerate(results):
                if reuse:
                    result.samples.append(measure_once(kept[i], result.target, pinned=pins[i]))
                else:
                    with make_client(timeout) as client:
                        result.samples.append(measure_once(client, result.target))
            if round_no + 1 < count and interval > 0:
                sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        for client in kept:
            client.close()
    return results


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]; values non-empty."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def phase_stats(values: Sequence[float]) -> dict[str, float | None]:
    """min/p50/p95/max in ms rounded to µs; all None when nothing succeeded."""
    if not values:
        return {"min": None, "p50": None, "p95": None, "max": None}
    return {
        "min": round(min(values), 3),
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "max": round(max(values), 3),
    }


def summarize(result: TargetResult) -> dict[str, Any]:
    """One target's JSON-ready summary: counts, status codes, phase stats. Secret-free."""
    ok = [s for s in result.samples if s.ok]
    status = Counter(str(s.status) for s in ok)
    errors = Counter(s.error for s in result.samples if s.error)
    not_2xx = {code: n for code, n in sorted(status.items()) if not code.startswith("2")}
    t = result.target
    return {
        "label": t.label,
        "url": mask_url(t.url),
        "method": t.method,
        "headers": mask_headers(t.headers),
        "samples": len(result.samples),
        "ok": len(ok),
        "errors": dict(sorted(errors.items())),
        "status": dict(sorted(status.items())),
        # answers that were not 2xx: the route is flagged, and no estimate is drawn from it
        "not_2xx": not_2xx,
        "flagged": bool(not_2xx),
        "phases": {p: phase_stats([s.phases[p] for s in ok]) for p in PHASES},
    }


def estimate_tax(
    direct_ttfb_p50: float | None,
    gateway_ttfb_p50: float | None,
    auth_ttfb_p50: float | None = None,
) -> dict[str, Any]:
    """What the gateway adds over the direct route, set against the auth endpoint's own time.

    Pure: p50s in ms in, a JSON-ready dict with a one-sentence `summary` out. The share
    is auth p50 / added time; above 100 % the callout alone would more than explain
    the gap (e.g. the gateway's connection to the auth server is faster than ours).
    """
    out: dict[str, Any] = {
        "direct_ttfb_p50": direct_ttfb_p50,
        "gateway_ttfb_p50": gateway_ttfb_p50,
        "auth_ttfb_p50": auth_ttfb_p50,
        "gateway_added_ms": None,
        "auth_share_pct": None,
        "summary": "",
        "notes": [],
    }
    if direct_ttfb_p50 is None or gateway_ttfb_p50 is None:
        missing = "direct" if direct_ttfb_p50 is None else "gateway"
        out["summary"] = f"cannot estimate: no successful samples for {missing}"
        return out
    added = gateway_ttfb_p50 - direct_ttfb_p50
    out["gateway_added_ms"] = round(added, 3)
    if added <= 0:
        out["summary"] = f"gateway adds no measurable time over direct ({added:+.0f} ms at p50)"
        return out
    text = f"gateway adds {added:.0f} ms over direct"
    if auth_ttfb_p50 is not None:
        share = auth_ttfb_p50 / added * 100
        out["auth_share_pct"] = round(share, 1)
        if share > 100:
            text += (
                f"; auth server alone takes {auth_ttfb_p50:.0f} ms: a callout per request would more than explain it"
            )
        else:
            text += f"; auth server alone takes {auth_ttfb_p50:.0f} ms: the callout explains {share:.0f} % of it"
    out["summary"] = text
    return out


def estimate_from(summaries: Sequence[Mapping[str, Any]], *, auth_token_request: bool = False) -> dict[str, Any] | None:
    """The tax estimate when targets are labelled `direct` and `gateway` (and `auth`), else None.

    `auth_token_request` says whether the auth target was asked for a real token; if
    not, its time is that of whatever the endpoint answers to a bare request (often a
    quick 4xx), which understates a token issue: the estimate says so in `notes`.
    """
    by_label = {s["label"]: s for s in summaries}
    if "direct" not in by_label or "gateway" not in by_label:
        return None

    def p50(label: str) -> float | None:
        s = by_label.get(label)
        return None if s is None else s["phases"]["ttfb"]["p50"]

    # The time of an error answer (a quick 401, a 405) is not the time of the work the
    # route does when it succeeds: compare nothing that answered anything but 2xx.
    bad = [
        f"{label} answered {', '.join(f'{code}×{n}' for code, n in by_label[label]['not_2xx'].items())}"
        for label in ("direct", "gateway", "auth")
        if label in by_label and by_label[label].get("not_2xx")
    ]
    if bad:
        estimate = estimate_tax(None, None)
        estimate["summary"] = f"no estimate: {'; '.join(bad)} (not 2xx); no comparison is drawn from error answers"
    else:
        estimate = estimate_tax(p50("direct"), p50("gateway"), p50("auth"))
    if "auth" not in by_label:
        estimate["notes"].append("no auth target: label the token endpoint with --label auth=URL")
    elif not auth_token_request:
        estimate["notes"].append("auth target probed without --auth-basic: its time may not be that of a token issue")
    return estimate


def report(results: Sequence[TargetResult], *, auth_token_request: bool = False) -> dict[str, Any]:
    """The stable JSON document (`tokentax.probe/1`); all times in ms."""
    summaries = [summarize(r) for r in results]
    estimate = estimate_from(summaries, auth_token_request=auth_token_request)
    return {"schema": SCHEMA, "targets": summaries, "estimate": estimate}
