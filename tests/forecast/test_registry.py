"""Registry: list/show/promote/retire/shadow, hot-reload detection, refusing broken versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from floodwarn.cli import main
from floodwarn.errors import ModelError
from floodwarn.forecast.registry import ModelRegistry


@pytest.fixture()
def reg(tmp_path: Path, tiny_models: Path) -> ModelRegistry:
    root = tmp_path / "models"
    shutil.copytree(tiny_models, root)
    shutil.copytree(root / "tiny-1", root / "tiny-2")
    m = json.loads((root / "tiny-2" / "manifest.json").read_text())
    m["version"] = "tiny-2"
    (root / "tiny-2" / "manifest.json").write_text(json.dumps(m))
    r = ModelRegistry(root)
    r.register("tiny-2")
    return r


def test_lifecycle(reg: ModelRegistry) -> None:
    assert {r["version"]: r["status"] for r in reg.list()} == {"tiny-1": "promoted", "tiny-2": "candidate"}
    assert reg.load_promoted().version == "tiny-1"
    reg.shadow("tiny-2")
    assert [b.version for b in reg.load_shadow()] == ["tiny-2"]
    reg.promote("tiny-2")
    assert reg.promoted() == "tiny-2"
    assert reg.show("tiny-1")["status"] == "archived"
    reg.retire("tiny-1")
    with pytest.raises(ModelError, match="promote another version"):
        reg.retire("tiny-2")
    with pytest.raises(ModelError, match="unknown model version"):
        reg.promote("nope")
    assert "features" not in reg.show("tiny-2")["manifest"]


def test_a_pinned_version_is_served_instead_of_the_promoted_one(reg: ModelRegistry) -> None:
    pinned = ModelRegistry(reg.root, pin="tiny-2")
    assert pinned.load_promoted().version == "tiny-2"
    assert reg.load_promoted().version == "tiny-1"  # the registry itself is unchanged
    with pytest.raises(ModelError, match="pinned version 'nope'"):
        ModelRegistry(reg.root, pin="nope").load_promoted()


def test_changed_detects_a_promote_from_another_process(reg: ModelRegistry) -> None:
    daemon = ModelRegistry(reg.root)
    assert daemon.changed() is True  # first look
    assert daemon.changed() is False
    assert daemon.load_promoted().version == "tiny-1"
    assert main(["models", "promote", "tiny-2", "--models", str(reg.root)]) == 0
    assert daemon.changed() is True
    assert daemon.load_promoted().version == "tiny-2"
    assert daemon.changed() is False


def test_broken_versions_are_refused(reg: ModelRegistry) -> None:
    v = reg.root / "tiny-2"
    next(v.glob("*_q50.txt.gz")).write_bytes(b"not gzip")
    with pytest.raises(ModelError, match="unreadable"):
        reg.promote("tiny-2")
    assert reg.promoted() == "tiny-1"
    m = json.loads((reg.root / "tiny-1" / "manifest.json").read_text())
    key = next(iter(m["features"]))
    m["features"][key] = m["features"][key][::-1]
    shutil.copytree(reg.root / "tiny-1", reg.root / "tiny-3")
    (reg.root / "tiny-3" / "manifest.json").write_text(json.dumps(m))
    reg.register("tiny-3")
    with pytest.raises(ModelError, match="does not match its manifest"):
        reg.load("tiny-3")
    m["feature_set"] = "other"
    (reg.root / "tiny-3" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="feature set"):
        ModelRegistry(reg.root).load("tiny-3")


def test_models_command(reg: ModelRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--models", str(reg.root)]) == 0
    out = capsys.readouterr().out
    assert "* tiny-1" in out and "tiny-2" in out
    assert main(["models", "show", "tiny-1", "--models", str(reg.root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "promoted"
    assert main(["models", "retire", "tiny-1", "--models", str(reg.root)]) == 1


def test_parallel_training_is_identical_to_serial(wide) -> None:
    """Models fitted through an executor (the Dask Client interface) equal the serial ones."""
    from concurrent.futures import ThreadPoolExecutor

    from floodwarn.forecast import dataset as D
    from floodwarn.forecast.train import train_bundle
    from tests.forecast.conftest import TINY, synthetic_wide

    both = D.regularise(__import__("pandas").concat([wide, synthetic_wide(start="2020-07-01", seed=1)]))
    feats = D.base_features(both)
    kw = dict(version="p", train_years=[2019], calib_years=[2020], stations=["1018683"],
              horizons=[10, 60], modes=["own"], params=TINY, thin=2)
    serial = train_bundle(both, feats, **kw)
    with ThreadPoolExecutor(2) as pool:
        parallel = train_bundle(both, feats, executor=pool, **kw)
    for key, est in serial.estimators.items():
        assert parallel.estimators[key].model_strings() == est.model_strings()
        assert parallel.estimators[key].offset_ == est.offset_


def test_a_version_name_is_never_reused(reg: ModelRegistry) -> None:
    """A running daemon caches versions by name: retraining into an existing name must fail
    loudly instead of silently leaving old models in memory and new ones on disk."""
    from floodwarn.forecast.train import save_and_register

    bundle = reg.load("tiny-1")
    before = (reg.root / "tiny-1" / "manifest.json").read_bytes()
    with pytest.raises(ModelError, match="already exists; versions are immutable"):
        save_and_register(bundle, reg.root)
    assert (reg.root / "tiny-1" / "manifest.json").read_bytes() == before


def test_models_evaluate_needs_the_archive(reg: ModelRegistry, tmp_path: Path) -> None:
    assert main(["models", "evaluate", "tiny-1", "--models", str(reg.root),
                 "--data", str(tmp_path / "nowhere")]) != 0


@pytest.mark.shared
def test_models_evaluate_rewrites_the_card(reg: ModelRegistry, shared_data: Path) -> None:
    """Re-running the protocol on a registered version writes the outage sets into its card and
    leaves the boosters alone."""
    before = {p.name: p.read_bytes() for p in (reg.root / "tiny-1").glob("*.txt.gz")}
    assert main(["models", "evaluate", "tiny-1", "--models", str(reg.root),
                 "--data", str(shared_data / "hanriver")]) == 0
    card = (reg.root / "tiny-1" / "card.md").read_text()
    assert "## 2021-nbr-outage6h" in card and "evaluated with code" in card
    evaluation = json.loads((reg.root / "tiny-1" / "card.json").read_text())["evaluation"]
    assert any(t["target"].startswith("informational: neighbours 2021") for t in evaluation["targets"])
    assert {p.name: p.read_bytes() for p in (reg.root / "tiny-1").glob("*.txt.gz")} == before


@pytest.mark.shared
def test_a_mode_is_added_to_a_version_without_touching_its_models(reg: ModelRegistry, shared_data: Path) -> None:
    """``floodwarn train --modes solo --add-to V``: V's other boosters stay byte-identical, the
    manifest and card record the addition, and the daemon's loader uses the new mode."""
    vdir = reg.root / "tiny-2"
    for f in vdir.glob("*_solo_*.txt.gz"):  # a version from before the solo mode existed
        f.unlink()
    m = json.loads((vdir / "manifest.json").read_text())
    m["modes"] = [x for x in m["modes"] if x != "solo"]
    m["features"] = {k: v for k, v in m["features"].items() if not k.endswith("_solo")}
    m["offsets"] = {k: v for k, v in m["offsets"].items() if "_solo_" not in k}
    (vdir / "manifest.json").write_text(json.dumps(m))
    assert not reg.load("tiny-2").has("1018683", "solo")
    before = {p.name: p.read_bytes() for p in vdir.glob("*.txt.gz")}
    args = ["train", "--modes", "solo", "--add-to", "tiny-2", "--models", str(reg.root),
            "--data", str(shared_data / "hanriver"), "--no-evaluate", "--threads", "1"]
    assert main(args) == 0
    after = {p.name: p.read_bytes() for p in vdir.glob("*.txt.gz")}
    assert {k: after[k] for k in before} == before
    assert sorted(set(after) - set(before)) == sorted(
        f"{st}_solo_h{h}_{q}.txt.gz" for st in m["stations"] for h in m["horizons"] for q in ("q05", "q50", "q95"))
    b = reg.load("tiny-2")
    assert all(b.has(st, "solo") for st in m["stations"])
    assert b.manifest["added"][0]["modes"] == ["solo"] and b.manifest["modes"][-1] == "solo"
    assert "added later: modes ['solo']" in (vdir / "card.md").read_text()
    assert not any("1018680" in c for c in b.features("1018683", "solo"))
    assert main(args) != 0  # it has the mode now: refused, nothing written
    assert {p.name: p.read_bytes() for p in vdir.glob("*.txt.gz")} == after
