"""The lab's control server: `GET /stats` answers every lab server's counters as JSON.

It is the ground truth for tests and demos run against `python -m inspector.lab` in
another process: what the auth server counted per kind, what the authorizer decided,
how often the relay went upstream, what the gateway called inline or in the
background. It is never behind the proxy, so reading it adds no traffic to measure.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from inspector.lab.stack import LabStack


def _plain(stats: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(stats):
        if f.name.startswith("_"):
            continue
        value = getattr(stats, f.name)
        out[f.name] = {str(k): v for k, v in value.items()} if isinstance(value, Counter) else value
    return out


def snapshot(lab: LabStack) -> dict[str, Any]:
    return {
        "auth": _plain(lab.auth.stats),
        "backend": _plain(lab.backend.stats),
        "authz": _plain(lab.authz.stats),
        "relay": _plain(lab.relay.stats),
        "gateway": _plain(lab.gateway.stats),
        "kids": lab.keys.kids,
    }


def control_app(lab: LabStack) -> Starlette:
    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(snapshot(lab), headers={"cache-control": "no-store"})

    return Starlette(routes=[Route("/stats", stats, methods=["GET"])])
