"""`tokentax redact IN OUT`: a raw flow file or HAR with every secret replaced by its fingerprint.

The input is read twice: the first pass learns every secret where secrets are expected
(so the second pass can also replace them wherever else they turn up, even earlier in
the file than where they were issued), the second writes the redacted copy. The output
goes to a temporary file next to OUT and is renamed into place only when complete, so a
failure never leaves a half-redacted file behind.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from inspector.commands.args import examples
from inspector.schema.errors import UserError

if TYPE_CHECKING:
    from inspector.capture.redact import Redactor


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "redact",
        help="replace secrets in a mitmproxy flow file or HAR by their fingerprints",
        description="Copy a raw mitmproxy flow file or HAR file with every Authorization, "
        "Proxy-Authorization, Cookie and Set-Cookie value, every access/refresh/id "
        "token and client secret replaced by tokentax-fp-<fingerprint>. The output "
        "has the input's format and still opens in mitmproxy and tokentax.",
        epilog=examples(
            "tokentax redact raw.mitm shareable.mitm", "tokentax redact session.har clean.har --key team-key"
        ),
    )
    p.add_argument("input", metavar="IN", help="mitmproxy .mitm/.flows or HAR file (gzip ok)")
    p.add_argument("output", metavar="OUT", help="where to write the redacted copy (same format)")
    p.add_argument("--key", default="", metavar="TEXT", help="fingerprint key (any text); default: random for this run")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(func=run)


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    src, dst = Path(args.input), Path(args.output)
    if dst.exists():
        if dst.is_dir():
            raise UserError(f"{dst}: is a directory; give a file name for the redacted copy")
        if src.exists() and src.resolve() == dst.resolve():
            raise UserError(f"{dst}: is the input file; write the redacted copy somewhere else")
        if not args.force:
            raise UserError(f"{dst}: exists; pass --force to overwrite it")
    if not dst.parent.exists() and str(dst.parent):
        raise UserError(f"{dst}: directory {dst.parent} does not exist")
    return src, dst


def _write_atomically(dst: Path, compressed: bool, write: Callable[[IO[bytes]], object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=str(dst.parent or Path(".")))
    try:
        with os.fdopen(fd, "wb") as raw:
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="wb") as gz:
                    write(gz)  # type: ignore[arg-type]
            else:
                write(raw)
        os.replace(tmp, dst)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{dst}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _warn(msg: str) -> None:
    print(f"tokentax: warning: {msg}", file=sys.stderr)


def redact_flow_file(src: Path, dst: Path, redactor: Redactor) -> int:
    from mitmproxy.io import FlowWriter

    from inspector.capture.detect import _open
    from inspector.capture.flowfile import iter_flows
    from inspector.capture.redact import redact_flow

    fh, compressed = _open(src)
    try:
        for flow in iter_flows(fh, src, None):  # pass 1: learn the secrets
            redact_flow(flow, redactor)
    finally:
        fh.close()
    redactor.reset_counts()
    count = 0

    def write(out: IO[bytes]) -> None:
        nonlocal count
        writer = FlowWriter(out)
        fh2, _ = _open(src)
        try:
            for flow in iter_flows(fh2, src, _warn):
                redact_flow(flow, redactor)
                writer.add(flow)
                count += 1
        finally:
            fh2.close()

    _write_atomically(dst, compressed, write)
    return count


def redact_har_file(src: Path, dst: Path, redactor: Redactor) -> int:
    from inspector.capture.detect import _open
    from inspector.capture.har import load_har_document
    from inspector.capture.redact import redact_har_entry, sweep_json

    def load() -> tuple[dict, bool]:
        fh, compressed = _open(src)
        try:
            return load_har_document(fh, src), compressed
        finally:
            fh.close()

    doc, _ = load()
    for entry in doc["log"]["entries"]:  # pass 1: learn the secrets
        if isinstance(entry, dict):
            redact_har_entry(entry, redactor)
    redactor.reset_counts()
    doc, compressed = load()
    for entry in doc["log"]["entries"]:
        if isinstance(entry, dict):
            redact_har_entry(entry, redactor)
    doc = sweep_json(doc, redactor)
    data = json.dumps(doc, indent=4, ensure_ascii=False).encode("utf-8", "surrogateescape")
    _write_atomically(dst, compressed, lambda out: out.write(data))
    return len(doc["log"]["entries"])


def run(args: argparse.Namespace) -> int:
    from inspector.capture.detect import HAR, JSONL, detect
    from inspector.capture.redact import Redactor
    from inspector.record.fingerprint import Fingerprinter, key_from_text

    src, dst = _paths(args)
    kind = detect(src)
    if kind == JSONL:
        raise UserError(f"{src}: is a tokentax capture, which never holds secrets; nothing to redact")
    redactor = Redactor(Fingerprinter(key_from_text(args.key)))
    if kind == HAR:
        n = redact_har_file(src, dst, redactor)
        what = "HAR entries"
    else:
        n = redact_flow_file(src, dst, redactor)
        what = "flows"
    print(
        f"tokentax: wrote {dst}: {n} {what}, {redactor.secrets_seen} distinct secrets replaced by "
        f"tokentax-fp-<fingerprint> (key id {redactor.fpr.key_id})"
    )
    if not redactor.counts:
        print("  nothing to redact: no credentials found")
    for what_, count in sorted(redactor.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {count:>7}  {what_}")
    return 0
