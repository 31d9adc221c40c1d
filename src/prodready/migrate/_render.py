"""Plain text or JSON for the results of apply/rollback and for `migrations status`."""

from __future__ import annotations

import json
from dataclasses import asdict

from prodready.errors import UsageError
from prodready.migrate._results import Action, ApplyResult, MigrationOutcome, StatusRow


def render_result(result: ApplyResult, fmt: str = "terminal") -> str:
    """Plain text for a terminal, or JSON."""
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"
    if fmt != "terminal":
        raise UsageError(f"unknown format {fmt!r} (terminal or json)")
    title = f"prodready {result.command}{' (dry run)' if result.dry_run else ''} on {result.target}"
    lines = [title]
    width = max((len(m.name) for m in result.migrations), default=0)
    for m in result.migrations:
        lines.append(f"  {str(m.action).replace('_', ' '):<16}{m.name:<{width}}  {_detail(m)}")
    if not result.migrations:
        lines.append("  no migrations in the directory")
    done = [f"{n} {a.replace('_', ' ')}" for a, n in result.counts().items() if n]
    lines.append(f"{len(result.migrations)} migrations" + (f": {', '.join(done)}" if done else ""))
    return "\n".join(lines) + "\n"


def render_status(rows: list[StatusRow], fmt: str = "terminal") -> str:
    """`prodready migrations status` as plain text or JSON."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False) + "\n"
    if fmt != "terminal":
        raise UsageError(f"unknown format {fmt!r} (terminal or json)")
    if not rows:
        return "no migrations\n"
    width = max(len(r.name) for r in rows)
    lines = []
    for r in rows:
        parts = [f"{r.name:<{width}}", f"{r.status:<21}"]
        if r.applied_at:
            parts.append(f"applied {r.applied_at[:16].replace('T', ' ')} UTC")
        if r.status in ("running", "failed", "interrupted") and r.statements:
            parts.append(f"{r.steps_done} of {r.statements} statements done")
        if r.problem:
            parts.append(f"PROBLEM: {r.problem}")
        if r.last_error:
            parts.append(f"last error: {r.last_error}")
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def _detail(m: MigrationOutcome) -> str:
    if m.action == Action.SKIPPED:
        return m.note or ""
    parts = [plural(m.statements)]
    if m.resumed_from:
        parts.append(f"resumed at statement {m.resumed_from + 1}")
    if m.action in (Action.APPLIED, Action.ROLLED_BACK):
        parts.append(f"{m.attempts} attempt{'s' if m.attempts != 1 else ''}")
        parts.append(f"{m.duration_ms} ms")
    if not m.transactional:
        parts.append("non-transactional")
    return ", ".join(parts)


def plural(n: int) -> str:
    return f"{n} statement{'s' if n != 1 else ''}"
