"""A store per test, on every backend: SQLite file (always) and PostgreSQL (pgserver)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from floodwarn.store import Store, open_store


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server for the session (pgserver's bundled binaries)."""
    url = os.environ.get("FLOODWARN_TEST_PG_URL")
    if url:
        yield url
        return
    # pgserver logs at interpreter exit, after pytest closed the streams
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            srv = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"no PostgreSQL server available (pgserver failed: {err})")
    yield srv.get_uri()
    srv.cleanup()


_counter = iter(range(10**6))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    else:
        import psycopg

        base = request.getfixturevalue("pg_url")
        name = f"fw_test_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        url = base.replace("/postgres?", f"/{name}?")
        s = open_store(url)
    yield s
    s.close()
