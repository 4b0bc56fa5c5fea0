"""`python -m inspector.lab`: the lab as a child process for `tokentax demo` and tests.

Contract: exactly one JSON line on stdout once every server accepts connections
(`{"ready": true, "auth": ..., "backend": ..., "gateway": ..., "client_id": ...}`),
then silence; exit 0 on SIGTERM/SIGINT (or on stdin EOF with --watch-stdin); on
failure (a port in use, a bad option) one line on stderr and exit 2 (1 if unexpected).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from inspector.lab.lab_cli import add_lab_options, config_from_args
from inspector.schema.errors import UserError

PROG = "python -m inspector.lab"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Run the tokentax lab servers; print one ready JSON line.")
    add_lab_options(parser)
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes (the parent went away)")
    args = parser.parse_args(argv)
    try:
        from inspector.lab.stack import LabStack, serve_until_stopped

        config = config_from_args(args)

        def ready(lab: LabStack) -> None:
            sys.stdout.write(json.dumps(lab.ready_info()) + "\n")
            sys.stdout.flush()

        asyncio.run(serve_until_stopped(config, ready, watch_stdin=args.watch_stdin))
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # one line, no traceback: the parent shows it to the user
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
