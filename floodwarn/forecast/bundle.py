"""A model version on disk: LightGBM text models + ``manifest.json`` (+ ``card.json``/``card.md``).

Layout of ``models/<version>/``::

    manifest.json                  what was trained on what, feature lists, conformal offsets
    <station>_<mode>_h<lead>_q05.txt.gz   LightGBM text format (gzip), one booster per file
    <station>_<mode>_h<lead>_q50.txt.gz
    <station>_<mode>_h<lead>_q95.txt.gz
    card.json, card.md             model card: data span, features, code version, metrics

Loading checks every booster's feature list against the manifest and against what
:func:`floodwarn.forecast.dataset.base_features` computes, so a model built for other inputs is
refused with a :class:`~floodwarn.errors.ModelError` instead of forecasting silently wrong.
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floodwarn.errors import ModelError
from floodwarn.forecast.lgbm import QuantileLGBM

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FEATURE_SET = "han-v3"
#: feature sets this code still builds every input of (v3 only added inputs to v2)
COMPATIBLE_FEATURE_SETS = frozenset({"han-v2", FEATURE_SET})
QNAMES = ("q05", "q50", "q95")
#: per-tree statistics LightGBM writes for training diagnostics but never reads to predict
_TRAINING_ONLY = ("split_gain=", "leaf_weight=", "leaf_count=", "internal_value=",
                  "internal_weight=", "internal_count=", "tree_sizes=")


def compact_model_text(text: str) -> str:
    """A LightGBM text model without what prediction never reads — 2.4× smaller, same numbers.

    Drops the per-tree training statistics (gains, hessian sums, counts), the ``tree_sizes``
    index (only a parsing shortcut; LightGBM parses sequentially without it) and the trailing
    feature importances and parameter dump. Splits, thresholds, decision types, children and
    leaf values are kept byte for byte, so predictions are bit-identical (tested).
    """
    trees, sep, _tail = text.partition("end of trees")
    if not sep:
        raise ModelError("not a LightGBM text model (no 'end of trees')")
    kept = [line for line in trees.split("\n") if not line.startswith(_TRAINING_ONLY)]
    return "\n".join(kept) + sep + "\n"


def model_key(station: str, mode: str, horizon: int) -> str:
    return f"{station}_{mode}_h{horizon}"


@dataclass
class ForecastBundle:
    """The fitted estimators of one model version, keyed by (station, mode, lead minutes)."""

    version: str
    manifest: dict[str, Any]
    estimators: dict[tuple[str, str, int], QuantileLGBM] = field(default_factory=dict)
    path: Path | None = None

    @property
    def stations(self) -> list[str]:
        return list(self.manifest.get("stations", []))

    @property
    def horizons(self) -> list[int]:
        return [int(h) for h in self.manifest.get("horizons", [])]

    def features(self, station: str, mode: str) -> list[str]:
        return list(self.manifest["features"][f"{station}_{mode}"])

    def has(self, station: str, mode: str) -> bool:
        return all((station, mode, h) in self.estimators for h in self.horizons)

    # -- disk -----------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        """Write the models (text format) and manifest into ``directory`` (created)."""
        self.manifest["offsets"] = self.write_models(directory)
        (directory / MANIFEST).write_text(json.dumps(self.manifest, indent=1), encoding="utf-8")
        self.path = directory
        return directory

    def write_models(self, directory: Path) -> dict[str, float]:
        """Write only the model files into ``directory`` (created); returns their conformal
        offsets by model key, for the manifest."""
        directory.mkdir(parents=True, exist_ok=True)
        offsets: dict[str, float] = {}
        for (st, mode, h), est in sorted(self.estimators.items()):
            key = model_key(st, mode, h)
            for qn, text in zip(QNAMES, est.model_strings(), strict=True):
                # mtime=0: the same model gives byte-identical files
                data = gzip.compress(compact_model_text(text).encode("utf-8"), compresslevel=9, mtime=0)
                (directory / f"{key}_{qn}.txt.gz").write_bytes(data)
            offsets[key] = float(est.offset_)
        return offsets

    @classmethod
    def load(cls, directory: Path, available_features: list[str] | None = None) -> ForecastBundle:
        """Load and validate a version directory; raises :class:`ModelError` when unusable."""
        mpath = directory / MANIFEST
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError("model manifest missing", file=str(mpath)) from None
        except json.JSONDecodeError as err:
            raise ModelError(f"model manifest is not JSON: {err}", file=str(mpath)) from None
        if manifest.get("feature_set") not in COMPATIBLE_FEATURE_SETS:
            raise ModelError(
                f"feature set {manifest.get('feature_set')!r} is not the one this code builds "
                f"({FEATURE_SET!r})", file=str(mpath))
        version = str(manifest.get("version") or directory.name)
        bundle = cls(version=version, manifest=manifest, path=directory)
        params = manifest.get("params", {})
        for key, offset in manifest.get("offsets", {}).items():
            st, mode, hs = key.split("_")
            h = int(hs[1:])
            files = [directory / f"{key}_{qn}.txt.gz" for qn in QNAMES]
            try:
                texts = [gzip.decompress(f.read_bytes()).decode("utf-8") for f in files]
            except (OSError, EOFError, UnicodeDecodeError) as err:
                raise ModelError(f"model file unreadable: {err}", file=str(directory)) from None
            est = QuantileLGBM.from_strings(texts, offset, params, where=str(files[1]))
            expected = manifest["features"][f"{st}_{mode}"]
            if list(est.feature_names_in_) != expected:
                raise ModelError("model feature list does not match its manifest", file=str(files[1]))
            if available_features is not None:
                missing = sorted(set(expected) - set(available_features))
                if missing:
                    raise ModelError(f"model needs inputs this code does not build: {missing[:5]}",
                                     file=str(files[1]))
            bundle.estimators[(st, mode, h)] = est
        if not bundle.estimators:
            raise ModelError("model version holds no models", file=str(directory))
        return bundle
