"""The migration directory format: names, directives, checksums, and every way reading it fails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prodready.errors import UsageError
from prodready.migrate.model import (
    SLUG_MAX,
    Migration,
    checksum,
    directives_of,
    read_migrations,
    slugify,
    write_migrations,
)

INDEX = Migration(
    1,
    "add_index_orders_buyer_id",
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_buyer_id_idx" ON "public"."orders" '
    '("buyer_id");',
    'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_buyer_id_idx"',
    transactional=False,
    header=("unindexed_foreign_key on public.orders (buyer_id)", "seq_scan: 1,200"),
)
WIDEN = Migration(
    2,
    "widen_orders_id",
    "ALTER TABLE public.orders ALTER COLUMN id TYPE bigint",
    "ALTER TABLE public.orders ALTER COLUMN id TYPE integer",
    review_required=True,
)


def pair(directory: Path, name: str, up: str | bytes = "SELECT 1;\n", down: str = "") -> None:
    """Write NAME.up.sql / NAME.down.sql by hand (down omitted when empty)."""
    directory.mkdir(parents=True, exist_ok=True)
    up_path = directory / f"{name}.up.sql"
    if isinstance(up, bytes):
        up_path.write_bytes(up)
    else:
        up_path.write_text(up)
    if down != "-":
        (directory / f"{name}.down.sql").write_text(down or "SELECT 1;\n")


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "slug"),
    [
        (("add index", "orders(buyer_id)"), "add_index_orders_buyer_id"),
        (("Drop", "public.Orders_Created_IDX"), "drop_public_orders_created_idx"),
        (("ünïcode — ok",), "n_code_ok"),
        (("'; DROP TABLE x; --",), "drop_table_x"),
        (("!!!",), "change"),
        (("",), "change"),
    ],
)
def test_slugify_keeps_file_names_safe(parts: tuple[str, ...], slug: str) -> None:
    assert slugify(*parts) == slug


def test_slugify_is_bounded_and_never_ends_with_an_underscore() -> None:
    slug = slugify("a" * 59, "bcd")
    assert len(slug) <= SLUG_MAX and not slug.endswith("_")
    assert slug == "a" * 59


def test_names_are_zero_padded_to_four_digits() -> None:
    assert Migration(7, "x", "", "").name == "0007_x"
    assert Migration(12345, "x", "", "").name == "12345_x"


# -- file text and directives -------------------------------------------------------------------


def test_up_file_has_header_directive_and_one_terminated_body() -> None:
    assert INDEX.file_text("up") == (
        "-- 0001_add_index_orders_buyer_id (up): unindexed_foreign_key on public.orders "
        "(buyer_id)\n"
        "-- seq_scan: 1,200\n"
        "-- prodready:transactional=false\n"
        "\n"
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_buyer_id_idx" ON "public"."orders" '
        '("buyer_id");\n'
    )


def test_down_file_says_what_it_undoes_and_review_is_only_asked_on_the_up() -> None:
    down = WIDEN.file_text("down")
    assert down.startswith("-- 0002_widen_orders_id (down): prodready migration\n")
    assert "-- Undoes the matching .up.sql.\n" in down
    assert "review-required" not in down
    assert "-- prodready:review-required\n" in WIDEN.file_text("up")
    assert "transactional=false" not in WIDEN.file_text("up")


def test_down_transactional_can_differ_from_the_up() -> None:
    mixed = Migration(1, "x", "SELECT 1", "SELECT 2", transactional=False, down_transactional=True)
    assert "transactional=false" in mixed.file_text("up")
    assert "transactional=false" not in mixed.file_text("down")


def test_a_header_with_newlines_cannot_inject_sql() -> None:
    hostile = Migration(1, "x", "SELECT 1", "SELECT 2", header=("evil\nDROP TABLE users;\n--",))
    text = hostile.file_text("up")
    assert text.splitlines()[0] == "-- 0001_x (up): evil DROP TABLE users; --"
    assert directives_of(text) == {}
    assert text.endswith("\n\nSELECT 1;\n")


def test_directives_come_from_the_leading_comment_block_only() -> None:
    text = (
        "\n"
        "-- a person's note\n"
        "   -- prodready:transactional = false\n"
        "\n"
        "-- prodready:review-required\n"
        "SELECT 1;\n"
        "-- prodready:ignored=yes\n"
    )
    assert directives_of(text) == {"transactional": "false", "review-required": ""}
    assert directives_of("SELECT 1;\n-- prodready:review-required\n") == {}


# -- checksum -----------------------------------------------------------------------------------


def test_checksum_covers_both_files_and_their_boundary() -> None:
    base = checksum(b"up", b"down")
    assert base == hashlib.sha256(b"up\0down").hexdigest()
    assert checksum(b"up ", b"down") != base
    assert checksum(b"up", b"down ") != base
    assert checksum(b"ab", b"c") != checksum(b"a", b"bc")


# -- writing and reading back -------------------------------------------------------------------


def test_written_migrations_read_back_with_their_flags(tmp_path: Path) -> None:
    paths = write_migrations(tmp_path, [INDEX, WIDEN])

    assert [p.name for p in paths] == [
        "0001_add_index_orders_buyer_id.up.sql",
        "0001_add_index_orders_buyer_id.down.sql",
        "0002_widen_orders_id.up.sql",
        "0002_widen_orders_id.down.sql",
    ]
    first, second = read_migrations(tmp_path)
    assert (first.number, first.name) == (1, "0001_add_index_orders_buyer_id")
    assert (first.up_transactional, first.down_transactional, first.review_required) == (
        False,
        False,
        False,
    )
    assert (second.up_transactional, second.down_transactional, second.review_required) == (
        True,
        True,
        True,
    )
    assert first.up_sql == INDEX.file_text("up") and first.down_sql == INDEX.file_text("down")
    assert first.checksum == checksum(first.up_path.read_bytes(), first.down_path.read_bytes())
    assert first.directives == {"transactional": "false"}


def test_writing_again_continues_the_numbering(tmp_path: Path) -> None:
    write_migrations(tmp_path, [WIDEN])
    write_migrations(tmp_path, [INDEX])
    assert [m.name for m in read_migrations(tmp_path)] == [
        "0001_widen_orders_id",
        "0002_add_index_orders_buyer_id",
    ]


def test_other_files_are_ignored_and_an_empty_directory_has_no_migrations(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("notes")
    (tmp_path / ".gitkeep").write_text("")
    assert read_migrations(tmp_path) == []
    pair(tmp_path, "0001_a")
    assert [m.name for m in read_migrations(tmp_path)] == ["0001_a"]


# -- read errors: one clear line each -----------------------------------------------------------


def test_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"migration directory .*nowhere does not exist"):
        read_migrations(tmp_path / "nowhere")


def test_a_missing_half(tmp_path: Path) -> None:
    pair(tmp_path, "0001_a", down="-")
    with pytest.raises(UsageError, match=r"^0001_a has no \.down\.sql file$"):
        read_migrations(tmp_path)


def test_a_missing_up_half(tmp_path: Path) -> None:
    (tmp_path / "0001_a.down.sql").write_text("SELECT 1;\n")
    with pytest.raises(UsageError, match=r"^0001_a has no \.up\.sql file$"):
        read_migrations(tmp_path)


def test_a_gap(tmp_path: Path) -> None:
    pair(tmp_path, "0001_a")
    pair(tmp_path, "0003_c")
    with pytest.raises(
        UsageError, match=r"^migrations are out of order: expected 0002, found 0003_c$"
    ):
        read_migrations(tmp_path)


def test_numbering_must_start_at_one(tmp_path: Path) -> None:
    pair(tmp_path, "0002_b")
    with pytest.raises(UsageError, match="expected 0001, found 0002_b"):
        read_migrations(tmp_path)


@pytest.mark.parametrize(
    ("other", "names"), [("0001_b", "0001_a, 0001_b"), ("00001_a", "00001_a, 0001_a")]
)
def test_a_duplicate_number(tmp_path: Path, other: str, names: str) -> None:
    pair(tmp_path, "0001_a")
    pair(tmp_path, other)
    with pytest.raises(UsageError) as caught:
        read_migrations(tmp_path)
    assert str(caught.value) == f"two migrations are numbered 0001: {names}"


@pytest.mark.parametrize(
    "stray",
    [
        "001_short.up.sql",
        "0001_Capital.up.sql",
        "0001_a.sql",
        "0001_a.upgrade.sql",
        "0001-a.up.sql",
        "notes.sql",
    ],
)
def test_a_stray_sql_file_name(tmp_path: Path, stray: str) -> None:
    pair(tmp_path, "0001_a")
    (tmp_path / stray).write_text("SELECT 1;\n")
    with pytest.raises(UsageError) as caught:
        read_migrations(tmp_path)
    assert str(caught.value) == (
        f"{stray}: migration files are named NNNN_name.up.sql / NNNN_name.down.sql"
    )


def test_non_utf8_text(tmp_path: Path) -> None:
    pair(tmp_path, "0001_a", up=b"-- caf\xe9\nSELECT 1;\n")
    with pytest.raises(UsageError, match=r"^0001_a: not UTF-8 text \(invalid continuation byte\)$"):
        read_migrations(tmp_path)
