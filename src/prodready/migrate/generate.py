"""From an audit report to migrations: one numbered change per finding or recommendation.

Pure over the report's JSON form (so a saved `report.json` works as well as a live audit):
findings with a fix and a rollback, the advisor's index additions and validated drops.
Overlaps are resolved here: an advisor index whose leading columns cover an unindexed
foreign key replaces the plain FK index, and an index two sources want dropped is dropped once.
Creates come before drops, so a redundant index goes only once what replaces it exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pglast import ast, parse_sql
from psycopg import sql

from prodready.migrate.model import Migration, slugify
from prodready.sqlgen import render, split_statements
from prodready.units import human_bytes

ADVISOR = "index_advisor"
# what each kind of change is called in a migration's file name
_VERBS = {
    "unindexed_foreign_key": "add_index",
    "duplicate_index": "drop_index",
    "redundant_index": "drop_index",
    "invalid_index": "drop_index",
    "function_search_path_mutable": "set_search_path",
    "security_definer_function_search_path": "set_search_path",
    "policy_without_rls": "enable_rls",
    "rls_disabled": "enable_rls",
    "rls_initplan": "rewrite_policy",
    "security_definer_view": "security_invoker",
    "sequence_exhaustion": "bigint",
    "timeouts_unset": "set",
    "slow_query_logging_disabled": "log_slow_queries",
    "sensitive_columns_exposed": "revoke",
}
_EVIDENCE_CHARS = 300


@dataclass(frozen=True)
class Skipped:
    source: str
    object: str
    reason: str


@dataclass
class FixPlan:
    """The migrations to write, and each change left out with the reason."""

    migrations: list[Migration] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Change:
    """A migration before numbering, with where it came from and where it goes."""

    source: str  # a check id or ADVISOR
    object: str
    order: int  # -1 requirements (extensions), 0 creates and changes, 1 drops
    migration: Migration  # numbered once the plan's order is known
    kind: str = ""  # what it does (add_index, enable_rls...), for --group kind
    table: str = ""  # the table it changes, for --group table

    @property
    def up(self) -> str:
        return self.migration.up_sql


GROUPINGS = ("kind", "table", "none")


def plan_fixes(
    report: dict[str, Any],
    *,
    only: Iterable[str] | None = None,
    include_review: bool = False,
    group: str = "none",
) -> FixPlan:
    """The migrations for a report's fixes; `only` limits to check ids (and `index_advisor`).

    `group` merges changes of one kind (`kind`), or of one kind on one table (`table`), into
    one migration; `none` writes one migration per change.
    """
    wanted = set(only) if only else None
    plan = FixPlan()
    changes: list[_Change] = []
    advisor = report.get("advisor") or {}
    if wanted is None or ADVISOR in wanted:
        changes += _advisor_changes(advisor, include_review, plan.skipped)
    covered = _advisor_index_keys(changes)
    dropped = {c.object for c in changes if c.order == 1}
    for finding in report.get("findings", []):
        if wanted is not None and finding["check"] not in wanted:
            continue
        change = _finding_change(finding, include_review, plan.skipped)
        if change is None:
            continue
        reason = _overlap(change, covered, dropped)
        if reason:
            plan.skipped.append(Skipped(change.source, change.object, reason))
            continue
        if change.order == 1:
            dropped.add(change.object)
        changes.append(change)
    changes = _unique(changes, plan.skipped)
    changes.sort(key=lambda c: c.order)  # stable: report order within each group
    migrations = _grouped(changes, group)
    plan.migrations = [replace(m, number=n) for n, m in enumerate(migrations, start=1)]
    return plan


def _grouped(changes: list[_Change], group: str) -> list[Migration]:
    """One migration per group of changes that run the same way; each group sits where its
    first change was. A group's statements run in order (one at a time when they cannot run
    in a transaction, journaled step by step), and its rollback undoes them in reverse."""
    if group not in GROUPINGS:
        raise ValueError(f"unknown grouping {group!r}")
    if group == "none":
        return [c.migration for c in changes]
    groups: dict[tuple[Any, ...], list[_Change]] = {}
    for change in changes:
        m = change.migration
        key: tuple[Any, ...] = (change.order, change.kind, m.transactional, m.review_required,
                                m.down_transactional)  # fmt: skip
        if group == "table":
            key += (change.table or change.object,)
        groups.setdefault(key, []).append(change)
    return [_merge(members, group) for members in groups.values()]


def _merge(members: list[_Change], group: str) -> Migration:
    if len(members) == 1:
        return members[0].migration
    first = members[0].migration
    kind = members[0].kind or "changes"
    where = members[0].table if group == "table" and members[0].table else ""
    header = (
        f"{len(members)} changes ({kind.replace('_', ' ')}"
        f"{' on ' + where if where else ''}), run in order and undone in reverse:",
        *(line for m in members for line in m.migration.header[:2]),
    )
    up = ";\n".join(m.migration.up_sql.strip().rstrip(";") for m in members)
    down = ";\n".join(m.migration.down_sql.strip().rstrip(";") for m in reversed(members))
    slug = slugify(kind, _object_words(where) if where else f"{len(members)}_changes")
    return replace(first, slug=slug, up_sql=up, down_sql=down, header=header)


def _finding_change(
    finding: dict[str, Any], include_review: bool, skipped: list[Skipped]
) -> _Change | None:
    fix = finding.get("fix")
    if not fix:
        return None
    check, obj = finding["check"], finding["object"]
    if not fix.get("rollback_sql"):
        skipped.append(Skipped(check, obj, "no rollback is known; left for a person"))
        return None
    review = bool(fix.get("needs_review"))
    if review and not include_review:
        skipped.append(Skipped(check, obj, "needs a person's review (use --include-review)"))
        return None
    up, down = robust(fix["sql"]), robust(fix["rollback_sql"])
    index = _index_touched(up)
    header = (
        f"{finding['title']}: {obj}",
        f"finding: {check} [{finding['severity']}] key={finding['key']}",
        f"detail: {finding['detail']}",
        f"evidence: {_compact(finding.get('evidence') or {})}",
        f"expected effect: {_effect(finding)}",
    )
    return _Change(
        source=check,
        object=index or obj,
        order=1 if check in ("duplicate_index", "redundant_index", "invalid_index") else 0,
        migration=Migration(
            0,  # numbered by plan_fixes
            slugify(_VERBS.get(check, check), _object_words(index or obj)),
            up,
            down,
            transactional=bool(fix.get("transactional", True)),
            review_required=review,
            header=header,
        ),
        kind=_VERBS.get(check, check),
        table=_table_of(up, down) or obj.split(" (")[0],
    )


def _effect(finding: dict[str, Any]) -> str:
    verify = finding.get("verify")
    tail = f" Verify: {verify}" if verify else ""
    return f"`prodready audit` no longer reports {finding['key']}.{tail}"


def _advisor_changes(
    advisor: dict[str, Any], include_review: bool, skipped: list[Skipped]
) -> list[_Change]:
    changes: list[_Change] = []
    for rec in advisor.get("indexes", []):
        definition, rollback = rec.get("definition"), rec.get("rollback")
        index = _index_touched(definition or "")
        if not definition or not rollback or index is None:
            continue
        review = rec.get("confidence") == "unvalidated"
        if review and not include_review:
            skipped.append(
                Skipped(
                    ADVISOR,
                    index,
                    "unvalidated: the planner could not cost it (use --include-review)",
                )
            )
            continue
        header = (
            f"Index recommended by the advisor: {index} on {rec['table']}",
            f"finding: {ADVISOR} [{rec.get('confidence')}], "
            f"estimated size {human_bytes(rec.get('estimated_bytes') or 0)}",
            f"detail: {rec.get('reason', '')}",
            *(_helped(q) for q in (rec.get("queries") or [])[:3]),
            f"expected effect: workload cost {_cost_change(rec.get('benefit') or {})}",
        )
        changes += _requirements(rec, index, review, changes)
        changes.append(
            _Change(
                ADVISOR,
                index,
                0,
                Migration(
                    0,  # numbered by plan_fixes
                    slugify("add_index", _object_words(index)),
                    robust(definition),
                    robust(rollback),
                    transactional=False,
                    review_required=review,
                    header=header,
                ),
                kind="add_index",
                table=str(rec.get("table") or ""),
            )
        )
    for drop in advisor.get("drops", []):
        definition, rollback = drop.get("definition"), drop.get("rollback")
        if not definition or not rollback:
            continue
        header = (
            f"Index the advisor found {drop['reason']}: {drop['index']}",
            f"finding: {ADVISOR} drop ({drop['reason']}), "
            f"frees {human_bytes(drop.get('estimated_bytes') or 0)}",
            f"detail: {drop.get('detail', '')}",
            "expected effect: less write work and disk; no workload plan uses it",
        )
        changes.append(
            _Change(
                ADVISOR,
                drop["index"],
                1,
                Migration(
                    0,  # numbered by plan_fixes
                    slugify("drop_index", _object_words(drop["index"])),
                    robust(definition),
                    robust(rollback),
                    transactional=False,
                    review_required=False,
                    header=header,
                ),
                kind="drop_index",
                table=str(drop.get("table") or ""),
            )
        )
    return changes


def _requirements(
    rec: dict[str, Any], index: str, review: bool, planned: list[_Change]
) -> list[_Change]:
    """Statements an index needs first (CREATE EXTENSION pg_trgm), each its own migration.

    Its own migration so that `rollback` undoes it exactly: dropped only if we created it.
    """
    changes = []
    for statement in rec.get("requires") or []:
        if any(c.up == statement for c in planned):
            continue
        tree = _parse_one(statement)
        if not isinstance(tree, ast.CreateExtensionStmt) or not tree.extname:
            continue
        name = str(tree.extname)
        # squawk bans DROP EXTENSION; this one undoes exactly the CREATE of the up file
        down = "-- squawk-ignore ban-drop-extension\n" + render(
            sql.SQL("DROP EXTENSION IF EXISTS {}").format(sql.Identifier(name))
        )
        header = (
            f"Extension {name}, required by the advisor's index {index}",
            f"finding: {ADVISOR} requirement",
            f"expected effect: {index} can be built",
        )
        changes.append(
            _Change(
                ADVISOR,
                name,
                -1,  # before every index, so grouping can never put one ahead of it
                Migration(
                    0,  # numbered by plan_fixes
                    slugify("create_extension", name),
                    statement,
                    down,
                    transactional=True,
                    review_required=review,
                    header=header,
                ),
                kind="create_extension",
            )
        )
    return changes


def _helped(query: dict[str, Any]) -> str:
    return (
        f"helps: {query['query'][:200]} (calls {query['calls']:g}, "
        f"cost {query['cost_before']:g} -> {query['cost_after']:g})"
    )


def _cost_change(benefit: dict[str, Any]) -> str:
    before, after = benefit.get("workload_cost_before", 0), benefit.get("workload_cost_after", 0)
    return f"{before:,.0f} -> {after:,.0f} (estimated planner cost x calls)"


def _overlap(
    change: _Change, covered: set[tuple[str, tuple[str, ...]]], dropped: set[str]
) -> str | None:
    if change.order == 1 and change.object in dropped:
        return "the advisor already drops this index"
    key = _index_key(change.up)
    if key and change.source != ADVISOR:
        table, columns = key
        for other_table, other_columns in covered:
            if other_table == table and other_columns[: len(columns)] == columns:
                return "an index the advisor recommends leads with the same columns"
    return None


def _advisor_index_keys(changes: list[_Change]) -> set[tuple[str, tuple[str, ...]]]:
    keys = set()
    for change in changes:
        if change.order == 0:
            key = _index_key(change.up)
            if key:
                keys.add(key)
    return keys


def _unique(changes: list[_Change], skipped: list[Skipped]) -> list[_Change]:
    seen: set[str] = set()
    kept = []
    for change in changes:
        if change.up in seen:
            skipped.append(
                Skipped(change.source, change.object, "the same change is already planned")
            )
            continue
        seen.add(change.up)
        kept.append(change)
    return kept


def robust(script: str) -> str:
    """Index DDL made safe to re-run: IF NOT EXISTS on creates, IF EXISTS on drops.

    A resumed apply may meet an index that a previous, interrupted run already built.
    """
    pieces = []
    for statement in _statements(script):
        text = statement
        tree = _parse_one(statement)
        if isinstance(tree, ast.IndexStmt) and not tree.if_not_exists:
            text = _insert_after_keyword(
                statement, "INDEX CONCURRENTLY" if tree.concurrent else "INDEX", "IF NOT EXISTS"
            )
        elif isinstance(tree, ast.DropStmt) and _drops_index(tree) and not tree.missing_ok:
            text = _insert_after_keyword(
                statement, "INDEX CONCURRENTLY" if tree.concurrent else "INDEX", "IF EXISTS"
            )
        pieces.append(text)
    return ";\n".join(pieces)


def _insert_after_keyword(statement: str, keyword: str, words: str) -> str:
    position = statement.upper().find(keyword)
    if position < 0:
        return statement
    end = position + len(keyword)
    return f"{statement[:end]} {words}{statement[end:]}"


def _statements(script: str) -> list[str]:
    return split_statements(script)


def _parse_one(statement: str) -> ast.Node | None:
    parsed = parse_sql(statement)
    return parsed[0].stmt if parsed else None


def _drops_index(tree: ast.DropStmt) -> bool:
    from pglast.enums import ObjectType

    return tree.removeType == ObjectType.OBJECT_INDEX


def _index_touched(script: str) -> str | None:
    """The schema-qualified (or bare) name of the index a CREATE/DROP INDEX statement names."""
    for statement in _statements(script) if script else []:
        tree = _parse_one(statement)
        if isinstance(tree, ast.IndexStmt) and tree.idxname and tree.relation:
            schema = tree.relation.schemaname
            return f"{schema}.{tree.idxname}" if schema else tree.idxname
        if isinstance(tree, ast.DropStmt) and _drops_index(tree) and tree.objects:
            names = [n.sval for n in tree.objects[0]]
            return ".".join(names)
    return None


def _table_of(up: str, down: str) -> str | None:
    """The table an index change is on: from its CREATE INDEX (the up, or a drop's down)."""
    for script in (up, down):
        for statement in _statements(script):
            tree = _parse_one(statement)
            if isinstance(tree, ast.IndexStmt) and tree.relation is not None:
                return f"{tree.relation.schemaname or 'public'}.{tree.relation.relname}"
    return None


def _index_key(script: str) -> tuple[str, tuple[str, ...]] | None:
    """(table, plain key columns) of a CREATE INDEX without predicate, for coverage tests."""
    for statement in _statements(script):
        tree = _parse_one(statement)
        if not isinstance(tree, ast.IndexStmt) or tree.whereClause is not None:
            continue
        if tree.relation is None or not tree.indexParams:
            continue
        if tree.accessMethod not in (None, "btree"):
            continue
        columns = []
        for param in tree.indexParams:
            if param.name is None:
                break
            columns.append(param.name)
        relation = tree.relation
        table = f"{relation.schemaname or 'public'}.{relation.relname}"
        return (table, tuple(columns)) if columns else None
    return None


def _object_words(obj: str) -> str:
    """The object's name as file-name words, without a leading `public.`."""
    return obj.removeprefix("public.")


def _compact(evidence: dict[str, Any]) -> str:
    text = json.dumps(evidence, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= _EVIDENCE_CHARS else text[: _EVIDENCE_CHARS - 1] + "…"
