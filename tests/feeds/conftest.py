"""Fixtures for feed tests: the HRFCO-format loopback server and a client pointed at it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from floodwarn.config import HrfcoConfig
from floodwarn.feeds.hrfco import HrfcoClient
from tests.feeds.hrfco_server import HrfcoServer

#: the "current" time the loopback server answers for (2020-08-06 14:20 KST, the 2020 peak)
NOW = datetime(2020, 8, 6, 5, 20, tzinfo=UTC)


@pytest.fixture
def hrfco_server() -> Iterator[HrfcoServer]:
    with HrfcoServer(now=NOW, slow_s=1.0) as srv:
        yield srv


class Recorder:
    """Stands in for ``time.sleep``: records back-off delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, s: float) -> None:
        self.delays.append(s)


@pytest.fixture
def sleeps() -> Recorder:
    return Recorder()


@pytest.fixture
def make_client(hrfco_server: HrfcoServer, sleeps: Recorder):
    """``make_client(fmt="json", retries=2, timeout_s=0.2)`` → HrfcoClient on the server."""
    clients: list[HrfcoClient] = []

    def make(fmt: str = "json", retries: int = 2, timeout_s: float = 0.2) -> HrfcoClient:
        cfg = HrfcoConfig(base_url=hrfco_server.base_url, service_key=hrfco_server.key,
                          timeout_s=timeout_s, retries=retries, backoff_s=0.5, format=fmt)
        c = HrfcoClient(cfg, sleep=sleeps, clock=lambda: NOW.timestamp() + 90,
                        rng=random.Random(7))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()
