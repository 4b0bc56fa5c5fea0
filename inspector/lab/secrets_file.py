"""Where the lab's secrets can be read, so none is ever printed.

`tokentax probe` needs the gateway client's secret, the load generator needs the lab
users' passwords; both are random per run. The ready JSON and banners name this file
(JSON, mode 0600), never its contents. A file the lab created itself lives in a
private temporary directory and is removed when the lab stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inspector.lab.auth import AuthConfig


def secrets_doc(auth: AuthConfig) -> dict[str, Any]:
    return {
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
        "user_client_id": auth.user_client_id,
        "users": [{"username": u.username, "password": u.password} for u in auth.users],
    }


def read_users(path: str) -> tuple[str, list[tuple[str, str]]]:
    """(user client id, [(username, password)]) from a lab secrets file; ValueError if unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        return str(doc["user_client_id"]), [(str(u["username"]), str(u["password"])) for u in doc["users"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read lab users from {path}: {type(exc).__name__}") from None


@contextlib.contextmanager
def secrets_file(auth: AuthConfig, path: str | None) -> Iterator[str]:
    own_dir = None
    if path is None:
        own_dir = tempfile.mkdtemp(prefix="tokentax-lab-")  # 0700
        path = os.path.join(own_dir, "secrets.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(secrets_doc(auth), fh)
    try:
        yield path
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
