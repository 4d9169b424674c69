"""The store interface: one class of portable SQL over a DB-API connection per thread.

Backends (:mod:`.sqlite`, :mod:`.postgres`) only say how to connect and how to translate driver
errors; every query lives here, written once. Stage modules that keep their own tables (warning
state, outbox) add a migration file and use :meth:`Store.tx` / :meth:`Store.query`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.errors import StoreError
from floodwarn.records import OBS_COLUMNS, QC, Quarantined, normalise_obs
from floodwarn.store.dialect import Dialect
from floodwarn.times import epoch_array

log = logging.getLogger(__name__)

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class UpsertCounts:
    """What an observation upsert did: new keys, exact repeats skipped, corrections versioned."""

    inserted: int = 0
    duplicates: int = 0
    corrected: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.corrected + other.corrected,
        )


def _nan_to_none(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float | np.floating) and np.isnan(v):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _obs_lists(obs: pd.DataFrame) -> tuple[list[Any], ...]:
    """Columns of an observation batch as Python lists, coerced like
    :func:`floodwarn.records.normalise_obs` (which is used when the frame is not canonical)."""
    missing = [c for c in OBS_COLUMNS if c not in obs.columns]
    canonical = not missing and all(
        pd.api.types.is_string_dtype(obs[c].dtype) and not obs[c].hasnans
        for c in ("station", "variable", "source")
    ) and all(obs[c].dtype == np.int64 for c in ("valid_time", "arrival_time", "qc")) and (
        obs["value"].dtype == np.float64
    )
    df = obs if canonical else normalise_obs(obs)
    value = df["value"].to_numpy(np.float64)
    qc = df["qc"].to_numpy(np.int64)
    if canonical:  # normalise_obs adds the MISSING flag to blank values
        qc = np.where(np.isnan(value), qc | int(QC.MISSING), qc)
    return (
        df["station"].tolist(), df["variable"].tolist(), df["valid_time"].tolist(), value.tolist(),
        df["arrival_time"].tolist(), df["source"].tolist(), qc.tolist(),
    )


def _latest_sql(n_stations: int, n_variables: int) -> str:
    """The upsert's lookup of stored versions (parameters: stations, variables, tmin, tmax)."""
    return (
        "SELECT station, variable, valid_time, version, value FROM observations "
        f"WHERE station IN ({','.join('?' * n_stations)}) AND variable IN ({','.join('?' * n_variables)}) "
        "AND valid_time BETWEEN ? AND ?"
    )


def _dedup_batch(cols: tuple[list[Any], ...]) -> list[int]:
    """Row positions left after dropping exact repeats (first kept) and then keeping the last
    record of each key — the two ``drop_duplicates`` of the DataFrame version, in row order."""
    st, var, vt, val = cols[:4]
    seen: set[tuple[Any, ...]] = set()
    last: dict[tuple[Any, ...], int] = {}
    for i in range(len(st)):
        x = val[i]
        k = (st[i], var[i], vt[i], "nan" if x != x else x)
        if k in seen:
            continue
        seen.add(k)
        last[k[:3]] = i
    return sorted(last.values())


class Cursor:
    """A thin wrapper that translates placeholders and driver errors."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn
        self._cur = conn.cursor()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        with self._store.translate_errors():
            self._cur.execute(self._store.dialect.sql(sql), tuple(_nan_to_none(p) for p in params))
        return self

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        with self._store.translate_errors():
            self._cur.executemany(self._store.dialect.sql(sql), rows)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._cur.fetchall()]

    def fetchone(self) -> tuple[Any, ...] | None:
        r = self._cur.fetchone()
        return None if r is None else tuple(r)

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid


class Store:
    """All persistent state of floodwarn behind one interface (SQLite or PostgreSQL)."""

    dialect: Dialect
    url: str

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all_conns: list[Any] = []
        self._lock = threading.Lock()

    # -- backend hooks -------------------------------------------------------------------
    def _connect(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @contextmanager
    def translate_errors(self) -> Iterator[None]:  # pragma: no cover - abstract
        yield

    # -- connections and transactions ----------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self.translate_errors():
                conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all_conns.append(conn)
        return conn

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Cursor]:
        """One transaction: commit on success, roll back on any error (nothing half-written).

        ``write=False`` opens a read transaction that never takes the write lock (SQLite WAL
        readers then run beside the writer instead of queueing behind it).
        """
        conn = self._conn()
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield Cursor(self, conn)
            finally:
                self._local.depth = depth
            return
        self._local.depth = 1
        try:
            self._begin(conn, write)
            yield Cursor(self, conn)
            with self.translate_errors():
                conn.commit()
        except BaseException:
            try:
                conn.rollback()
            except Exception:  # noqa: BLE001 - the original error matters more
                log.exception("rollback failed")
            raise
        finally:
            self._local.depth = 0

    def _begin(self, conn: Any, write: bool = True) -> None:
        """Start a transaction explicitly (backends may override)."""

    def query(self, sql: str, params: Sequence[Any] = (), write: bool = False) -> list[tuple[Any, ...]]:
        """Run one statement and fetch its rows (a read transaction unless ``write``)."""
        with self.tx(write=write) as cur:
            return cur.execute(sql, params).fetchall()

    def frame(self, sql: str, params: Sequence[Any] = (), columns: Sequence[str] = ()) -> pd.DataFrame:
        rows = self.query(sql, params)
        return pd.DataFrame.from_records(rows, columns=list(columns))

    def close(self) -> None:
        with self._lock:
            for c in self._all_conns:
                try:
                    c.close()
                except Exception:  # noqa: BLE001
                    pass
            self._all_conns.clear()
        self._local = threading.local()

    # -- schema --------------------------------------------------------------------------
    @staticmethod
    def migrations() -> list[tuple[int, str, str]]:
        """All migration files shipped with the package, in order: (version, name, sql)."""
        out = []
        for f in resources.files("floodwarn.store.migrations").iterdir():
            m = _MIGRATION.match(f.name)
            if m:
                out.append((int(m.group(1)), f.name, f.read_text(encoding="utf-8")))
        out.sort()
        versions = [v for v, _, _ in out]
        if len(set(versions)) != len(versions):
            raise StoreError(f"two migrations share a version number: {versions}")
        return out

    def schema_version(self) -> int:
        with self.tx() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            )
            row = cur.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def migrate(self) -> int:
        """Apply pending migrations, each in its own transaction; returns the schema version."""
        import time

        current = self.schema_version()
        for version, name, sql in self.migrations():
            if version <= current:
                continue
            with self.tx() as cur:
                for stmt in _split_sql(self.dialect.ddl(sql)):
                    cur.execute(stmt)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, int(time.time())),
                )
            log.info("store: applied migration %s", name)
            current = version
        return current

    # -- key/value meta ------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as cur:
            cur.execute("DELETE FROM meta WHERE key = ?", (key,))
            cur.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- observations --------------------------------------------------------------------
    def upsert_observations(self, obs: pd.DataFrame, chunk: int = 200_000) -> UpsertCounts:
        """Idempotent insert of an observation batch.

        A repeated record (same key, same value) is skipped; a late record for a new key is
        inserted with its own arrival time; a changed value for an existing key becomes a new
        version (the old one is kept), so a replay "as of" any arrival time is exact.

        Works on plain Python lists, not DataFrames: a live or replayed cycle upserts a few
        dozen records, where pandas' per-call overhead (normalise, two drop_duplicates, a merge)
        cost ~5 ms a cycle for microseconds of work.
        """
        if obs.empty:
            return UpsertCounts()
        cols = _obs_lists(obs)
        n0 = len(cols[0])
        keep = _dedup_batch(cols)
        total = UpsertCounts(duplicates=n0 - len(keep))
        for start in range(0, len(keep), chunk):
            total = total + self._upsert_chunk(cols, keep[start : start + chunk])
        return total

    def _upsert_chunk(self, cols: tuple[list[Any], ...], idx: list[int]) -> UpsertCounts:
        """Insert the rows ``idx`` of the column lists ``cols`` (see :func:`_obs_lists`)."""
        st, var, vt, val, arr, src, qc = cols
        with self.tx() as cur:
            existing = self._latest_for_keys(cur, [st[i] for i in idx], [var[i] for i in idx],
                                             [vt[i] for i in idx])
            rows = []
            corrected = 0
            for i in idx:
                x = val[i]
                old = existing.get((st[i], var[i], vt[i]))
                version = 1
                if old is not None:
                    old_version, old_value = old
                    if (old_value != old_value and x != x) or abs(old_value - x) <= 1e-9:
                        continue  # an exact repeat (NaN = NaN)
                    version = old_version + 1
                    corrected += 1
                rows.append((st[i], var[i], vt[i], version, None if x != x else x, arr[i], src[i], qc[i]))
            if rows:
                cur.executemany(
                    "INSERT INTO observations (station, variable, valid_time, version, value, "
                    "arrival_time, source, qc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        return UpsertCounts(
            inserted=len(rows) - corrected, duplicates=len(idx) - len(rows), corrected=corrected
        )

    def _latest_for_keys(
        self, cur: Cursor, stations: list[str], variables: list[str], valid_times: list[int]
    ) -> dict[tuple[str, str, int], tuple[int, float]]:
        """Latest stored (version, value) per key in the batch's stations and time span.

        The variables are named too, so that the primary key (station, variable, valid_time)
        serves the whole condition: with the station alone SQLite's planner walked every row
        ever stored for the station, and the upsert cost grew with the store (0.1 s a cycle
        after three months of a season replay).
        """
        out: dict[tuple[str, str, int], tuple[int, float]] = {}
        if not stations:
            return out
        tmin, tmax = min(valid_times), max(valid_times)
        uniq = sorted(set(stations))
        var_uniq = sorted(set(variables))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            for s, v, t, ver, x in cur.execute(
                _latest_sql(len(part), len(var_uniq)), (*part, *var_uniq, tmin, tmax)
            ).fetchall():
                key = (s, v, int(t))
                ver = int(ver)
                prev = out.get(key)
                if prev is None or ver > prev[0]:
                    out[key] = (ver, float("nan") if x is None else float(x))
        return out

    def observations(
        self,
        stations: Sequence[str] | None = None,
        variables: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        as_of: int | None = None,
    ) -> pd.DataFrame:
        """Observations (latest version per key) with ``start <= valid_time <= end``.

        ``as_of`` (epoch s) hides everything that arrived later — the honest view of a past
        cycle, including the value as it was before a later correction.
        """
        where, params = ["1=1"], []
        if start is not None:
            where.append("valid_time >= ?")
            params.append(int(start))
        if end is not None:
            where.append("valid_time <= ?")
            params.append(int(end))
        if as_of is not None:
            where.append("arrival_time <= ?")
            params.append(int(as_of))
        if stations is not None:
            stations = list(stations)
            if not stations:
                return pd.DataFrame(columns=OBS_COLUMNS + ["version"])
            where.append(f"station IN ({','.join('?' * len(stations))})")
            params += stations
        if variables is not None:
            variables = list(variables)
            where.append(f"variable IN ({','.join('?' * len(variables))})")
            params += variables
        rows = self.query(
            "SELECT station, variable, valid_time, value, arrival_time, source, qc, version "
            f"FROM observations WHERE {' AND '.join(where)}",
            params,
        )
        df = pd.DataFrame.from_records(rows, columns=OBS_COLUMNS + ["version"])
        if df.empty:
            return df
        df["value"] = df["value"].astype(float)
        df = df.sort_values(["station", "variable", "valid_time", "version"])
        df = df.drop_duplicates(["station", "variable", "valid_time"], keep="last")
        return df.reset_index(drop=True)

    def observation_versions(self, station: str, variable: str, valid_time: int) -> pd.DataFrame:
        """Every stored version of one observation (audit of corrections)."""
        return self.frame(
            "SELECT version, value, arrival_time, source, qc FROM observations "
            "WHERE station = ? AND variable = ? AND valid_time = ? ORDER BY version",
            (station, variable, int(valid_time)),
            ["version", "value", "arrival_time", "source", "qc"],
        )

    def set_qc(self, flags: pd.DataFrame) -> int:
        """OR QC flags (columns station, variable, valid_time, qc) into the latest versions."""
        rows = [
            (int(q), s, v, int(t), s, v, int(t))
            for s, v, t, q in zip(flags["station"], flags["variable"], flags["valid_time"], flags["qc"], strict=True)
            if int(q)
        ]
        if not rows:
            return 0
        with self.tx() as cur:
            cur.executemany(
                "UPDATE observations SET qc = qc | ? WHERE station = ? AND variable = ? AND valid_time = ? "
                "AND version = (SELECT MAX(version) FROM observations o2 WHERE o2.station = ? "
                "AND o2.variable = ? AND o2.valid_time = ?)",
                rows,
            )
        return len(rows)

    def count_observations(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM observations")[0][0])

    # -- raw payloads and quarantine -----------------------------------------------------
    def save_raw(
        self,
        source: str,
        body: bytes | str | None,
        received_at: int,
        url: str | None = None,
        status: int | None = None,
        content_type: str | None = None,
        error: str | None = None,
        n_records: int | None = None,
        n_quarantined: int | None = None,
    ) -> int:
        """Keep a feed payload exactly as received (audit, replay); returns its id."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self.tx() as cur:
            return self._insert_returning_id(
                cur,
                "raw_payloads",
                ["source", "url", "received_at", "status", "content_type", "body", "error",
                 "n_records", "n_quarantined"],
                [source, url, int(received_at), status, content_type, data, error, n_records, n_quarantined],
            )

    def raw_payload(self, payload_id: int) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT id, source, url, received_at, status, content_type, body, error FROM raw_payloads WHERE id = ?",
            (int(payload_id),),
        )
        if not rows:
            return None
        keys = ["id", "source", "url", "received_at", "status", "content_type", "body", "error"]
        doc = dict(zip(keys, rows[0], strict=True))
        if doc["body"] is not None:
            doc["body"] = bytes(doc["body"])
        return doc

    def _insert_returning_id(self, cur: Cursor, table: str, cols: list[str], values: list[Any]) -> int:
        marks = ", ".join("?" * len(cols))
        row = cur.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) RETURNING id", values
        ).fetchone()
        assert row is not None
        return int(row[0])

    def quarantine(self, records: Iterable[Quarantined], payload_id: int | None = None) -> int:
        """Keep records that could not be parsed, with the reason (never dropped)."""
        rows = [(payload_id, q.source, q.record, q.reason, int(q.received_at)) for q in records]
        if rows:
            with self.tx() as cur:
                cur.executemany(
                    "INSERT INTO quarantine (payload_id, source, record, reason, received_at) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
        return len(rows)

    def quarantined(self, since: int | None = None, limit: int = 1000) -> pd.DataFrame:
        return self.frame(
            "SELECT id, payload_id, source, record, reason, received_at FROM quarantine "
            "WHERE received_at >= ? ORDER BY id LIMIT ?",
            (int(since or 0), int(limit)),
            ["id", "payload_id", "source", "record", "reason", "received_at"],
        )

    # -- forecasts -----------------------------------------------------------------------
    FORECAST_COLUMNS = ["station", "issued_at", "lead_min", "q05", "q50", "q95", "method",
                        "model_version", "flags", "shadow"]

    def save_forecasts(self, fc: pd.DataFrame, shadow: bool = False) -> int:
        """Store one cycle's forecasts; re-running the cycle replaces them (idempotent)."""
        if fc.empty:
            return 0
        n = len(fc)
        issued = fc["issued_at"]
        if not np.issubdtype(issued.dtype, np.integer):
            issued = pd.Series(epoch_array(pd.DatetimeIndex(pd.to_datetime(issued, utc=True))))
        # column by column (itertuples + a converter per cell cost ~3 ms per cycle)
        columns: list[list[Any]] = []
        for c in self.FORECAST_COLUMNS:
            if c == "issued_at":
                col = issued
            elif c in fc:
                col = fc[c]
            else:
                columns.append([int(shadow)] * n if c == "shadow" else ["" if c == "flags" else None] * n)
                continue
            if col.dtype.kind in "iu":
                columns.append(col.tolist())
            elif col.dtype.kind == "f":
                columns.append([None if x != x else x for x in col.tolist()])
            else:
                columns.append([_nan_to_none(x) for x in col.tolist()])
        rows = list(zip(*columns, strict=True))
        keys = {(r[0], int(r[1]), int(r[9])) for r in rows}
        with self.tx() as cur:
            cur.executemany(
                "DELETE FROM forecasts WHERE station = ? AND issued_at = ? AND shadow = ?", list(keys)
            )
            cur.executemany(
                f"INSERT INTO forecasts ({', '.join(self.FORECAST_COLUMNS)}) VALUES ({', '.join('?' * 10)})",
                rows,
            )
        return len(rows)

    def forecasts(
        self,
        station: str | None = None,
        issued_from: int | None = None,
        issued_to: int | None = None,
        shadow: bool = False,
    ) -> pd.DataFrame:
        where, params = ["shadow = ?"], [int(shadow)]
        if station is not None:
            where.append("station = ?")
            params.append(station)
        if issued_from is not None:
            where.append("issued_at >= ?")
            params.append(int(issued_from))
        if issued_to is not None:
            where.append("issued_at <= ?")
            params.append(int(issued_to))
        df = self.frame(
            f"SELECT {', '.join(self.FORECAST_COLUMNS)} FROM forecasts WHERE {' AND '.join(where)} "
            "ORDER BY station, issued_at, lead_min",
            params,
            self.FORECAST_COLUMNS,
        )
        for c in ("q05", "q50", "q95"):
            df[c] = df[c].astype(float)
        return df

    # -- cycle ledger --------------------------------------------------------------------
    def cycle_begin(self, cycle_at: int, started_at: int, mode: str = "live") -> None:
        """Record that a cycle started (a restart finds it ``running`` and completes it)."""
        with self.tx() as cur:
            row = cur.execute("SELECT status FROM cycles WHERE cycle_at = ?", (int(cycle_at),)).fetchone()
            if row is None:
                cur.execute(
                    "INSERT INTO cycles (cycle_at, started_at, status, mode) VALUES (?, ?, 'running', ?)",
                    (int(cycle_at), int(started_at), mode),
                )
            else:
                cur.execute(
                    "UPDATE cycles SET started_at = ?, status = 'running', mode = ? WHERE cycle_at = ?",
                    (int(started_at), mode, int(cycle_at)),
                )

    def cycle_end(self, cycle_at: int, finished_at: int, status: str, report: dict[str, Any]) -> None:
        with self.tx() as cur:
            cur.execute(
                "UPDATE cycles SET finished_at = ?, status = ?, report = ? WHERE cycle_at = ?",
                (int(finished_at), status, json.dumps(report, default=str, sort_keys=True), int(cycle_at)),
            )

    def cycle(self, cycle_at: int) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT cycle_at, started_at, finished_at, status, mode, report FROM cycles WHERE cycle_at = ?",
            (int(cycle_at),),
        )
        return _cycle_doc(rows[0]) if rows else None

    def cycles(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        where, params = "", []
        if status is not None:
            where, params = "WHERE status = ?", [status]
        rows = self.query(
            "SELECT cycle_at, started_at, finished_at, status, mode, report FROM cycles "
            f"{where} ORDER BY cycle_at DESC LIMIT ?",
            (*params, int(limit)),
        )
        return [_cycle_doc(r) for r in rows]

    def last_completed_cycle(self) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT cycle_at, started_at, finished_at, status, mode, report FROM cycles "
            "WHERE status IN ('ok', 'degraded') ORDER BY cycle_at DESC LIMIT 1"
        )
        return _cycle_doc(rows[0]) if rows else None


def _cycle_doc(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = ["cycle_at", "started_at", "finished_at", "status", "mode", "report"]
    doc = dict(zip(keys, row, strict=True))
    doc["report"] = json.loads(doc["report"]) if doc["report"] else None
    return doc


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (no semicolons inside our DDL strings)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
