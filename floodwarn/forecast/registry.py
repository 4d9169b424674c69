"""The model registry: ``models/index.json`` says which version is promoted, shadow, retired.

One JSON index next to the version directories, rewritten atomically (temp file + rename) so a
daemon polling :meth:`ModelRegistry.changed` never reads half an index. Promoting is one index
write; the daemon sees the new mtime/hash on its next cycle and hot-reloads, no restart.

Statuses: ``candidate`` (registered, unused), ``shadow`` (forecasts stored and verified, no
alerts), ``promoted`` (exactly one; drives warnings), ``archived`` (was promoted), ``retired``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from floodwarn.errors import ModelError
from floodwarn.forecast.bundle import MANIFEST, ForecastBundle

log = logging.getLogger(__name__)

INDEX = "index.json"
STATUSES = ("candidate", "shadow", "promoted", "archived", "retired")


class ModelRegistry:
    """Model versions under one directory; cheap change detection for hot reload."""

    def __init__(self, root: str | Path, pin: str | None = None) -> None:
        """``pin`` serves one version as if promoted (replays and hindcasts of a past model)."""
        self.root = Path(root)
        self.pin = pin
        self._seen: tuple[int, int, str] | None = None
        self._cache: dict[str, tuple[tuple[int, int] | None, ForecastBundle]] = {}

    # -- index ------------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.root / INDEX

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"promoted": None, "versions": {}}
        except json.JSONDecodeError as err:
            raise ModelError(f"registry index is not JSON: {err}", file=str(self.index_path)) from None
        doc.setdefault("versions", {})
        doc.setdefault("promoted", None)
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index.", dir=self.root)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, self.index_path)

    def _fingerprint(self) -> tuple[int, int, str]:
        try:
            st = self.index_path.stat()
            digest = hashlib.sha256(self.index_path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return (0, 0, "")
        return (st.st_mtime_ns, st.st_size, digest)

    def changed(self) -> bool:
        """True when the index changed since the last call (or the first time); cheap."""
        try:
            st = self.index_path.stat()
            quick = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            quick = (0, 0)
        if self._seen is not None and quick == self._seen[:2]:
            return False
        fp = self._fingerprint()
        was = self._seen
        self._seen = fp
        return was is None or was[2] != fp[2]

    # -- queries ----------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        """Every registered version with its status, newest first."""
        doc = self._read()
        rows = [{"version": v, **meta} for v, meta in doc["versions"].items()]
        return sorted(rows, key=lambda r: str(r.get("created", "")), reverse=True)

    def show(self, version: str) -> dict[str, Any]:
        """Index entry + manifest (without bulky feature lists) + model card of one version."""
        doc = self._read()
        if version not in doc["versions"]:
            raise ModelError(f"unknown model version {version!r}", file=str(self.index_path))
        out: dict[str, Any] = {"version": version, **doc["versions"][version]}
        vdir = self.root / version
        for name in (MANIFEST, "card.json"):
            p = vdir / name
            if p.exists():
                data = json.loads(p.read_text(encoding="utf-8"))
                if name == MANIFEST:
                    data = {k: v for k, v in data.items() if k not in ("features", "offsets")}
                out[name.removesuffix(".json")] = data
        return out

    def promoted(self) -> str | None:
        if self.pin is not None:
            if self.pin not in self._read()["versions"]:
                raise ModelError(f"pinned version {self.pin!r} is not in the registry", file=str(self.index_path))
            return self.pin
        return self._read().get("promoted")

    def shadows(self) -> list[str]:
        return [v for v, m in self._read()["versions"].items() if m.get("status") == "shadow"]

    # -- changes ----------------------------------------------------------------------------
    def register(self, version: str, note: str = "") -> None:
        """Add an existing ``root/<version>/`` directory as a candidate."""
        vdir = self.root / version
        if not (vdir / MANIFEST).exists():
            raise ModelError("no manifest.json in version directory", file=str(vdir))
        doc = self._read()
        entry = doc["versions"].get(version, {})
        entry.setdefault("status", "candidate")
        entry.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
        if note:
            entry["note"] = note
        doc["versions"][version] = entry
        self._write(doc)

    def _set(self, version: str, status: str) -> None:
        if status not in STATUSES:
            raise ModelError(f"unknown status {status!r}")
        doc = self._read()
        if version not in doc["versions"]:
            raise ModelError(f"unknown model version {version!r}", file=str(self.index_path))
        if status == "promoted":
            ForecastBundle.load(self.root / version)  # refuse to promote what cannot load
            old = doc.get("promoted")
            if old and old != version and old in doc["versions"]:
                doc["versions"][old]["status"] = "archived"
            doc["promoted"] = version
        elif doc.get("promoted") == version:
            if status == "retired":
                raise ModelError(f"{version} is promoted; promote another version before retiring it")
            doc["promoted"] = None
        doc["versions"][version]["status"] = status
        doc["versions"][version][f"{status}_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self._write(doc)
        log.info("model %s is now %s", version, status)

    def promote(self, version: str) -> None:
        self._set(version, "promoted")

    def retire(self, version: str) -> None:
        self._set(version, "retired")

    def shadow(self, version: str) -> None:
        """Run ``version`` in shadow: forecasts are made and verified, never alerted on."""
        self._set(version, "shadow")

    # -- loading ----------------------------------------------------------------------------
    def load(self, version: str) -> ForecastBundle:
        """Load one version, cached until its manifest changes (its boosters never do, but
        ``floodwarn train --add-to`` can add a mode: the daemon then uses it on its next cycle)."""
        try:
            st = (self.root / version / MANIFEST).stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        hit = self._cache.get(version)
        if hit is None or hit[0] != stamp:
            from floodwarn.forecast.predict import available_features

            hit = (stamp, ForecastBundle.load(self.root / version, available_features()))
            self._cache[version] = hit
        return hit[1]

    def load_promoted(self) -> ForecastBundle:
        """The promoted version; :class:`ModelError` when none is promoted or it cannot load."""
        version = self.promoted()
        if not version:
            raise ModelError("no model version is promoted", file=str(self.index_path))
        return self.load(version)

    def load_shadow(self) -> list[ForecastBundle]:
        """Every shadow version that loads (one that does not is logged and skipped)."""
        out = []
        for v in self.shadows():
            try:
                out.append(self.load(v))
            except ModelError as err:
                log.warning("shadow model %s not loaded: %s", v, err)
        return out
