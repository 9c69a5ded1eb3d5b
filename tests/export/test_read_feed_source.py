"""Where a feed may come from: an https URL or a file, never more than the cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from appban.errors import InvalidInput
from appban.service import read_feed_source


def test_reads_a_file_by_path_or_file_url(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_bytes(b"{}\n")
    assert read_feed_source(str(path)) == b"{}\n"
    assert read_feed_source(path.as_uri()) == b"{}\n"


def test_refuses_plain_http_and_other_schemes() -> None:
    for location in ("http://example.org/feed.json", "ftp://example.org/feed.json"):
        with pytest.raises(InvalidInput, match="cannot fetch a feed over"):
            read_feed_source(location)


def test_refuses_past_the_cap_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 101)
    with pytest.raises(InvalidInput, match="larger than 100 bytes"):
        read_feed_source(str(path), max_bytes=100)
    with pytest.raises(InvalidInput, match="no such file"):
        read_feed_source(str(tmp_path / "absent.json"))


class _Response:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self, limit: int) -> bytes:
        return self.body[:limit]


def test_https_is_read_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_urlopen(request: object, timeout: float) -> _Response:
        seen.append(getattr(request, "full_url", ""))
        return _Response(b"y" * 50)

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    assert read_feed_source("https://example.org/feed.json", max_bytes=50) == b"y" * 50
    with pytest.raises(InvalidInput, match="larger than 10 bytes"):
        read_feed_source("https://example.org/feed.json", max_bytes=10)
    assert seen == ["https://example.org/feed.json"] * 2
