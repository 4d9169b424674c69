# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 — A tour of the Han River data (Seoul reach, 10-minute)
#
# The 2022 competition archive in `../shared/data/hanriver` (see its `PROVENANCE.md`): four
# bridge gauges, Paldang dam, the Ganghwa tide gauge and three rain gauges, May–October
# 2012–2022. We read it exactly as the models do (`floodwarn.forecast.dataset.read_hanriver`):
# UTC 10-minute grid, HRFCO names, **stage in m above gauge zero** (the archive stores El.cm).
#
# `FLOODWARN_NB_SMALL=1` (the test suite) reads one year only.

# %%
import os
from pathlib import Path

import matplotlib
from IPython.display import display

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from floodwarn.config import project_root
from floodwarn.forecast import dataset as D

SMALL = os.environ.get("FLOODWARN_NB_SMALL") == "1"
DATA = Path(os.environ.get("FLOODWARN_SHARED", project_root().parent / "shared")) / "data" / "hanriver"
YEARS = [2020] if SMALL else list(range(2012, 2023))
wide = D.read_hanriver(DATA, YEARS)
display(wide.shape)

# %% [markdown]
# ## Missing values and ranges per column

# %%
summary = wide.describe().T[["count", "min", "50%", "max"]]
summary["missing %"] = 100 * wide.isna().mean()
summary.round(2)

# %% [markdown]
# ## August 2020: the largest flood in the record
# Paldang release, the four stages (upstream → downstream) and the tide at Ganghwa.

# %%
ev = wide.loc["2020-07-28":"2020-08-20"].tz_convert("Asia/Seoul")
fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
ev[f"tototf_{D.DAM}"].plot(ax=axes[0], color="k")
axes[0].set_ylabel("Paldang outflow m³/s")
for s in D.BRIDGES:
    ev[f"wl_{s}"].plot(ax=axes[1], label=f"{s} {D.BRIDGE_NAMES[s]}")
axes[1].set_ylabel("stage m")
axes[1].legend(fontsize=8)
ev[f"tide_{D.TIDE}"].plot(ax=axes[2], color="tab:blue")
axes[2].set_ylabel("tide cm")
fig.tight_layout()

# %% [markdown]
# ## Tide reaches Seoul at low flow
# Stage at Hangang bridge against the Ganghwa tide in a calm week: the tidal signal dominates
# the short-range change of stage — why the models use 13 hours of tide lags.

# %%
calm = wide.loc["2020-05-10":"2020-05-14"].tz_convert("Asia/Seoul")
ax = calm["wl_1018683"].plot(figsize=(11, 3), label="Hangang stage m")
ax2 = ax.twinx()
calm[f"tide_{D.TIDE}"].plot(ax=ax2, color="tab:orange", alpha=0.6, label="tide cm")
ax.set_ylabel("stage m")
ax2.set_ylabel("tide cm")

# %% [markdown]
# ## The same data as an xarray Dataset (station × time, units attached)

# %%
ds = D.to_xarray(wide.loc["2020-08"])
display(ds)

# %% [markdown]
# ## Model inputs
# Every input at issue time *t* uses values at valid times ≤ *t* only (lags, trailing rain sums
# built by `floodwarn.kernels.rolling.rolling_multi`); see `tests/forecast/test_dataset.py`.

# %%
feats = D.base_features(wide)
print(len(feats.columns), "inputs, e.g.", list(feats.columns[:6]), "...")
feats.loc["2020-08-06 05:00":"2020-08-06 05:30", ["wl_1018683", "wl_1018683_d60", "tototf", "tototf_d60", "rf_mean_s180"]]
