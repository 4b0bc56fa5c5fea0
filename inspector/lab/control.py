"""The lab's control server: `GET /stats` answers every lab server's counters as JSON.

For tests that must line callers up without sleeps: `POST /hold` makes the auth server
and the forward-auth service hold every request after counting it, `POST /release`
lets them go, and `GET /wait?server=auth&kind=introspection&count=8` (or
`server=authz&count=8`) answers once that many calls have arrived.

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

    async def hold(request: Request) -> JSONResponse:
        lab.auth.pause()
        lab.authz.pause()
        return await stats(request)

    async def release(request: Request) -> JSONResponse:
        lab.auth.resume()
        lab.authz.resume()
        return await stats(request)

    async def wait(request: Request) -> JSONResponse:
        q = request.query_params
        try:
            count = int(q.get("count", ""))
        except ValueError:
            return JSONResponse({"error": "count must be a whole number"}, status_code=400)
        server, kind = q.get("server", "auth"), q.get("kind")
        if server == "auth":
            await lab.auth.stats.wait_for(lambda s: (s.by_kind[kind] if kind else s.calls) >= count)
        elif server == "authz":
            await lab.authz.stats.wait_for(lambda s: s.calls >= count)
        else:
            return JSONResponse({"error": "server must be auth or authz"}, status_code=400)
        return await stats(request)

    return Starlette(
        routes=[
            Route("/stats", stats, methods=["GET"]),
            Route("/hold", hold, methods=["POST"]),
            Route("/release", release, methods=["POST"]),
            Route("/wait", wait, methods=["GET"]),
        ]
    )
