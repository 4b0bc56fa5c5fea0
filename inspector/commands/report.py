"""`tokentax report FILE`: analyze a capture and render the report."""

from __future__ import annotations

import argparse
import sys

from inspector.commands.args import (
    GATEWAY_HELP,
    INBOUND_HELP,
    RULES_HELP,
    check_rules,
    examples,
    format_choices,
    gateway,
    output_format,
)
from inspector.views.report.render import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="analyze a capture (JSONL, mitmproxy flows, HAR) and print the report",
        description="Analyze a saved capture and render its figures and findings.",
        epilog=examples(
            "tokentax report gw.jsonl",
            "tokentax report gw.mitm --inbound 8081 --gateway traefik -o report.html",
        ),
    )
    p.add_argument(
        "file", metavar="FILE", help="capture file: tokentax JSONL, mitmproxy .mitm/.flows, or HAR (gzip ok)"
    )
    p.add_argument("--format", "-f", choices=FORMATS, default=None, help=format_choices(FORMATS))
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report here instead of standard output (.html, .md, .json pick the format)",
    )
    p.add_argument("--inbound", default="", metavar="SPEC", help=INBOUND_HELP)
    p.add_argument("--rules", default="", metavar="FILE", help=RULES_HELP)
    p.add_argument("--gateway", type=gateway, default=None, metavar="NAME", help=GATEWAY_HELP)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspector.analyzer import Analyzer
    from inspector.analyzer.core import AnalyzerConfig
    from inspector.capture.detect import LoadOptions
    from inspector.capture.load import analyze_file
    from inspector.views.report.render import render, write_output

    fmt = output_format(args.format, args.output, FORMATS)
    check_rules(args.rules)
    analyzer = analyze_file(
        args.file,
        LoadOptions(inbound=args.inbound, rules=args.rules),
        analyzer=Analyzer(AnalyzerConfig(gateway=args.gateway)),
    )
    snap = analyzer.snapshot()
    color = args.output is None and fmt == "text" and sys.stdout.isatty()
    waterfall = None
    if fmt == "html":
        from inspector.analyzer.waterfall import sample_waterfall

        waterfall = sample_waterfall(analyzer)
    out = render(snap, fmt, color=color, waterfall=waterfall, width=None if args.output is None else 100)
    write_output(out, args.output, f"{fmt} report")
    return 0
