"""Read a raw mitmproxy flow file (.mitm/.flows) into tokentax events.

The flows are read with mitmproxy's own FlowReader and turned into events by the same
record layer the live addon uses (`flow_event`), so a flow file gives the figures the
live session would have given. A flow file does not say which listener faced clients
unless the user tells us (`--inbound`); without it roles are inferred by shape, and
the reader says so. A file cut short at the end (a mitmdump that was killed) is read up
to the last whole flow with a warning, like a JSONL capture; damage anywhere else, or a
file with no readable flow at all, is a one-line UserError naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from inspector.capture.detect import LoadOptions
from inspector.capture.infer import infer_inbound
from inspector.record import roles as R
from inspector.record.flow_record import RecordContext, flow_event
from inspector.schema import events as E
from inspector.schema.errors import UserError

PROGRESS_EVERY = 256
_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)


def note(opts: LoadOptions, text: str) -> None:
    """Tell the user something about how the file was read: kept in opts.notes and warned."""
    opts.notes.append(text)
    if opts.warn is not None:
        opts.warn(text)


def load_rules(path: str) -> R.Rules:
    try:
        return R.read_rules_file(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def parse_inbound(text: str) -> R.Listeners:
    try:
        return R.parse_listeners(text)
    except ValueError as exc:
        raise UserError(f"--inbound: {exc}") from None


def record_context(opts: LoadOptions) -> RecordContext:
    """One RecordContext for the whole file: one fingerprint key, one connection memory."""
    return RecordContext(inbound=parse_inbound(opts.inbound), rules=load_rules(opts.rules))


names_inbound = R.names_inbound  # re-exported for the HAR reader


def roles_note(path: Path, opts: LoadOptions, rules: R.Rules | None = None) -> None:
    if rules is None and opts.rules:
        rules = load_rules(opts.rules)
    if not opts.inbound and not (rules is not None and names_inbound(rules)):
        note(
            opts,
            f"{path}: no --inbound given: roles are inferred (token requests are callouts by shape; "
            f"inbound requests are the flows whose span contains the gateway's callout and backend hops); "
            f"pass --inbound PORT or the client-facing mode spec to name them",
        )


def iter_flows(fh: IO[bytes], path: Path, warn: Any = None) -> Iterator[Any]:
    """Every flow of the file (any kind), via mitmproxy's FlowReader, errors turned into UserError."""
    from mitmproxy.exceptions import FlowReadException
    from mitmproxy.io import FlowReader

    n = 0
    stream = iter(FlowReader(fh).stream())  # type: ignore[arg-type]  # FlowReader reads any binary file object; its hint says BinaryIO
    while True:
        try:
            flow = next(stream)
        except StopIteration:
            return
        except FlowReadException as exc:
            _damaged(fh, path, n, str(exc), warn)
            return
        except _READ_ERRORS as exc:
            _damaged(fh, path, n, f"{type(exc).__name__}: {exc}", warn)
            return
        n += 1
        yield flow


def _at_eof(fh: IO[bytes]) -> bool:
    try:
        return fh.read(1) == b""
    except _READ_ERRORS:
        return True  # a gzip stream that ends early is a cut-short file too


def _damaged(fh: IO[bytes], path: Path, n: int, why: str, warn: Any) -> None:
    why = why.splitlines()[0] if why else "unreadable data"
    at_eof = _at_eof(fh)
    if why.startswith("Invalid data format"):  # mitmproxy's word for any tnetstring damage
        why = "cut short or corrupt data" if at_eof else "corrupt data"
    if n and at_eof:
        if warn is not None:
            warn(
                f"{path}: the last flow is cut short (the file was not closed cleanly); read {n} whole flows "
                f"and skipped the rest"
            )
        return
    if n == 0:
        raise UserError(f"{path}: not a readable mitmproxy flow file ({why})")
    raise UserError(f"{path}: damaged mitmproxy flow file after {n} flows ({why})")


def _tell(fh: IO[bytes]) -> int:
    try:
        return fh.tell()
    except (OSError, ValueError):
        return 0


def read_flow_file(fh: IO[bytes], path: Path, opts: LoadOptions) -> Iterator[E.Event]:
    """The session event, then one flow event per HTTP flow, in file (completion) order."""
    ctx = record_context(opts)
    roles_note(path, opts, ctx.rules)
    events = _read_flow_file(fh, path, opts, ctx)
    if opts.inbound or names_inbound(ctx.rules):
        yield from events
    else:
        yield from infer_inbound(events)  # no listener information: inbound by containment


def _read_flow_file(fh: IO[bytes], path: Path, opts: LoadOptions, ctx: RecordContext) -> Iterator[E.Event]:
    from mitmproxy.http import HTTPFlow

    skipped = 0
    http_flows = 0
    started = False
    for flow in iter_flows(fh, path, opts.warn):
        if not isinstance(flow, HTTPFlow) or flow.request is None:
            skipped += 1
            continue
        if not started:
            started = True
            yield E.session_event(
                flow.request.timestamp_start,
                source="mitm",
                key_id=ctx.fpr.key_id,
                inbound=opts.inbound,
                roles_inferred=not opts.inbound and not names_inbound(ctx.rules),
            )
        http_flows += 1
        if opts.progress is not None and http_flows % PROGRESS_EVERY == 0:
            opts.progress(_tell(fh))
        try:
            ev = flow_event(flow, ctx)
        except Exception as exc:
            raise UserError(
                f"{path}: flow {http_flows + skipped} cannot be read as an HTTP exchange ({type(exc).__name__})"
            ) from None
        yield ev
    if opts.progress is not None:
        opts.progress(_tell(fh))
    if skipped:
        note(opts, f"{path}: skipped {skipped} non-HTTP flows (TCP, UDP, DNS)")
    if not http_flows:
        raise UserError(f"{path}: no HTTP flows in the flow file")
