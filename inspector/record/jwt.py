"""Read a JWT's header and claims without verifying it (RFC 7519, RFC 9068).

We only want facts a cache decision needs (lifetime, audience, client), never the
signature, and never to trust the content. Anything malformed yields None: a token
that is not a JWT is a normal case (opaque tokens), not an error.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from inspector.record.text import clean_number, clean_text

HEADER_FIELDS = ("typ", "alg", "kid")
# No `sub`: in a user's bearer it names a person (personal data never leaves the record layer).
CLAIM_FIELDS = ("exp", "iat", "nbf", "iss", "aud", "client_id", "scope", "jti")
MAX_TOKEN_LEN = 16_384
MAX_TEXT = 200


def _b64json(segment: str) -> Any:
    pad = "=" * (-len(segment) % 4)
    raw = base64.urlsafe_b64decode(segment + pad)
    return json.loads(raw)


def _clean(value: Any) -> Any:
    """Keep numbers, short strings and short lists of strings; drop anything else."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return clean_number(value)
    if isinstance(value, str):
        return clean_text(value[:MAX_TEXT])
    if isinstance(value, list):
        return [clean_text(v[:MAX_TEXT]) for v in value[:16] if isinstance(v, str)]
    return None


def decode(token: str) -> dict[str, Any] | None:
    """Return {typ, alg, kid, exp, iat, ...} for the fields present, or None if not a JWT."""
    if len(token) > MAX_TOKEN_LEN or token.count(".") != 2:
        return None
    head_s, body_s, _sig = token.split(".")
    try:
        header = _b64json(head_s)
        claims = _b64json(body_s)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    out: dict[str, Any] = {}
    for name in HEADER_FIELDS:
        if name in header:
            v = _clean(header[name])
            if v is not None:
                out[name] = v
    for name in CLAIM_FIELDS:
        if name in claims:
            v = _clean(claims[name])
            if v is not None:
                out[name] = v
    return out


def lifetime(facts: dict[str, Any] | None) -> float | None:
    """exp - iat in seconds, when both are plain numbers and make sense."""
    if not facts:
        return None
    exp, iat = facts.get("exp"), facts.get("iat")
    if (
        isinstance(exp, (int, float))
        and isinstance(iat, (int, float))
        and not isinstance(exp, bool)
        and not isinstance(iat, bool)
        and exp > iat
    ):
        return float(exp - iat)
    return None
