"""`tokentax report FILE`: analyze a capture and render the report."""

from __future__ import annotations

import argparse
import sys

from inspector.views.report.render import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="analyze a capture (JSONL, mitmproxy flows, HAR) and print the report",
        description="Analyze a saved capture and render its figures and findings.",
    )
    p.add_argument("file", help="capture file: tokentax JSONL, mitmproxy .mitm/.flows, or HAR (gzip ok)")
    p.add_argument("--format", "-f", choices=FORMATS, default="text")
    p.add_argument("-o", "--output", help="write the report here instead of standard output")
    p.add_argument("--inbound", default="", help="listener ports/specs that faced clients (raw flow files)")
    p.add_argument("--rules", default="", help="role rules TOML (raw flow files)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspector.capture.detect import LoadOptions
    from inspector.capture.load import analyze_file
    from inspector.views.report.render import render, write_output

    analyzer = analyze_file(args.file, LoadOptions(inbound=args.inbound, rules=args.rules))
    snap = analyzer.snapshot()
    color = args.output is None and args.format == "text" and sys.stdout.isatty()
    waterfall = None
    if args.format == "html":
        from inspector.analyzer.waterfall import sample_waterfall

        waterfall = sample_waterfall(analyzer)
    out = render(snap, args.format, color=color, waterfall=waterfall)
    write_output(out, args.output, f"{args.format} report")
    return 0
