"""tools/make_geum_archive.py: the hourly Geum series as a replay archive the reader accepts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_geum_archive as M  # noqa: E402

sys.path.remove(str(ROOT / "tools"))


def test_flat_runs_marks_only_long_runs() -> None:
    v = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0])
    assert M.flat_runs(v, 3).tolist() == [False] * 5 + [True] * 4
    assert not M.flat_runs(v, 4).any()


def test_aug_2020_archive_reads_back(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "geum_yongdam_downstream_hourly"
    if not (d / M.SOURCE_FILE).is_file():
        pytest.skip(f"{d} not found")
    wide = M.read_wide(d)
    rows, left = M.build(wide, pd.Timestamp("2020-08-08T00:00+09:00"), pd.Timestamp("2020-08-08T23:00+09:00"))
    assert set(left["wl not in catalog"]) == {"3004630", "3005667", "3008666", "9000218"}
    assert len(left["rf not HRFCO codes"]) == 22 and left["dam not in catalog"] == ["3003301"]
    assert set(rows["variable"]) == {"wl", "tototf"}
    assert rows["time"].str.endswith("+09:00").all()
    out = tmp_path / "geum.parquet"
    rows.to_parquet(out, index=False)
    from floodwarn.catalog import load_catalog
    from floodwarn.feeds.archive import read_archive

    cat = load_catalog(ROOT / "stations")
    parsed = read_archive(out, known=lambda c: cat.known(c) is not None)
    assert not parsed.unknown and parsed.n_quarantined == 0
    obs = parsed.obs
    rel = obs[(obs["station"] == "3001110") & (obs["variable"] == "tototf")]
    assert rel["value"].max() == pytest.approx(2904, abs=1)  # the Yongdam release peak
    peak = obs[(obs["station"] == "3008670")].sort_values("valid_time").iloc[-2]  # 22:00 KST
    assert peak["value"] == pytest.approx(7.52)
    assert int(peak["valid_time"]) == int(pd.Timestamp("2020-08-08T13:00Z").timestamp())
