"""How a flow gets its role: listener first, then the user's rules, then its shape.

Everything here is pure: the listener spec and the rules file are parsed once (and
validated, raising ValueError with a one-line reason) and then matched per flow.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field

from inspector.schema.vocab import KINDS

ROLE_ORDER = ("inbound", "callout", "backend", "other")

# Paths that identity providers use for their token endpoint. A hint, not the rule.
TOKEN_PATH_HINTS = (
    "*/oauth2/token",
    "*/oauth/token",
    "*/oauth2/v2.0/token",
    "*/oauth2/v1/token",
    "*/protocol/openid-connect/token",
    "*/connect/token",
    "*/am/*/oauth/token",
    "*/oauth2/*/v1/token",
    "/token",
)


@dataclass(frozen=True)
class Listeners:
    """Listener specs: bare ports or mitmproxy mode specs (`reverse:http://host:port@8081`)."""

    ports: frozenset[int] = frozenset()
    specs: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.ports or self.specs)

    def matches(self, port: int | None, full_spec: str | None) -> bool:
        return (port is not None and port in self.ports) or (full_spec is not None and full_spec in self.specs)


def parse_listeners(text: str) -> Listeners:
    """Parse `8080,reverse:http://127.0.0.1:9000@8081`; raise ValueError naming the bad item."""
    ports: set[int] = set()
    specs: set[str] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.isdigit():
            port = int(item)
            if not 0 < port < 65536:
                raise ValueError(f"port {item} is out of range 1-65535")
            ports.add(port)
            continue
        from mitmproxy.proxy.mode_specs import ProxyMode

        try:
            mode = ProxyMode.parse(item)
        except ValueError as exc:
            raise ValueError(f"{item!r} is neither a port nor a mitmproxy mode spec ({exc})") from None
        specs.add(mode.full_spec)
        if mode.custom_listen_port:
            ports.add(mode.custom_listen_port)
    return Listeners(frozenset(ports), frozenset(specs))


@dataclass(frozen=True)
class Rule:
    role: str
    listeners: Listeners = Listeners()
    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    kind: str | None = None  # [callout] only: the auth work this callout is, when shape cannot tell

    def matches_host_path(self, host: str, port: int | None, path: str) -> bool:
        if not self.hosts and not self.paths:
            return False
        if self.hosts:
            hp = f"{host}:{port}" if port else host
            if not any(fnmatch.fnmatchcase(host, h) or fnmatch.fnmatchcase(hp, h) for h in self.hosts):
                return False
        if self.paths and not any(fnmatch.fnmatchcase(path, p) for p in self.paths):
            return False
        return True


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...] = ()
    token_paths: tuple[str, ...] = TOKEN_PATH_HINTS
    routes: tuple[str, ...] = field(default=())  # user-named route patterns (bounded metric labels)


def _str_list(table: dict, key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"[{where}] {key} must be a list of strings")
    return tuple(value)


def parse_rules(text: str) -> Rules:
    """Parse a rules TOML document; raise ValueError with a one-line reason."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    known = set(ROLE_ORDER) | {"token", "routes"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ValueError(f"unknown table [{unknown[0]}] (expected one of: {', '.join(sorted(known))})")
    rules: list[Rule] = []
    for role in ROLE_ORDER:
        tables = doc.get(role)
        if tables is None:
            continue
        # [role] is one entry; [[callout]] several (each with its own kind).
        for table in tables if isinstance(tables, list) else [tables]:
            rules.append(_rule(role, table))
    token_paths: tuple[str, ...] = TOKEN_PATH_HINTS
    if "token" in doc:
        if not isinstance(doc["token"], dict):
            raise ValueError("[token] must be a table")
        token_paths = _str_list(doc["token"], "paths", "token") + TOKEN_PATH_HINTS
    routes: tuple[str, ...] = ()
    if "routes" in doc:
        if not isinstance(doc["routes"], dict):
            raise ValueError("[routes] must be a table")
        routes = _str_list(doc["routes"], "paths", "routes")
    return Rules(tuple(rules), token_paths, routes)


def _rule(role: str, table: object) -> Rule:
    if not isinstance(table, dict):
        raise ValueError(f"[{role}] must be a table")
    allowed = {"listeners", "hosts", "paths"} | ({"kind"} if role == "callout" else set())
    bad = sorted(set(table) - allowed)
    if bad:
        raise ValueError(f"[{role}] has unknown key {bad[0]!r} (expected {', '.join(sorted(allowed))})")
    kind = table.get("kind")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"[callout] kind {kind!r} is not one of {', '.join(KINDS)}")
    listeners = parse_listeners(",".join(_str_list(table, "listeners", role)))
    return Rule(role, listeners, _str_list(table, "hosts", role), _str_list(table, "paths", role), kind)


def parse_callout_listeners(text: str) -> tuple[Rule, ...]:
    """`tokentax_callout`: `9101=forward_auth,9100` -> one callout rule per listener.

    Each item is a listener (port or mode spec) with an optional `=KIND`: the one-line
    way to say "this reverse listener sits in front of an auth service".
    """
    out: list[Rule] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        spec, eq, kind = item.rpartition("=")
        if not eq or kind.strip() not in KINDS:
            if eq and kind.strip() and not kind.strip().isdigit():
                raise ValueError(f"tokentax_callout: kind {kind.strip()!r} is not one of {', '.join(KINDS)}")
            spec, kind = item, ""
        listeners = parse_listeners(spec.strip())
        if not listeners:
            raise ValueError(f"tokentax_callout: {item!r} names no listener")
        out.append(Rule("callout", listeners, kind=kind.strip() or None))
    return tuple(out)


def with_rules(rules: Rules, extra: tuple[Rule, ...]) -> Rules:
    """The rules with `extra` matched first (option-given listeners before the file's)."""
    return Rules(extra + rules.rules, rules.token_paths, rules.routes)


def rule_by_listener(port: int | None, full_spec: str | None, rules: Rules) -> Rule | None:
    for rule in rules.rules:
        if rule.listeners and rule.listeners.matches(port, full_spec):
            return rule
    return None


def rule_by_host_path(host: str, port: int | None, path: str, rules: Rules) -> Rule | None:
    for rule in rules.rules:
        if rule.matches_host_path(host, port, path):
            return rule
    return None


def role_by_listener(port: int | None, full_spec: str | None, inbound: Listeners, rules: Rules) -> str | None:
    if inbound.matches(port, full_spec):
        return "inbound"
    for rule in rules.rules:
        if rule.listeners and rule.listeners.matches(port, full_spec):
            return rule.role
    return None


def role_by_rules(host: str, port: int | None, path: str, rules: Rules) -> str | None:
    for rule in rules.rules:
        if rule.matches_host_path(host, port, path):
            return rule.role
    return None


def is_token_path(path: str, rules: Rules) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in rules.token_paths)


def read_rules_file(path: str) -> Rules:
    """Read and parse a rules file; ValueError with one line naming the file on any problem."""
    from pathlib import Path

    if not path:
        return Rules()
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read rules file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"rules file {path} is not UTF-8 text") from None
    try:
        return parse_rules(text)
    except ValueError as exc:
        raise ValueError(f"rules file {path}: {exc}") from None


def names_inbound(rules: Rules) -> bool:
    """Whether the user's rules say which flows are inbound."""
    return any(rule.role == "inbound" for rule in rules.rules)
