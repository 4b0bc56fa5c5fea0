"""Events as the analyzer may trust them: a field of the wrong type counts as absent.

Readers pass only events that `events.check` accepts (a flow has a known role and a
numeric ts), but every optional field can still be any JSON value in a capture someone
edited, wrote with another tool or cut short. The analyzer reads these fields with
arithmetic, comparisons, hashing and `.get`; one string where a number belongs would
raise in the middle of an update. So each flow event is checked against the types the
analyzer uses; the usual well-formed event costs a few isinstance checks and is returned
as is, and anything else is copied without its ill-typed fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from inspector.schema.events import Event

# The time range a flow can have: what a timestamp can be shown as (datetime: years 1-9999).
TS_MIN, TS_MAX = -62_135_596_800.0, 253_402_300_799.0
NUM = "number"  # an int or float that is finite and not a bool
TIME = "time"  # a NUM within TS_MIN..TS_MAX

Spec = Any
FLOW_FIELDS: dict[str, Spec] = {
    "id": str,
    "role_by": str,
    "end": TIME,
    "method": str,
    "host": str,
    "port": int,
    "path": str,
    "status": int,
    "timing": {"ttfb": NUM, "total": NUM},
    "error": {"kind": str},
    "trace": {"id": str},
    "bearer": {"fp": str, "kind": str, "jwt": {"exp": TIME}},
    "key": {},
    "token": {"fp": str, "error": str, "expires_in": NUM, "jwt": {"exp": NUM, "iat": NUM}},
    "gateway": [str],
}


def _is_num(v: Any) -> bool:
    t = type(v)
    return t is int or (t is float and math.isfinite(v))


def _ok(v: Any, spec: Spec) -> bool:
    if spec is NUM:
        return _is_num(v)
    if spec is TIME:
        return _is_num(v) and TS_MIN <= v <= TS_MAX
    if type(spec) is dict:
        if type(v) is not dict:
            return False
        for k, s in spec.items():
            x = v.get(k)
            if x is not None and not _ok(x, s):
                return False
        return True
    if type(spec) is list:
        return type(v) is list and all(isinstance(x, spec[0]) for x in v)
    return isinstance(v, spec) and not (spec is int and type(v) is bool)


def _fix(v: Any, spec: Spec) -> Any:
    """v without its ill-typed parts, or None when v itself is of the wrong type."""
    if _ok(v, spec):
        return v
    if type(spec) is dict and type(v) is dict:
        out = {}
        for k, x in v.items():
            s = spec.get(k)
            if s is None or x is None:
                out[k] = x
            else:
                x = _fix(x, s)
                if x is not None:
                    out[k] = x
        return out
    return None


_S = frozenset((str, type(None)))
_I = frozenset((int, type(None)))
_N = frozenset((int, float, type(None)))
_D = frozenset((dict, type(None)))


def _time(v: Any) -> bool:
    return v is None or (type(v) in _N and TS_MIN <= v <= TS_MAX)


def _well_formed(ev: Event) -> bool:
    """The common case, checked fast (this is on the analyzer's hot path).

    Types only: events decoded from JSON cannot hold NaN or infinity, and the record layer
    never makes them; the full check (`_ok`) also tests that floats are finite.
    """
    g = ev.get
    if not (
        type(g("id")) in _S
        and type(g("role_by")) in _S
        and type(g("method")) in _S
        and type(g("host")) in _S
        and type(g("path")) in _S
        and type(g("port")) in _I
        and type(g("status")) in _I
        and type(g("key")) in _D
        and type(g("error")) in _D
        and _time(g("end"))
    ):
        return False
    error = g("error")
    if error is not None and type(error.get("kind")) not in _S:
        return False
    timing = g("timing")
    if timing is not None and (
        type(timing) is not dict or type(timing.get("ttfb")) not in _N or type(timing.get("total")) not in _N
    ):
        return False
    tr = g("trace")
    if tr is not None and (type(tr) is not dict or type(tr.get("id")) not in _S):
        return False
    b = g("bearer")
    if b is not None:
        if type(b) is not dict or type(b.get("fp")) not in _S or type(b.get("kind")) not in _S:
            return False
        j = b.get("jwt")
        if j is not None and (type(j) is not dict or not _time(j.get("exp"))):
            return False
    tok = g("token")
    if tok is not None:
        if (
            type(tok) is not dict
            or type(tok.get("fp")) not in _S
            or type(tok.get("error")) not in _S
            or type(tok.get("expires_in")) not in _N
        ):
            return False
        j = tok.get("jwt")
        if j is not None and (type(j) is not dict or type(j.get("exp")) not in _N or type(j.get("iat")) not in _N):
            return False
    gw = g("gateway")
    if gw is not None:
        if type(gw) is not list:
            return False
        if not (len(gw) == 1 and type(gw[0]) is str) and not all(type(x) is str for x in gw):
            return False  # (one name is the usual list: checked without a generator)
    return True


def clean_flow(ev: Event) -> Event | None:
    """The flow event with ill-typed optional fields dropped, or None if its ts is no time."""
    ts = ev["ts"]
    t = type(ts)
    if not ((t is float and math.isfinite(ts)) or t is int) or not TS_MIN <= ts <= TS_MAX:
        return None
    if _well_formed(ev):
        return ev
    for k, spec in FLOW_FIELDS.items():  # the full check: also finite numbers
        v = ev.get(k)
        if v is not None and not _ok(v, spec):
            break
    else:
        return ev
    out = {}
    for k, v in ev.items():
        spec = FLOW_FIELDS.get(k)
        if spec is not None and v is not None:
            v = _fix(v, spec)
            if v is None:
                continue
        out[k] = v
    return out


def count(v: Any) -> int:
    """A counter field of an addon event: a whole number, 0 when it is anything else."""
    return int(v) if _is_num(v) and 0 <= v < 2**63 else 0


# -- shape by shape (lean captures) ---------------------------------------------------------

_N2 = (int, float)


def _never(a: list, R: dict) -> bool:
    return False


def shape_vet(layout: list[tuple[str, tuple]]) -> Callable[[list, dict], bool]:
    """For a lean capture's shape (inspector/schema/lean.py `shape_layout`): a test of one flow
    record's leaves and interned values that passes exactly when `clean_flow` would return the
    event unchanged (`_well_formed` and a real ts), compiled once per shape. Constants of the
    shape are checked here, once; leaves in the generated code; interned values by `_ok`."""
    env: dict[str, Any] = {"_N": _N, "_N2": _N2, "TS_MIN": TS_MIN, "TS_MAX": TS_MAX, "_ok": _ok, "S": []}
    # An interned value (a token's claims, a cache key, a gateway list) is shared by every
    # record that refers to it and never changes: checked once, by identity. The memo holds
    # the value, so its id cannot be reused while it is cached; bounded.
    memo: dict[tuple[int, int], tuple[Any, bool]] = {}

    def interned_ok(v: Any, i: int) -> bool:
        hit = memo.get((id(v), i))
        if hit is not None and hit[0] is v:
            return hit[1]
        ok = _ok(v, env["S"][i])
        if len(memo) >= 4096:
            memo.clear()
        memo[(id(v), i)] = (v, ok)
        return ok

    env["M"] = interned_ok

    def leaf(e: str, spec: Spec, interned: bool = False) -> str:
        if spec is str or spec is int:
            return f"(type({e}) is {spec.__name__} or {e} is None)"
        if spec is NUM:
            return f"(type({e}) in _N)"
        if spec is TIME:
            return f"({e} is None or (type({e}) in _N2 and TS_MIN <= {e} <= TS_MAX))"
        env["S"].append(spec)
        i = len(env["S"]) - 1
        return f"({e} is None or M({e}, {i}))" if interned else f"({e} is None or _ok({e}, S[{i}]))"

    def cond(src: tuple, spec: Spec) -> str:
        how = src[0]
        if how == "const":
            v = src[1]
            return "True" if v is None or _ok(v, spec) else "False"
        if how == "leaf":
            return leaf(f"a[{src[1]}]", spec)
        if how == "ref":
            return leaf(f"R[a[{src[1]}]]", spec, interned=True)
        if type(spec) is not dict:  # a nested dict where this field is no dict
            return "False"
        sub = dict(src[1])
        return " and ".join([cond(sub[k], s) for k, s in spec.items() if k in sub] or ["True"])

    top = dict(layout)
    ts = top.get("ts")  # must be a real time (clean_flow drops the event otherwise)
    if ts is None or ts[0] == "dict" or (ts[0] == "const" and not _ok(ts[1], TIME)):
        return _never
    parts = []
    if ts[0] != "const":
        e = f"a[{ts[1]}]" if ts[0] == "leaf" else f"R[a[{ts[1]}]]"
        parts.append(f"(type({e}) in _N2 and TS_MIN <= {e} <= TS_MAX)")
    parts += [cond(top[k], spec) for k, spec in FLOW_FIELDS.items() if k in top]
    src = "def vet(a, R):\n    return " + (" and ".join(parts) or "True") + "\n"
    exec(src, env)
    return env["vet"]
