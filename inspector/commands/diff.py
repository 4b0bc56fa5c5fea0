"""`tokentax diff BEFORE AFTER`: did the gateway change remove the token tax, and did anything get worse?"""

from __future__ import annotations

import argparse
import sys

from inspector.schema.errors import UserError

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
    out = render_diff(diff(snaps[0], snaps[1]), args.format)
    write_output(out, args.output, f"{args.format} diff")
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
