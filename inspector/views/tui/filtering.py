"""mitmproxy filter expressions (`~d`, `~u`, `~c`, `~m`, `!`, `&`, `|`, ...) over flow events.

The flows list holds event dicts, not HTTPFlows. Building a real HTTPFlow per event
costs about 70 us (Request/Response validation), too much at thousands of events a
second, so `EventFlow` is an HTTPFlow subclass that skips the base initialiser and
carries light request/response stand-ins with exactly the attributes mitmproxy's filter
operators read. It subclasses HTTPFlow because several operators (`~http`, `~a`, `~b`,
`~t`, ...) check `isinstance(f, http.HTTPFlow)`. Headers and bodies are never stored
in events, so `~h`, `~b` and `~t` match nothing; that is stated in the help text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mitmproxy import flowfilter, http

from inspector.schema.events import Event

DEFAULT_PORTS = {"http": 80, "https": 443}
_EMPTY_HEADERS = http.Headers()


class _Data:
    __slots__ = ("method",)

    def __init__(self, method: bytes) -> None:
        self.method = method


class _Message:
    """What filters read from a request or response: no headers, no body (events hold none)."""

    headers = _EMPTY_HEADERS
    content = None
    raw_content = None

    def get_content(self, strict: bool = True) -> bytes | None:
        return None


class _Request(_Message):
    __slots__ = ("host", "pretty_host", "port", "scheme", "path", "method", "data", "timestamp_start", "questions")

    def __init__(self, ev: Event) -> None:
        self.host = self.pretty_host = str(ev.get("host") or "")
        self.port = ev.get("port")
        self.scheme = str(ev.get("scheme") or "http")
        self.path = str(ev.get("path") or "")
        self.method = str(ev.get("method") or "")
        self.data = _Data(self.method.encode())
        self.timestamp_start = ev.get("ts")
        self.questions = None

    @property
    def pretty_url(self) -> str:
        port = "" if self.port is None or DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{self.pretty_host}{port}{self.path}"

    @property
    def url(self) -> str:
        return self.pretty_url


class _Response(_Message):
    __slots__ = ("status_code",)

    def __init__(self, status: int) -> None:
        self.status_code = status


class _Error:
    __slots__ = ("msg",)

    def __init__(self, msg: str) -> None:
        self.msg = msg

    def __bool__(self) -> bool:
        return True


class _Conn:
    __slots__ = ("peername", "address")

    def __init__(self, peername: Any, address: Any) -> None:
        self.peername, self.address = peername, address

    def __bool__(self) -> bool:
        return True


_CLIENT = _Conn(None, None)


class EventFlow(http.HTTPFlow):
    """A read-only HTTPFlow look-alike built from one flow event, for filter matching only."""

    def __init__(self, ev: Event) -> None:
        self.request = _Request(ev)  # type: ignore[assignment]
        status = ev.get("status")
        self.response = _Response(status) if isinstance(status, int) else None  # type: ignore[assignment]
        err = ev.get("error")
        self.error = _Error(str(err.get("kind", "error")) if isinstance(err, dict) else "error") if err else None  # type: ignore[assignment]
        self.websocket = None
        self.client_conn = _CLIENT  # type: ignore[assignment]
        self.server_conn = _Conn(None, (self.request.host, self.request.port))  # type: ignore[assignment]
        self.marked = ""
        self.comment = ""
        self.metadata = {}
        self.is_replay = None
        self.id = str(ev.get("id") or "")
        self.live = False
        self.intercepted = False
        self.type = "http"  # type: ignore[misc]  # a stand-in flow sets the class attribute that filters read


SOURCE_RE = re.compile(r"(?:^|(?<=\s))source:(\S*)")
# role:NAME and kind:NAME terms: several of one kind mean any of them ("kind:jwks kind:token")
TERM_RE = re.compile(r"(?:^|(?<=\s))(role|kind):(\S*)")
ROLES = ("inbound", "callout", "backend", "other")
KINDS = ("token", "exchange", "introspection", "jwks", "userinfo", "forward_auth")


class Matcher:
    """A parsed filter: a mitmproxy expression, and the sources a `source:NAME` term allows."""

    __slots__ = ("mitm", "sources", "default_source", "roles", "kinds")

    def __init__(
        self,
        mitm: flowfilter.TFilter | None,
        sources: frozenset[str] | None = None,
        default_source: str = "",
        roles: frozenset[str] | None = None,
        kinds: frozenset[str] | None = None,
    ) -> None:
        self.mitm = mitm
        self.sources = sources
        self.default_source = default_source  # the source of an untagged event (one source attached)
        self.roles = roles
        self.kinds = kinds  # callout kinds; a callout without one is a token fetch (older captures)

    def __call__(self, ev: Event) -> bool:
        if self.sources is not None and ev.get("source", self.default_source) not in self.sources:
            return False
        if self.roles is not None and ev.get("role") not in self.roles:
            return False
        if self.kinds is not None and (ev.get("role") != "callout" or (ev.get("kind") or "token") not in self.kinds):
            return False
        return self.mitm is None or bool(self.mitm(EventFlow(ev)))


def resolve_source(name: str, sources: Sequence[tuple[str, str]]) -> set[str]:
    """The addresses `source:NAME` means: the one whose address, short name or port is NAME,
    else every address containing NAME. ValueError (one line) when none does."""
    exact = {
        addr for addr, short in sources if name in (addr, short, addr.rsplit(":", 1)[-1], ":" + addr.rsplit(":", 1)[-1])
    }
    found = exact or {addr for addr, _ in sources if name in addr}
    if not found:
        known = ", ".join(addr for addr, _ in sources) or "none"
        raise ValueError(f"no source matches {name!r} in source:{name} (sources: {known})")
    return found


def compile_filter(text: str, sources: Sequence[tuple[str, str]] = ()) -> Matcher | None:
    """Parse a filter; None for an empty one. ValueError (one line) for a bad one.

    Besides mitmproxy's expressions, `source:NAME` terms (NAME: an attached stream's
    HOST:PORT, its port, or part of it) keep the flows of those sources; several terms
    mean any of them, and they combine with the rest of the expression by "and".
    `sources` are the attached (address, short name) pairs.
    """
    text = text.strip()
    if not text:
        return None
    allowed: set[str] | None = None
    names = SOURCE_RE.findall(text)
    if names:
        allowed = set()
        for name in names:
            if not name:
                raise ValueError("source: needs a name, e.g. source:127.0.0.1:7391 or source:7391 (see ? for help)")
            allowed |= resolve_source(name, sources)
    terms: dict[str, set[str]] = {}
    for what, name in TERM_RE.findall(text):
        known = ROLES if what == "role" else KINDS
        if name not in known:
            raise ValueError(f"unknown {what} {name!r} in {what}:{name} (one of: {', '.join(known)})")
        terms.setdefault(what, set()).add(name)
    rest = TERM_RE.sub(" ", SOURCE_RE.sub(" ", text)).strip()
    mitm = None
    if rest:
        try:
            mitm = flowfilter.parse(rest)
        except ValueError:
            raise ValueError(f"not a mitmproxy filter expression: {text!r} (see ? for help)") from None
    default = sources[0][0] if len(sources) == 1 else ""
    return Matcher(
        mitm,
        frozenset(allowed) if allowed is not None else None,
        default,
        frozenset(terms["role"]) if "role" in terms else None,
        frozenset(terms["kind"]) if "kind" in terms else None,
    )


def matches(flt: Matcher, ev: Event) -> bool:
    """Whether the event matches; an operator that cannot read an event counts as no match."""
    try:
        return flt(ev)
    except (AttributeError, TypeError, ValueError):
        return False


# Operators that read what events never hold (headers, bodies, markers, other protocols):
# left out of the help, as they can never match here.
NEVER_MATCH = {
    "~h",
    "~hq",
    "~hs",
    "~b",
    "~bq",
    "~bs",
    "~t",
    "~tq",
    "~ts",
    "~a",
    "~marked",
    "~marker",
    "~comment",
    "~dns",
    "~tcp",
    "~udp",
    "~websocket",
    "~replay",
    "~replayq",
    "~replays",
    "~all",
    "~src",
    "~dst",
    "~meta",
}
TOKENTAX_TERMS: tuple[tuple[str, str], ...] = (
    ("role:NAME", "flows of a role: " + ", ".join(ROLES) + " (several role: terms mean any of them)"),
    ("kind:NAME", "auth calls of a kind: " + ", ".join(KINDS)),
)


def help_rows() -> list[tuple[str, str]]:
    """The filter terms that can match a flow event here: tokentax's own role:/kind:, then
    mitmproxy's operators minus those reading data events never hold."""
    rows = list(TOKENTAX_TERMS)
    for op, text in flowfilter.help:
        if op.split(" ")[0] in NEVER_MATCH:
            continue
        rows.append((op, text))
    return rows
