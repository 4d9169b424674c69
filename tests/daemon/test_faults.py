"""The daemon under faults, as a real subprocess: kill -9, SIGTERM, a read-only store.

Waiting here polls the ledger for a state ("a cycle is running") — never for a time span.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.daemon.cycle_support import ROOT, floodwarn_cmd, slice_archive, snapshot, write_config

#: catch-up span: 2020-08-06 10:10 .. 12:00 KST (Hangang br. rises through 주의보 at 12:00)
FIRST = datetime(2020, 8, 6, 1, 10, tzinfo=UTC)
LAST = datetime(2020, 8, 6, 3, 0, tzinfo=UTC)
N = 12


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("faults")
    return slice_archive(d / "event.csv", FIRST - timedelta(hours=27), LAST)


def _config(d: Path, archive: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return write_config(d / "floodwarn.toml", {
        "data_dir": str(d / "var"),
        "models_dir": str(d / "models"),
        "store": {"url": f"sqlite:///{d / 'store.sqlite'}"},
        "feeds": {"source": "archive", "archive": str(archive)},
        "cycle": {"offset_s": 0, "catchup_max": 50},
        "logging": {"level": "INFO"},
    })


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FLOODWARN_")}


def _seed(cfg: Path) -> None:
    """The ledger's last completed cycle is the one before FIRST (the daemon was up until then)."""
    from floodwarn.config import load_settings
    from floodwarn.store import open_store

    store = open_store(load_settings(cfg, env={}).store.url)
    t = int((FIRST - timedelta(minutes=10)).timestamp())
    store.cycle_begin(t, t)
    store.cycle_end(t, t, "ok", {})
    store.close()


def _serve_once(cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        floodwarn_cmd("--config", str(cfg), "serve", "--once", "--clock-start", LAST.isoformat()),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
    )


def _ledger(db: Path) -> list[tuple[int, str]]:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT cycle_at, status FROM cycles ORDER BY cycle_at").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:
        return []


def _wait_running(proc: subprocess.Popen[str], db: Path, min_done: int, timeout: float = 120) -> int:
    """Poll the ledger until at least ``min_done`` catch-up cycles are done and one is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _ledger(db)
        done = sum(1 for t, s in rows if s in ("ok", "degraded") and t >= FIRST.timestamp())
        running = [t for t, s in rows if s == "running"]
        if done >= min_done and running:
            return running[0]
        if proc.poll() is not None:
            pytest.fail(f"daemon exited early: {proc.returncode}\n{proc.stderr.read()}")
        time.sleep(0.005)
    pytest.fail("no running cycle observed")


@pytest.fixture(scope="module")
def reference(archive, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("uninterrupted")
    cfg = _config(d, archive)
    _seed(cfg)
    p = _serve_once(cfg)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    snap = snapshot(d / "store.sqlite")
    assert len([c for c in snap["cycles"] if c[0] >= FIRST.timestamp()]) == N
    assert snap["events"], "the reference run must issue alerts for the comparison to mean anything"
    return snap


def test_kill_9_mid_cycle_then_restart_matches_an_uninterrupted_run(archive, tmp_path, reference) -> None:
    cfg = _config(tmp_path, archive)
    db = tmp_path / "store.sqlite"
    _seed(cfg)
    killed_at = []
    for min_done in (2, 7):  # two crashes at different points of the catch-up
        p = _serve_once(cfg)
        killed_at.append(_wait_running(p, db, min_done))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        assert p.returncode == -signal.SIGKILL
        assert ("running" in {s for _, s in _ledger(db)})
    p = _serve_once(cfg)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "completing interrupted cycle" in err
    after = snapshot(db)
    assert all(s != "running" for _, s in after["cycles"])
    for key in ("forecasts", "events", "deliveries", "observations"):
        assert after[key] == reference[key], f"{key} differ after kill -9 at {killed_at}"


def test_sigterm_finishes_the_running_cycle_and_exits_cleanly(archive, tmp_path) -> None:
    cfg = _config(tmp_path, archive)
    db = tmp_path / "store.sqlite"
    _seed(cfg)
    p = _serve_once(cfg)
    running = _wait_running(p, db, 2)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "finishing the running cycle" in err
    rows = dict(_ledger(db))
    assert rows[running] in ("ok", "degraded")  # the cycle it was in finished
    assert "running" not in rows.values()
    done = [t for t, s in rows.items() if t >= FIRST.timestamp()]
    assert len(done) < N  # and it stopped instead of catching up the rest


def test_sigterm_stops_the_live_scheduler_cleanly(archive, tmp_path) -> None:
    cfg = _config(tmp_path, archive)
    p = subprocess.Popen(
        floodwarn_cmd("--config", str(cfg), "serve", "--no-api", "--no-worker",
                      "--clock-start", FIRST.isoformat()),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
    )
    seen = []
    for line in p.stderr:  # the daemon logs line by line; wait for it to go live
        seen.append(line)
        if "daemon live: next cycle run at" in line:
            break
    else:
        pytest.fail("daemon never went live:\n" + "".join(seen))
    assert any(s in ("ok", "degraded") for _, s in _ledger(tmp_path / "store.sqlite"))
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "daemon stopped" in err


def _immutable(paths: list[Path], on: bool) -> bool:
    if shutil.which("chattr") is None:
        return False
    r = subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], capture_output=True)
    return r.returncode == 0


def test_a_read_only_store_is_a_clear_error_and_nonzero_exit(archive, tmp_path) -> None:
    d = tmp_path / "ro"
    cfg = _config(d, archive)
    _seed(cfg)
    db = d / "store.sqlite"
    before = snapshot(db)
    for suffix in ("-wal", "-shm"):
        (d / f"store.sqlite{suffix}").unlink(missing_ok=True)
    if os.geteuid() == 0:
        if not _immutable([db, d], True):
            pytest.skip("running as root without chattr: cannot make the store read-only")
    else:
        os.chmod(db, 0o444)
        os.chmod(d, 0o555)
    try:
        for args in (["serve", "--once", "--clock-start", LAST.isoformat()], ["cycle", "--at", LAST.isoformat()]):
            r = subprocess.run(floodwarn_cmd("--config", str(cfg), *args), capture_output=True,
                               text=True, timeout=120, env=_env(), cwd=ROOT)
            assert r.returncode != 0
            assert "store" in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert str(db) in r.stderr
    finally:
        if os.geteuid() == 0:
            _immutable([db, d], False)
        else:
            os.chmod(d, 0o755)
            os.chmod(db, 0o644)
    assert snapshot(db) == before  # nothing lost or half-written
