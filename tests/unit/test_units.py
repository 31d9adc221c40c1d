"""Sizes read and written the way PostgreSQL users write them."""

from __future__ import annotations

import pytest

from prodready.units import human_bytes, parse_duration_ms, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("2GB", 2 * 1024**3), ("500 MB", 500 * 1024**2), ("1.5GiB", int(1.5 * 1024**3)),
     ("1048576", 1048576), ("64kB", 65536), ("3 tb", 3 * 1024**4)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GB", "2 parsecs", "-1GB", "1e9"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_human_bytes_matches_pg_size_pretty_units() -> None:
    assert [human_bytes(n) for n in (512, 2048, 5 * 1024**2, 3 * 1024**3)] == [
        "512 bytes", "2.0 kB", "5.0 MB", "3.0 GB",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "ms"), [("2s", 2000), ("500ms", 500), ("250", 250), ("1min", 60_000), ("0.5 s", 500)]
)
def test_parse_duration_ms(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "2 weeks", "-1s", "fast"])
def test_parse_duration_ms_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration_ms(text)
