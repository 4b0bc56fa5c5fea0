"""Which gateway product answered: a hint from the response headers it sets."""

from __future__ import annotations

from collections.abc import Mapping

# (product, header name, substring of the value or "" for "header present")
_SIGNS: tuple[tuple[str, str, str], ...] = (
    ("Kong", "via", "kong"),
    ("Kong", "x-kong-proxy-latency", ""),
    ("Kong", "x-kong-upstream-latency", ""),
    ("Kong", "server", "kong"),
    ("Gravitee", "x-gravitee-transaction-id", ""),
    ("Gravitee", "x-gravitee-request-id", ""),
    ("Envoy", "x-envoy-upstream-service-time", ""),
    ("Envoy", "server", "envoy"),
    ("Apigee", "x-apigee-fault-code", ""),
    ("Apigee", "x-apigee-message-id", ""),
    ("AWS API Gateway", "x-amz-apigw-id", ""),
    ("AWS API Gateway", "x-amzn-requestid", ""),
    ("Azure API Management", "ocp-apim-trace-location", ""),
    ("Azure API Management", "x-azure-ref", ""),
    ("Tyk", "x-ratelimit-limit", "tyk"),
    ("Tyk", "x-tyk-api-expires", ""),
    ("Apache APISIX", "server", "apisix"),
    ("Traefik", "server", "traefik"),
    ("NGINX", "server", "nginx"),
    ("KrakenD", "x-krakend", ""),
    ("Spring Cloud Gateway", "server", "spring"),
    ("tokentax lab gateway", "via", "tokentax-lab-gateway"),
)


def gateway_hints(headers: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    for product, name, needle in _SIGNS:
        value = headers.get(name)
        if value is None:
            continue
        if needle and needle not in value.lower():
            continue
        if product not in found:
            found.append(product)
    return found
