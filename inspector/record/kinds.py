"""Which auth work a callout is (its `kind`) and the facts its cache key and rule need.

Kinds, by the protocol's own shape first: RFC 6749 `grant_type` (token), RFC 8693
token exchange (exchange), RFC 7662 `token=` with an `active` answer (introspection),
a JSON `keys` array of JWKs (jwks), a bearer call to a userinfo path answered with
`sub` (userinfo). Then the endpoints an OpenID discovery document named, then path
hints. A callout that matches no OAuth shape is a decision call (forward_auth), and so
is any request carrying X-Forwarded-Uri / X-Original-URI / X-Forwarded-Method.

Secrets and personal data stay here: the introspected token, the subject token, the
forwarded credential and the answers of userinfo and introspection (email, name, sub)
leave only as keyed fingerprints and claim *names*.
"""

from __future__ import annotations

import email.utils
import fnmatch
import json
import re
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from inspector.record import jwt
from inspector.record.fingerprint import Fingerprinter
from inspector.record.text import clean_number, clean_text

EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
FORWARD_HEADERS = ("x-forwarded-uri", "x-original-uri", "x-forwarded-method")
MAX_NAMES = 40
MAX_KIDS = 64

# Well-known paths per kind (Keycloak, Okta, Auth0, Entra, Cognito, Google, Gravitee AM). Hints, not rules.
PATH_HINTS: dict[str, tuple[str, ...]] = {
    "introspection": (
        "*/introspect",
        "*/introspection",
        "*/token/introspect",
        "*/token/introspection",
        "*/oauth2/v1/introspect",
    ),
    "jwks": (
        "*/jwks",
        "*/jwks.json",
        "*/certs",
        "*/protocol/openid-connect/certs",
        "*/discovery/v2.0/keys",
        "*/discovery/keys",
        "*/oauth2/v1/keys",
        "*/oauth2/v3/certs",
    ),
    "userinfo": ("*/userinfo", "*/oauth2/v1/userinfo", "*/openidconnect/userinfo", "*/oidc/me"),
}
# Discovery document field -> kind (OpenID Connect Discovery 1.0, RFC 8414).
DISCOVERY_FIELDS = {
    "token_endpoint": "token",
    "introspection_endpoint": "introspection",
    "jwks_uri": "jwks",
    "userinfo_endpoint": "userinfo",
}


class Discovery:
    """Endpoints named by the discovery documents seen this session: `host:port/path` -> kind.

    Bounded; a path alone is remembered too, for a proxy that reaches the auth server
    under another host name than the one it advertises.
    """

    LIMIT = 256

    def __init__(self) -> None:
        self.by_endpoint: OrderedDict[str, str] = OrderedDict()
        self.by_path: OrderedDict[str, str] = OrderedDict()

    def __bool__(self) -> bool:
        return bool(self.by_endpoint)

    def register(self, doc: dict[str, Any]) -> list[str]:
        kinds: list[str] = []
        for name, kind in DISCOVERY_FIELDS.items():
            url = doc.get(name)
            if not isinstance(url, str) or len(url) > 2000:
                continue
            try:
                parts = urlsplit(url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                continue
            if not parts.hostname:
                continue
            path = parts.path or "/"
            for table, k in ((self.by_endpoint, f"{parts.hostname}:{port}{path}"), (self.by_path, path)):
                table[k] = kind
                table.move_to_end(k)
                if len(table) > self.LIMIT:
                    table.popitem(last=False)
            kinds.append(kind)
        return kinds

    def kind_of(self, endpoint: str, path: str) -> str | None:
        return self.by_endpoint.get(endpoint) or self.by_path.get(path)


def looks_like_discovery(obj: dict[str, Any] | None) -> bool:
    if not obj:
        return False
    return isinstance(obj.get("issuer"), str) and any(isinstance(obj.get(f), str) for f in DISCOVERY_FIELDS)


def looks_like_jwks(obj: dict[str, Any] | None) -> bool:
    keys = obj.get("keys") if obj else None
    return isinstance(keys, list) and all(isinstance(k, dict) and "kty" in k for k in keys)


def looks_like_introspection(obj: dict[str, Any] | None) -> bool:
    return obj is not None and isinstance(obj.get("active"), bool)


def path_hint(path: str) -> str | None:
    for kind, patterns in PATH_HINTS.items():
        if any(fnmatch.fnmatchcase(path, p) for p in patterns):
            return kind
    return None


def has_forward_headers(rqh: dict[str, str]) -> bool:
    return any(h in rqh for h in FORWARD_HEADERS)


INTROSPECTION_FIELDS = frozenset(
    ("token", "token_type_hint", "client_id", "client_secret", "client_assertion", "client_assertion_type")
)


def request_kind(form: dict[str, str], form_encoded: bool = True) -> str | None:
    """The kind a request body alone proves: a grant (token/exchange) or an RFC 7662 request
    (always form-encoded, section 2.1: a JSON API body with a `token` field is not one)."""
    grant = form.get("grant_type")
    if grant == EXCHANGE_GRANT or "subject_token" in form:
        return "exchange"
    if grant is not None:
        return "token"
    if form_encoded and "token" in form and form.keys() <= INTROSPECTION_FIELDS:
        return "introspection"
    return None


def shape_kind(
    method: str,
    path: str,
    endpoint: str,
    rqh: dict[str, str],
    form: dict[str, str],
    resp_obj: dict[str, Any] | None,
    token_response: bool,
    discovery: Discovery,
) -> tuple[str | None, str]:
    """(kind, how) from the flow alone, or (None, "") when it has no auth shape."""
    kind = request_kind(form, "x-www-form-urlencoded" in rqh.get("content-type", "").lower())
    if kind is not None:
        return kind, "shape"
    if token_response:
        return "token", "shape"
    if has_forward_headers(rqh):
        return "forward_auth", "shape"
    if looks_like_introspection(resp_obj) and method == "POST":
        return "introspection", "shape"
    if looks_like_jwks(resp_obj):
        return "jwks", "shape"
    known = discovery.kind_of(endpoint, path) if discovery else None
    if known is not None:
        return known, "discovery"
    hint = path_hint(path)
    if hint == "userinfo" and "authorization" in rqh:
        return "userinfo", "hint"
    if hint == "introspection" and method == "POST":
        return "introspection", "hint"
    if hint == "jwks" and method == "GET":
        return "jwks", "hint"
    return None, ""


# -- facts per kind -------------------------------------------------------------------


def _text(value: Any, limit: int = 200) -> str | None:
    return clean_text(value[:limit]) if isinstance(value, str) and value else None


def claim_names(obj: dict[str, Any]) -> list[str]:
    """The claim names of an answer, never a value."""
    return sorted(clean_text(str(k)[:60]) for k in list(obj)[:MAX_NAMES])


def answer_fp(obj: dict[str, Any], fpr: Fingerprinter) -> str:
    """A keyed fingerprint of a JSON answer, independent of key order and whitespace."""
    return fpr.fp(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str))


def exchange_key(form: dict[str, str], fpr: Fingerprinter) -> dict[str, Any]:
    """RFC 8693 section 2.1: what makes two exchanges the same (the tokens only as fingerprints)."""
    out: dict[str, Any] = {}
    for field, name in (("subject_token", "subject_fp"), ("actor_token", "actor_fp")):
        v = form.get(field)
        if isinstance(v, str) and v:
            out[name] = fpr.fp(v)
    for field in ("requested_token_type", "subject_token_type", "resource"):
        v = _text(form.get(field))
        if v:
            out[field] = v
    return out


def introspection_request(form: dict[str, str], fpr: Fingerprinter) -> tuple[dict[str, Any], dict[str, Any]]:
    """(key parts, token facts) of an RFC 7662 request: the token as a fingerprint and its own exp."""
    key: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    token = form.get("token")
    if isinstance(token, str) and token:
        key["token_fp"] = fp = fpr.fp(token)
        claims = fpr.remembered_claims(fp, token, jwt.decode)
        if claims and isinstance(claims.get("exp"), (int, float)) and not isinstance(claims["exp"], bool):
            facts["token_exp"] = claims["exp"]
    hint = _text(form.get("token_type_hint"), 40)
    if hint:
        key["token_type_hint"] = hint
    return key, facts


def introspection_answer(obj: dict[str, Any], fpr: Fingerprinter) -> dict[str, Any]:
    facts: dict[str, Any] = {"fp": answer_fp(obj, fpr), "claims": claim_names(obj)}
    if isinstance(obj.get("active"), bool):
        facts["active"] = obj["active"]
    exp = clean_number(obj.get("exp")) if not isinstance(obj.get("exp"), bool) else None
    if exp is not None:
        facts["exp"] = exp
    return facts


_MAX_AGE = re.compile(r"(?:^|[,\s])(s-maxage|max-age)\s*=\s*\"?(\d{1,10})")


def freshness(rsh: dict[str, str], received: float | None) -> dict[str, Any]:
    """HTTP freshness of a response for a shared cache (RFC 9111 section 4.2), as facts.

    fresh_s: seconds it stays fresh after it was received (lifetime minus Age), 0 for
    no-store/no-cache; absent when the response says nothing.
    """
    out: dict[str, Any] = {}
    cc = rsh.get("cache-control", "").lower()
    age_text = rsh.get("age", "").strip()
    age = int(age_text) if age_text.isdigit() else 0
    if age:
        out["age"] = age
    if "no-store" in cc or "no-cache" in cc:
        out["cache"] = "no-store" if "no-store" in cc else "no-cache"
        out["fresh_s"] = 0
        return out
    found = {m.group(1): int(m.group(2)) for m in _MAX_AGE.finditer(cc)}
    if found:
        lifetime = found.get("s-maxage", found.get("max-age", 0))
        out["cache"] = "s-maxage" if "s-maxage" in found else "max-age"
        out["max_age"] = lifetime
        out["fresh_s"] = max(0, lifetime - age)
        return out
    expires = rsh.get("expires")
    if expires:
        try:
            exp_ts = email.utils.parsedate_to_datetime(expires).timestamp()
            date = rsh.get("date")
            base = email.utils.parsedate_to_datetime(date).timestamp() if date else received
        except (TypeError, ValueError, IndexError, OverflowError):
            out["cache"] = "expires"
            out["fresh_s"] = 0  # an invalid Expires means already expired
            return out
        if base is not None:
            out["cache"] = "expires"
            out["fresh_s"] = max(0, round(exp_ts - base) - age)
    return out


def jwks_answer(obj: dict[str, Any], body: bytes, fpr: Fingerprinter) -> dict[str, Any]:
    keys = obj.get("keys") or []
    kids = sorted({clean_text(k["kid"][:100]) for k in keys if isinstance(k.get("kid"), str)})
    return {"fp": fpr.fp(body), "keys": len(keys), "kids": kids[:MAX_KIDS]}


def userinfo_answer(obj: dict[str, Any], fpr: Fingerprinter) -> dict[str, Any]:
    return {"fp": answer_fp(obj, fpr), "claims": claim_names(obj)}


def forwarded_credential(rqh: dict[str, str], fpr: Fingerprinter) -> dict[str, Any]:
    """The credential a decision call forwards (Authorization, else Cookie), as a fingerprint."""
    for name in ("authorization", "cookie"):
        v = rqh.get(name)
        if v:
            out = {"cred_fp": fpr.fp(v.strip()), "cred": name}
            scheme, _, token = v.strip().partition(" ")
            if name == "authorization" and scheme.lower() == "bearer" and token.strip():
                out["bearer_fp"] = fpr.fp(token.strip())  # the caller's bearer: joins its inbound request
            return out
    return {}


def decision(status: int | None) -> str:
    if status is None:
        return "error"
    if 200 <= status < 300:
        return "allow"
    if status in (401, 403, 407):
        return "deny"
    if 300 <= status < 400:
        return "redirect"
    return "error"
