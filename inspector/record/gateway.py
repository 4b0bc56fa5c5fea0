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
    ("Caddy", "server", "caddy"),
    ("Apache httpd", "server", "apache"),
    ("KrakenD", "x-krakend", ""),
    ("Spring Cloud Gateway", "server", "spring"),
    ("tokentax lab gateway", "via", "tokentax-lab-gateway"),
)


_BY_NAME: dict[str, list[tuple[str, str]]] = {}
for _product, _name, _needle in _SIGNS:
    _BY_NAME.setdefault(_name, []).append((_product, _needle))


def gateway_hints(headers: Mapping[str, str]) -> list[str]:
    """Products whose headers these are, in table order. Headers keyed by lower-case name."""
    found: list[tuple[int, str]] = []
    for name in _NAMES.intersection(headers):  # a few header names at most: C-level set work
        signs = _BY_NAME[name]
        low = headers[name].lower()
        for product, needle in signs:
            if (not needle or needle in low) and all(product != p for _, p in found):
                found.append((_ORDER[product], product))
    return [p for _, p in sorted(found)]


_NAMES = frozenset(_BY_NAME)
_ORDER = {product: i for i, (product, _, _) in enumerate(_SIGNS)}


# A product the user names (tokentax_gateway, --gateway) when its headers do not say:
# Traefik sends no Server header, and many deployments strip theirs.
PRODUCTS: tuple[str, ...] = tuple(dict.fromkeys(p for p, _, _ in _SIGNS if p != "tokentax lab gateway"))
_ALIASES = {
    "apache": "Apache httpd",
    "httpd": "Apache httpd",
    "mod_auth_openidc": "Apache httpd",
    "apisix": "Apache APISIX",
    "aws": "AWS API Gateway",
    "azure": "Azure API Management",
    "apim": "Azure API Management",
    "spring": "Spring Cloud Gateway",
}


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


_BY_SQUASHED = {_squash(p): p for p in PRODUCTS} | {_squash(a): p for a, p in _ALIASES.items()}


def named_gateway(text: str, what: str) -> str | None:
    """The product a user named ("traefik", "Apache httpd", "nginx"), case and spacing aside;
    "" is None. Unknown names raise ValueError naming `what` and the known products."""
    if not text.strip():
        return None
    product = _BY_SQUASHED.get(_squash(text))
    if product is None:
        raise ValueError(f"{what}: unknown gateway {text.strip()!r}; known: {', '.join(PRODUCTS)}")
    return product
