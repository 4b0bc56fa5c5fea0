"""The per-gateway fix texts carry what the real-gateway tests proved (docs/fixes.md)."""

from __future__ import annotations

from inspector.analyzer.kinds.fixes import fix_for


def test_apache_introspection_fix_names_the_cache_key_limit() -> None:
    product, fix = fix_for("introspection", ["Apache httpd"])
    assert product == "Apache httpd"
    # -1 introspects every request; with the 512-byte key limit of 2.4.12 a JWT bearer is never
    # cached unless the key is hashed (OIDCCacheEncrypt On), so the interval alone is not the fix
    assert "never -1" in fix and "OIDCCacheEncrypt On" in fix and "512 bytes" in fix


def test_unknown_gateway_gets_the_generic_fix() -> None:
    assert fix_for("introspection", ["Nobody"])[0] is None
