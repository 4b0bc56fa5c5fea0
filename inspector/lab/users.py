"""The lab's people: a few users with personal-data-looking claims and per-run passwords.

Userinfo and introspection answers must carry a name and an email so the inspector's
personal-data handling is exercised; the load generator logs in as these users (the
password grant of a public client) to get the bearer tokens real callers present.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LabUser:
    username: str
    sub: str
    name: str
    email: str
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12), repr=False)


def default_users() -> tuple[LabUser, ...]:
    """Three users, new passwords every run."""
    return (
        LabUser("alice", "u-1001", "Alice Lovelace", "alice@example.test"),
        LabUser("bob", "u-1002", "Bob Hopper", "bob@example.test"),
        LabUser("carol", "u-1003", "Carol Shannon", "carol@example.test"),
    )
