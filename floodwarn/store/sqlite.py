"""SQLite backend: the embedded default, one file in WAL mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from floodwarn.errors import StoreError
from floodwarn.store.base import Store
from floodwarn.store.dialect import SQLITE


class SqliteStore(Store):
    """One SQLite file in WAL mode; a connection per thread (daemon, API and worker threads)."""

    dialect = SQLITE

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:") else Path(url)

    def _connect(self) -> Any:
        if str(self.path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(f"cannot create the store's folder: {err}", file=str(self.path)) from None
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal" and str(self.path) != ":memory:":
            raise StoreError(f"could not switch to WAL mode (got {mode})", file=str(self.path))
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _begin(self, conn: Any, write: bool = True) -> None:
        with self.translate_errors():
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as err:
            msg = str(err)
            low = msg.lower()
            if "readonly" in low or "read-only" in low:
                raise StoreError("the store is read-only: " + msg, file=str(self.path)) from err
            if "disk is full" in low or "database or disk is full" in low:
                raise StoreError("the store's disk is full: " + msg, file=str(self.path)) from err
            if "unable to open" in low:
                hint = (
                    "the file exists but cannot be opened for writing: read-only file or folder?"
                    if self.path.exists()
                    else "cannot create the store file"
                )
                raise StoreError(f"{hint} ({msg})", file=str(self.path)) from err
            raise
        except sqlite3.DatabaseError as err:
            if "not a database" in str(err).lower() or "malformed" in str(err).lower():
                raise StoreError(f"not a floodwarn store or corrupt: {err}", file=str(self.path)) from err
            raise
