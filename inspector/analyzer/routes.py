"""Route templates: `/users/123/orders/9f1c...` -> `/users/{id}/orders/{id}`, so routes stay few."""

from __future__ import annotations

import re
from functools import lru_cache

_ID = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,}|[A-Za-z0-9_\-]{24,})$"
)


@lru_cache(maxsize=32768)
def template(path: str) -> str:
    if not path:
        return "/"
    parts = path.split("/")
    return "/".join("{id}" if p and _ID.match(p) else p for p in parts)[:200]
