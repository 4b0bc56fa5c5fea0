"""Synthetic but realistic tokentax flow events: a naive gateway under steady load.

Shapes match inspector.record.flow_record exactly (the analyzer cannot tell them from a
live session): every inbound request makes a callout and a backend call, traces travel,
the auth server re-issues its token for a while and then rotates it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any


def events(n: int, rate: float = 300.0, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    ids = itertools.count()
    t = 1_800_000_000.0
    made = 0
    token = 0
    routes = ["/orders", "/orders/{}", "/users/{}", "/inventory", "/carts/{}/items"]
    while made < n:
        t += 1.0 / rate
        if rng.random() < 0.001:
            token += 1
        fp = f"{token:012x}"
        trace = f"{rng.getrandbits(128):032x}"
        auth_ms = rng.uniform(700, 900)
        be_ms = rng.uniform(5, 40)
        path = rng.choice(routes).format(rng.randrange(10_000))

        def timing(ms, reused):
            return {
                "reused": reused,
                "connect": 0.0 if reused else 0.4,
                "tls": 0.0,
                "send": 0.05,
                "wait": ms,
                "receive": 0.2,
                "ttfb": ms + 0.5,
                "total": ms + 0.7,
            }

        base = {"v": 1, "type": "flow", "scheme": "http", "host": "127.0.0.1", "size": {"req": 120, "resp": 900}}
        trio = [
            dict(
                base,
                id=f"c{next(ids)}",
                ts=t + 0.001,
                end=t + 0.001 + auth_ms / 1000,
                role="callout",
                role_by="listener",
                listener="reverse:http://127.0.0.1:9001@8082",
                method="POST",
                port=9001,
                path="/oauth2/token",
                status=200,
                timing=timing(auth_ms, True),
                trace={"id": trace, "src": "traceparent"},
                key={"endpoint": "127.0.0.1:9001/oauth2/token", "client_id": "gw", "grant_type": "client_credentials"},
                token={
                    "fp": fp,
                    "type": "Bearer",
                    "expires_in": 38399,
                    "refresh": False,
                    "jwt": {
                        "alg": "HS256",
                        "typ": "at+jwt",
                        "iss": "lab",
                        "exp": 1_800_038_399,
                        "iat": 1_800_000_000,
                        "client_id": "gw",
                        "aud": "api",
                    },
                },
            ),
            dict(
                base,
                id=f"b{next(ids)}",
                ts=t + 0.002 + auth_ms / 1000,
                end=t + 0.002 + (auth_ms + be_ms) / 1000,
                role="backend",
                role_by="listener",
                listener="reverse:http://127.0.0.1:9002@8083",
                method="GET",
                port=9002,
                path=path,
                status=200,
                timing=timing(be_ms, True),
                trace={"id": trace, "src": "traceparent"},
                bearer={"fp": fp, "kind": "jwt", "jwt": {"exp": 1_800_038_399, "iat": 1_800_000_000}},
            ),
            dict(
                base,
                id=f"i{next(ids)}",
                ts=t,
                end=t + (auth_ms + be_ms + 5) / 1000,
                role="inbound",
                role_by="listener",
                listener="reverse:http://127.0.0.1:9000@8081",
                method="GET",
                port=9000,
                path=path,
                status=200,
                timing=timing(auth_ms + be_ms + 4, False),
                trace={"id": trace, "src": "traceparent"},
                gateway=["Kong"],
            ),
        ]
        for ev in trio:
            if made < n:
                made += 1
                yield ev
