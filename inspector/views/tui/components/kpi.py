"""The KPI strip: the figures that answer "is the gateway paying a token tax?", always in view.

Every value is read from one report (the analyzer snapshot); `kpi_values` is the single
place that turns that report into the strings on screen, so tests compare the screen
against the report through the same keys.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Static

from inspector.views import format as fmt

UNKNOWN = "—"  # a figure the analyzer could not compute (null in the report): never shown as 0

# (id, short label, tooltip)
KPIS: tuple[tuple[str, str, str], ...] = (
    ("inbound", "inbound/s", "inbound requests per second (last 10 s)"),
    ("callouts", "auth calls/s", "auth callouts of every kind per second (last 10 s)"),
    (
        "per-inbound",
        "auth calls/req",
        "auth callouts per inbound request, every kind (token, exchange, introspection, jwks, "
        "userinfo, forward_auth); the Auth calls tab splits them by kind",
    ),
    ("redundant", "redundant", "redundant calls: made while an earlier answer for the same key was still valid"),
    ("identical", "identical", "identical answers: the auth side returned an answer it had given before"),
    ("tax", "auth tax/req", "time redundant auth calls add per inbound request, and its share of time to first byte"),
    ("avoidable", "cache removes", "auth-server calls per hour a cache would remove"),
    ("tokens", "tokens", "distinct tokens issued or presented"),
    ("errors", "errors", "inbound requests answered 4xx/5xx (or not at all) · auth calls that failed"),
)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def notes_of(r: dict[str, Any]) -> dict[str, str]:
    """figure name -> why the report has no value (or a caveat) for it."""
    out: dict[str, str] = {}
    for n in r.get("notes") or []:
        if isinstance(n, dict) and n.get("figure"):
            out[str(n["figure"])] = str(n.get("reason") or "")
    return out


def kpi_values(r: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """id -> (value text, severity class: '', 'bad', 'warn', 'good') from one report.
    A null figure shows as "—" (its reason is in the card's tooltip), never as 0."""
    c, tax, rates = r["callouts"], r.get("tax") or {}, r.get("rates") or {}
    per = _num(c.get("per_inbound"))
    redundant = _num(c.get("redundant"))
    share = _num(c.get("redundant_share"))
    aph = _num(tax.get("avoidable_callouts_per_hour"))
    tax_ms = _num(tax.get("ms_per_inbound"))
    tax_share = _num(tax.get("share_of_ttfb"))
    if redundant is None:
        red = (UNKNOWN, "")
    else:
        sev = "bad" if redundant and (share or 0.0) >= 0.5 else ("warn" if redundant else "good")
        red = (
            f"{fmt.count(int(redundant))} ({fmt.pct(share)})" if share is not None else fmt.count(int(redundant)),
            sev,
        )
    if tax_ms is None:
        tax_cell = (UNKNOWN, "")
    else:
        text = fmt.ms(tax_ms) + (f" · {fmt.pct(tax_share)}" if tax_share is not None else "")
        tax_cell = (text, "bad" if (tax_share or 0.0) >= 0.2 else ("warn" if tax_ms else ""))
    inbound = r.get("inbound") or {}
    in_err = _num(inbound.get("errors"))
    if in_err is None:
        in_err = _num(r.get("errors"))  # a report from before inbound errors were counted apart
    auth_failed = _num(c.get("failed"))
    errors = (
        f"{fmt.count(int(in_err)) if in_err is not None else UNKNOWN} in · "
        f"{fmt.count(int(auth_failed)) if auth_failed is not None else UNKNOWN} auth"
    )
    identical = _num(c.get("identical"))
    tokens = _num(r.get("tokens_distinct"))
    return {
        "inbound": (fmt.rate(rates.get("inbound_per_s")), ""),
        "callouts": (fmt.rate(rates.get("callout_per_s")), ""),
        "per-inbound": (UNKNOWN if per is None else f"{per:.2f}", "bad" if per is not None and per >= 0.5 else ""),
        "redundant": red,
        "identical": (
            UNKNOWN if identical is None else fmt.count(int(identical)),
            "warn" if identical else "",
        ),
        "tax": tax_cell,
        "avoidable": (UNKNOWN if aph is None else fmt.per_hour(aph), "bad" if aph else ""),
        # Summed over several proxies, distinct tokens are an upper bound (each counts its own).
        "tokens": (
            UNKNOWN if tokens is None else ("≤ " if r.get("combined") else "") + fmt.count(int(tokens)),
            "",
        ),
        "errors": (errors, "bad" if (in_err or auth_failed) else ""),
    }


# report figure each card reads, for the tooltip's "why unknown"
NOTE_FIGURE = {
    "per-inbound": "callouts.per_inbound",
    "redundant": "callouts.redundant",
    "tax": "tax.ms_per_inbound",
    "avoidable": "tax.avoidable_callouts_per_hour",
}


class Kpi(Static):
    """One figure: a dim label over a bold value."""

    def __init__(self, label: str, tip: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.tooltip = tip
        self.value = "-"
        self.severity = ""

    def set_value(self, value: str, severity: str) -> None:
        if value == self.value and severity == self.severity:
            return
        self.value = value
        for cls in ("bad", "warn", "good"):
            self.set_class(cls == severity, f"-{cls}")
        self.severity = severity
        self.update(f"[dim]{self.label}[/]\n[b]{value}[/]", layout=False)  # fixed size: no layout pass

    def on_mount(self) -> None:
        self.update(f"[dim]{self.label}[/]\n[b]{self.value}[/]")


class KpiStrip(Grid):
    def compose(self) -> ComposeResult:
        for kid, label, tip in KPIS:
            yield Kpi(label, tip, id=f"kpi-{kid}", classes="kpi")

    def show(self, report: dict[str, Any]) -> None:
        notes = notes_of(report)
        tips = {kid: tip for kid, _, tip in KPIS}
        for kid, (value, sev) in kpi_values(report).items():
            card = self.query_one(f"#kpi-{kid}", Kpi)
            card.set_value(value, sev)
            why = notes.get(NOTE_FIGURE.get(kid, ""), "")
            tip = tips[kid] + (
                f"\n{UNKNOWN}: {why}" if why and value.startswith(UNKNOWN) else (f"\nnote: {why}" if why else "")
            )
            if card.tooltip != tip:
                card.tooltip = tip
