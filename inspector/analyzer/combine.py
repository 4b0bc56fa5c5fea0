"""Figures over several proxies: `combine()` sums their summary reports into one report.

Pure functions of the proxies' own reports (each the proxy-side analyzer's snapshot,
`tokentax.report/1`): no widget computes a figure, and nothing here reads a flow.

What can be added up is added up, and every ratio is recomputed from the summed counts,
never averaged: callouts per inbound request = summed callouts / summed inbound, token
tax per request = summed tax time / summed inbound, its share of time to first byte =
summed tax time / summed time to first byte (`inbound.ttfb_total_ms`). What cannot:

- percentiles: a p95 of p95s is no p95. The combined `p50_ms`/`p95_ms` are None and
  `combined` carries the largest per-source value, labelled as such;
- distinct tokens: each proxy counts the tokens it saw (and fingerprints differ between
  proxies unless they share a fingerprint key), so the sum is an upper bound;
- rates of a source that is not live: its last report's rates (per second, calls a
  cache would remove per hour, caller seconds per day) are stale, so they are left out
  of the summed rates (its counters stay in the totals, and its per-second series keeps
  its place in time).

Findings stay each proxy's own, each title prefixed with the source it came from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from inspector.analyzer.core import REPORT_SCHEMA
from inspector.analyzer.notes import known_unknowns

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2, "ok": 3}
TOP_TOKENS = 50
TOP_KEYS = 20
TOP_ROUTES = 100
COUNTERS = ("total", "ok", "redundant", "identical", "failed")
RATES = ("inbound_per_s", "callout_per_s", "backend_per_s")


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _min(values: Sequence[Any]) -> float | None:
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return min(nums) if nums else None


def _max(values: Sequence[Any]) -> float | None:
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return max(nums) if nums else None


def ttfb_total_ms(report: dict[str, Any]) -> float | None:
    """Summed inbound time to first byte of one report; derived from the tax share for a
    proxy older than `inbound.ttfb_total_ms` (None when it cannot be known)."""
    inbound = report.get("inbound") or {}
    if isinstance(inbound.get("ttfb_total_ms"), (int, float)):
        return float(inbound["ttfb_total_ms"])
    tax = report.get("tax") or {}
    share, total = _num(tax.get("share_of_ttfb")), _num(tax.get("total_ms"))
    if share > 0:
        return total / share
    return 0.0 if not _int(inbound.get("total")) else None


def _series(reports: Sequence[dict[str, Any]]) -> tuple[int, dict[str, list[float]]]:
    """Per-second series summed second by second, aligned on each report's `series_end`."""
    ends = [_int((r.get("rates") or {}).get("series_end")) for r in reports]
    end = max(ends, default=0)
    out: dict[str, list[float]] = {}
    for r, r_end in zip(reports, ends):
        for name, data in ((r.get("rates") or {}).get("series") or {}).items():
            if not isinstance(data, list):
                continue
            acc = out.setdefault(name, [])
            if len(data) > len(acc):
                acc[:0] = [0] * (len(data) - len(acc))
            # data[j] is the second r_end - len(data) + 1 + j; acc[i] is end - len(acc) + 1 + i
            offset = (r_end - len(data) + 1) - (end - len(acc) + 1)
            for j, v in enumerate(data):
                i = offset + j
                if 0 <= i < len(acc):
                    acc[i] += v
    return end, out


def _tagged(items: Any, name: str) -> list[dict[str, Any]]:
    return [{**item, "source": name} for item in items or [] if isinstance(item, dict)]


KIND_COUNTERS = ("total", "ok", "redundant", "identical", "failed", "unreadable", "stampedes", "error_reused")


class _Sum:
    """What several reports add up to, gathered one report at a time (`add`) and read out
    as one report (`report`). Each `_add_*` reads one section of a source's report."""

    def __init__(self) -> None:
        self.flows: Counter[str] = Counter({"inbound": 0, "callout": 0, "backend": 0, "other": 0})
        self.calls: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.by_kind: dict[str, Counter[str]] = {}
        self.by_kind_tax: dict[str, float] = {}
        self.correlation: Counter[str] = Counter()
        self.lifetimes: Counter[tuple[Any, Any]] = Counter()
        self.keys: dict[str, Counter[str]] = {}
        self.inbound_errors = self.errors = self.addon_errors = self.addon_dropped = 0
        self.events = self.tokens_distinct = 0
        self.tax_ms = self.share_tax_ms = self.ttfb_ms = 0.0
        self.stampedes = self.max_burst = 0
        self.error_reused = self.bad_bearer = 0
        self.examples: list[Any] = []
        self.avoidable: list[float] = []
        self.caller_s_day: list[float] = []
        self.rates = dict.fromkeys(RATES, 0.0)
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.tokens: list[dict[str, Any]] = []
        self.routes: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []
        self.gateways: list[str] = []
        self.named: set[str | None] = set()  # each source's named gateway (None: not named)
        self.capture_errors: list[str] = []

    def add(self, r: dict[str, Any], name: str, is_live: bool) -> None:
        for role, n in (r.get("flows") or {}).items():
            self.flows[role] += _int(n)
        self.events += _int(r.get("events"))
        self._add_callouts(r.get("callouts") or {})
        self._add_tax(r, is_live)
        self._add_tokens(r, name)
        self._add_aftermath(r, name)
        self._add_health(r, name)
        self._add_time(r, is_live)
        self.findings += [
            {**f, "title": f"{name}: {f.get('title', '')}", "source": name}
            for f in r.get("findings") or []
            if isinstance(f, dict)
        ]

    def _add_callouts(self, c: dict[str, Any]) -> None:
        for k in COUNTERS:
            self.calls[k] += _int(c.get(k))
        self.failures.update({str(k): _int(v) for k, v in (c.get("failures") or {}).items()})
        for kind, row in (c.get("by_kind") or {}).items():
            if isinstance(row, dict):
                acc = self.by_kind.setdefault(str(kind), Counter())
                for k in KIND_COUNTERS:
                    acc[k] += _int(row.get(k))
                self.by_kind_tax[str(kind)] = self.by_kind_tax.get(str(kind), 0.0) + _num(row.get("redundant_ms"))

    def _add_tax(self, r: dict[str, Any], is_live: bool) -> None:
        tax = r.get("tax") or {}
        r_tax = _num(tax.get("total_ms"))
        r_ttfb = ttfb_total_ms(r)
        self.tax_ms += r_tax
        if r_ttfb is not None:  # a source whose ttfb cannot be known stays out of the share entirely
            self.share_tax_ms += r_tax
            self.ttfb_ms += r_ttfb
        if is_live and tax.get("avoidable_callouts_per_hour") is not None:
            self.avoidable.append(_num(tax.get("avoidable_callouts_per_hour")))
        if is_live and tax.get("caller_seconds_per_day") is not None:
            self.caller_s_day.append(_num(tax.get("caller_seconds_per_day")))
        self.inbound_errors += _int((r.get("inbound") or {}).get("errors"))

    def _add_tokens(self, r: dict[str, Any], name: str) -> None:
        self.tokens_distinct += _int(r.get("tokens_distinct"))
        self.tokens += _tagged(r.get("tokens"), name)
        for lt in r.get("lifetimes") or []:
            if isinstance(lt, dict):
                self.lifetimes[(lt.get("seconds"), lt.get("source"))] += _int(lt.get("count"))
        for k in r.get("keys") or []:
            if isinstance(k, dict):
                acc = self.keys.setdefault(str(k.get("key")), Counter())
                for f in ("callouts", "redundant", "identical", "failed"):
                    acc[f] += _int(k.get(f))

    def _add_aftermath(self, r: dict[str, Any], name: str) -> None:
        self.correlation.update({str(k): _int(v) for k, v in (r.get("correlation") or {}).items()})
        after = r.get("aftermath") or {}
        self.error_reused += _int(after.get("error_reused"))
        self.bad_bearer += _int(after.get("bad_bearer_after_failure"))
        self.examples += [f"{name}: {e}" for e in after.get("examples") or []]
        st = r.get("stampedes") or {}
        self.stampedes += _int(st.get("count"))
        self.max_burst = max(self.max_burst, _int(st.get("max_burst")))

    def _add_health(self, r: dict[str, Any], name: str) -> None:
        self.routes += _tagged(r.get("routes"), name)
        for g in r.get("gateway") or []:
            if g not in self.gateways:
                self.gateways.append(g)
        self.named.add(r.get("gateway_named"))
        self.errors += _int(r.get("errors"))
        addon = r.get("addon") or {}
        self.addon_errors += _int(addon.get("errors"))
        self.addon_dropped += _int(addon.get("dropped"))
        if addon.get("capture_error"):
            self.capture_errors.append(f"{name}: {addon['capture_error']}")

    def _add_time(self, r: dict[str, Any], is_live: bool) -> None:
        span = r.get("span") or {}
        if isinstance(span.get("start"), (int, float)):
            self.starts.append(float(span["start"]))
        if isinstance(span.get("end"), (int, float)):
            self.ends.append(float(span["end"]))
        if is_live:
            rr = r.get("rates") or {}
            for k in RATES:
                self.rates[k] += _num(rr.get(k))

    # -- read out ----------------------------------------------------------------------

    def callouts(self, reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
        inbound, callouts = self.flows["inbound"], self.calls["total"]
        by_kind = {}
        for kind, acc in self.by_kind.items():
            row: dict[str, Any] = {k: v for k, v in acc.items()}
            row["per_inbound"] = round(acc["total"] / inbound, 3) if inbound else None
            row["redundant_ms"] = round(self.by_kind_tax.get(kind, 0.0), 3)
            row["p50_ms"] = row["p95_ms"] = None  # not summable, as for all callouts
            by_kind[kind] = row
        return {
            **{k: self.calls[k] for k in COUNTERS},
            "per_inbound": round(callouts / inbound, 3) if inbound else None,
            "redundant_share": round(self.calls["redundant"] / callouts, 4) if callouts else None,
            "p50_ms": None,
            "p95_ms": None,  # not summable: see combined.max_percentiles
            "min_ms": _min([(r.get("callouts") or {}).get("min_ms") for r in reports]),
            "max_ms": _max([(r.get("callouts") or {}).get("max_ms") for r in reports]),
            "failures": dict(self.failures),
            "by_kind": by_kind,
        }

    def tax(self) -> dict[str, Any]:
        inbound = self.flows["inbound"]
        return {
            "total_ms": round(self.tax_ms, 3),
            "ms_per_inbound": round(self.tax_ms / inbound, 3) if inbound else None,
            "share_of_ttfb": round(self.share_tax_ms / self.ttfb_ms, 4) if self.ttfb_ms else None,
            "avoidable_callouts_per_hour": round(sum(self.avoidable), 1) if self.avoidable else None,
            "caller_seconds_per_day": round(sum(self.caller_s_day), 1) if self.caller_s_day else None,
        }

    def span(self) -> dict[str, Any]:
        start = min(self.starts) if self.starts else None
        end = max(self.ends) if self.ends else None
        seconds = round(end - start, 3) if start is not None and end is not None else 0.0
        return {"start": start, "end": end, "seconds": seconds}


def _max_percentiles(reports: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The largest per-source percentile of each kind: labelled as such, never a fleet percentile."""
    return {
        "callout_p50_ms": _max([(r.get("callouts") or {}).get("p50_ms") for r in reports]),
        "callout_p95_ms": _max([(r.get("callouts") or {}).get("p95_ms") for r in reports]),
        "ttfb_p50_ms": _max([(r.get("inbound") or {}).get("ttfb_p50_ms") for r in reports]),
        "ttfb_p95_ms": _max([(r.get("inbound") or {}).get("ttfb_p95_ms") for r in reports]),
    }


def combine(
    reports: Sequence[dict[str, Any]], names: Sequence[str] | None = None, live: Sequence[bool] | None = None
) -> dict[str, Any]:
    """One report over several: `reports[i]` is source `names[i]`'s latest summary report
    (an empty analyzer's snapshot for a source that sent none yet); `live[i]` says whether
    that source is attached now (default: all are)."""
    reports = list(reports)
    names = list(names) if names is not None else [f"source {i + 1}" for i in range(len(reports))]
    live = list(live) if live is not None else [True] * len(reports)
    if not (len(names) == len(live) == len(reports)):
        raise ValueError("combine: reports, names and live must have the same length")
    acc = _Sum()
    for r, name, is_live in zip(reports, names, live):
        acc.add(r, name, is_live)
    series_end, series = _series(reports)
    first = reports[0] if reports else {}
    acc.findings.sort(key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 9))
    acc.tokens.sort(key=lambda t: -_num(t.get("last_seen")))
    acc.routes.sort(key=lambda rt: (str(rt.get("role")), -_int(rt.get("count"))))
    keys = sorted(acc.keys.items(), key=lambda kv: -kv[1]["callouts"])[:TOP_KEYS]
    out: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "session": {"source": "live", "sources": names, "tool": (first.get("session") or {}).get("tool", "")},
        "span": acc.span(),
        "events": acc.events,
        "flows": dict(acc.flows),
        "rates": {
            "window_s": (first.get("rates") or {}).get("window_s", 10.0),
            **{k: round(v, 3) for k, v in acc.rates.items()},
            "series_end": series_end,
            "series": series,
        },
        "callouts": acc.callouts(reports),
        "inbound": {
            "total": acc.flows["inbound"],
            "errors": acc.inbound_errors,
            "ttfb_p50_ms": None,
            "ttfb_p95_ms": None,
            "ttfb_min_ms": _min([(r.get("inbound") or {}).get("ttfb_min_ms") for r in reports]),
            "ttfb_max_ms": _max([(r.get("inbound") or {}).get("ttfb_max_ms") for r in reports]),
            "ttfb_total_ms": round(acc.ttfb_ms, 3),
        },
        "tokens": acc.tokens[:TOP_TOKENS],
        "tokens_distinct": acc.tokens_distinct,
        "lifetimes": [{"seconds": s, "source": src, "count": n} for (s, src), n in acc.lifetimes.most_common(5)],
        "keys": [{"key": k, **dict(v)} for k, v in keys],
        "tax": acc.tax(),
        "correlation": dict(acc.correlation),
        "aftermath": {
            "error_reused": acc.error_reused,
            "bad_bearer_after_failure": acc.bad_bearer,
            "examples": acc.examples[:5],
        },
        "stampedes": {
            "count": acc.stampedes,
            "max_burst": acc.max_burst,
            "threshold": (first.get("stampedes") or {}).get("threshold", 0),
        },
        "routes": acc.routes[:TOP_ROUTES],
        "gateway": acc.gateways,
        # the named product, when every source named the same one
        "gateway_named": next(iter(acc.named)) if len(acc.named) == 1 else None,
        "errors": acc.errors,
        "probes": {
            "total": sum(_int((r.get("probes") or {}).get("total")) for r in reports),
            "by_reason": dict(
                sum((Counter((r.get("probes") or {}).get("by_reason") or {}) for r in reports), Counter())
            ),
        },
        "addon": {
            "errors": acc.addon_errors,
            "dropped": acc.addon_dropped,
            "capture_error": "; ".join(acc.capture_errors),
        },
        "findings": acc.findings,
        "combined": {
            "sources": len(reports),
            "live": sum(1 for x in live if x),
            "names": names,
            "tokens_distinct": "upper bound: the sum of each source's distinct tokens",
            "max_percentiles": _max_percentiles(reports),
            "rates": "sum over the live sources",
        },
    }
    known_unknowns(out)  # the same nulls and notes as one source's report
    return out


def source_figures(report: dict[str, Any] | None) -> dict[str, Any]:
    """The figures one row of the sources table shows, read from one source's report as is."""
    r = report or {}
    flows = r.get("flows") or {}
    c = r.get("callouts") or {}
    tax = r.get("tax") or {}
    inbound = r.get("inbound") or {}
    return {
        "flows": sum(_int(v) for v in flows.values()),
        "inbound": _int(flows.get("inbound")),
        "inbound_per_s": (r.get("rates") or {}).get("inbound_per_s"),
        "per_inbound": c.get("per_inbound"),
        "redundant": _int(c.get("redundant")),
        "redundant_share": c.get("redundant_share"),
        "tax_ms_per_inbound": tax.get("ms_per_inbound"),
        "tax_share_of_ttfb": tax.get("share_of_ttfb"),
        "callout_p95_ms": c.get("p95_ms"),
        "ttfb_p95_ms": inbound.get("ttfb_p95_ms"),
        "errors": _int(r.get("errors")),
        "dropped": _int((r.get("addon") or {}).get("dropped")),
    }
