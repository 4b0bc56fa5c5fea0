"""Real lab servers on 127.0.0.1 for the lab tests; fast settings (no think time)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from inspector.lab.auth import AuthConfig
from inspector.lab.authorizer import AuthorizerConfig
from inspector.lab.backend import BackendConfig
from inspector.lab.gateway import GatewayConfig
from inspector.lab.stack import LabConfig, LabStack

MakeLab = Callable[..., Awaitable[LabStack]]


@pytest.fixture
async def make_lab() -> AsyncIterator[MakeLab]:
    """make_lab(strategy="cached", auth=dict(...), gateway=dict(...)) -> a started LabStack."""
    started: list[LabStack] = []

    async def factory(
        strategy: str = "naive",
        *,
        auth: dict[str, Any] | None = None,
        gateway: dict[str, Any] | None = None,
        backend: dict[str, Any] | None = None,
        authz: dict[str, Any] | None = None,
    ) -> LabStack:
        config = LabConfig(
            auth=AuthConfig(**{"latency": 0.0, **(auth or {})}),
            backend=BackendConfig(**{"latency": 0.0, **(backend or {})}),
            gateway=GatewayConfig(**{"strategy": strategy, **(gateway or {})}),
            authz=AuthorizerConfig(**(authz or {})),
        )
        lab = LabStack(config)
        await lab.start()
        started.append(lab)
        return lab

    yield factory
    for lab in started:
        await lab.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as c:
        yield c


async def user_tokens(lab: LabStack, client: httpx.AsyncClient | None = None) -> list[str]:
    """One bearer per lab user, as the load generator gets them (password grant)."""
    from inspector.lab.loadgen import fetch_user_tokens

    users = [(u.username, u.password) for u in lab.config.auth.users]
    return await fetch_user_tokens(lab.urls.token_url, lab.config.auth.user_client_id, users, client=client)
