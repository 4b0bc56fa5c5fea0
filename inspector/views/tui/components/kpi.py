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

# (id, label)
# (id, short label, tooltip)
KPIS: tuple[tuple[str, str, str], ...] = (
    ("inbound", "inbound/s", "inbound requests per second (last 10 s)"),
    ("callouts", "callouts/s", "token callouts per second (last 10 s)"),
    ("per-inbound", "callouts/req", "token callouts per inbound request"),
    ("redundant", "redundant", "redundant fetches: callouts made while a token for the same key was valid"),
    ("identical", "identical", "identical fetches: the auth server returned a token it had issued before"),
    ("tax", "token tax/req", "time redundant callouts add per inbound request, and its share of time to first byte"),
    ("avoidable", "cache removes", "auth-server calls per hour a token cache would remove"),
    ("tokens", "tokens", "distinct tokens issued or presented"),
    ("errors", "errors", "failed flows: 5xx or no response"),
)


def kpi_values(r: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """id -> (value text, severity class: '', 'bad', 'warn', 'good') from one report."""
    c, tax, rates = r["callouts"], r["tax"], r["rates"]
    per = c.get("per_inbound")
    share = c.get("redundant_share") or 0.0
    aph = tax.get("avoidable_callouts_per_hour")
    red_sev = "bad" if c["redundant"] and share >= 0.5 else ("warn" if c["redundant"] else "good")
    return {
        "inbound": (fmt.rate(rates.get("inbound_per_s")), ""),
        "callouts": (fmt.rate(rates.get("callout_per_s")), ""),
        "per-inbound": (fmt.UNKNOWN if per is None else f"{per:.2f}", "bad" if per is not None and per >= 0.5 else ""),
        "redundant": (f"{fmt.count(c['redundant'])} ({fmt.pct(share)})", red_sev),
        "identical": (fmt.count(c["identical"]), "warn" if c["identical"] else ""),
        "tax": (
            f"{fmt.ms(tax['ms_per_inbound'])} · {fmt.pct(tax['share_of_ttfb'])}",
            "bad" if (tax["share_of_ttfb"] or 0.0) >= 0.2 else ("warn" if tax["ms_per_inbound"] else ""),
        ),
        "avoidable": (fmt.UNKNOWN if aph is None else f"{fmt.count(aph)} calls/h", "bad" if aph else ""),
        # Summed over several proxies, distinct tokens are an upper bound (each counts its own).
        "tokens": (("≤ " if r.get("combined") else "") + fmt.count(r["tokens_distinct"]), ""),
        "errors": (fmt.count(r["errors"]), "bad" if r["errors"] else ""),
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
        for kid, (value, sev) in kpi_values(report).items():
            self.query_one(f"#kpi-{kid}", Kpi).set_value(value, sev)
