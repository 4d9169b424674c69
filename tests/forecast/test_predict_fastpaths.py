"""The forecast stage's shortcuts give exactly what the plain code gives: all leads predicted at
once (tree kernel or LightGBM's fast path), the grid window slice, the column-built frame."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from floodwarn.forecast import predict as P


@pytest.fixture(scope="module")
def bundle():
    from floodwarn.config import project_root
    from floodwarn.errors import ModelError
    from floodwarn.forecast.registry import ModelRegistry

    try:
        return ModelRegistry(project_root() / "models").load_promoted()
    except ModelError as err:
        pytest.skip(f"no promoted model: {err}")


def test_all_leads_at_once_equal_each_estimator(bundle) -> None:
    rng = np.random.default_rng(3)
    groups: dict[tuple[str, str], list] = {}
    for (st, mode, _h), est in sorted(bundle.estimators.items(), key=lambda kv: kv[0][2]):
        groups.setdefault((st, mode), []).append(est)
    for ests in groups.values():
        for _ in range(5):
            x = rng.normal(0, 2, size=(1, ests[0].n_features_in_)).astype(np.float32)
            x[0, rng.random(x.shape[1]) < 0.2] = np.nan
            want = np.vstack([est.predict_quantiles(x) for est in ests])
            np.testing.assert_array_equal(P._predict_leads(ests, x), want)
        assert P._forest(ests) is not None  # the kernel really served them


def test_leads_fall_back_to_lightgbm_when_not_compiled(bundle, monkeypatch) -> None:
    ests = [e for (_st, mode, _h), e in sorted(bundle.estimators.items()) if mode == "own"][:3]
    monkeypatch.setattr(P, "_forest", lambda ests: None)
    x = np.random.default_rng(1).normal(size=(1, ests[0].n_features_in_)).astype(np.float32)
    want = np.vstack([est.predict_quantiles(x) for est in ests])
    np.testing.assert_array_equal(P._predict_leads(ests, x), want)


def _slow_window(history: pd.DataFrame, at: datetime) -> pd.DataFrame:
    ts = pd.Timestamp(at)
    start = ts - pd.Timedelta(minutes=10 * (P.WINDOW_STEPS - 1))
    h = history.sort_index()
    h = h.loc[(h.index >= start) & (h.index <= ts)]
    grid = pd.date_range(start, ts, freq="10min", name="time")
    return h[~h.index.duplicated(keep="last")].reindex(grid)


@pytest.mark.parametrize("case", ["grid", "longer", "gap", "offgrid", "short"])
def test_window_fast_path_equals_reindex(case: str) -> None:
    at = datetime(2020, 8, 5, 12, 0, tzinfo=UTC)
    n = P.WINDOW_STEPS + (10 if case == "longer" else 0) - (5 if case == "short" else 0)
    idx = pd.date_range(end=pd.Timestamp(at), periods=n, freq="10min", name="time")
    if case == "gap":
        idx = idx.delete(100)
    if case == "offgrid":
        idx = idx[:-1].append(pd.DatetimeIndex([pd.Timestamp(at) - pd.Timedelta(minutes=3)]))
        idx = idx.sort_values().rename("time")
    rng = np.random.default_rng(0)
    h = pd.DataFrame(rng.normal(size=(len(idx), 3)), index=idx, columns=["wl_a", "rf_b", "fw_c"])
    pd.testing.assert_frame_equal(P._window(h, at), _slow_window(h, at), check_freq=False)


def test_rows_frame_equals_row_dicts() -> None:
    issued = pd.Timestamp(datetime(2020, 8, 5, 12, 0, tzinfo=UTC))
    rows = [{"station": s, "issued_at": issued, "lead_min": h, "q05": 1.0 * h, "q50": np.float64(2.0),
             "q95": np.nan, "method": "lgbm", "model_version": "v", "flags": "" if h else "x"}
            for s in ("1018662", "1018680") for h in (10, 20)]
    want = pd.DataFrame(rows, columns=P.COLUMNS)
    want["lead_min"] = want["lead_min"].astype(np.int64)
    for c in ("q05", "q50", "q95"):
        want[c] = want[c].astype(np.float64)
    pd.testing.assert_frame_equal(P._rows_frame(rows), want)
    assert list(P._rows_frame([]).columns) == P.COLUMNS
