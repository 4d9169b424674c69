"""Feature engineering on the 10-minute grid: thin, validating wrappers over the rolling kernels.

Inputs are either arrays ``[stations, time]`` (or one ``[time]`` series) or wide DataFrames
(index: valid time on the 10-minute grid, one column per station). Outputs keep the input
kind: arrays gain a leading feature axis; frames get ``(feature, station)`` MultiIndex columns
(or plain feature columns for a Series). Every window is trailing (causal): a feature at time
``t`` uses only values up to ``t``, so training, hindcast and live cycles see the same numbers.
Problems raise :class:`FeatureError` naming the station.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.errors import FloodwarnError
from floodwarn.kernels import (
    rate_of_change,
    rolling_multi,
    stream_init,
    stream_step,
    trend,
)
from floodwarn.times import STEP_S

log = logging.getLogger(__name__)

STEPS_PER_HOUR = 3600 // STEP_S
RAIN_HOURS = (1, 3, 6, 12, 24, 48, 72)
DEFAULT_MIN_VALID_FRAC = 0.8


class FeatureError(FloodwarnError, ValueError):
    """Input that features cannot be computed from (bad shape, grid, dtype or values)."""


def _names(n: int, stations: Sequence[Any] | None) -> list[str]:
    return [str(s) for s in stations] if stations is not None else [str(i) for i in range(n)]


def _as_matrix(
    data: Any, stations: Sequence[Any] | None = None
) -> tuple[np.ndarray, list[str], pd.Index | None, str]:
    """Coerce input to ``f8[S, T]``; returns (matrix, station names, time index, kind)."""
    if isinstance(data, pd.Series):
        frame = data.to_frame(name=str(data.name) if data.name is not None else "0")
        x, names, index, _ = _as_matrix(frame)
        return x, names, index, "series"
    if isinstance(data, pd.DataFrame):
        index = data.index
        if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
            step = np.diff(index.as_unit("s").asi8)
            bad = np.flatnonzero(step != STEP_S)
            if bad.size:
                raise FeatureError(
                    f"index is not a regular {STEP_S // 60}-minute grid at {index[bad[0] + 1]} "
                    "(reindex first; missing steps must be NaN rows)"
                )
        cols = []
        for col in data.columns:
            c = data[col]
            if not (pd.api.types.is_numeric_dtype(c) and not pd.api.types.is_bool_dtype(c)):
                raise FeatureError(f"non-numeric values (dtype {c.dtype})", station=str(col))
            cols.append(c.to_numpy(dtype=np.float64, na_value=np.nan))
        x = np.vstack(cols) if cols else np.empty((0, len(index)))
        return _check_values(x, [str(c) for c in data.columns]), [str(c) for c in data.columns], \
            index, "frame"
    arr = np.asarray(data)
    if arr.dtype.kind not in "fiu":
        raise FeatureError(f"expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 1:
        x = arr.astype(np.float64)[None, :]
        names = _names(1, stations)
        return _check_values(np.ascontiguousarray(x), names), names, None, "1d"
    if arr.ndim != 2:
        raise FeatureError(f"expected [stations, time] or [time], got shape {arr.shape}")
    names = _names(arr.shape[0], stations)
    if len(names) != arr.shape[0]:
        raise FeatureError(f"{len(names)} station names for {arr.shape[0]} rows")
    x = np.ascontiguousarray(arr, dtype=np.float64)
    return _check_values(x, names), names, None, "2d"


def _check_values(x: np.ndarray, names: list[str]) -> np.ndarray:
    bad = np.isinf(x).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        t = int(np.flatnonzero(np.isinf(x[i]))[0])
        raise FeatureError(f"infinite value at step {t}", station=names[i])
    return x


def _steps(hours: Sequence[float], what: str) -> np.ndarray:
    w = np.array([round(h * STEPS_PER_HOUR) for h in hours], dtype=np.int64)
    if w.size == 0 or (w < 1).any():
        raise FeatureError(f"{what} must be at least one {STEP_S // 60}-minute step: {list(hours)}")
    return w


def _package(
    stack: np.ndarray, names: list[str], feature_names: list[str], index: pd.Index | None,
    kind: str,
) -> Any:
    """``stack[F, S, T]`` back into the caller's kind."""
    if kind == "2d":
        return stack
    if kind == "1d":
        return stack[:, 0, :]
    if kind == "series":
        return pd.DataFrame(stack[:, 0, :].T, index=index, columns=feature_names)
    cols = pd.MultiIndex.from_product([feature_names, names], names=["feature", "station"])
    nf, ns, nt = stack.shape
    return pd.DataFrame(stack.transpose(2, 0, 1).reshape(nt, nf * ns), index=index, columns=cols)


def rain_accumulations(
    data: Any,
    hours: Sequence[float] = RAIN_HOURS,
    min_valid_frac: float = DEFAULT_MIN_VALID_FRAC,
    stations: Sequence[Any] | None = None,
) -> Any:
    """Trailing rainfall totals (mm) over each window in ``hours`` from 10-minute rain (mm).

    Negative rain is refused (it is a sentinel that QC should have flagged and masked).
    """
    x, names, index, kind = _as_matrix(data, stations)
    neg = (x < 0).any(axis=1)
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise FeatureError(f"negative rainfall {np.nanmin(x[i])} mm", station=names[i])
    sums, _, _ = rolling_multi(x, _steps(hours, "rain windows"), float(min_valid_frac))
    return _package(sums, names, [f"rf_{h:g}h" for h in hours], index, kind)


def rolling_stats(
    data: Any,
    hours: Sequence[float],
    min_valid_frac: float = DEFAULT_MIN_VALID_FRAC,
    stations: Sequence[Any] | None = None,
    prefix: str = "x",
) -> Any:
    """Trailing sums, means and maxima over each window (features ``{prefix}_{sum|mean|max}_{h}h``)."""
    x, names, index, kind = _as_matrix(data, stations)
    sums, means, maxs = rolling_multi(x, _steps(hours, "windows"), float(min_valid_frac))
    stack = np.concatenate([sums, means, maxs])
    feats = [f"{prefix}_{kind_}_{h:g}h" for kind_ in ("sum", "mean", "max") for h in hours]
    return _package(stack, names, feats, index, kind)


def level_features(
    data: Any,
    mean_hours: Sequence[float] = (1, 3, 6),
    rate_hours: Sequence[float] = (1, 3),
    trend_hours: float = 3,
    min_valid_frac: float = DEFAULT_MIN_VALID_FRAC,
    stations: Sequence[Any] | None = None,
) -> Any:
    """Stage features: trailing means and maxima, rates of change (m/h) and a trend slope (m/h)."""
    x, names, index, kind = _as_matrix(data, stations)
    _, means, maxs = rolling_multi(x, _steps(mean_hours, "windows"), float(min_valid_frac))
    parts = [means, maxs]
    feats = [f"wl_mean_{h:g}h" for h in mean_hours] + [f"wl_max_{h:g}h" for h in mean_hours]
    for h, lag in zip(rate_hours, _steps(rate_hours, "rate lags"), strict=True):
        parts.append(rate_of_change(x, int(lag))[None] * STEPS_PER_HOUR)
        feats.append(f"wl_rate_{h:g}h")
    (tw,) = _steps([trend_hours], "trend window")
    parts.append(trend(x, int(tw), float(min_valid_frac))[None] * STEPS_PER_HOUR)
    feats.append(f"wl_trend_{trend_hours:g}h")
    return _package(np.concatenate(parts), names, feats, index, kind)


class FeatureStream:
    """Live form of :func:`rolling_stats`: one :meth:`update` per cycle, same numbers as batch.

    Holds the kernel's ring-buffer state for a fixed station list; ``update`` takes the newest
    value per station (NaN when missing) and returns ``{feature: f8[S]}`` in O(stations).
    """

    def __init__(
        self,
        stations: Sequence[Any],
        hours: Sequence[float] = RAIN_HOURS,
        min_valid_frac: float = DEFAULT_MIN_VALID_FRAC,
        prefix: str = "x",
    ) -> None:
        self.stations = [str(s) for s in stations]
        self.hours = list(hours)
        self.prefix = prefix
        self.state = stream_init(len(self.stations), _steps(hours, "windows"), min_valid_frac)

    def update(self, values: Any) -> dict[str, np.ndarray]:
        if isinstance(values, pd.Series):
            values = values.reindex(self.stations)
        v = np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1))
        if v.shape[0] != len(self.stations):
            raise FeatureError(f"{v.shape[0]} values for {len(self.stations)} stations")
        _check_values(v[:, None], self.stations)
        sums, means, maxs = stream_step(self.state, v)
        out: dict[str, np.ndarray] = {}
        for name, arr in (("sum", sums), ("mean", means), ("max", maxs)):
            for j, h in enumerate(self.hours):
                out[f"{self.prefix}_{name}_{h:g}h"] = arr[j]
        return out
