"""Feature wrappers: input kinds, validation errors naming the station, batch == stream."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from floodwarn.features import (
    FeatureError,
    FeatureStream,
    level_features,
    rain_accumulations,
    rolling_stats,
)
from tests import reference as ref


def wide(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2022-08-08", periods=n, freq="10min", tz="UTC")
    x = rng.gamma(0.3, 3, (n, 3)).round(1)
    x[rng.random(x.shape) < 0.05] = np.nan
    return pd.DataFrame(x, index=idx, columns=["1018683", "1018662", "1019630"])


def test_rain_frame_matches_reference_and_keeps_index():
    df = wide()
    out = rain_accumulations(df, hours=(1, 3, 24))
    assert out.index.equals(df.index)
    want = ref.rolling_multi(df.to_numpy().T, np.array([6, 18, 144]), 0.8)[0]
    np.testing.assert_allclose(out["rf_3h"]["1018662"], want[1, 1], equal_nan=True)
    assert list(out.columns.get_level_values("feature").unique()) == ["rf_1h", "rf_3h", "rf_24h"]


def test_array_kinds():
    x = wide().to_numpy().T
    assert rain_accumulations(x).shape == (7, 3, 300)
    assert rain_accumulations(x[0]).shape == (7, 300)
    assert rain_accumulations(x.astype(np.float32)).dtype == np.float64


def test_errors_name_the_station():
    df = wide()
    df.iloc[5, 1] = -990.0
    with pytest.raises(FeatureError, match="station 1018662: negative rainfall"):
        rain_accumulations(df)
    df = wide().astype({"1019630": object})
    df["1019630"] = "x"
    with pytest.raises(FeatureError, match="station 1019630: non-numeric"):
        rolling_stats(df, (1,))
    x = wide().to_numpy().T.copy()
    x[2, 7] = np.inf
    with pytest.raises(FeatureError, match="station c: infinite"):
        rolling_stats(x, (1,), stations=["a", "b", "c"])


def test_irregular_grid_and_bad_windows_refused():
    df = wide().drop(wide().index[10])
    with pytest.raises(FeatureError, match="regular 10-minute grid"):
        rain_accumulations(df)
    with pytest.raises(FeatureError, match="at least one"):
        rain_accumulations(wide(), hours=(0.05,))
    with pytest.raises(FeatureError, match="shape"):
        rain_accumulations(np.zeros((2, 2, 2)))


def test_level_features_of_a_rising_line():
    s = pd.Series(np.arange(60) * 0.05, index=wide(60).index, name="1018683")
    out = level_features(s)
    last = out.iloc[-1]
    assert last["wl_rate_1h"] == pytest.approx(0.3) and last["wl_trend_3h"] == pytest.approx(0.3)
    assert last["wl_max_1h"] == pytest.approx(59 * 0.05)


def test_stream_equals_batch():
    df = wide()
    batch = rolling_stats(df, (1, 6), prefix="rf")
    fs = FeatureStream(df.columns, hours=(1, 6), prefix="rf")
    for i in range(len(df)):
        got = fs.update(df.iloc[i])
    for name, arr in got.items():
        np.testing.assert_array_equal(arr, batch[name].iloc[-1].to_numpy())
    with pytest.raises(FeatureError, match="2 values for 3 stations"):
        fs.update([1.0, 2.0])
