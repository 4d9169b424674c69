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
# # 02 — Train, calibrate, evaluate and register a model version
#
# Same code as `floodwarn train`: one LightGBM quantile estimator per (station, mode, lead);
# own mode predicts the change of stage from the latest observation, sim mode predicts the stage
# from boundary conditions only (dam, tide, rain). The 90 % band is conformalised on the
# calibration years. Protocol of issue 6: train 2012–2019, calibrate 2021, test 2020 and May 2022.
#
# `FLOODWARN_NB_SMALL=1` trains one station and two leads on thinned rows into a temporary
# directory (CI); the full configuration writes a new candidate into `models/`.

# %%
import os
import tempfile
from pathlib import Path

import pandas as pd

from floodwarn.config import project_root
from floodwarn.forecast import dataset as D
from floodwarn.forecast.evaluate import evaluate_bundle, test_sets, write_card
from floodwarn.forecast.registry import ModelRegistry
from floodwarn.forecast.train import new_version, save_and_register, train_bundle

SMALL = os.environ.get("FLOODWARN_NB_SMALL") == "1"
DATA = Path(os.environ.get("FLOODWARN_SHARED", project_root().parent / "shared")) / "data" / "hanriver"
if SMALL:
    YEARS, TRAIN, CALIB = [2019, 2020, 2021], [2019], [2021]
    STATIONS, HORIZONS, THIN = ["1018683"], [60, 360], 6
    PARAMS = {"n_estimators": 40, "q_estimators": 15}
    MODELS = Path(tempfile.mkdtemp(prefix="floodwarn-models-"))
else:
    YEARS, TRAIN, CALIB = list(range(2012, 2023)), list(range(2012, 2020)), [2021]
    STATIONS, HORIZONS, THIN = list(D.BRIDGES), list(D.HORIZONS), 3
    PARAMS = {}
    MODELS = project_root() / "models"

wide = D.read_hanriver(DATA, YEARS)
feats = D.base_features(wide)

# %%
bundle = train_bundle(wide, feats, version=new_version("nb-han-lgbm"), train_years=TRAIN,
                      calib_years=CALIB, stations=STATIONS, horizons=HORIZONS, params=PARAMS,
                      thin=THIN, purpose="notebook 02")
bundle.manifest["train_seconds"], {k: round(e.offset_, 3) for k, e in bundle.estimators.items()}

# %% [markdown]
# ## Evaluate on the test sets (years the model did not train on)

# %%
result = evaluate_bundle(bundle, wide, feats, test_sets(feats.index))
tab = pd.DataFrame(result["tables"]["2020"])
tab[["station", "lead_min", "rmse_cm", "rmse_persistence_cm", "skill", "nse", "coverage90"]].round(3)

# %%
pd.DataFrame(result["targets"])

# %% [markdown]
# ## Register (candidate) and promote — in the small run a temporary registry

# %%
path = save_and_register(bundle, MODELS, note="notebook 02")
write_card(bundle, result, path)
reg = ModelRegistry(MODELS)
if SMALL:
    reg.promote(bundle.version)
pd.DataFrame(reg.list())[["version", "status", "created"]]
