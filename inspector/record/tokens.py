"""Token facts from token requests, token responses and presented bearer headers.

Everything here reads secrets and returns only facts plus keyed fingerprints. Bodies are
parsed only when they are small and look like what we want, so a 10 MB JSON response
costs a length check, not a parse.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from inspector.record import jwt
from inspector.record.fingerprint import Fingerprinter
from inspector.record.text import clean_number, clean_text

MAX_PARSE_BYTES = 256 * 1024
_TOKENISH = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")  # RFC 6750 b64token
_GARBAGE = {"undefined", "null", "none", "nil", "bearer", "[object object]", "nan", "false", "true", "0", "token"}


def _text(value: Any, limit: int = 200) -> str | None:
    return clean_text(value[:limit]) if isinstance(value, str) else None


def parse_form_or_json(body: bytes | None, content_type: str) -> dict[str, str]:
    """Fields of a small form or JSON request body; empty on anything else."""
    if not body or len(body) > MAX_PARSE_BYTES:
        return {}
    ct = content_type.lower()
    try:
        if "json" in ct or body[:1] == b"{":
            obj = json.loads(body)
            if isinstance(obj, dict):
                return {str(k): v for k, v in obj.items() if isinstance(v, str)}
            return {}
        text = body.decode("utf-8", "strict")
        if "=" not in text:
            return {}
        return parse_form(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}


def parse_form(text: str) -> dict[str, str]:
    """The first value of each field of a form body, as `parse_qs(keep_blank_values=True)` gives
    it. A body with nothing escaped (no `%`, no `+`: the usual token request) is split directly,
    twice as fast as urllib on the addon's per-callout path."""
    if "%" in text or "+" in text:
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items() if v}
    out: dict[str, str] = {}
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            out.setdefault(name, value)
    return out


def basic_client_id(authorization: str | None) -> str | None:
    """client_id from `Authorization: Basic base64(id:secret)`; the secret is discarded."""
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        raw = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    client_id, _, _secret = raw.partition(":")
    return unquote_plus(client_id)[:200] or None


def request_facts(form: dict[str, str], authorization: str | None) -> dict[str, Any]:
    """The token request's cache-key parts: client_id, scope, audience/resource, grant_type."""
    facts: dict[str, Any] = {}
    client_id = basic_client_id(authorization) or _text(form.get("client_id"))
    if client_id:
        facts["client_id"] = client_id
    for name in ("grant_type", "scope"):
        v = _text(form.get(name))
        if v:
            facts[name] = v
    aud = _text(form.get("audience")) or _text(form.get("resource"))
    if aud:
        facts["audience"] = aud
    return facts


def bounded_decode(body: bytes, encoding: str) -> bytes | None:
    """A compressed body, decoded only as far as the parse limit (no decompression bomb).

    gzip and deflate stream through zlib with a cap on the output; other encodings
    (br, zstd) are decoded only when the compressed body is tiny. A body that fails to
    decode is returned as it is, for the JSON parse to judge. None: not parsed.
    """
    enc = encoding.strip().lower()
    try:
        if enc in ("gzip", "x-gzip", "deflate"):
            wbits = 16 + zlib.MAX_WBITS if "gzip" in enc else zlib.MAX_WBITS
            try:
                out = zlib.decompressobj(wbits).decompress(body, MAX_PARSE_BYTES + 1)
            except zlib.error:
                if enc != "deflate":
                    raise
                out = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, MAX_PARSE_BYTES + 1)  # raw deflate
            return out if len(out) <= MAX_PARSE_BYTES else None
        if enc in ("identity", ""):
            return body
        if len(body) <= 4096:
            from mitmproxy.net.encoding import decode

            decoded = decode(body, enc)
            return decoded if isinstance(decoded, bytes) and len(decoded) <= MAX_PARSE_BYTES else None
    except Exception:
        # Read it as it is (as mitmproxy's get_content(strict=False) would); the JSON parse decides.
        return body if len(body) <= MAX_PARSE_BYTES else None
    return None


def parse_json_object(body: bytes | None) -> dict[str, Any] | None:
    if not body or len(body) > MAX_PARSE_BYTES or body.lstrip()[:1] != b"{":
        return None
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def looks_like_token_response(obj: dict[str, Any] | None) -> bool:
    return (
        obj is not None
        and bool(obj)
        and isinstance(obj.get("access_token"), str)
        and isinstance(obj.get("token_type"), str)
    )


def looks_like_token_error(obj: dict[str, Any] | None) -> bool:
    """RFC 6749 section 5.2: {"error": "invalid_client", ...}."""
    return obj is not None and bool(obj) and isinstance(obj.get("error"), str) and len(obj) <= 8


def response_facts(obj: dict[str, Any], fpr: Fingerprinter) -> dict[str, Any]:
    """Facts of a token response (RFC 6749 section 5.1), the token only as a fingerprint."""
    facts: dict[str, Any] = {}
    access = obj.get("access_token")
    if isinstance(access, str) and access:
        facts["fp"] = fpr.fp(access)
        claims = fpr.remembered_claims(facts["fp"], access, jwt.decode)
        if claims:
            facts["jwt"] = claims
    token_type = _text(obj.get("token_type"), 40)
    if token_type:
        facts["type"] = token_type
    exp_in = obj.get("expires_in")
    if isinstance(exp_in, str) and exp_in.isdigit():
        exp_in = int(exp_in)
    exp_in = clean_number(exp_in)  # no NaN, infinity or int beyond 64 bits: events must encode
    if exp_in is not None and exp_in >= 0:
        facts["expires_in"] = exp_in
    scope = _text(obj.get("scope"))
    if scope:
        facts["scope"] = scope
    facts["refresh"] = isinstance(obj.get("refresh_token"), str)
    if isinstance(obj.get("error"), str):
        facts["error"] = clean_text(obj["error"][:80])
    return facts


def bearer_facts(authorization: str | None, fpr: Fingerprinter) -> dict[str, Any] | None:
    """A presented `Authorization: Bearer ...`: its fingerprint and what kind of thing it is.

    kind: jwt | opaque | empty | garbage. "garbage" is what a gateway sends after a failed
    token fetch: `Bearer undefined`, `Bearer null`, non-token characters.
    """
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    if not value:
        return {"kind": "empty"}
    facts: dict[str, Any] = {"fp": fpr.fp(value)}
    claims = fpr.remembered_claims(facts["fp"], value, jwt.decode)
    if claims is not None:
        facts["kind"] = "jwt"
        facts["jwt"] = claims
    elif value.lower() in _GARBAGE or len(value) < 8 or not _TOKENISH.match(value):
        facts["kind"] = "garbage"
    else:
        facts["kind"] = "opaque"
    return facts
