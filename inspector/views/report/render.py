"""Render one analyzer snapshot as text, markdown or JSON. Every format reads the same findings."""

from __future__ import annotations

import io
import json
from typing import Any

from inspector.schema.units import human_seconds, ms
from inspector.views.format import UNKNOWN, pct, spread
from inspector.views.report.kinds import kind_markdown

FORMATS = ("text", "md", "json", "html")


def to_json(s: dict[str, Any]) -> str:
    return json.dumps(s, indent=2, sort_keys=False, default=str) + "\n"


PIPE_WIDTH = 100  # lines written to a file or a pipe wrap here, at word boundaries


def terminal_width() -> int:
    """The terminal's columns when standard output is one, else PIPE_WIDTH."""
    import shutil
    import sys

    if sys.stdout.isatty():
        return max(40, shutil.get_terminal_size((PIPE_WIDTH, 24)).columns)
    return PIPE_WIDTH


def to_text(s: dict[str, Any], width: int | None = None, color: bool = False) -> str:
    from rich.console import Console

    from inspector.views.report.text import summary_renderable

    buf = io.StringIO()
    Console(
        file=buf,
        width=width or terminal_width(),
        force_terminal=color,
        color_system="standard" if color else None,
        soft_wrap=False,
    ).print(summary_renderable(s))
    return buf.getvalue()


def to_markdown(s: dict[str, Any]) -> str:
    c, tax, fl = s["callouts"], s["tax"], s["flows"]
    per = c["per_inbound"]
    aph = tax["avoidable_callouts_per_hour"]
    lines = [
        "# tokentax report",
        "",
        f"Session: {human_seconds(s['span']['seconds'])}, {sum(fl.values())} flows "
        f"(inbound {fl['inbound']}, callout {fl['callout']}, backend {fl['backend']}, other {fl['other']}).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| callouts per inbound request | {UNKNOWN if per is None else f'{per:.2f}'} |",
        f"| redundant fetches | {c['redundant']} of {c['total']} ({pct(c['redundant_share'])}) |",
        f"| identical fetches | {c['identical']} |",
        f"| failed callouts | {c['failed']} |",
        f"| callout latency | {spread(c)} |",
        f"| token tax per request | {ms(tax['ms_per_inbound'])} ({pct(tax['share_of_ttfb'])} of time to first byte) |",
        f"| auth calls a cache removes | {UNKNOWN if aph is None else f'{aph:.0f} per hour'} |",
        f"| inbound time to first byte | {spread(s['inbound'], 'ttfb_')} |",
        f"| distinct tokens | {s['tokens_distinct']} |",
        "",
        *kind_markdown(s),
        "",
    ]
    if s.get("notes"):
        lines += ["## Notes", ""] + [f"- `{n['figure']}`: {n['reason']}" for n in s["notes"]] + [""]
    lines += [
        "## Findings",
        "",
    ]
    if not s["findings"]:
        lines.append("No findings: no token callouts seen.")
    for f in s["findings"]:
        lines.append(f"- **{f['severity']}** `{f['id']}`: {f['title']}")
        for e in f["evidence"]:
            lines.append(f"  - {e}")
    if s["tokens"]:
        lines += ["", "## Tokens", "", "| fingerprint | key | lifetime | fetches | uses |", "|---|---|---|---|---|"]
        for t in s["tokens"][:20]:
            life = human_seconds(t["lifetime_s"]) if t["lifetime_s"] is not None else "-"
            lines.append(f"| `{t['fingerprint']}` | {t['key'] or '-'} | {life} | {t['fetches']} | {t['uses']} |")
    return "\n".join(lines) + "\n"


def render(
    s: dict[str, Any],
    fmt: str,
    color: bool = False,
    waterfall: list[dict[str, Any]] | None = None,
    width: int | None = None,
) -> str:
    """`waterfall`: sample hop rows (report.waterfall.sample_waterfall); only the HTML page draws them.
    `width`: text columns (default: the terminal's, or 100 when not a terminal)."""
    if fmt == "json":
        return to_json(s)
    if fmt == "md":
        return to_markdown(s)
    if fmt == "html":
        from inspector.views.report.html import to_html

        return to_html(s, waterfall)
    return to_text(s, width=width, color=color)


def write_output(text: str, output: str | None, what: str) -> None:
    """The rendered report to a file (saying where, on stderr) or to standard output."""
    import sys
    from pathlib import Path

    from inspector.schema.errors import UserError

    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{output}: cannot write ({exc.strerror or exc})") from None
    print(f"tokentax: wrote {what} to {output}", file=sys.stderr)
