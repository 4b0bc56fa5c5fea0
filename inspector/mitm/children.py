"""Children that die with their parent: the one way tokentax starts a process.

Every child (mitmdump, the lab servers, the load generator) runs in its own process
group, so that a terminal's Ctrl+C reaches only tokentax, which stops it cleanly, and
so that stopping it reaches whatever it started in turn. Being in its own session, a
child would not see the terminal close (SIGHUP) nor notice its parent crashing; so on
Linux it also gets a parent-death signal (prctl PR_SET_PDEATHSIG): when the tokentax
process that started it dies, for whatever reason, the kernel sends it SIGTERM.

The parent-death signal fires when the *thread* that forked the child ends: start
children from a thread that lives as long as the process (the main thread).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _die_with_parent(parent: int, sig: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, sig, 0, 0, 0)
            # The parent may have died before prctl took effect: then we were reparented.
            if os.getppid() != parent:
                os._exit(1)

    return preexec


def child_kwargs(sig: int = signal.SIGTERM) -> dict[str, Any]:
    """Popen keyword arguments for a child that has its own process group and dies with us."""
    return {"start_new_session": True, "preexec_fn": _die_with_parent(os.getpid(), sig)}


def stop_on_signals(*signals: int) -> dict[int, Any]:
    """Turn SIGTERM/SIGHUP (or the signals given) into KeyboardInterrupt in the main thread,
    so a command stops as on Ctrl+C: its `finally` stops the children and prints the summary.
    Returns the previous handlers (for `restore`)."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old: dict[int, Any] = {}
    for sig in signals or (signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or not a signal here
            pass
    return old


def restore(old: dict[int, Any]) -> None:
    for sig, handler in old.items():
        signal.signal(sig, handler)
