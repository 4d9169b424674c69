"""PostgreSQL backend: the scale-out path, same SQL and interface as SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from floodwarn.errors import StoreError
from floodwarn.store.base import Store
from floodwarn.store.dialect import POSTGRES


class PostgresStore(Store):
    """psycopg 3, one connection per thread, explicit transactions."""

    dialect = POSTGRES

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=False)
        except psycopg.OperationalError as err:
            raise StoreError(f"cannot connect to PostgreSQL: {err}") from None

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.errors.ReadOnlySqlTransaction as err:
            raise StoreError(f"the store is read-only: {err}") from err
        except psycopg.errors.DiskFull as err:
            raise StoreError(f"the store's disk is full: {err}") from err
        except psycopg.OperationalError as err:
            raise StoreError(f"PostgreSQL error: {err}") from err

    def try_leader_lock(self, key: int = 0x466C6F6F64) -> bool:
        """Session-level advisory lock: one leader daemon among hot standbys."""
        with self.tx() as cur:
            row = cur.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()
        return bool(row and row[0])
