"""Request bodies of the write API: strict (unknown fields are an error, not ignored)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_ACTOR = Field(default="api", min_length=1, max_length=200, description="who acts (recorded with the action)")
_REASON = Field(min_length=1, max_length=2000, description="why (free text, kept in the audit log and the CAP message)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _printable(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise ValueError("control characters are not allowed")
    return value


class SubscriptionIn(_Strict):
    """A webhook subscription; every filter that is set must match (AND)."""

    url: str = Field(min_length=8, max_length=2048, description="http(s) URL that receives POSTed alerts")
    secret: str | None = Field(
        default=None, min_length=16, max_length=256,
        description="HMAC-SHA256 signing secret; generated (and returned once) when omitted",
    )
    stations: list[str] = Field(default_factory=list, max_length=2000,
                                description="station codes (empty: all)")
    basins: list[str] = Field(default_factory=list, max_length=20, description="e.g. Han, Nakdong")
    min_level: str | int | None = Field(default=None, description="attwl, wrnwl, almwl, srswl or 1..4")
    area: dict[str, Any] | None = Field(default=None, description="GeoJSON Polygon/MultiPolygon, [lon, lat]")
    asset_types: list[str] = Field(default_factory=list, max_length=10,
                                   description="parking, road, underpass, trail, bridge")
    description: str = Field(default="", max_length=500)

    @field_validator("stations", "basins", "asset_types")
    @classmethod
    def _short_items(cls, v: list[str]) -> list[str]:
        for item in v:
            if not item or len(item) > 64:
                raise ValueError("items must be 1..64 characters")
            _printable(item)
        return v

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str) -> str:
        return _printable(v)


class AckIn(_Strict):
    actor: str = _ACTOR

    @field_validator("actor")
    @classmethod
    def _actor(cls, v: str) -> str:
        return _printable(v)


class CancelIn(AckIn):
    """A forecaster's action: who and why (free text, printable only)."""

    reason: str = _REASON

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        return _printable(v)


class ExtendIn(CancelIn):
    minutes: int = Field(ge=1, le=7 * 24 * 60)


class ManualIssueIn(CancelIn):
    station: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    level: int | str = Field(description="1..4 or attwl / wrnwl / almwl / srswl / 관심 / 주의보 / 경보 / 심각")
