"""Capture line format v2 ("lean"): what does not change per flow is written once.

A v1 capture repeats, on every line, every key name, the listener spec, the JWT claims
of the token and the timing key names: 650-1,000 bytes per flow. A v2 capture writes:

- a **shape** once: the key layout of an event, nested dicts included, with the values
  that hardly vary (role, method, scheme, token type, ...) as constants of the shape;
  `{"v":2,"type":"def","shape":N,"keys":SKEL}`
- an **interned value** once per distinct value (a token's JWT claims the first time its
  fingerprint is seen, a listener spec, a cache key, a gateway list):
  `{"v":2,"type":"def","ref":N,"of":"token.jwt","val":...}`
- then each flow as a flat JSON array of its varying leaves: `[N, leaf, leaf, ...]`,
  timings included (their key names live in the shape).

Everything else (session, addon, summary events) is written as in v1, with `"v":2` on
the session line so a reader knows the format from the first line. Nothing here names
the event's fields: the writer's heuristics (which keys are interned, which are shape
constants) are two sets below, and the reader is generic, so events that gain fields
(a callout `kind`, kind-specific facts) round-trip unchanged.

Readers expand each line back into the same event dict a v1 line gives (interned values
are shared by reference between events: treat events as read-only). Each capture file
(each rotated segment) is self-contained: its tables start empty after its session line.
Tables are bounded: ids are slots that the writer recycles, least recently used first.

SKEL is a list of [key, spec]; spec 0 = a leaf from the array, 1 = an interned value whose
slot id is in the array, [SKEL] = a nested dict, {"c": value} = a constant.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from inspector.schema.events import FLOW, EventError, check
from inspector.schema.vocab import ROLES

LEAN_VERSION = 2
DEF = "def"

# Writer heuristics (readers do not depend on them).
INTERN_KEYS = frozenset({"listener", "jwt", "key", "gateway", "scope", "endpoint", "aud", "routes"})
CONST_KEYS = frozenset(
    {"v", "type", "role", "role_by", "method", "scheme", "host", "src", "reused", "refresh", "kind", "grant_type"}
)
MAX_CONST_LEN = 64  # a longer value is a leaf, not a shape constant
MAX_SHAPES = 4096
MAX_REFS = 4096

_LEAF, _REF = 0, 1
_SCALARS = (str, int, float, bool, type(None))
_NUM = (int, float)


class LeanEncoder:
    """Encodes events into v2 lines; one encoder per capture file (segment)."""

    def __init__(self, max_shapes: int = MAX_SHAPES, max_refs: int = MAX_REFS) -> None:
        self.max_shapes, self.max_refs = max_shapes, max_refs
        self._shapes: OrderedDict[tuple, int] = OrderedDict()
        self._refs: OrderedDict[Any, int] = OrderedDict()

    def header(self, session: dict[str, Any]) -> bytes:
        """The session line that opens a v2 capture."""
        return orjson.dumps(dict(session, v=LEAN_VERSION), default=str, option=orjson.OPT_APPEND_NEWLINE)

    def encode(self, ev: dict[str, Any]) -> bytes:
        """Zero or more def lines, then the event's own line."""
        if ev.get("type") != FLOW:
            if ev.get("type") == "session":
                return self.header(ev)
            return orjson.dumps(ev, default=str, option=orjson.OPT_APPEND_NEWLINE)
        out: list[bytes] = []
        leaves: list[Any] = [0]
        sig = self._walk(ev, leaves, out, "")
        sid = self._shapes.get(sig)
        if sid is None:
            sid = self._slot(self._shapes, sig, self.max_shapes)
            out.append(_dumps({"v": LEAN_VERSION, "type": DEF, "shape": sid, "keys": _skel(sig)}))
        else:
            self._shapes.move_to_end(sig)
        leaves[0] = sid
        out.append(_dumps(leaves))
        return b"".join(out)

    def _walk(self, d: dict[str, Any], leaves: list[Any], out: list[bytes], path: str) -> tuple:
        sig: list[Any] = []
        for k, v in d.items():
            t = type(v)
            if k in INTERN_KEYS and v is not None:
                leaves.append(self._ref(k, v, out, path))
                sig.append((k, _REF))
            elif k in CONST_KEYS and t in _SCALARS and not (t is str and len(v) > MAX_CONST_LEN):
                sig.append((k, ("c", t, v)))  # the type too: True and 1 are one dict key
            elif t is dict and v:
                sig.append((k, self._walk(v, leaves, out, f"{path}{k}.")))
            else:
                leaves.append(v)
                sig.append((k, _LEAF))
        return tuple(sig)

    def _ref(self, k: str, v: Any, out: list[bytes], path: str) -> int:
        key = v if type(v) is str else (type(v), orjson.dumps(v, default=str, option=orjson.OPT_SORT_KEYS))
        rid = self._refs.get(key)
        if rid is None:
            rid = self._slot(self._refs, key, self.max_refs)
            out.append(_dumps({"v": LEAN_VERSION, "type": DEF, "ref": rid, "of": path + k, "val": v}))
        else:
            self._refs.move_to_end(key)
        return rid

    @staticmethod
    def _slot(table: OrderedDict, key: Any, limit: int) -> int:
        if len(table) >= limit:
            _, sid = table.popitem(last=False)  # recycle the least recently used slot
        else:
            sid = len(table)
        table[key] = sid
        return sid


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=str, option=orjson.OPT_APPEND_NEWLINE)


def _skel(sig: tuple) -> list:
    out = []
    for k, spec in sig:
        if spec is _LEAF or spec is _REF:
            out.append([k, spec])
        elif spec[0] == "c" and len(spec) == 3:
            out.append([k, {"c": spec[2]}])
        else:
            out.append([k, [_skel(spec)]])
    return out


# -- reading -----------------------------------------------------------------------------


# A shape's layout, for a reader that vets flow records shape by shape (`LeanDecoder(vet=...)`):
# a list of (key, spec) with spec ("leaf", i) = a[i], ("ref", i) = refs[a[i]], ("const", value)
# or ("dict", layout) for a nested dict the shape builds.
Layout = list[tuple[str, tuple]]
Vet = Callable[[Layout], Callable[[list, dict], bool]]


class LeanDecoder:
    """Turns v2 lines (after the session line) back into v1-shaped event dicts.

    `vet` (optional) compiles, once per shape, a test of a flow record's leaves (list, refs)
    -> bool; a flow event that fails it is passed through `fallback`, whose result (None:
    no event) is what `expand` returns. The analyzer uses this to type-check flow events
    shape by shape instead of field by field (analyzer/sanitize.py)."""

    def __init__(self, vet: Vet | None = None, fallback: Callable[[dict], dict | None] | None = None) -> None:
        self._shapes: dict[int, Callable[[list, dict], dict]] = {}
        self._vets: dict[int, Callable[[list, dict], bool]] = {}
        # shape id -> its vet, for shapes whose v, type and role are constants that pass the
        # checks: a record of such a shape that its vet passes is done (one lookup, one call)
        self._quick: dict[int, Callable[[list, dict], bool]] = {}
        self._refs: dict[int, Any] = {}
        self._vet, self._fallback = vet, fallback

    def decode(self, line: bytes | str) -> dict[str, Any] | None:
        """The event of one line, or None for a def line. Raises EventError."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"not JSON ({exc.__class__.__name__})") from None
        return self.expand(obj)

    def expand(self, obj: Any) -> dict[str, Any] | None:
        if type(obj) is list:
            try:
                ev = self._shapes[obj[0]](obj, self._refs)
                quick = self._quick.get(obj[0])
                if quick is not None and quick(obj, self._refs):
                    return ev  # the checks below, and the vet, passed for this shape and record
            except KeyError as exc:
                if obj and obj[0] not in self._shapes:
                    raise EventError(f"refers to shape {obj[0]!r}, which was not defined before") from None
                raise EventError(f"refers to value {exc.args[0]!r}, which was not defined before") from None
            except (IndexError, TypeError):
                raise EventError("a flow record that does not match its shape") from None
            v = ev.get("v")
            if not (v == 1 and type(v) is int and ev.get("type") == FLOW and ev.get("role") in ROLES):
                check(ev)  # (the usual flow record passes the checks above; check() says what is wrong)
            elif type(ev.get("ts")) not in _NUM:
                check(ev)
            if self._vet is not None and ev.get("type") == FLOW and not self._vets[obj[0]](obj, self._refs):
                return self._fallback(ev) if self._fallback is not None else ev
            return ev
        if type(obj) is not dict:
            raise EventError("not a JSON object or array")
        if obj.get("type") == DEF:
            if "shape" in obj:
                sid = obj["shape"]
                if type(sid) is not int:
                    raise EventError("a shape definition without an integer id")
                self._shapes[sid] = compile_shape(obj.get("keys"))
                self._quick.pop(sid, None)  # a recycled slot: the old shape's fast path goes
                if self._vet is not None:
                    layout = shape_layout(obj.get("keys"))
                    self._vets[sid] = self._vet(layout)
                    if _checked_flow_header(layout):
                        self._quick[sid] = self._vets[sid]
            elif "ref" in obj:
                self._refs[obj["ref"]] = obj.get("val")
            else:
                raise EventError("a definition that is neither a shape nor a value")
            return None
        v = obj.get("v")
        if v == LEAN_VERSION:
            obj = dict(obj, v=1)  # session/addon lines: in memory, events are v1
        check(obj)
        return obj


def _checked_flow_header(layout: Layout) -> bool:
    """Whether every record of this shape passes `expand`'s v, type and role checks: they are
    constants of the shape (as the writer makes them) with the values a flow event has. The
    ts type, the one check left per record, is also the vet's first test."""
    top = dict(layout)

    def const(k: str) -> Any:
        spec = top.get(k)
        return spec[1] if spec is not None and spec[0] == "const" else None

    v, role = const("v"), const("role")
    return (
        v == 1
        and type(v) is int
        and const("type") == FLOW
        and type(role) is str
        and role in ROLES
        and top.get("ts", ("",))[0] in ("leaf", "ref")
    )


def compile_shape(skel: Any) -> Callable[[list, dict], dict]:
    """A function (leaves, refs) -> event dict for one shape, generated once per shape."""
    consts: list[Any] = []
    counter = [1]

    def build(sk: Any) -> str:
        if type(sk) is not list:
            raise EventError("a shape that is not a list of [key, spec]")
        parts = []
        for item in sk:
            if type(item) is not list or len(item) != 2 or type(item[0]) is not str:
                raise EventError("a shape entry that is not [key, spec]")
            k, spec = item
            if spec == _LEAF and type(spec) is int:
                expr = f"a[{counter[0]}]"
                counter[0] += 1
            elif spec == _REF and type(spec) is int:
                expr = f"R[a[{counter[0]}]]"
                counter[0] += 1
            elif type(spec) is dict and "c" in spec:
                consts.append(spec["c"])
                expr = f"C[{len(consts) - 1}]"
            elif type(spec) is list and len(spec) == 1:
                expr = build(spec[0])
            else:
                raise EventError(f"a shape entry for {k!r} with an unknown spec")
            parts.append(f"{k!r}: {expr}")
        return "{" + ", ".join(parts) + "}"

    body = build(skel)
    n = counter[0]
    # Keys are emitted with repr(): a str literal, never code. The length check makes a
    # record with extra or missing leaves an error rather than a silent misreading.
    src = f"def f(a, R):\n    if len(a) != {n}:\n        raise IndexError\n    return {body}\n"
    ns: dict[str, Any] = {"C": consts}
    exec(src, ns)
    return ns["f"]


def shape_layout(skel: Any) -> Layout:
    """The layout of a shape that compile_shape accepted: where each key's value comes from."""
    counter = [1]

    def walk(sk: list) -> Layout:
        out: Layout = []
        for k, spec in sk:
            if spec == _LEAF and type(spec) is int:
                out.append((k, ("leaf", counter[0])))
                counter[0] += 1
            elif spec == _REF and type(spec) is int:
                out.append((k, ("ref", counter[0])))
                counter[0] += 1
            elif type(spec) is dict:
                out.append((k, ("const", spec["c"])))
            else:
                out.append((k, ("dict", walk(spec[0]))))
        return out

    return walk(skel)


def is_lean_header(first: Any) -> bool:
    """Whether the first line of a capture opens a v2 capture (its session or a def line)."""
    return type(first) is list or (type(first) is dict and first.get("v") == LEAN_VERSION)
