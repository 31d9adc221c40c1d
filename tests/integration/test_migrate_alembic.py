"""`--format alembic`: the chain loads in Alembic and upgrades/downgrades a real database."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from prodready.errors import UsageError
from prodready.migrate.alembic import py_string, revision_id, write_alembic
from prodready.migrate.model import Migration
from prodready.sqlgen import render, split_statements
from tests.conftest import TestDatabase

SCHEMA = 'sch "x'
TABLE = 'we"ird ünï'
COLUMN = "välue"
INDEX = "ü" * 29 + 'q"_ix'  # 63 bytes: the longest name PostgreSQL keeps untruncated
COMMENT = "it's 100% :done \\:x %(y)s \"\"\" ''' \\ ü\u2028 end\""
USER_REVISION = "a1b2c3d4e5f6"

ENV_PY = """\
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
url = config.attributes["url"]
if context.is_offline_mode():
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            transaction_per_migration=config.attributes.get("per_migration", False),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
"""

# the project's own revision the generated chain attaches to
USER_REVISION_PY = f'''\
"""create audit_log"""
import sqlalchemy as sa
from alembic import op

revision = "{USER_REVISION}"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("audit_log", sa.Column("id", sa.BigInteger, primary_key=True))


def downgrade() -> None:
    op.drop_table("audit_log")
'''


def q(template: str, *parts: sql.Composable) -> str:
    return render(sql.SQL(template).format(*parts))


MESSAGES = sql.Identifier("public", "messages")
WEIRD = sql.Identifier(SCHEMA, TABLE)


def chain() -> list[Migration]:
    """A transactional change, a CONCURRENTLY build on hostile names, a policy rewrite."""
    return [
        Migration(
            number=1,
            slug="enable_rls_messages",
            up_sql=q("ALTER TABLE {} ENABLE ROW LEVEL SECURITY", MESSAGES),
            down_sql=q("ALTER TABLE {} DISABLE ROW LEVEL SECURITY", MESSAGES),
            header=(
                "Finding: policy_without_rls on public.messages",
                "Evidence: 1 policy, row level security disabled",
                "Expected effect: the policy is enforced",
            ),
        ),
        Migration(
            number=2,
            slug="add_index_weird",
            up_sql=q(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({})",
                sql.Identifier(INDEX),
                WEIRD,
                sql.Identifier(COLUMN),
            ),
            down_sql=q("DROP INDEX CONCURRENTLY IF EXISTS {}", sql.Identifier(SCHEMA, INDEX)),
            transactional=False,
            header=(f'Finding: unindexed_foreign_key on {SCHEMA}.{TABLE} """ \\ \r\n x',),
        ),
        Migration(
            number=3,
            slug="rewrite_policy_owner",
            up_sql=q("ALTER POLICY p_owner ON {} USING (owner = (SELECT auth.uid()))", MESSAGES)
            + ";\n"
            + q("COMMENT ON TABLE {} IS {}", WEIRD, sql.Literal(COMMENT)),
            down_sql=q("ALTER POLICY p_owner ON {} USING (owner = auth.uid())", MESSAGES)
            + ";\n"
            + q("COMMENT ON TABLE {} IS NULL", WEIRD),
        ),
    ]


def setup_schema(db: TestDatabase) -> None:
    db.execute("CREATE SCHEMA auth")
    db.execute(
        "CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE"
        " AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$"
    )
    db.execute(q("CREATE TABLE {} (id bigint PRIMARY KEY, owner uuid, body text)", MESSAGES))
    db.execute(q("CREATE POLICY p_owner ON {} USING (owner = auth.uid())", MESSAGES))
    db.execute(q("CREATE SCHEMA {}", sql.Identifier(SCHEMA)))
    db.execute(q("CREATE TABLE {} (id int, {} int)", WEIRD, sql.Identifier(COLUMN)))
    db.execute(q("INSERT INTO {} SELECT g, g % 7 FROM generate_series(1, 100) g", WEIRD))


def alembic_config(root: Path, url: sa.URL | str) -> Config:
    """A minimal Alembic environment in `root`, the way `alembic init` lays it out."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "env.py").write_text(ENV_PY, encoding="utf-8")
    ini = root / "alembic.ini"
    ini.write_text("[alembic]\nscript_location = %(here)s\npath_separator = os\n")
    config = Config(str(ini), output_buffer=io.StringIO())
    config.attributes["url"] = url
    return config


def url_of(db: TestDatabase) -> sa.URL:
    params = psycopg.conninfo.conninfo_to_dict(db.dsn)
    return sa.URL.create(
        "postgresql+psycopg",
        username=str(params["user"]),
        password=str(params["password"]),
        host=str(params["host"]),
        port=int(str(params["port"])),
        database=str(params["dbname"]),
    )


def state(db: TestDatabase) -> dict[str, object]:
    """What the chain changes, read from the catalogs."""
    rls = db.query("SELECT relrowsecurity FROM pg_class WHERE oid = 'public.messages'::regclass")
    index = db.query(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (SCHEMA, INDEX),
    )
    policy = db.query(
        "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = 'p_owner'"
    )
    comment = db.query(
        "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (SCHEMA, TABLE),
    )
    return {
        "rls": rls[0][0],
        "index_valid": index[0][0] if index else None,
        "policy": policy[0][0],
        "comment": comment[0][0],
    }


def version(db: TestDatabase) -> list[str]:
    if db.query("SELECT to_regclass('alembic_version')")[0][0] is None:
        return []
    return [row[0] for row in db.query("SELECT version_num FROM alembic_version")]


def executed(path: Path, function: str) -> list[str]:
    """The string arguments of the `_execute(...)` calls in one function of a generated file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    return [
        ast.literal_eval(node.args[0])
        for node in ast.walk(body)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_execute"
    ]


# --- the chain as Alembic sees it (no database) ---


def test_chain_loads_linear_with_one_base_and_one_head(tmp_path: Path) -> None:
    config = alembic_config(tmp_path / "alembic", "postgresql+psycopg://")
    paths = write_alembic(tmp_path / "alembic" / "versions", chain())

    assert [p.name for p in paths] == [
        "0001_enable_rls_messages.py",
        "0002_add_index_weird.py",
        "0003_rewrite_policy_owner.py",
    ]
    script = ScriptDirectory.from_config(config)
    revisions = list(reversed(list(script.walk_revisions())))
    ids = [r.revision for r in revisions]
    assert [r.down_revision for r in revisions] == [None, ids[0], ids[1]]
    assert script.get_bases() == [ids[0]]
    assert script.get_heads() == [ids[2]]
    assert all(r.startswith("prodready_000") and len(r) <= 32 for r in ids)
    assert len(set(ids)) == 3
    assert revisions[0].doc.startswith("0001_enable_rls_messages: Finding: policy_without_rls")
    module = revisions[0].module
    assert module.branch_labels is None and module.depends_on is None


def test_statements_round_trip_exactly_through_the_generated_python(tmp_path: Path) -> None:
    migrations = chain()
    paths = write_alembic(tmp_path, migrations)

    for migration, path in zip(migrations, paths, strict=True):
        up, down = split_statements(migration.up_sql), split_statements(migration.down_sql)
        cleanup = down if not migration.transactional else []
        assert executed(path, "upgrade") == up + cleanup
        assert executed(path, "downgrade") == down
    hostile = executed(paths[2], "upgrade")[1]
    assert COMMENT.replace("'", "''").replace("\\", "\\\\") in hostile
    # the header, with its quotes, backslash and CR/LF, lands in the docstring intact
    doc = ast.get_docstring(ast.parse(paths[1].read_text(encoding="utf-8")), clean=False)
    assert doc is not None
    assert f'Finding: unindexed_foreign_key on {SCHEMA}.{TABLE} """ \\ x' in doc


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_py_string_round_trips_any_text(text: str) -> None:
    literal = py_string(text)
    assert ast.literal_eval(literal) == text
    compile(f"x = {literal}\n", "<generated>", "exec")


@pytest.mark.parametrize(
    "text", ['"', '""', '"""', 'a"', '"a', "'''", "\\", "\\\\'", "\r\n", "x\x00y", "\u2028", "é名"]
)
def test_py_string_edge_cases(text: str) -> None:
    assert ast.literal_eval(py_string(text)) == text


def test_same_changes_give_the_same_files_and_parent_changes_the_ids(tmp_path: Path) -> None:
    first = write_alembic(tmp_path / "a", chain())
    second = write_alembic(tmp_path / "b", chain())
    attached = write_alembic(tmp_path / "c", chain(), down_revision=USER_REVISION)

    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert revision_id(chain()[0], None) != revision_id(chain()[0], USER_REVISION)
    assert f'down_revision = "{USER_REVISION}"' in attached[0].read_text(encoding="utf-8")


def test_a_later_run_numbers_after_the_earlier_revisions(tmp_path: Path) -> None:
    write_alembic(tmp_path, chain()[:2])
    later = write_alembic(tmp_path, chain()[:1])  # the same change again, a later fix run
    assert later[0].name.startswith("0003_")
    assert len(list(tmp_path.glob("*.py"))) == 3


def test_attaches_to_the_single_head_like_alembic_revision(tmp_path: Path) -> None:
    (tmp_path / f"{USER_REVISION}_create_audit_log.py").write_text(USER_REVISION_PY)
    first = write_alembic(tmp_path, chain()[:1])
    second = write_alembic(tmp_path, chain()[1:])  # a later run goes on top of the first

    assert f'down_revision = "{USER_REVISION}"' in first[0].read_text(encoding="utf-8")
    head_of_first = revision_id(chain()[0], USER_REVISION)
    assert f'down_revision = "{head_of_first}"' in second[0].read_text(encoding="utf-8")


def test_refuses_a_parent_that_would_split_the_history(tmp_path: Path) -> None:
    user_file = tmp_path / f"{USER_REVISION}_create_audit_log.py"
    user_file.write_text(USER_REVISION_PY)
    paths = write_alembic(tmp_path, chain()[:1], down_revision=USER_REVISION)
    with pytest.raises(UsageError, match="'nope' is not a revision"):
        write_alembic(tmp_path, chain()[1:], down_revision="nope")
    with pytest.raises(UsageError, match=f"'{USER_REVISION}' is not a head"):
        write_alembic(tmp_path, chain()[1:], down_revision=USER_REVISION)
    other = tmp_path / "0123456789ab_other_base.py"
    other.write_text(USER_REVISION_PY.replace(USER_REVISION, "0123456789ab"))
    with pytest.raises(UsageError, match=r"has 2 heads .*--alembic-down-revision"):
        write_alembic(tmp_path, chain()[1:])
    other.write_text("revision = make_id()\n")
    with pytest.raises(
        UsageError, match=r"cannot read the revision of 0123456789ab_other_base\.py"
    ):
        write_alembic(tmp_path, chain()[1:])
    assert sorted(tmp_path.glob("*.py")) == sorted([user_file, other, *paths])


def test_refuses_an_unsafe_slug_or_sql_that_does_not_parse(tmp_path: Path) -> None:
    bad = Migration(number=1, slug="x\nimport os", up_sql="SELECT 1", down_sql="SELECT 1")
    with pytest.raises(UsageError, match="slug"):
        write_alembic(tmp_path, [bad])
    broken = Migration(number=1, slug="broken", up_sql="ALTER TABLE", down_sql="SELECT 1")
    with pytest.raises(UsageError, match=r"^0002_broken: its SQL does not parse"):
        write_alembic(tmp_path, [chain()[0], broken])
    assert not list(tmp_path.iterdir())


def test_offline_sql_is_verbatim_and_commits_before_concurrently(tmp_path: Path) -> None:
    config = alembic_config(tmp_path / "alembic", "postgresql+psycopg://")
    write_alembic(tmp_path / "alembic" / "versions", chain())

    command.upgrade(config, "head", sql=True)

    output = config.output_buffer.getvalue()  # type: ignore[union-attr]
    comment_sql = split_statements(chain()[2].up_sql)[1]
    assert comment_sql + ";" in output
    build = split_statements(chain()[1].up_sql)[0]
    assert output.index("COMMIT;") < output.index(build) < output.rindex("BEGIN;")


# --- against the real database ---


@pytest.mark.parametrize("per_migration", [False, True], ids=["one_transaction", "per_migration"])
def test_upgrade_and_downgrade_on_postgres_attached_to_a_user_revision(
    fresh_db: TestDatabase, tmp_path: Path, per_migration: bool
) -> None:
    setup_schema(fresh_db)
    config = alembic_config(tmp_path / "alembic", url_of(fresh_db))
    config.attributes["per_migration"] = per_migration
    versions = tmp_path / "alembic" / "versions"
    versions.mkdir()
    (versions / f"{USER_REVISION}_create_audit_log.py").write_text(USER_REVISION_PY)
    write_alembic(versions, chain(), down_revision=USER_REVISION)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    assert script.get_bases() == [USER_REVISION]
    assert head is not None and head.startswith("prodready_0003_")
    before = state(fresh_db)

    command.upgrade(config, "head")

    assert version(fresh_db) == [head]
    after = state(fresh_db)
    assert after["rls"] is True
    assert after["index_valid"] is True
    assert "SELECT auth.uid()" in str(after["policy"])
    assert after["comment"] == COMMENT

    command.downgrade(config, USER_REVISION)

    assert version(fresh_db) == [USER_REVISION]
    assert (
        state(fresh_db)
        == before
        == {
            "rls": False,
            "index_valid": None,
            "policy": "(owner = auth.uid())",
            "comment": None,
        }
    )
    assert fresh_db.query("SELECT to_regclass('public.audit_log') IS NOT NULL")[0][0] is True

    command.upgrade(config, "head")  # re-apply after the rollback
    assert state(fresh_db) == after
    command.downgrade(config, "base")
    assert version(fresh_db) == []
    assert fresh_db.query("SELECT to_regclass('public.audit_log')")[0][0] is None


def test_review_required_revision_refuses_to_run(fresh_db: TestDatabase, tmp_path: Path) -> None:
    setup_schema(fresh_db)
    config = alembic_config(tmp_path / "alembic", url_of(fresh_db))
    widen = Migration(
        number=2,
        slug="bigint_messages_id",
        up_sql=q("ALTER TABLE {} ALTER COLUMN id TYPE bigint", MESSAGES),
        down_sql=q("ALTER TABLE {} ALTER COLUMN id TYPE integer", MESSAGES),
        review_required=True,
    )
    paths = write_alembic(tmp_path / "alembic" / "versions", [chain()[0], widen])
    text = paths[1].read_text(encoding="utf-8")
    assert "# REVIEW REQUIRED" in text

    with pytest.raises(RuntimeError, match="review 0002_bigint_messages_id by hand"):
        command.upgrade(config, "head")

    # one transaction for the run (Alembic's default env): the earlier revision is undone too
    assert version(fresh_db) == []
    assert state(fresh_db)["rls"] is False

    paths[1].write_text(text.replace("    raise RuntimeError(", "    # reviewed: RuntimeError("))
    command.upgrade(config, "head")
    assert len(version(fresh_db)) == 1 and state(fresh_db)["rls"] is True


def test_failed_concurrent_build_leaves_no_invalid_index(
    fresh_db: TestDatabase, tmp_path: Path
) -> None:
    setup_schema(fresh_db)
    config = alembic_config(tmp_path / "alembic", url_of(fresh_db))
    unique = Migration(
        number=1,
        slug="add_unique_index_weird",
        up_sql=q(
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({})",
            sql.Identifier(INDEX),
            WEIRD,
            sql.Identifier(COLUMN),
        ),
        down_sql=q("DROP INDEX CONCURRENTLY IF EXISTS {}", sql.Identifier(SCHEMA, INDEX)),
        transactional=False,
    )
    write_alembic(tmp_path / "alembic" / "versions", [unique])

    with pytest.raises(sa.exc.IntegrityError, match="could not create unique index"):
        command.upgrade(config, "head")

    assert state(fresh_db)["index_valid"] is None  # the INVALID leftover was dropped
    assert version(fresh_db) == []
