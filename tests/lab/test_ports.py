"""free_port: ports that a kernel port-0 pick cannot take before their owner binds them."""

from __future__ import annotations

import socket

from inspector.lab.common import LOOPBACK, _ephemeral_range, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_never_repeat() -> None:
    low, _ = _ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(p < low for p in ports)
    # and each is really free: a listener binds it (the strict way, no SO_REUSEADDR)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, ports[-1]))
        sock.listen(1)
        # a kernel pick while it listens lands in the ephemeral range, never on it
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
            other.bind((LOOPBACK, 0))
            assert other.getsockname()[1] >= low
