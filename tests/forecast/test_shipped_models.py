"""The shipped models in models/ on real data they never saw (2020), and the full training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from floodwarn import verify
from floodwarn.config import project_root
from floodwarn.forecast import dataset as D
from floodwarn.forecast.predict import hindcast
from floodwarn.forecast.registry import ModelRegistry

EVAL = "han-lgbm-eval-2012-2019-v4"


@pytest.fixture(scope="module")
def eval_bundle():
    root = project_root() / "models"
    if not (root / EVAL).is_dir():
        pytest.skip(f"{EVAL} not in models/")
    return ModelRegistry(root).load(EVAL)


@pytest.mark.shared
def test_eval_model_never_trained_on_2020_and_beats_persistence(shared_data: Path, eval_bundle) -> None:
    assert 2020 not in eval_bundle.manifest["train_years"]
    assert 2020 not in eval_bundle.manifest["calib_years"]
    wide = D.read_hanriver(shared_data / "hanriver", [2020])
    feats = D.base_features(wide)
    fc = hindcast(eval_bundle, wide, feats, "1018683", "own")
    tab = verify.verify_table(fc).set_index("lead_min")
    assert tab.loc[60, "rmse_cm"] < 4.0
    assert (tab["skill"] > 0).all()
    assert (np.abs(tab["coverage90"] - 0.9) <= 0.05).all()


@pytest.mark.shared
def test_a_failed_gauge_is_forecast_from_its_neighbours_better_than_from_the_boundary(
        shared_data: Path, eval_bundle) -> None:
    """Hangang bridge's gauge gone in the 2020 flood: the other bridges beat dam + tide + rain."""
    wide = D.read_hanriver(shared_data / "hanriver", [2020])
    feats = D.base_features(wide)
    kst = feats.index.tz_convert("Asia/Seoul")
    rows = np.asarray((kst >= "2020-07-28") & (kst < "2020-08-21"))
    rmse = {}
    for mode in ("nbr", "sim"):
        fc = hindcast(eval_bundle, wide, feats, "1018683", mode, rows)
        rmse[mode] = verify.verify_table(fc).set_index("lead_min")["rmse_cm"]
        assert (fc["method"] == f"lgbm-{mode}").all()
    assert (rmse["nbr"].loc[[10, 60, 180]] < rmse["sim"].loc[[10, 60, 180]]).all(), rmse


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.shared
def test_full_training_and_evaluation(shared_data: Path, tmp_path: Path) -> None:
    """The issue-6 protocol end to end (several minutes on two cores)."""
    from floodwarn.cli import main

    rc = main(["train", "--data", str(shared_data / "hanriver"), "--models", str(tmp_path),
               "--version", "full", "--purpose", "slow test"])
    assert rc == 0
    card = (tmp_path / "full" / "card.md").read_text()
    assert "## 2020-flood" in card and "## 2021-sim" in card and "## 2021-nbr" in card
