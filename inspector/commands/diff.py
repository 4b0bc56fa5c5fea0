"""`tokentax diff BEFORE AFTER`: did the gateway change remove the token tax, and did anything get worse?"""

from __future__ import annotations

import argparse

from inspector.commands.args import INBOUND_HELP, RULES_HELP, check_rules, examples, format_choices, output_format

FORMATS = ("text", "md", "json")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two captures: figures side by side, findings that came or went",
        description="Analyze two captures (JSONL, mitmproxy flows or HAR) and compare their "
        "figures and findings: before a gateway change and after it.",
        epilog=examples("tokentax diff before.jsonl after.jsonl", "tokentax diff before.jsonl after.jsonl -o diff.md"),
    )
    p.add_argument("before", metavar="BEFORE", help="capture file of the session before the change")
    p.add_argument("after", metavar="AFTER", help="capture file of the session after the change")
    p.add_argument("--format", "-f", choices=FORMATS, default=None, help=format_choices(FORMATS))
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the comparison here instead of standard output (.md, .json pick the format)",
    )
    p.add_argument("--inbound", default="", metavar="SPEC", help=INBOUND_HELP + " (both sides)")
    p.add_argument("--rules", default="", metavar="FILE", help=RULES_HELP + " (both sides)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspector.capture.detect import LoadOptions
    from inspector.capture.load import analyze_file
    from inspector.views.report.diff import diff, render_diff
    from inspector.views.report.render import write_output

    fmt = output_format(args.format, args.output, FORMATS)
    check_rules(args.rules)
    snaps = []
    for path in (args.before, args.after):
        snaps.append(analyze_file(path, LoadOptions(inbound=args.inbound, rules=args.rules)).snapshot())
    out = render_diff(diff(snaps[0], snaps[1]), fmt)
    write_output(out, args.output, f"{fmt} diff")
    return 0
