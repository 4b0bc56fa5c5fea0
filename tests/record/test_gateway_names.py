"""Naming the gateway product (tokentax_gateway, --gateway) when its headers do not."""

from __future__ import annotations

import pytest

from inspector.analyzer import Analyzer
from inspector.analyzer.core import AnalyzerConfig
from inspector.record.gateway import PRODUCTS, named_gateway
from inspector.schema.events import session_event
from tests.support import factory as F


@pytest.mark.parametrize(
    "text, product",
    [
        ("traefik", "Traefik"),
        ("  TRAEFIK ", "Traefik"),
        ("nginx", "NGINX"),
        ("apache", "Apache httpd"),
        ("Apache httpd", "Apache httpd"),
        ("apisix", "Apache APISIX"),
        ("aws-api-gateway", "AWS API Gateway"),
        ("spring cloud gateway", "Spring Cloud Gateway"),
        ("", None),
    ],
)
def test_names_read_case_and_spacing_aside(text: str, product: str | None) -> None:
    assert named_gateway(text, "--gateway") == product


def test_every_product_reads_back_as_itself_and_unknown_names_list_them() -> None:
    assert all(named_gateway(p, "x") == p for p in PRODUCTS)
    with pytest.raises(ValueError) as err:
        named_gateway("hal9000", "tokentax_gateway")
    assert str(err.value).startswith("tokentax_gateway: unknown gateway 'hal9000'; known: ")
    assert "Traefik" in str(err.value) and "tokentax lab gateway" not in str(err.value)


def _report(cfg: AnalyzerConfig, gateway_headers: list[str] | None = None) -> dict:
    a = Analyzer(cfg)
    for i in range(10):
        for ev in F.naive_request(1000.0 + i * 4, i, "fp1"):
            if gateway_headers is not None and ev["role"] == "inbound":
                ev = {**ev, "gateway": gateway_headers}
            a.ingest(ev)
    return a.snapshot()


def test_a_named_gateway_leads_the_list_and_says_it_was_named() -> None:
    hinted = _report(AnalyzerConfig(), ["NGINX"])
    assert hinted["gateway"] == ["NGINX"] and hinted["gateway_named"] is None
    seen = next(f for f in hinted["findings"] if f["id"] == "gateway-identified")
    assert seen["title"] == "Gateway looks like NGINX"

    named = _report(AnalyzerConfig(gateway="Traefik"), ["NGINX"])
    assert named["gateway"] == ["Traefik", "NGINX"] and named["gateway_named"] == "Traefik"
    f = next(f for f in named["findings"] if f["id"] == "gateway-identified")
    assert f["title"] == "Gateway is Traefik (named)"
    assert any("response headers suggest NGINX" in e for e in f["evidence"])


def test_a_capture_names_its_gateway_only_with_a_known_product() -> None:
    def named_by(session_gateway: object) -> str | None:
        a = Analyzer()
        a.ingest({**session_event(1000.0, source="live", key_id="k"), "gateway": session_gateway})
        return a.snapshot()["gateway_named"]

    assert named_by("Traefik") == "Traefik"
    assert named_by("<script>") is None and named_by(["Traefik"]) is None  # an edited capture: ignored
