"""The feed registry: filled by the feed modules themselves, no if/elif factory."""

from __future__ import annotations

import pytest

from floodwarn.errors import ConfigError
from floodwarn.feeds import FEEDS, Feed, discover, get_feed, register_feed


def test_builtin_feeds_register_themselves():
    feeds = discover()
    assert {"hrfco", "archive", "hanriver", "synthetic"} <= set(feeds)
    for name, cls in feeds.items():
        assert cls.name == name and issubclass(cls, Feed)
        assert callable(cls.from_settings) and callable(cls.poll)


def test_unknown_feed_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown feed 'nope'.*archive.*hrfco") as err:
        get_feed("nope")
    assert err.value.field == "feeds.source"


def test_register_refuses_a_second_class_under_one_name():
    class A:
        pass

    try:
        register_feed("test-a")(A)
        register_feed("test-a")(A)  # the same class again (module reload) is fine
        with pytest.raises(ValueError, match="already registered"):
            register_feed("test-a")(type("B", (), {}))
    finally:
        FEEDS.pop("test-a", None)


def test_from_settings(tmp_path):
    from floodwarn.config import load_settings

    s = load_settings(env={}, feeds={"archive": str(tmp_path / "a.csv"),
                                     "hrfco": {"base_url": "http://127.0.0.1:1", "service_key": "k"}})
    feed = get_feed("archive").from_settings(s)
    assert feed.path == tmp_path / "a.csv"
    client = get_feed("hrfco").from_settings(s)
    try:
        assert client.url("waterlevel") == "http://127.0.0.1:1/k/waterlevel/list/10M.json"
    finally:
        client.close()
