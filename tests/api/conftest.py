"""A real API server on 127.0.0.1 (uvicorn, free port) over a seeded SQLite store.

The catalog is a small ``stations/`` directory written here (three Seoul-reach forecast points,
one with a hostile name) and loaded with the real :func:`floodwarn.catalog.load_catalog`.
Time is a simulated clock the app reads for every "now".
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from floodwarn.api.app import create_app
from floodwarn.api.server import ApiServer
from floodwarn.catalog import load_catalog
from floodwarn.config import load_settings
from floodwarn.metrics import Metrics
from floodwarn.store import open_store
from tests.api.apidata import NOW, TOKEN, SimClock, seed, write_stations  # tests/api/apidata.py


@pytest.fixture(scope="session")
def stations_dir(tmp_path_factory) -> Path:
    return write_stations(tmp_path_factory.mktemp("stations"))


@pytest.fixture(scope="session")
def catalog(stations_dir):
    return load_catalog(stations_dir)


@pytest.fixture
def store(tmp_path):
    st = open_store("sqlite:///" + str(tmp_path / "api.sqlite"))
    seed(st)
    yield st
    st.close()


@pytest.fixture
def clock() -> SimClock:
    return SimClock(NOW + timedelta(minutes=5))


@pytest.fixture
def settings(stations_dir):
    return load_settings(
        env={}, stations_dir=str(stations_dir),
        api={"host": "127.0.0.1", "port": 0, "token": TOKEN},
        dispatch={"allow_private_targets": True},
    )


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def server(settings, store, catalog, metrics, clock):
    app = create_app(settings, store, catalog, metrics, clock=clock)
    srv = ApiServer(app, "127.0.0.1", 0).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
