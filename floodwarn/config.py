"""One settings object: defaults < TOML file < ``FLOODWARN_*`` environment.

Environment keys are ``FLOODWARN_<SECTION>__<KEY>`` (double underscore), e.g.
``FLOODWARN_API__PORT=9000``; ``FLOODWARN_CONFIG`` names the TOML file. Unknown keys are
rejected with their name, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floodwarn.errors import ConfigError


@dataclass(frozen=True)
class StoreConfig:
    #: ``sqlite:///path/to/file.sqlite`` (embedded default) or ``postgresql://...``
    url: str = "sqlite:///var/floodwarn.sqlite"


@dataclass(frozen=True)
class HrfcoConfig:
    base_url: str = "https://api.hrfco.go.kr"
    service_key: str = ""
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 1.0
    format: str = "json"


@dataclass(frozen=True)
class FeedsConfig:
    #: which feed drives live cycles: ``hrfco``, ``archive`` or ``synthetic`` (demo)
    source: str = "hrfco"
    archive: str = ""
    hrfco: HrfcoConfig = field(default_factory=HrfcoConfig)


@dataclass(frozen=True)
class CycleConfig:
    interval_min: int = 10
    offset_s: int = 120
    misfire_grace_s: int = 300
    catchup_max: int = 36
    #: a station whose newest value is older than this is stale
    stale_after_min: int = 30


@dataclass(frozen=True)
class QCConfig:
    #: gauges whose near-flat (stuck sensor with dither) test is on: a day of values within
    #: 1 cm, all at or above the gauge's 관심 level, is flagged FLATLINE. Off by default: at most
    #: gauges low flows legitimately hold within 1 cm for days (docs/qc-stuck-gauges.md)
    stuck_stations: list[str] = field(default_factory=list)
    #: how many consecutive values make a stuck run (144 = one day of 10-minute values)
    stuck_n: int = 144


@dataclass(frozen=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str = ""
    public_url: str = ""


@dataclass(frozen=True)
class WarnConfig:
    #: warn on a forecast crossing within ``imminent_min`` when P(stage ≥ threshold) ≥ this ...
    exceedance_p: float = 0.50
    #: ... rising linearly to this at ``horizon_min`` for far-off crossings (None: constant);
    #: crossings within ``imminent_min`` use ``exceedance_p`` (docs/warnings.md, rule A)
    exceedance_p_far: float | None = 0.60
    #: a forecast crossing this close needs neither the higher probability nor confirmation
    imminent_min: int = 60
    #: a level reached only by a forecast crossing beyond ``imminent_min`` is issued when this
    #: many consecutive forecasts (cycles) supported it; 1 = at once (docs/warnings.md, rule B)
    confirm_cycles: int = 2
    #: a level once issued is not lowered before it has been in force this long (rule D)
    min_warned_min: int = 60
    margin_m: float = 0.1
    dwell_cycles: int = 3
    #: floor of the downgrade dwell in minutes (None: the dwell is ``dwell_cycles`` reports)
    dwell_min: float | None = None
    #: a level is held while the forecast gives at least this chance of the river being back at
    #: threshold − margin within the horizon (None: off; docs/warnings.md, rule E)
    hold_exceedance_p: float | None = 0.25
    horizon_min: int = 360
    #: a message lives this long unless renewed (renewed with 1/4 of its life left)
    expiry_min: int = 180
    #: per-station threshold overrides: {"1018683": {"wrnwl": 8.4}}
    overrides: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class DispatchConfig:
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    timeout_s: float = 10.0
    hmac_secret: str = ""
    allow_private_targets: bool = False


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True)
class Settings:
    data_dir: str = "var"
    stations_dir: str = ""  # empty: the stations/ shipped with the package checkout
    models_dir: str = ""  # empty: the models/ shipped with the checkout
    store: StoreConfig = field(default_factory=StoreConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    cycle: CycleConfig = field(default_factory=CycleConfig)
    qc: QCConfig = field(default_factory=QCConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    warn: WarnConfig = field(default_factory=WarnConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def replace(self, **changes: Any) -> Settings:
        """Copy with top-level fields changed (frozen dataclasses are never mutated)."""
        return dataclasses.replace(self, **changes)


def project_root() -> Path:
    """The checkout the package was installed from (editable install) — holds stations/, models/."""
    return Path(__file__).resolve().parent.parent


def _coerce(value: Any, typ: Any, where: str) -> Any:
    origin = typing.get_origin(typ)
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table, got {value!r}", field=where)
        return _build(typ, value, where)
    if origin is dict or typ is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a table, got {value!r}", field=where)
        return value
    if origin in (typing.Union, types.UnionType):
        return value
    try:
        if typ is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if typ is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if typ is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected {typ.__name__}, got {value!r}", field=where) from None
    return value


def _build(cls: Any, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"unknown setting (known: {', '.join(sorted(names))})", field=key)
    kwargs = {}
    for name, value in data.items():
        where = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], where)
    return cls(**kwargs)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _env_layer(env: typing.Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for key, value in env.items():
        if not key.startswith("FLOODWARN_") or key == "FLOODWARN_CONFIG":
            continue
        path = key[len("FLOODWARN_") :].lower().split("__")
        node = layer
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return layer


def load_settings(
    path: str | Path | None = None,
    env: typing.Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from defaults, an optional TOML file, the environment and overrides."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    path = path or env.get("FLOODWARN_CONFIG") or None
    if path:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("config file not found", file=str(p)) from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"invalid TOML: {err}", file=str(p)) from None
    data = _merge(data, _env_layer(env))
    data = _merge(data, overrides)
    try:
        return _build(Settings, data)
    except ConfigError as err:
        if path and err.file is None:
            err.file = str(path)
            err.args = (str(err),)
        raise


def stations_dir(settings: Settings) -> Path:
    return Path(settings.stations_dir) if settings.stations_dir else project_root() / "stations"


def models_dir(settings: Settings) -> Path:
    return Path(settings.models_dir) if settings.models_dir else project_root() / "models"
