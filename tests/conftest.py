from __future__ import annotations

import pytest

from inspector.lab.common import free_port


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on, below the kernel's port-0 range (lab.common.free_port)."""
    return free_port()
