"""`tokentax check CAPTURE… [--budget FILE] [--fail-on SEV] [--junit OUT.xml] [--format text|md]`:
a CI gate. Exit 0 when every budget holds, 1 when one is broken (or a finding at or above
--fail-on fired), 2 for bad input.

Every CAPTURE (a file, or a directory whose files are the segments of one session, read
in name order) goes through one analyzer: segments of one recording add up to one report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.commands.args import GATEWAY_HELP, INBOUND_HELP, RULES_HELP, examples, format_choices, gateway
from inspector.schema.errors import UserError

SEVERITY_CHOICES = ("info", "warning", "critical")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="fail a CI build when auth calls, the token tax or a cached auth error exceed a budget",
        description="Analyze a capture and hold its figures against a budget (TOML, docs/budgets.md). "
        "Exit 0: every budget holds; 1: a budget is broken, a figure is unknown, or a finding at or "
        "above --fail-on fired; 2: bad input. Without --budget the default budget applies: no "
        "error-cached, and the token tax under 20 % of time to first byte.",
        epilog=examples(
            "tokentax check session.jsonl --junit check.xml",
            "tokentax check captures/ --budget tokentax-budget.toml --fail-on critical",
        ),
    )
    p.add_argument(
        "captures",
        nargs="+",
        metavar="CAPTURE",
        help="capture files (JSONL, mitmproxy flows, HAR) or directories of segments: one session",
    )
    p.add_argument("--budget", "-b", default="", metavar="FILE", help="budget TOML (default: the built-in budget)")
    p.add_argument(
        "--fail-on",
        choices=SEVERITY_CHOICES,
        default=None,
        help="also fail when a finding of this severity or higher fired",
    )
    p.add_argument(
        "--junit", default="", metavar="OUT.xml", help="write JUnit XML here (one test case per budget and finding)"
    )
    p.add_argument("--format", "-f", choices=("text", "md"), default="text", help=format_choices(("text", "md")))
    p.add_argument("-o", "--output", metavar="FILE", help="write the text/md result here instead of standard output")
    p.add_argument("-v", "--verbose", action="store_true", help="text: also list the budgets that hold")
    p.add_argument("--inbound", default="", metavar="SPEC", help=INBOUND_HELP)
    p.add_argument("--rules", default="", metavar="FILE", help=RULES_HELP)
    p.add_argument("--gateway", type=gateway, default=None, metavar="NAME", help=GATEWAY_HELP)
    p.set_defaults(func=run)


def load_budget(path: str):  # -> Budget
    from inspector.analyzer.budget import default_budget, parse_budget

    if not path:
        return default_budget()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: budget file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a budget file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read budget ({getattr(exc, 'strerror', None) or exc})") from None
    return parse_budget(text, path)


def segment_files(captures: list[str]) -> list[Path]:
    """Files to read, in order: each file as given; a directory's or glob's segments in the order
    the rotating writer names them (inspector/capture/segments.py)."""
    from inspector.capture.segments import session_files

    files: list[Path] = []
    for c in captures:
        found = session_files(c)
        if len(found) == 1 and not found[0].exists():
            raise UserError(f"{c}: no such capture file")
        files += found
    return files


def analyze(captures: list[str], inbound: str = "", rules: str = "", gateway: str | None = None):  # -> Analyzer
    from inspector.analyzer import Analyzer
    from inspector.analyzer.core import AnalyzerConfig
    from inspector.capture.detect import LoadOptions
    from inspector.capture.load import analyze_file

    analyzer = Analyzer(AnalyzerConfig(gateway=gateway))
    for f in segment_files(captures):
        analyze_file(f, LoadOptions(inbound=inbound, rules=rules), analyzer=analyzer)
    return analyzer


def run(args: argparse.Namespace) -> int:
    from inspector.analyzer.budget import evaluate, finding_results, summary
    from inspector.views.report.check import to_markdown, to_text
    from inspector.views.report.render import write_output

    budget = load_budget(args.budget)  # bad budget: exit 2 before reading any capture
    snap = analyze(args.captures, args.inbound, args.rules, args.gateway).snapshot()
    results = evaluate(budget, snap) + finding_results(snap, args.fail_on)
    sm = summary(results, args.fail_on)
    source = " ".join(args.captures)
    if args.junit:
        from inspector.views.report.junit import to_junit

        try:
            Path(args.junit).write_text(to_junit(results, source), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{args.junit}: cannot write ({exc.strerror or exc})") from None
    if args.format == "md":
        out = to_markdown(results, sm, source)
    else:
        out = to_text(results, sm, verbose=args.verbose)
    write_output(out, args.output, "check result")
    return 0 if sm["passed"] else 1
