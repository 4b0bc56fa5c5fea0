"""docs/fleet.md and the Grafana dashboard: they parse, and every query names real metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from inspector.live.metrics import METRIC_NAMES

DOCS = Path(__file__).resolve().parents[2] / "docs"
HISTOGRAMS = {"tokentax_callout_duration_seconds", "tokentax_inbound_ttfb_seconds"}
_NAME = re.compile(r"\btokentax_[a-z0-9_]+\b")


def dashboard() -> dict[str, Any]:
    return json.loads((DOCS / "grafana-tokentax.json").read_text(encoding="utf-8"))


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def fleet_block(lang: str, marker: str) -> str:
    """The first ```lang fenced block of docs/fleet.md that contains `marker`."""
    text = (DOCS / "fleet.md").read_text(encoding="utf-8")
    for block in re.findall(rf"```{lang}\n(.*?)```", text, re.S):
        if marker in block:
            return block
    raise AssertionError(f"no ```{lang} block with {marker!r} in docs/fleet.md")


def alert_rules() -> str:
    return fleet_block("yaml", "groups:")


def metric_names(text: str) -> set[str]:
    """Metric names a query uses, histogram series mapped to their histogram."""
    out = set()
    for name in _NAME.findall(text):
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix) and name.removesuffix(suffix) in HISTOGRAMS:
                name = name.removesuffix(suffix)
        out.add(name)
    return out


def for_prometheus(expr: str) -> str:
    """A dashboard expression with Grafana's variables filled in as Grafana would."""
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*")


def test_dashboard_has_the_standard_model() -> None:
    d = dashboard()
    for key in ("title", "uid", "schemaVersion", "version", "panels", "templating", "time", "__inputs"):
        assert key in d, key
    assert d["__inputs"][0]["pluginId"] == "prometheus"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert p["type"] in ("stat", "timeseries") and p["title"]
        assert set(p["gridPos"]) == {"x", "y", "w", "h"} and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}" and p["targets"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])
    exprs = " ".join(dashboard_exprs())
    assert "tokentax_redundant_callouts_total" in exprs and "tokentax_token_tax_seconds_total" in exprs
    assert "histogram_quantile(0.95" in exprs


def fleet_queries() -> list[str]:
    text = (DOCS / "fleet.md").read_text(encoding="utf-8")
    return re.findall(r"```promql\n(.*?)```", text, re.S) + [alert_rules()]


def test_every_query_names_only_metrics_that_exist() -> None:
    for source, text in [
        ("dashboard", " ".join(dashboard_exprs())),
        ("dashboard variables", json.dumps(dashboard()["templating"])),
        ("fleet.md queries", " ".join(fleet_queries())),
    ]:
        names = metric_names(text)
        assert names, source
        assert names <= METRIC_NAMES, (source, names - METRIC_NAMES)
    # and fleet.md's metrics table documents every metric there is
    table = [
        line for line in (DOCS / "fleet.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `tokentax_")
    ]
    assert {line.split("`")[1] for line in table} >= METRIC_NAMES


def test_brackets_balance_in_every_query() -> None:
    for expr in dashboard_exprs() + [alert_rules()]:
        for o, c in ("()", "[]", "{}"):
            assert expr.count(o) == expr.count(c), expr


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian's prometheus package; .ci/run installs it)"
)
def test_promtool_accepts_the_alert_rules(tmp_path: Path) -> None:
    rules = tmp_path / "tokentax-alerts.yml"
    rules.write_text(alert_rules(), encoding="utf-8")
    p = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: 2 rules found" in p.stdout + p.stderr
