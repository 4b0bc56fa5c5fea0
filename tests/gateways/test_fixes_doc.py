"""docs/fixes.md shows each proven snippet exactly as the gateway tests run it."""

from __future__ import annotations

import re

from tests.gateways.harness import FIXES, ROOT

SNIPPET = re.compile(r"<!-- snippet: (docs/fixes/[\w.-]+) -->\n```\w*\n(.*?)```\n", re.S)
# the tests that run each snippet verbatim (as the cached / no-tax scenario)
RUN_BY = {
    "envoy-credential-injector.yaml": "test_envoy.py",
    "envoy-jwt-authn.yaml": "test_envoy.py",
    "apache-introspection-cache.conf": "test_apache.py",
    "nginx-auth-request-cache.conf": "test_nginx.py",
}


def test_every_snippet_in_the_doc_is_its_file_verbatim() -> None:
    doc = (ROOT / "docs" / "fixes.md").read_text(encoding="utf-8")
    shown = dict(SNIPPET.findall(doc))
    files = {f"docs/fixes/{p.name}": p.read_text(encoding="utf-8") for p in FIXES.iterdir()}
    assert sorted(shown) == sorted(files)  # every snippet file shown, nothing shown that is not one
    for path, text in files.items():
        assert shown[path] == text, f"{path} differs from docs/fixes.md"


def test_every_snippet_is_loaded_by_a_gateway_test() -> None:
    assert sorted(RUN_BY) == sorted(p.name for p in FIXES.iterdir())
    here = ROOT / "tests" / "gateways"
    for name, module in RUN_BY.items():
        assert f'"{name}"' in (here / module).read_text(encoding="utf-8"), (name, module)
