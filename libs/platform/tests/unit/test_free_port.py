"""`free_port` hands out ports below the kernel's ephemeral range, where no client socket's
`connect()` can take one before the process meant to listen on it binds it."""

from __future__ import annotations

import socket

import pytest
from interventions_platform.embedded import ephemeral_range, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    low, _ = ephemeral_range()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(port < low for port in ports), [p for p in ports if p >= low]
    for port in ports[:20]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_something_listens_on_or_given_before_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        draws = iter([taken, given, given + 1])
        monkeypatch.setattr(
            "interventions_platform.embedded.random.randrange", lambda *_: next(draws)
        )
        assert free_port() == given + 1
