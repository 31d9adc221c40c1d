"""From attempts to the matrix a person reads, and from leaks to the policy to fix."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from prodready.db.snapshot import quote_ident
from prodready.rls.model import Attempt, Leak, Outcome, TenantTable

if TYPE_CHECKING:
    from prodready.rls.discover import Plan

COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE")


def cells(attempts: list[Attempt], public: dict[str, set[str]]) -> list[Attempt]:
    """One entry per (table, command, role): the attempt that decides its outcome.

    Rows of the other tenant that the same role also sees with no identity at all are
    public by a policy's design (a public profile, an active product) when a SELECT policy
    for that role never asks who is asking; otherwise (no RLS, or an identity test with an
    escape such as `auth.uid() IS NULL OR ...`) they stay a leak. `public` maps a table to
    the roles such a policy covers ('public' for all)."""
    groups: dict[tuple[str, str, str], list[Attempt]] = {}
    anonymous: dict[tuple[str, str], int] = {}
    for a in attempts:
        if a.kind == "read_anonymous":
            anonymous[(a.table, a.role)] = a.rows
            continue
        groups.setdefault((a.table, a.command, a.role), []).append(a)
    matrix = []
    for (table, _command, role), group in groups.items():
        readers = public.get(table, set())
        by_design = role in readers or "public" in readers
        seen = anonymous.get((table, role)) if by_design else None
        matrix.append(_decide(group, seen, by_design))
    order = {c: i for i, c in enumerate(COMMANDS)}
    return sorted(matrix, key=lambda a: (a.table, order.get(a.command, 9), a.role))


# When several attempts leak in one cell, the matrix shows the most direct one.
LEAK_ORDER = (
    "read_other", "read_other_metadata", "update_other", "delete_other", "update_blind",
    "delete_blind", "insert_as_other", "move_to_other",
)  # fmt: skip


def _decide(group: list[Attempt], seen_anonymously: int | None, by_design: bool) -> Attempt:
    rank = {kind: i for i, kind in enumerate(LEAK_ORDER)}
    for attempt in sorted(group, key=lambda a: rank.get(a.kind, len(rank))):
        if attempt.outcome is not Outcome.LEAK:
            continue
        if attempt.kind == "read_other_metadata":
            plain = next((a for a in group if a.kind == "read_other"), None)
            if plain is not None and plain.rows >= attempt.rows:
                continue  # the edited claims showed nothing the plain identity did not
        if attempt.kind == "read_other" and by_design:
            anyone = attempt.role == "anon" or (
                seen_anonymously is not None and seen_anonymously >= attempt.rows
            )
            if anyone:  # the policy shows these rows to everyone: shared, not stolen
                return replace(attempt, outcome=Outcome.PUBLIC)
        return attempt
    for wanted in (Outcome.OWN_ONLY, Outcome.DENIED, Outcome.ERROR):
        found = next((a for a in group if a.outcome is wanted and not _other(a)), None)
        found = found or next((a for a in group if a.outcome is wanted), None)
        if found is not None:
            return found
    return group[0]


def _other(attempt: Attempt) -> bool:
    return attempt.kind.endswith("_other")


def leaks(matrix: list[Attempt], plan: Plan) -> list[Leak]:
    """Each leaking cell, with the policies that let it through and the fix."""
    tables = {t.qualified: t for t in plan.tables}
    bypasses = {b.name: b for b in plan.bypasses}
    found = []
    for cell in matrix:
        if cell.outcome is not Outcome.LEAK:
            continue
        if cell.table in bypasses:
            policy, fix = _blame_bypass(bypasses[cell.table].kind, cell.table)
        else:
            policy, fix = _blame(
                tables[cell.table], cell, plan.identity.mode, plan.identity.setting
            )
        found.append(
            Leak(
                cell.table,
                cell.command,
                cell.role,
                cell.kind,
                cell.statement,
                cell.rows,
                policy,
                fix,
            )
        )
    return found


def _blame(table: TenantTable, cell: Attempt, mode: str, setting: str | None) -> tuple[str, str]:
    name = f"{quote_ident(table.schema)}.{quote_ident(table.name)}"
    if not table.rls_enabled:
        return (
            "row-level security is disabled",
            f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY, with a policy per command that "
            f"checks the owner ({_owner_check(table, mode, setting)})",
        )
    applies = [
        p for p in table.policies
        if p[3] and p[1] in (cell.command, "ALL") and ("public" in p[2] or cell.role in p[2])
    ]  # fmt: skip
    names = ", ".join(quote_ident(p[0]) for p in applies) or "no permissive policy (?)"
    check = _owner_check(table, mode, setting)
    if cell.kind in ("move_to_other", "insert_as_other"):
        fix = f"give {names} a WITH CHECK that pins the owner: WITH CHECK ({check})"
    elif cell.kind == "read_other_metadata":
        fix = (
            f"{names} trusts user_metadata, which every user can edit: test app_metadata "
            f"(set only by the server) or a table the user cannot write, e.g. USING ({check})"
        )
    else:
        fix = f"narrow the USING of {names} to the owner: USING ({check})"
    return names, fix


def _blame_bypass(kind: str, name: str) -> tuple[str, str]:
    if kind == "view":
        return (
            f"view {name} runs as its owner, so the table's policies do not apply",
            f"ALTER VIEW {name} SET (security_invoker = true)",
        )
    return (
        f"{name} is SECURITY DEFINER and does not check who owns the row it is given",
        f"check the caller inside {name} (WHERE owner = (SELECT auth.uid())) or make it "
        "SECURITY INVOKER",
    )


def _owner_check(table: TenantTable, mode: str, setting: str | None) -> str:
    """The owner test a policy on this table should contain."""
    me = (
        "(SELECT auth.uid())"
        if mode == "supabase"
        else (f"(SELECT current_setting('{setting}'))" if setting else "<the caller's id>")
    )
    tests = []
    for path in table.owners:
        if path.direct:
            tests.append(f"{quote_ident(path.column)} = {me}")
        elif path.parent is not None:
            schema, parent, key = path.parent
            tests.append(
                f"EXISTS (SELECT 1 FROM {quote_ident(schema)}.{quote_ident(parent)} p WHERE "
                f"p.{quote_ident(key)} = {quote_ident(path.column)} AND <p's owner> = {me})"
            )
    return " OR ".join(tests) or f"<owner> = {me}"
