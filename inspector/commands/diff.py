"""`tokentax diff BEFORE AFTER`: did the gateway change remove the token tax, and did anything get worse?"""

from __future__ import annotations

import argparse

FORMATS = ("text", "md", "json")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two captures: figures side by side, findings that came or went",
        description="Analyze two captures (JSONL, mitmproxy flows or HAR) and compare their "
        "figures and findings: before a gateway change and after it.",
    )
    p.add_argument("before", metavar="BEFORE", help="capture of the session before the change")
    p.add_argument("after", metavar="AFTER", help="capture of the session after the change")
    p.add_argument("--format", "-f", choices=FORMATS, default="text")
    p.add_argument("-o", "--output", help="write the comparison here instead of standard output")
    p.add_argument("--inbound", default="", help="listener ports/specs that faced clients (raw files; both sides)")
    p.add_argument("--rules", default="", help="role rules TOML (raw files; both sides)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspector.capture.detect import LoadOptions
    from inspector.capture.load import analyze_file
    from inspector.views.report.diff import diff, render_diff
    from inspector.views.report.render import write_output

    snaps = []
    for path in (args.before, args.after):
        snaps.append(analyze_file(path, LoadOptions(inbound=args.inbound, rules=args.rules)).snapshot())
    out = render_diff(diff(snaps[0], snaps[1]), args.format)
    write_output(out, args.output, f"{args.format} diff")
    return 0
