"""RS256 keys for the lab auth server: a rotating key ring, its JWKS, and JWT sign/verify.

JWKS-fetching gateways (Envoy jwt_authn, Kong, APISIX) only show their refetch
behaviour against a key set that changes: on rotation a key with a new `kid` signs,
and the old key stays in the set for a grace period so tokens signed before still
verify. Rotation is lazy (checked whenever the ring is used) against a replaceable
clock, so tests move time instead of sleeping. Private keys never leave the process.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from inspector.lab.common import InvalidToken, b64url, b64url_decode, jwt_parts, jwt_verify

Resolver = Callable[[str], rsa.RSAPublicKey | None]
ACCESS_TOKEN_TYPS = ("at+jwt", "application/at+jwt", "JWT")


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey
    created: float
    retired: float | None = None  # when a newer key took over signing

    def jwk(self) -> dict[str, str]:
        """The public half as an RFC 7517 JWK."""
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": _int_b64(numbers.n),
            "e": _int_b64(numbers.e),
        }


def public_key_from_jwk(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey | None:
    """The RSA public key a JWK describes, or None if it is not a usable RS256 signing key."""
    if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
        return None
    try:
        n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
        e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, ValueError, TypeError):
        return None


def jwks_resolver(jwks: Mapping[str, Any]) -> dict[str, rsa.RSAPublicKey]:
    """kid -> public key for every usable key of a JWKS document."""
    found: dict[str, rsa.RSAPublicKey] = {}
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    for jwk in keys if isinstance(keys, list) else []:
        if isinstance(jwk, Mapping) and isinstance(jwk.get("kid"), str):
            key = public_key_from_jwk(jwk)
            if key is not None:
                found[jwk["kid"]] = key
    return found


class KeyRing:
    """Signing keys, newest last. rotate_every None = never rotate on its own (rotate() still works)."""

    def __init__(
        self,
        *,
        rotate_every: float | None = None,
        grace: float = 600.0,
        clock: Callable[[], float] = time.time,
        bits: int = 2048,
    ) -> None:
        self.rotate_every = rotate_every if rotate_every and rotate_every > 0 else None
        self.grace = grace
        self.clock = clock
        self._bits = bits
        self._keys: list[SigningKey] = [self._new()]

    def _new(self) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=self._bits)
        return SigningKey(kid=uuid.uuid4().hex[:16], private=private, created=self.clock())

    def _tick(self) -> None:
        if self.rotate_every is not None and self.clock() - self._keys[-1].created >= self.rotate_every:
            self.rotate()
        now = self.clock()
        self._keys = [k for k in self._keys if k.retired is None or now - k.retired < self.grace]

    def rotate(self) -> SigningKey:
        """A new key signs from now on; the previous one stays published for the grace period."""
        self._keys[-1].retired = self.clock()
        self._keys.append(self._new())
        return self._keys[-1]

    @property
    def current(self) -> SigningKey:
        self._tick()
        return self._keys[-1]

    @property
    def kids(self) -> list[str]:
        self._tick()
        return [k.kid for k in self._keys]

    def public(self, kid: str) -> rsa.RSAPublicKey | None:
        self._tick()
        return next((k.private.public_key() for k in self._keys if k.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        self._tick()
        return {"keys": [k.jwk() for k in self._keys]}

    def sign(self, claims: Mapping[str, Any], *, typ: str = "at+jwt") -> str:
        return rs256_sign(claims, self.current, typ=typ)


def rs256_sign(claims: Mapping[str, Any], key: SigningKey, *, typ: str = "at+jwt") -> str:
    header = {"alg": "RS256", "typ": typ, "kid": key.kid}
    parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims)]
    signing_input = ".".join(parts).encode("ascii")
    signature = key.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def rs256_verify(token: str, resolve: Resolver, *, now: float | None = None, leeway: float = 0.0) -> dict[str, Any]:
    """Claims of a valid RS256 access token whose `kid` resolves to a key; InvalidToken otherwise."""
    header, claims = jwt_parts(token)
    if header.get("alg") != "RS256":
        raise InvalidToken("bad_alg")
    if header.get("typ", "JWT") not in ACCESS_TOKEN_TYPS:
        raise InvalidToken("bad_typ")
    kid = header.get("kid")
    key = resolve(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken("unknown_kid")
    signing_input, _, sig = token.rpartition(".")
    try:
        key.verify(b64url_decode(sig), signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise InvalidToken("bad_signature") from exc
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise InvalidToken("no_exp")
    if (time.time() if now is None else now) >= exp + leeway:
        raise InvalidToken("expired")
    return claims


def verify_lab_token(token: str, hs_key: bytes, ring: KeyRing | None) -> dict[str, Any]:
    """Claims of any token the lab issued: HS256 service tokens or RS256 user/exchanged tokens."""
    header, _ = jwt_parts(token)
    if header.get("alg") == "RS256" and ring is not None:
        return rs256_verify(token, ring.public)
    return jwt_verify(token, hs_key)
