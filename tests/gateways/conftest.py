"""One lab and one mitmdump for every gateway test (mitmdump takes 2-3 s to start)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateways.harness import Wire, remove_prefixes


@pytest.fixture(scope="session")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    w = Wire(tmp_path_factory.mktemp("gateways"))
    try:
        yield w.start()
    finally:
        w.stop()
        remove_prefixes()


@pytest.fixture
def prefix_root(tmp_path: Path) -> Path:
    return tmp_path
