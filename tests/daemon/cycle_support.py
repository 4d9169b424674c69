"""Helpers shared by the cycle, replay, daemon and CLI tests (no pytest fixtures here).

The data is the shipped demo event (floodwarn/data/demo_event_2020.csv.gz, real Seoul-reach
observations of the August 2020 flood), sliced to a few hours, so nothing needs ../shared.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "floodwarn" / "data" / "demo_event_2020.csv.gz"
#: 2020-08-02 00:00 KST, the first rise of the August 2020 flood at the Seoul bridges
T0 = datetime(2020, 8, 1, 15, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)


def slice_archive(path: Path, start: datetime, end: datetime, extra_rows: list[dict[str, Any]] = ()) -> Path:
    """Write the demo event between ``start`` and ``end`` (valid time) as a long CSV archive."""
    df = pd.read_csv(DEMO, dtype={"station": str})
    t = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    df = df[(t >= pd.Timestamp(start)) & (t <= pd.Timestamp(end))]
    if extra_rows:
        df = pd.concat([df, pd.DataFrame(list(extra_rows))], ignore_index=True)
    df.to_csv(path, index=False)
    return path


def settings_for(tmp: Path, **over: Any) -> Any:
    """Settings with the store, data dir and an archive feed under ``tmp`` (no environment)."""
    from floodwarn.config import load_settings

    base: dict[str, Any] = {
        "data_dir": str(tmp / "var"),
        "store": {"url": f"sqlite:///{tmp / 'store.sqlite'}"},
        "models_dir": str(tmp / "models"),  # empty: the hydrological fallback, deterministic
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return load_settings(env={}, **base)


def write_config(path: Path, settings_doc: dict[str, Any]) -> Path:
    """A TOML config for a subprocess (flat tables of str/int/float/bool only)."""
    lines = []
    top = {k: v for k, v in settings_doc.items() if not isinstance(v, dict)}
    for k, v in top.items():
        lines.append(f"{k} = {json.dumps(v)}")
    for section, table in settings_doc.items():
        if isinstance(table, dict):
            lines.append(f"[{section}]")
            for k, v in table.items():
                lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def floodwarn_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "floodwarn.cli", *args]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLOODWARN_")}
    full_env.update(env or {})
    return subprocess.run(
        floodwarn_cmd(*args), capture_output=True, text=True, timeout=timeout, env=full_env,
        cwd=str(cwd or ROOT),
    )


def snapshot(db: Path) -> dict[str, Any]:
    """Everything a cycle writes that must be identical after a crash and restart."""
    con = sqlite3.connect(str(db))
    try:
        out = {
            "forecasts": con.execute(
                "SELECT station, issued_at, lead_min, q05, q50, q95, method, model_version, flags "
                "FROM forecasts WHERE shadow = 0 ORDER BY station, issued_at, lead_min"
            ).fetchall(),
            "events": con.execute(
                "SELECT event_id, target, msg_type, level, seq, sent, expires, cycle_at "
                "FROM warn_events ORDER BY event_id"
            ).fetchall(),
            "deliveries": con.execute(
                "SELECT subscription_id, event_id, kind, idem_key FROM deliveries ORDER BY idem_key"
            ).fetchall(),
            "observations": con.execute(
                "SELECT station, variable, valid_time, version, value FROM observations "
                "ORDER BY station, variable, valid_time, version"
            ).fetchall(),
            "cycles": con.execute("SELECT cycle_at, status FROM cycles ORDER BY cycle_at").fetchall(),
        }
    finally:
        con.close()
    return out


def hrfco_server_module() -> Any:
    """tests/feeds/hrfco_server.py (the feeds helper's loopback HRFCO server)."""
    path = ROOT / "tests" / "feeds" / "hrfco_server.py"
    spec = importlib.util.spec_from_file_location("hrfco_server_for_cycle_tests", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod
