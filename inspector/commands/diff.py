"""`tokentax diff BEFORE AFTER`: did the gateway change remove the token tax, and did anything get worse?"""

from __future__ import annotations

import argparse
import sys

from inspector.commands.args import INBOUND_HELP, RULES_HELP, check_rules, examples, format_choices, output_format
from inspector.schema.errors import UserError

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
    p.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when AFTER is worse than BEFORE beyond --tolerance: the tax came back, auth calls "
        "per request went up, a new warning or critical finding appeared",
    )
    p.add_argument(
        "--tolerance",
        default="10%",
        metavar="PCT",
        help="relative rise a figure may take before it counts as a regression (default 10%%; also 0.1)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspector.capture.detect import LoadOptions
    from inspector.capture.load import analyze_file
    from inspector.views.report.diff import diff, render_diff
    from inspector.views.report.render import write_output

    fmt = output_format(args.format, args.output, FORMATS)
    check_rules(args.rules)
    tolerance = 0.0
    if args.fail_on_regression:
        from inspector.analyzer.regression import parse_tolerance

        try:
            tolerance = parse_tolerance(args.tolerance)
        except ValueError:
            raise UserError(
                f"invalid --tolerance {args.tolerance!r}: expected a percentage such as 10% or 0.1"
            ) from None
    snaps = []
    for path in (args.before, args.after):
        snaps.append(analyze_file(path, LoadOptions(inbound=args.inbound, rules=args.rules)).snapshot())
    out = render_diff(diff(snaps[0], snaps[1]), fmt)
    write_output(out, args.output, f"{fmt} diff")
    if not args.fail_on_regression:
        return 0
    from inspector.analyzer.regression import regressions

    found = regressions(snaps[0], snaps[1], tolerance)
    for r in found:
        print(f"tokentax diff: regression: {r['message']}", file=sys.stderr)
    n = len(found)
    print(
        f"tokentax diff: {n} {'regression' if n == 1 else 'regressions'} (tolerance {tolerance * 100:g} %)",
        file=sys.stderr,
    )
    return 1 if found else 0
