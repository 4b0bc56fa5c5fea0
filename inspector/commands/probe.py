"""`tokentax probe`: time requests from the caller's side, per phase, like `curl -w`.

Options are parsed as plain strings and checked in `run`, so every bad value becomes a
one-line UserError (exit 2) rather than argparse's usage dump. Heavy imports (httpx,
rich) stay inside `run` so `tokentax --help` is fast.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

from inspector.commands.args import duration, examples
from inspector.schema.errors import UserError

if TYPE_CHECKING:
    from inspector.probe.timing import Target

METHODS = ("GET", "POST")
FORMATS = ("text", "json")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_LABEL = re.compile(r"^[A-Za-z0-9_.-]+$")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "probe",
        help="time requests per phase (DNS, connect, TLS, TTFB, total) and estimate the gateway's added time",
        description=(
            "Send N requests to each URL (round-robin, fresh connection each by default) and "
            "print min/p50/p95/max per phase. Label URLs direct=, gateway= and auth= to get "
            "an estimate of the gateway's added time against the auth server's own."
        ),
        epilog=examples(
            "tokentax probe https://api.example/orders -n 50",
            "tokentax probe --label direct=http://10.0.0.7:8000/orders --label gateway=https://api.example/orders",
        ),
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="http:// or https:// URL to probe")
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a labelled URL; direct, gateway and auth drive the tax estimate",
    )
    p.add_argument("-n", dest="count", default="20", metavar="N", help="samples per URL (default 20)")
    p.add_argument(
        "--interval",
        type=duration("--interval"),
        default=1.0,
        metavar="DURATION",
        help="pace of rounds, e.g. 800ms, 5s (default 1s)",
    )
    p.add_argument(
        "--timeout",
        type=duration("--timeout"),
        default=10.0,
        metavar="DURATION",
        help="per-request timeout, e.g. 800ms, 5s (default 10s)",
    )
    p.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="request header (repeatable); Authorization/Cookie values are never echoed",
    )
    p.add_argument("--method", default=None, metavar="METHOD", help="GET or POST (default GET, POST with --data)")
    p.add_argument("--data", default=None, metavar="BODY", help="request body (implies POST)")
    p.add_argument(
        "--auth-basic",
        default=None,
        metavar="CLIENT:SECRET",
        help="probe the auth URL with a client_credentials token request (secret and token never shown)",
    )
    p.add_argument("--reuse", action="store_true", help="keep one connection per URL instead of a fresh one per sample")
    p.add_argument("--format", default="text", help="output format: text, json (default text)")
    p.set_defaults(func=run)


# ---------------------------------------------------------------- validation


def _parse_duration(text: str | float, option: str) -> float:
    """Seconds via the shared parser (same spellings as every command), the error naming the option."""
    if isinstance(text, (int, float)):  # already parsed by the argparse type
        return float(text)
    from inspector.schema.units import parse_duration

    try:
        return parse_duration(text)
    except UserError as exc:
        raise UserError(f"{option}: {exc}") from None


def _parse_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UserError(f"-n: expected a whole number of samples, got {text!r}") from None
    if not 1 <= n <= 100_000:
        raise UserError(f"-n: samples must be between 1 and 100000, got {n}")
    return n


def _check_url(url: str) -> str:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        from inspector.probe.timing import mask_url

        raise UserError(f"bad URL {mask_url(url)!r}: expected http://host[:port]/path or https://...")
    return url


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not _HEADER_NAME.match(name):
        raise UserError("-H: expected 'Name: value' (header value not shown)")
    return name, value.strip()


def _parse_labels(items: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not _LABEL.match(name):
            raise UserError(f"--label: expected NAME=URL with NAME of letters, digits, _ . -, got {name!r}")
        out.append((name, _check_url(url)))
    return out


def build_targets(args: argparse.Namespace) -> tuple[list[Target], bool]:
    """Targets from the parsed options, and whether the auth target asks for a real token."""
    from inspector.probe.timing import Target, basic_auth_value, mask_url

    method = (args.method or ("POST" if args.data is not None else "GET")).upper()
    if method not in METHODS:
        raise UserError(f"--method: expected GET or POST, got {args.method!r}")
    headers = tuple(_parse_header(h) for h in args.header)
    body = args.data.encode() if args.data is not None else None

    pairs = [(mask_url(_check_url(u)), u) for u in args.urls] + _parse_labels(args.label)
    if not pairs:
        raise UserError("probe: give at least one URL (or --label NAME=URL)")
    seen: set[str] = set()
    for label, _url in pairs:
        if label in seen:
            raise UserError(f"probe: label or URL {label!r} given twice")
        seen.add(label)

    token_request = args.auth_basic is not None
    auth_header: tuple[str, str] | None = None
    if token_request:
        client_id, sep, secret = args.auth_basic.partition(":")
        if not sep or not client_id:
            raise UserError("--auth-basic: expected CLIENT:SECRET (value not shown)")
        if "auth" not in seen:
            raise UserError("--auth-basic needs the token endpoint as --label auth=URL")
        auth_header = ("Authorization", basic_auth_value(client_id, secret))

    targets: list[Target] = []
    for label, url in pairs:
        if label == "auth" and auth_header is not None:
            kept = tuple(h for h in headers if h[0].lower() not in ("authorization", "content-type"))
            targets.append(
                Target(
                    url=url,
                    label=label,
                    method="POST",
                    headers=(*kept, auth_header, ("Content-Type", "application/x-www-form-urlencoded")),
                    body=b"grant_type=client_credentials",
                )
            )
        else:
            targets.append(Target(url=url, label=label, method=method, headers=headers, body=body))
    return targets, token_request


# ---------------------------------------------------------------- run and render


def run(args: argparse.Namespace) -> int:
    """Probe, then print a table per URL (or JSON). Exit 1 if some URL never answered."""
    count = _parse_count(args.count)
    interval = _parse_duration(args.interval, "--interval")
    timeout = _parse_duration(args.timeout, "--timeout")
    if timeout <= 0:
        raise UserError("--timeout: must be more than 0")
    if args.format not in FORMATS:
        raise UserError(f"--format: expected text or json, got {args.format!r}")
    targets, token_request = build_targets(args)

    from rich.console import Console

    from inspector.probe.timing import report, run_probe

    err = Console(stderr=True)
    if err.is_terminal:
        with err.status("probing") as status:
            results = run_probe(
                targets,
                count=count,
                interval=interval,
                timeout=timeout,
                reuse=args.reuse,
                on_round=lambda i: status.update(f"probing: round {i + 1}/{count}"),
            )
    else:
        results = run_probe(targets, count=count, interval=interval, timeout=timeout, reuse=args.reuse)
    doc = report(results, auth_token_request=token_request)

    if args.format == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        # markup off: URLs, labels and header names are user text, not rich markup.
        render_text(doc, Console(highlight=False, markup=False))
    return 0 if all(t["ok"] for t in doc["targets"]) else 1


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_text(doc: dict[str, Any], console: Any) -> None:
    """Rich tables from the JSON document: the text view computes no figures of its own."""
    from rich.table import Table

    for t in doc["targets"]:
        status = ", ".join(f"{code}×{n}" for code, n in t["status"].items()) or "none"
        not_2xx = t.get("not_2xx") or {}
        # "errors none" only when every sample got a 2xx answer
        errors = ", ".join(
            [f"{kind}×{n}" for kind, n in t["errors"].items()] + [f"{c}×{n}" for c, n in not_2xx.items()]
        )
        title = t["label"] if t["label"] == t["url"] else f"{t['label']}  {t['url']}"
        # Heading as plain lines, not a table title: a title wraps at the table's width.
        console.print(title, style="bold")
        console.print(f"{t['method']}  samples {t['samples']}  status {status}  errors {errors or 'none'}")
        if not_2xx:
            console.print(
                f"  flagged: {sum(not_2xx.values())} of {t['samples']} answers not 2xx: "
                "these times are of error answers, not of the route's work",
                style="yellow",
            )
        table = Table()
        table.add_column("phase (ms)")
        for col in ("min", "p50", "p95", "max"):
            table.add_column(col, justify="right")
        for phase, stats in t["phases"].items():
            table.add_row(phase, *(_ms(stats[c]) for c in ("min", "p50", "p95", "max")))
        console.print(table)
        if t["headers"]:
            console.print("headers: " + "; ".join(f"{n}: {v}" for n, v in t["headers"]))
    est = doc["estimate"]
    if est is not None:
        console.print(f"tax estimate: {est['summary']}", style="bold")
        for note in est["notes"]:
            console.print(f"  note: {note}")
