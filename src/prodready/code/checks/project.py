"""Repository-level facts: how the schema changes."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prodready.code.registry import CodeIssue, Options, code_check
from prodready.code.snapshot import CodeSnapshot
from prodready.model import Category, Severity

_DB_LIBRARIES = frozenset({
    "pg", "postgres", "@prisma/client", "prisma", "drizzle-orm", "knex", "sequelize", "typeorm",
    "@supabase/supabase-js", "kysely", "@mikro-orm/core", "pg-promise", "slonik",
    "psycopg", "psycopg2", "psycopg2-binary", "asyncpg", "sqlalchemy", "django", "sqlmodel",
    "tortoise-orm", "peewee", "supabase",
})  # fmt: skip
_MIGRATION_DIRS = frozenset({"migrations", "migration", "migrate", "alembic", "drizzle", "flyway"})
_PUSH = re.compile(r"prisma\s+db\s+push|drizzle-kit\s+push|sequelize\s+db:sync")


@code_check(
    "migrations_missing",
    title="Schema changes without migrations",
    category=Category.RELIABILITY,
    severity=Severity.MEDIUM,
)
def migrations_missing(snap: CodeSnapshot, opts: Options) -> Iterator[CodeIssue]:
    """The app uses a database but the repository has no migrations directory, or its
    scripts push the schema straight to the database (`prisma db push`, `drizzle-kit
    push`): production's schema is whatever someone last pushed, nothing records how it got
    there, and it cannot be reviewed, replayed on a new environment or rolled back. Generate
    versioned migrations (prisma migrate, drizzle-kit generate, Alembic, Django, supabase
    migration new) and apply them in the deploy."""
    libraries = sorted(_DB_LIBRARIES & set(snap.project.dependencies))
    if not libraries:
        return
    pushes = {k: v for k, v in snap.project.scripts.items() if _PUSH.search(v)}
    has_dir = any(d.rpartition("/")[2] in _MIGRATION_DIRS for d in snap.project.dirs)
    if has_dir and not pushes:
        return
    if has_dir:
        detail = f"package scripts push the schema directly: {', '.join(sorted(pushes))}"
    else:
        detail = f"uses {', '.join(libraries)} but the repository has no migrations directory"
    yield CodeIssue(
        file=None,
        line=None,
        detail=detail,
        fix="Create versioned migrations (prisma migrate dev, drizzle-kit generate, alembic "
        "revision, manage.py makemigrations) and apply them in the deploy pipeline.",
        evidence={"libraries": libraries, "push_scripts": pushes, "migrations_dir": has_dir},
        severity=Severity.HIGH if pushes and not has_dir else None,
        ident="repository",
    )
