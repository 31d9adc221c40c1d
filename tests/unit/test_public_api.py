"""The public face stays small, sorted and importable."""

from __future__ import annotations

import prodready


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert prodready.__all__ == sorted(prodready.__all__)
    for name in prodready.__all__:
        assert getattr(prodready, name) is not None
