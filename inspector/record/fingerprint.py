"""Keyed token fingerprints: a stable short name for a token that cannot be reversed.

HMAC-SHA-256 with a key that is random per session unless the user sets one, so a
fingerprint in a shared capture cannot be checked against a guessed token by anyone
without the key. Only a prefix is kept: enough to tell tokens apart, useless as a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

FP_HEX_CHARS = 12


def new_key() -> bytes:
    return secrets.token_bytes(32)


def key_from_text(text: str) -> bytes:
    """A user-given key (any string) becomes 32 bytes; the empty string means a random key."""
    if not text:
        return new_key()
    return hashlib.sha256(text.encode("utf-8")).digest()


class Fingerprinter:
    """Turns secrets into keyed fingerprints. Hold one per session."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else new_key()
        # A public name for the key: lets two captures say whether their fingerprints compare.
        self.key_id = hashlib.sha256(b"tokentax-key-id" + self._key).hexdigest()[:8]

    def fp(self, secret: str | bytes) -> str:
        if isinstance(secret, str):
            try:
                # header bytes that are not UTF-8 come as \udc80-\udcff: fingerprint the bytes themselves
                data = secret.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # other lone surrogates, from "\ud800" escapes in JSON
                data = secret.encode("utf-8", "surrogatepass")
        else:
            data = secret
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:FP_HEX_CHARS]
