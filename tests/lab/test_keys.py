"""RS256 keys: sign/verify, the JWKS, rotation with a grace period (moved clock, no sleeps)."""

from __future__ import annotations

import time

import pytest

from inspector.lab.common import InvalidToken, jwt_parts
from inspector.lab.keys import KeyRing, jwks_resolver, rs256_verify


def claims(**extra: object) -> dict[str, object]:
    return {"sub": "u", "exp": int(time.time()) + 600, **extra}


def test_sign_verify_and_jwks_roundtrip() -> None:
    ring = KeyRing()
    token = ring.sign(claims())
    header, _ = jwt_parts(token)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": ring.current.kid}
    keys = jwks_resolver(ring.jwks())
    assert list(keys) == [ring.current.kid]
    assert rs256_verify(token, keys.get)["sub"] == "u"
    assert set(ring.jwks()["keys"][0]) == {"kty", "kid", "use", "alg", "n", "e"}


def test_rejects_unknown_kid_tampering_and_expiry() -> None:
    ring, other = KeyRing(), KeyRing()
    with pytest.raises(InvalidToken, match="unknown_kid"):
        rs256_verify(other.sign(claims()), ring.public)
    head, body, sig = ring.sign(claims()).split(".")
    with pytest.raises(InvalidToken, match="bad_signature"):
        rs256_verify(f"{head}.{body}.{sig[:-4]}AAAA", ring.public)
    with pytest.raises(InvalidToken, match="expired"):
        rs256_verify(ring.sign(claims(exp=1)), ring.public)


def test_rotation_adds_a_new_kid_and_keeps_the_old_for_the_grace_period() -> None:
    now = [1000.0]
    ring = KeyRing(rotate_every=3600, grace=600, clock=lambda: now[0])
    first = ring.current.kid
    old_token = ring.sign(claims())
    now[0] += 3599
    assert ring.kids == [first]
    now[0] += 1
    second = ring.current.kid
    assert second != first and ring.kids == [first, second]
    assert rs256_verify(old_token, ring.public)["sub"] == "u"  # signed before rotation, still valid
    assert jwt_parts(ring.sign(claims()))[0]["kid"] == second
    now[0] += 600
    assert ring.kids == [second]
