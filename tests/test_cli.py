"""The command modules as a user runs them: real subprocesses, real HTTP, temp SQLite stores."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.daemon.cycle_support import ROOT, STEP, T0, floodwarn_cmd, run_cli, slice_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    return slice_archive(d / "a.csv", T0 - timedelta(hours=26), T0 + 6 * STEP)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "FLOODWARN_STORE__URL": f"sqlite:///{tmp / 'store.sqlite'}",
        "FLOODWARN_DATA_DIR": str(tmp / "var"),
        "FLOODWARN_MODELS_DIR": str(tmp / "models"),
        **extra,
    }


def test_help_lists_every_command() -> None:
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("serve", "cycle", "replay", "hindcast", "ingest", "export", "demo"):
        assert cmd in r.stdout, cmd
    r = run_cli("replay", "--help")
    assert "arrival" in r.stdout and "--speed" in r.stdout and "--models" in r.stdout


def test_cycle_at_runs_once_and_is_idempotent(tmp_path, archive) -> None:
    env = _env(tmp_path, FLOODWARN_FEEDS__SOURCE="archive", FLOODWARN_FEEDS__ARCHIVE=str(archive))
    r = run_cli("cycle", "--at", "2020-08-02T00:00", env=env)  # KST → 2020-08-01T15:00Z
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("cycle 2020-08-01T15:00:00+00:00 ok")
    assert re.search(r"forecast\s+ok", r.stdout)
    assert (tmp_path / "var" / "products").is_dir()
    again = run_cli("cycle", "--at", "2020-08-01T15:00Z", "--json", env=env)
    assert again.returncode == 0, again.stderr
    import json

    rep = json.loads(again.stdout)
    assert rep["stages"]["ingest"]["counts"]["inserted"] == 0  # everything was already stored
    assert rep["stages"]["ingest"]["counts"]["duplicates"] > 0


def test_ingest_then_export_round_trips_an_archive(tmp_path, archive) -> None:
    env = _env(tmp_path)
    r = run_cli("ingest", "--archive", str(archive), "--no-progress", env=env)
    assert r.returncode == 0, r.stderr
    n = len(pd.read_csv(archive))
    assert f"ingested: {n} new" in r.stdout
    r = run_cli("ingest", "--archive", str(archive), "--no-progress", env=env)
    assert "ingested: 0 new" in r.stdout and f"{n} repeats" in r.stdout
    out = tmp_path / "obs.parquet"
    r = run_cli("export", "observations", "--out", str(out), env=env)
    assert r.returncode == 0, r.stderr
    from floodwarn.feeds.archive import read_archive

    assert len(read_archive(out).obs) == n


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_the_dashboard_and_stops_cleanly_on_ctrl_c(tmp_path) -> None:
    port = _free_port()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("FLOODWARN_")}
    p = subprocess.Popen(floodwarn_cmd("demo", "--port", str(port), "--speed", "600", "--cycles", "200",
                                       "--dir", str(tmp_path / "demo")),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = p.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line + p.stderr.read()
        deadline = time.monotonic() + 60
        while True:  # wait for the first cycle to be in the ledger (a state, not a delay)
            r = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            assert r.status_code == 200
            import sqlite3

            con = sqlite3.connect(f"file:{tmp_path / 'demo' / 'demo.sqlite'}?mode=ro", uri=True)
            try:
                n = con.execute("SELECT COUNT(*) FROM cycles WHERE status IN ('ok','degraded')").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            finally:
                con.close()
            if n >= 2:
                break
            assert time.monotonic() < deadline, "no demo cycle completed"
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "replayed" in out and "Traceback" not in err
    # all 223 forecast points were live (the real event + the synthetic feed)
    con = sqlite3.connect(str(tmp_path / "demo" / "demo.sqlite"))
    stations = con.execute("SELECT COUNT(DISTINCT station) FROM forecasts").fetchone()[0]
    con.close()
    assert stations >= 223
