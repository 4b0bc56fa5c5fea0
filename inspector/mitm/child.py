"""`tokentax tui`: mitmdump with the addon as a child process, ready before the UI starts.

Why before: a bad mitmdump argument, a port in use or a crash must come back as one
line and exit status 2 on a normal terminal, not as a TUI that sits there empty. The
shared launcher (inspector.mitm.launch) waits for the addon's ready line; the app keeps the
child to show its last words if it dies, and the child stops when the TUI exits.
"""

from __future__ import annotations

from inspector.mitm.launch import READY_TIMEOUT_S, Mitmdump
from inspector.mitm.listen import loopback_default
from inspector.schema.errors import UserError

MitmChild = Mitmdump
TUI_DEFAULTS = {"tokentax_status": "0", "tokentax_summary": "false"}


def start_mitmdump(user_args: list[str], *, timeout: float = READY_TIMEOUT_S, stream: str = "127.0.0.1:0") -> Mitmdump:
    """Start mitmdump and wait for the addon's ready line; UserError with one line on any failure."""
    user_args = loopback_default(user_args)  # never an open proxy unless asked: --listen-host
    child = Mitmdump(user_args, defaults={"tokentax_stream": stream, **TUI_DEFAULTS}).start(timeout)
    if child.stream == "off":
        why = child.last_words()
        child.stop()
        raise UserError("mitmdump started but its tokentax stream is off" + (f": {why}" if why else ""))
    return child
