"""The typed contracts between the layers: the event schema and the `tokentax.report/1` report.

Why TypedDicts and not dataclasses: events cross process boundaries as JSON lines and are
read at 60-100k per second; a TypedDict is a plain dict at run time (no conversion, no
per-event allocation beyond the dict itself), while a dataclass per event measured slower
on the capture path and would need converting at every edge. Code handles events as
`Event` (`dict[str, Any]`); these types are the written-down contract, and `problems()`
checks a value against one, so tests hold every producer (the record layer on real flows,
the analyzer's snapshot, the lean reader) to it.

docs/events.md describes the same fields for people; a test keeps the two in step.
(No `from __future__ import annotations` here: TypedDict reads NotRequired from live annotations.)
"""

import types
import typing
from typing import Any, Literal, NotRequired, TypedDict, Union

from inspector.schema.vocab import Kind, Role, Severity

# -- events --------------------------------------------------------------------------------


class Timing(TypedDict):
    """Milliseconds per phase of one hop; `reused` when the server connection was kept alive."""

    reused: bool
    connect: float | None
    tls: float | None
    send: float | None
    wait: float | None
    receive: float | None
    ttfb: float | None
    total: float | None


class SessionEvent(TypedDict):
    v: int
    type: Literal["session"]
    ts: float
    tool: str
    source: str
    key_id: str
    inbound: str
    roles_inferred: bool
    listen: NotRequired[list[str]]
    gateway: NotRequired[str]  # named with tokentax_gateway


class FlowEvent(TypedDict):
    v: int
    type: Literal["flow"]
    id: str
    ts: float
    end: float | None
    role: Role
    role_by: str
    listener: NotRequired[str]
    method: NotRequired[str | None]
    scheme: NotRequired[str | None]
    host: NotRequired[str | None]
    port: NotRequired[int | None]
    path: NotRequired[str | None]
    status: NotRequired[int | None]
    timing: NotRequired[Timing]
    size: NotRequired[dict[str, int]]
    error: NotRequired[dict[str, str]]
    trace: NotRequired[dict[str, str]]
    bearer: NotRequired[dict[str, Any]]
    kind: NotRequired[Kind]
    kind_by: NotRequired[str]
    key: NotRequired[dict[str, Any]]
    token: NotRequired[dict[str, Any]]
    introspection: NotRequired[dict[str, Any]]
    jwks: NotRequired[dict[str, Any]]
    userinfo: NotRequired[dict[str, Any]]
    forward_auth: NotRequired[dict[str, Any]]
    discovery: NotRequired[list[str]]
    gateway: NotRequired[list[str]]


class AddonEvent(TypedDict):
    v: int
    type: Literal["addon"]
    ts: float
    errors: int
    dropped: int
    capture_error: NotRequired[str]


class ProbeEvent(TypedDict):
    """A connection to an inbound listener that carried no request (a health check)."""

    v: int
    type: Literal["probe"]
    ts: float
    listener: str
    reason: str


# -- the report ----------------------------------------------------------------------------


class Finding(TypedDict):
    id: str
    severity: Severity
    title: str
    evidence: list[str]
    source: NotRequired[str]  # set by combine(): which proxy it came from


class Note(TypedDict):
    """Why a figure is null, or what caveat it carries."""

    figure: str
    reason: str


class Report(TypedDict):
    """`Analyzer.snapshot()`: every view reads this and nothing else (docs/events.md)."""

    schema: str
    session: dict[str, Any]
    span: dict[str, Any]
    events: int
    flows: dict[str, int]
    roles: dict[str, Any]  # {inferred, by {rule: flows}}: how flows got their roles
    rates: dict[str, Any]
    callouts: dict[str, Any]
    inbound: dict[str, Any]
    tokens: list[dict[str, Any]]
    tokens_distinct: int
    lifetimes: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    tax: dict[str, Any]
    correlation: dict[str, int]
    aftermath: dict[str, Any]
    stampedes: dict[str, Any]
    routes: list[dict[str, Any]]
    gateway: list[str]
    gateway_named: NotRequired[str | None]  # named with --gateway / tokentax_gateway; absent in older reports
    errors: int
    probes: dict[str, Any]  # connections without requests: {total, by_reason}
    addon: dict[str, Any]
    findings: list[Finding]
    notes: NotRequired[list[Note]]
    combined: NotRequired[dict[str, Any]]


# -- checking a value against a contract ---------------------------------------------------


def problems(value: Any, contract: Any, where: str = "$") -> list[str]:
    """Every way `value` breaks `contract` (a TypedDict or a type expression), as lines naming
    the path (`$.callouts.total: expected int, got str`); [] when it conforms. Extra keys in
    a TypedDict are problems too: a new field is added to the contract first."""
    origin = typing.get_origin(contract)
    args = typing.get_args(contract)
    if contract is Any:
        return []
    if contract is type(None) or contract is None:
        return [] if value is None else [f"{where}: expected null, got {type(value).__name__}"]
    if origin in (Union, types.UnionType):
        tries = [problems(value, arm, where) for arm in args]
        return [] if any(not p for p in tries) else min(tries, key=len)
    if origin is Literal:
        return [] if value in args else [f"{where}: expected one of {list(args)}, got {value!r}"]
    if typing.is_typeddict(contract):
        return _typeddict_problems(value, contract, where)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in problems(item, args[0], f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        return [p for k, item in value.items() for p in problems(item, args[1], f"{where}.{k}")]
    if contract is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number, got {type(value).__name__}"]
    if contract is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected int, got {type(value).__name__}"]
    if isinstance(contract, type):
        return [] if isinstance(value, contract) else [f"{where}: expected {contract.__name__}, got {value!r}"]
    raise TypeError(f"problems(): no rule for contract {contract!r}")


def _typeddict_problems(value: Any, contract: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object ({contract.__name__}), got {type(value).__name__}"]
    hints = typing.get_type_hints(contract)
    out = [f"{where}.{k}: missing" for k in sorted(contract.__required_keys__) if k not in value]
    out += [f"{where}.{k}: not in the {contract.__name__} contract" for k in value if k not in hints]
    for k, item in value.items():
        if k in hints:
            out += problems(item, _strip_not_required(hints[k]), f"{where}.{k}")
    return out


def _strip_not_required(hint: Any) -> Any:
    if typing.get_origin(hint) is NotRequired:
        return typing.get_args(hint)[0]
    return hint
