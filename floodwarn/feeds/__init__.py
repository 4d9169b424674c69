"""Feeds: where observations come from (HRFCO open API, archives, the Han River set, synthetic).

Each feed module registers its feed class in :data:`FEEDS` with :func:`register_feed`; nothing
here grows an ``if/elif`` per feed. Feed modules are pure with respect to the store: they return
:class:`floodwarn.records.ParseResult` objects (and the raw payload bytes where there are any);
``floodwarn.ingest`` stores them. The built-in modules are imported on first use of the
registry, and one broken feed module only logs a warning (like the CLI's command discovery).

Usage::

    from floodwarn.feeds import get_feed
    feed = get_feed("hrfco").from_settings(settings)
    for batch in feed.poll(at, known=catalog.is_known):
        ...  # batch.result: ParseResult, batch.payload: RawPayload | None
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from typing import TypeVar

from floodwarn.feeds.base import Feed, FeedBatch, FeedResult, RawPayload

log = logging.getLogger(__name__)

__all__ = ["FEEDS", "Feed", "FeedBatch", "FeedResult", "RawPayload", "get_feed", "register_feed"]

#: feed name -> feed class; filled by each feed module's ``@register_feed(name)``
FEEDS: dict[str, type] = {}

T = TypeVar("T", bound=type)
_discovered = False


def register_feed(name: str) -> Callable[[T], T]:
    """Class decorator: register a feed class under ``name`` (a second, different class is refused)."""

    def deco(cls: T) -> T:
        other = FEEDS.get(name)
        if other is not None and other is not cls:
            raise ValueError(f"feed name {name!r} already registered by {other.__qualname__}")
        cls.name = name  # type: ignore[attr-defined]
        FEEDS[name] = cls
        return cls

    return deco


def discover() -> dict[str, type]:
    """Import every feed module in this package once so that it registers itself."""
    global _discovered
    if not _discovered:
        _discovered = True
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if info.name.startswith("_") or info.name == "base":
                continue
            try:
                importlib.import_module(f"{__name__}.{info.name}")
            except ImportError as err:  # one broken feed must not take the others down
                log.warning("feed module %s failed to import: %s", info.name, err)
    return FEEDS


def get_feed(name: str) -> type:
    """The feed class registered under ``name``; the error lists the known names."""
    feeds = discover()
    try:
        return feeds[name]
    except KeyError:
        from floodwarn.errors import ConfigError

        raise ConfigError(
            f"unknown feed {name!r} (known: {', '.join(sorted(feeds))})", field="feeds.source"
        ) from None
