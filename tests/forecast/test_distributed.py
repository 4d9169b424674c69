"""Training and leave-one-year-out on a Dask LocalCluster give exactly the serial results.

The cluster runs real worker processes (``processes=True``): tasks, arguments and fitted
LightGBM models are pickled across process boundaries, as on a multi-machine cluster.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

from floodwarn.forecast import dataset as D
from floodwarn.forecast.distributed import executor_for, is_dask_client, share
from floodwarn.forecast.loyo import identical, run_loyo
from floodwarn.forecast.train import train_bundle
from tests.forecast.conftest import TINY, synthetic_wide
from tests.forecast.test_loyo import SMALL, synthetic_seasons

pytest.importorskip("dask.distributed")


def test_executor_choices_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown executor"), executor_for("mpi"):
        pass
    with pytest.raises(ValueError, match="workers"), executor_for("threads", workers=0):
        pass
    with executor_for("serial") as ex:
        assert ex is None
    with executor_for("threads", workers=2) as ex:
        assert ex.submit(sum, [1, 2]).result() == 3


@pytest.fixture(scope="module")
def client():
    with executor_for("dask", workers=2, processes=True) as c:
        yield c


def test_loyo_on_a_local_cluster_equals_serial(client) -> None:
    seasons = synthetic_seasons()
    serial = run_loyo(*seasons, **SMALL)
    dist = run_loyo(*seasons, executor=client, **SMALL)
    assert identical(serial, dist)
    assert dist["executor"] == "dask (2 workers)"
    # the folds really ran in the worker processes, not in this one
    assert all(not f["ran_on"].endswith(f":{os.getpid()}") for f in dist["folds"])
    assert all(f["ran_on"].endswith(f":{os.getpid()}") for f in serial["folds"])
    assert [f["models_sha256"] for f in dist["folds"]] == [f["models_sha256"] for f in serial["folds"]]


def test_full_training_on_a_local_cluster_equals_serial(client) -> None:
    both = D.regularise(pd.concat([synthetic_wide(n=3000), synthetic_wide(n=3000, start="2020-07-01", seed=1)]))
    feats = D.base_features(both)
    kw = dict(version="d", train_years=[2019], calib_years=[2020], stations=["1018662", "1019630"],
              horizons=[10, 60], params=TINY, thin=2)
    serial = train_bundle(both, feats, **kw)
    dist = train_bundle(both, feats, executor=client, **kw)
    n = 2 * len(D.MODES) * 2  # stations × modes × horizons
    assert sorted(dist.estimators) == sorted(serial.estimators) and len(serial.estimators) == n
    for key, est in serial.estimators.items():
        assert dist.estimators[key].model_strings() == est.model_strings(), key
        assert dist.estimators[key].offset_ == est.offset_, key


def test_share_scatters_only_to_dask(client) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    assert share(None, frame) is frame
    fut = share(client, frame)
    assert is_dask_client(client) and not is_dask_client(None)
    assert client.submit(len, fut).result() == 2
