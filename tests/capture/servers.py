"""Small real HTTP servers for the capture tests: an OAuth2 token endpoint, a backend, a gateway.

Each server listens on a 127.0.0.1 socket bound before its uvicorn thread starts, so it
accepts connections from the first moment (the kernel queues them): no readiness wait.
Every secret they issue or accept is kept, so tests can grep redacted files for them.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN_PATH = "/oauth2/token"


class ThreadedServer:
    """A Starlette app served by uvicorn on its own thread and event loop."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True, name=f"server-{self.port}"
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()
        self.sock.close()


@dataclass
class Secrets:
    client_id: str = "gw-client"
    client_secret: str = field(default_factory=lambda: "cs_" + secrets.token_urlsafe(24))
    issued: list[str] = field(default_factory=list)  # access tokens the auth server issued
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values the backend issued
    client: list[str] = field(default_factory=list)  # what the test client sent (bearer, cookie, query token)

    def all(self) -> list[str]:
        return [self.client_secret, *self.issued, *self.cookies, *self.client]


def auth_app(sec: Secrets, rotate_every: int = 4) -> Starlette:
    """client_credentials token endpoint: re-issues the same token `rotate_every` times, then a new one."""
    state = {"calls": 0, "token": ""}
    lock = threading.Lock()

    async def token(request: Request) -> JSONResponse:
        # parsed by hand: starlette's form parser needs python-multipart, which is not a dependency
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if form.get("client_id") != sec.client_id or form.get("client_secret") != sec.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        with lock:
            if state["calls"] % rotate_every == 0:
                state["token"] = "at_" + secrets.token_urlsafe(32)
                sec.issued.append(state["token"])
            state["calls"] += 1
            tok = state["token"]
        return JSONResponse({"access_token": tok, "token_type": "Bearer", "expires_in": 3600})

    return Starlette(routes=[Route(TOKEN_PATH, token, methods=["POST"])])


def backend_app(sec: Secrets) -> Starlette:
    """A backend that wants a bearer, sets a session cookie and (badly) echoes the token it saw."""

    async def api(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return JSONResponse({"error": "no token"}, status_code=401)
        cookie = "bk_" + secrets.token_urlsafe(20)
        sec.cookies.append(cookie)
        resp = JSONResponse({"ok": True, "item": request.path_params["name"], "debug": {"seen": auth[7:]}})
        resp.set_cookie("backend_sid", cookie, httponly=True)
        return resp

    return Starlette(routes=[Route("/api/{name}", api)])


@dataclass
class GatewayConfig:
    strategy: str = "naive"  # naive: a token per request; cached: reuse until near expiry
    auth_url: str = ""
    backend_url: str = ""


def gateway_app(sec: Secrets, cfg: GatewayConfig) -> Starlette:
    cache: dict[str, Any] = {}
    lock = asyncio.Lock()

    async def fetch_token(client: httpx.AsyncClient, rid: str) -> str:
        resp = await client.post(
            cfg.auth_url + TOKEN_PATH,
            headers={"x-request-id": rid},
            data={"grant_type": "client_credentials", "client_id": sec.client_id, "client_secret": sec.client_secret},
        )
        resp.raise_for_status()
        body = resp.json()
        cache["token"], cache["until"] = body["access_token"], time.time() + body["expires_in"] - 60
        return body["access_token"]

    async def proxy(request: Request) -> JSONResponse:
        rid = request.headers.get("x-request-id", secrets.token_hex(8))
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            if cfg.strategy == "cached":
                async with lock:
                    token = cache["token"] if cache.get("until", 0) > time.time() else await fetch_token(client, rid)
            else:
                token = await fetch_token(client, rid)
            resp = await client.get(
                f"{cfg.backend_url}/api/{request.path_params['name']}",
                headers={"authorization": f"Bearer {token}", "x-request-id": rid},
            )
        return JSONResponse(resp.json(), status_code=resp.status_code)

    return Starlette(routes=[Route("/api/{name}", proxy)])


class Stack:
    """Auth server, backend and gateway; the gateway's upstream URLs are set once mitmdump is up."""

    def __init__(self, strategy: str = "naive") -> None:
        self.secrets = Secrets()
        self.gw_cfg = GatewayConfig(strategy=strategy)
        self.auth = ThreadedServer(auth_app(self.secrets))
        self.backend = ThreadedServer(backend_app(self.secrets))
        self.gateway = ThreadedServer(gateway_app(self.secrets, self.gw_cfg))

    def stop(self) -> None:
        for s in (self.gateway, self.backend, self.auth):
            s.stop()
