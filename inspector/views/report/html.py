"""The report as one self-contained HTML file: inline CSS and SVG, no script, no external URL.

It has to open offline, from an e-mail attachment or a ticket, years later, so nothing
is fetched: charts are drawn here as SVG. Every value that came from traffic (hosts,
paths, finding text, token keys) is HTML-escaped. The figures and findings are the
snapshot's own, worded as in the text and markdown reports.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from inspector.schema.units import human_seconds, ms
from inspector.views.format import UNKNOWN, pct, spread

SEVERITY_COLOR = {"critical": "#c0392b", "warning": "#b9770e", "info": "#2471a3", "ok": "#1e8449"}
SEVERITY_MARK = {"critical": "✖", "warning": "▲", "info": "●", "ok": "✔"}
ROLE_COLOR = {"inbound": "#5b6770", "callout": "#c0392b", "backend": "#2471a3", "other": "#7f8c8d"}
PHASE_COLOR = {"connect": "#f5b041", "tls": "#af7ac5", "send": "#58d68d", "wait": "#5dade2", "receive": "#2e86c1"}
SERIES_STYLE = {"inbound": ("#2471a3", ""), "callout": ("#c0392b", ""), "redundant": ("#b9770e", "5 4")}

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1c2833;
       background: #f4f6f7; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; border-bottom: 1px solid #d5d8dc; padding-bottom: 4px; }
.meta { color: #566573; margin: 0 0 18px; }
.verdict { border-left: 6px solid; background: #fff; padding: 12px 16px; border-radius: 4px; font-size: 16px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 10px; }
.kpi { background: #fff; border-radius: 6px; padding: 10px 12px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.kpi .v { font-size: 20px; font-weight: 600; }
.kpi .k { color: #566573; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.finding { background: #fff; border-radius: 6px; padding: 10px 14px; margin: 0 0 8px;
           border-left: 5px solid; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
.finding .sev { font-weight: 700; text-transform: uppercase; font-size: 12px; margin-right: 6px; }
.finding .id { color: #7f8c8d; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.finding ul { margin: 6px 0 0; padding-left: 20px; color: #424949; }
.chart { background: #fff; border-radius: 6px; padding: 8px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eaeded; vertical-align: top; }
th { background: #eaeded; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
.muted { color: #7f8c8d; }
footer { margin-top: 36px; color: #7f8c8d; font-size: 12px; }
"""


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: float) -> str:
    """Compact SVG coordinates."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


# -- figures ----------------------------------------------------------------------------


def kpis(s: dict[str, Any]) -> list[tuple[str, str]]:
    c, tax = s["callouts"], s["tax"]
    per = c["per_inbound"]
    aph = tax["avoidable_callouts_per_hour"]
    return [
        ("callouts per request", UNKNOWN if per is None else f"{per:.2f}"),
        ("redundant fetches", f"{c['redundant']} of {c['total']} ({pct(c['redundant_share'])})"),
        ("token tax per request", ms(tax["ms_per_inbound"])),
        ("share of time to first byte", pct(tax["share_of_ttfb"])),
        ("auth calls a cache removes", UNKNOWN if aph is None else f"{aph:.0f} per hour"),
        ("identical fetches", str(c["identical"])),
        ("failed callouts", str(c["failed"])),
        ("callout latency", spread(c)),
        ("inbound TTFB", spread(s["inbound"], "ttfb_")),
        ("distinct tokens", str(s["tokens_distinct"])),
    ]


def _kpi_html(s: dict[str, Any]) -> str:
    cards = "".join(
        f'<div class="kpi"><div class="v">{e(v)}</div><div class="k">{e(k)}</div></div>' for k, v in kpis(s)
    )
    return f'<div class="kpis">{cards}</div>'


def _notes_html(s: dict[str, Any]) -> str:
    """Why a figure shows "—" or carries a caveat."""
    items = "".join(f"<li><code>{e(n['figure'])}</code>: {e(n['reason'])}</li>" for n in s.get("notes") or ())
    return f'<ul class="muted">{items}</ul>' if items else ""


def _findings_html(findings: Sequence[dict[str, Any]]) -> str:
    if not findings:
        return '<p class="muted">No findings: no token callouts seen.</p>'
    out = []
    for f in findings:
        color = SEVERITY_COLOR.get(f["severity"], "#7f8c8d")
        ev = "".join(f"<li>{e(x)}</li>" for x in f.get("evidence") or ())
        out.append(
            f'<div class="finding" style="border-left-color:{color}">'
            f'<span class="sev" style="color:{color}">{e(SEVERITY_MARK.get(f["severity"], "-"))} {e(f["severity"])}</span>'
            f'<span class="id">[{e(f["id"])}]</span> {e(f["title"])}'
            f"{f'<ul>{ev}</ul>' if ev else ''}</div>"
        )
    return "\n".join(out)


def _verdict_html(s: dict[str, Any]) -> str:
    fs = s["findings"]
    if not fs:
        return (
            '<div class="verdict" style="border-color:#7f8c8d">No token callouts in this capture: '
            "nothing to judge yet.</div>"
        )
    top = fs[0]
    color = SEVERITY_COLOR.get(top["severity"], "#7f8c8d")
    return f'<div class="verdict" style="border-color:{color}">{e(top["title"])}</div>'


# -- charts -----------------------------------------------------------------------------


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if value <= step:
            return float(step)
    return float(value)


def _nice_count_max(value: float) -> float:
    """An axis top that splits into 4 whole-number steps."""
    for step in (4, 8, 12, 20, 40, 60, 100, 200, 400, 600, 1000, 2000, 4000, 6000, 10000, 20000, 40000):
        if value <= step:
            return float(step)
    return float(-(-int(value) // 4) * 4)


def chart_window(rates: dict[str, Any]) -> dict[str, list[int]]:
    """The series the rates chart draws: leading seconds before the first request dropped (a
    short capture is mostly empty window), at least 10 s kept. The caption says its length."""
    series: dict[str, list[int]] = rates.get("series") or {}
    names = [n for n in ("inbound", "callout", "redundant") if n in series]
    n = max((len(series[name]) for name in names), default=0)
    if not n:
        return {}
    first = min(next((i for i, v in enumerate(series[name]) if v), n) for name in names)
    first = max(0, min(first, n - 10))
    return {name: series[name][first:] for name in names}


def _tick_step(span_s: int) -> int:
    """Seconds between x-axis ticks: a round step giving at most 6 intervals."""
    for step in (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span_s <= 6 * step:
            return step
    return max(1, -(-span_s // 6))


def rates_svg(rates: dict[str, Any], width: int = 940, height: int = 230) -> str:
    """Inbound requests vs token callouts (and redundant ones) per second, as polylines."""
    series: dict[str, list[int]] = rates.get("series") or {}
    names = [n for n in ("inbound", "callout", "redundant") if n in series]
    n = max((len(series[name]) for name in names), default=0)
    if not n or not any(any(series[name]) for name in names):
        return '<p class="muted">No traffic in the rate window.</p>'
    data = chart_window(rates)
    m = len(next(iter(data.values())))
    left, right, top, bottom = 44, 12, 14, 30
    pw, ph = width - left - right, height - top - bottom
    ymax = _nice_count_max(max(max(v) for v in data.values()))
    end = int(rates.get("series_end") or 0)

    def x(i: int) -> float:
        return left + (pw * i / (m - 1) if m > 1 else pw / 2)

    def y(v: float) -> float:
        return top + ph - ph * v / ymax

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="requests and token callouts per second">',
        "<title>Inbound requests and token callouts per second</title>",
    ]
    for k in range(5):
        v = ymax * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{_num(y(v))}" y2="{_num(y(v))}" stroke="#eaeded"/>')
        parts.append(
            f'<text x="{left - 6}" y="{_num(y(v) + 4)}" font-size="11" text-anchor="end" '
            f'fill="#566573">{e(_num(v))}</text>'
        )
    step = _tick_step(m - 1)
    for ago in range(0, m, step):  # evenly spaced: now, -step s, -2*step s, ...
        i = m - 1 - ago
        label = "now" if ago == 0 else f"-{human_seconds(ago)}"
        if end and ago == 0:
            label = _dt.datetime.fromtimestamp(end, _dt.UTC).strftime("%H:%M:%S UTC")
        parts.append(
            f'<text x="{_num(x(i))}" y="{height - 10}" font-size="11" text-anchor="middle" '
            f'fill="#566573">{e(label)}</text>'
        )
    for name in names:
        color, dash = SERIES_STYLE[name]
        pts = " ".join(f"{_num(x(i))},{_num(y(v))}" for i, v in enumerate(data[name]))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash_attr} points="{pts}">'
            f"<title>{e(name)} per second</title></polyline>"
        )
    lx = left + 8
    for name in names:
        color, dash = SERIES_STYLE[name]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{top + 6}" y2="{top + 6}" stroke="{color}" '
            f'stroke-width="2"{dash_attr}/>'
        )
        label = {"inbound": "inbound requests", "callout": "token callouts", "redundant": "redundant callouts"}[name]
        parts.append(f'<text x="{lx + 22}" y="{top + 10}" font-size="12" fill="#1c2833">{e(label)}</text>')
        lx += 30 + 7 * len(label)
    parts.append("</svg>")
    return "".join(parts)


def waterfall_svg(rows: Sequence[dict[str, Any]], width: int = 940) -> str:
    """One inbound request and its hops: bars of connect, TLS, send, wait, receive on one time axis."""
    if not rows:
        return (
            '<p class="muted">No inbound request with correlated hops in this capture '
            "(give --inbound so requests facing clients are known).</p>"
        )
    label_w, right, top, row_h = 330, 64, 24, 26  # right: room for the last total's label
    height = top + row_h * len(rows) + 40
    pw = width - label_w - right
    span = max(max(float(r.get("start_ms") or 0) + float(r.get("total") or 0) for r in rows), 1.0)
    tmax = _nice_max(span) if span < 100000 else span

    def x(t: float) -> float:
        return label_w + pw * t / tmax

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="hop waterfall of one inbound request">',
        "<title>Hop waterfall of one inbound request</title>",
    ]
    for k in range(6):
        t = tmax * k / 5
        parts.append(f'<line x1="{_num(x(t))}" x2="{_num(x(t))}" y1="{top - 6}" y2="{height - 34}" stroke="#eaeded"/>')
        parts.append(
            f'<text x="{_num(x(t))}" y="{top - 10}" font-size="11" text-anchor="middle" '
            f'fill="#566573">{e(ms(t))}</text>'
        )
    for idx, r in enumerate(rows):
        yy = top + idx * row_h
        role = str(r.get("role", "other"))
        mode = str(r.get("mode", ""))
        label = str(r.get("label", ""))
        short = label if len(label) <= 44 else label[:43] + "…"
        phases = [(p, float(r.get(p) or 0.0)) for p in ("connect", "tls", "send", "wait", "receive")]
        detail = ", ".join(f"{p} {ms(v)}" for p, v in phases if v) or "no phase timing"
        tip = f"{role}: {label} ({mode}); total {ms(float(r.get('total') or 0))}; {detail}"
        if r.get("reused"):
            tip += "; connection reused"
        parts.append(f"<g><title>{e(tip)}</title>")
        parts.append(f'<rect x="4" y="{yy + 5}" width="6" height="14" fill="{ROLE_COLOR.get(role, "#7f8c8d")}"/>')
        tag = role if mode in ("request", "") else f"{role}, {mode}"
        parts.append(
            f'<text x="16" y="{yy + 16}" font-size="12" fill="#1c2833">{e(short)} '
            f'<tspan fill="#7f8c8d">({e(tag)})</tspan></text>'
        )
        t = float(r.get("start_ms") or 0.0)
        drawn = False
        for p, v in phases:
            if v <= 0:
                continue
            w = max(pw * v / tmax, 1.0)
            parts.append(f'<rect x="{_num(x(t))}" y="{yy + 4}" width="{_num(w)}" height="16" fill="{PHASE_COLOR[p]}"/>')
            t += v
            drawn = True
        if not drawn:
            w = max(pw * float(r.get("total") or 0.0) / tmax, 1.0)
            parts.append(f'<rect x="{_num(x(t))}" y="{yy + 4}" width="{_num(w)}" height="16" fill="#bdc3c7"/>')
        parts.append(
            f'<text x="{_num(x(float(r.get("start_ms") or 0) + float(r.get("total") or 0)) + 4)}" '
            f'y="{yy + 16}" font-size="11" fill="#566573">{e(ms(float(r.get("total") or 0)))}</text>'
        )
        parts.append("</g>")
    lx = label_w
    ly = height - 14
    for p, color in PHASE_COLOR.items():
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 16}" y="{ly}" font-size="11" fill="#1c2833">{e(p)}</text>')
        lx += 24 + 8 * len(p)
    parts.append("</svg>")
    return "".join(parts)


# -- tables -----------------------------------------------------------------------------


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    ths = "".join(f'<th class="n">{e(h)}</th>' if i in numeric else f"<th>{e(h)}</th>" for i, h in enumerate(head))
    body = []
    for row in rows:
        tds = "".join(f'<td class="n">{e(v)}</td>' if i in numeric else f"<td>{e(v)}</td>" for i, v in enumerate(row))
        body.append(f"<tr>{tds}</tr>")
    if not body:
        return '<p class="muted">None seen.</p>'
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kinds_html(s: dict[str, Any]) -> str:
    from inspector.views.report.kinds import HEAD, NUMERIC, kind_rows

    rows = kind_rows(s)
    if not rows:
        return ""
    return "<h2>Auth calls by kind</h2>\n" + _table(HEAD, rows, NUMERIC)


def _window_caption(window: int) -> str:
    return f"The last {human_seconds(window)} of the session, per second." if window else ""


def _tokens_html(s: dict[str, Any]) -> str:
    rows = []
    for t in (s.get("tokens") or [])[:20]:
        life = human_seconds(t["lifetime_s"]) if t.get("lifetime_s") is not None else "-"
        rows.append(
            (
                t["fingerprint"],
                t.get("key") or "-",
                life,
                t.get("fetches", 0),
                t.get("uses", 0),
                ", ".join((t.get("routes") or [])[:4]) or "-",
            )
        )
    return _table(("fingerprint", "key", "lifetime", "fetches", "uses", "routes"), rows, {3, 4})


def _keys_html(s: dict[str, Any]) -> str:
    rows = [(k["key"], k["callouts"], k["redundant"], k["identical"], k["failed"]) for k in s.get("keys") or []]
    return _table(("token key", "callouts", "redundant", "identical", "failed"), rows, {1, 2, 3, 4})


def _routes_html(s: dict[str, Any]) -> str:
    rows = [
        (r["role"], r["route"], r["count"], r["errors"], ms(r.get("p50_ms")), ms(r.get("p95_ms")))
        for r in (s.get("routes") or [])[:40]
    ]
    return _table(("role", "route", "count", "errors", "p50", "p95"), rows, {2, 3, 4, 5})


def _meta(s: dict[str, Any]) -> str:
    fl = s["flows"]
    sess = s.get("session") or {}
    bits = [
        f"{human_seconds(s['span']['seconds'])} of traffic",
        f"{sum(fl.values())} flows (inbound {fl['inbound']}, callout {fl['callout']}, backend {fl['backend']}, "
        f"other {fl['other']})",
    ]
    start = s["span"].get("start")
    if start:
        bits.append("from " + _dt.datetime.fromtimestamp(start, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    if sess.get("source"):
        bits.append(f"source {sess['source']}")
    if sess.get("roles_inferred"):
        bits.append("roles inferred by shape (no --inbound)")
    return " · ".join(e(b) for b in bits)


def to_html(s: dict[str, Any], waterfall: Sequence[dict[str, Any]] | None = None) -> str:
    """The whole report page. `waterfall`: rows from report.waterfall.sample_waterfall, if any."""
    corr = s.get("correlation") or {}
    window = len(next(iter(chart_window(s.get("rates") or {}).values()), []))
    tool = (s.get("session") or {}).get("tool") or "tokentax"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tokentax report</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>tokentax report</h1>
<p class="meta">{_meta(s)}</p>
{_verdict_html(s)}
<h2>Figures</h2>
{_kpi_html(s)}
{_kinds_html(s)}
{_notes_html(s)}
<h2>Findings</h2>
{_findings_html(s["findings"])}
<h2>Requests and token callouts per second</h2>
<div class="chart">{rates_svg(s.get("rates") or {})}</div>
<p class="muted">{e(_window_caption(window))}</p>
<h2>Where the time goes: one inbound request, hop by hop</h2>
<div class="chart">{waterfall_svg(list(waterfall or []))}</div>
<p class="muted">The slowest recent inbound request with correlated hops. Hops correlated: exact {e(corr.get("exact", 0))},
inferred {e(corr.get("inferred", 0))}, ambiguous {e(corr.get("ambiguous", 0))}, none {e(corr.get("none", 0))}.</p>
<h2>Token keys</h2>
{_keys_html(s)}
<h2>Tokens</h2>
{_tokens_html(s)}
<h2>Routes</h2>
{_routes_html(s)}
<footer>Written by {e(tool)} (report schema {e(s.get("schema", ""))}). Tokens appear only as keyed fingerprints.</footer>
</main>
</body>
</html>
"""
