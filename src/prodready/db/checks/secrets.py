"""Credentials written into the catalog, where every role that can connect may read them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prodready.code.secrets import SecretHit, find_secrets
from prodready.db.snapshot import Snapshot, qualify, quote_ident
from prodready.model import Category, Issue, Severity
from prodready.registry import Options, check


@check(
    "secret_in_catalog",
    title="Credential stored in a function, trigger, default or view",
    category=Category.SECURITY,
    severity=Severity.HIGH,
)
def secret_in_catalog(snap: Snapshot, opts: Options) -> Iterator[Issue]:
    """An API key or bearer token written literally into a function body, a trigger's
    arguments, a column default or a view definition. pg_proc, pg_trigger, pg_attrdef and
    pg_views are readable by every role that can connect (Supabase's anon included, through
    SQL access), so the key is as public as the database's least trusted login; it also
    lands in every schema dump and migration. Critical for keys that take over an account
    (service_role JWTs, cloud and payment keys). Rotate the key, then read it at run time
    from a secrets store (Supabase Vault, or the app's environment) instead. Same engine as
    the source scan: detect-secrets plus rules for Supabase, OpenAI and Anthropic keys;
    output shows the first four characters and a fingerprint, never the key."""
    for where, obj, text in _catalog_texts(snap):
        hits = find_secrets(text)
        if hits:
            yield _issue(where, obj, hits)


def _catalog_texts(snap: Snapshot) -> Iterator[tuple[str, str, str]]:
    """(kind of place, object name, text) for every user-written piece of catalog text."""
    for fn in snap.functions:
        if fn.extension is None and fn.body:
            yield "function body", fn.signature, fn.body
    for trigger in snap.triggers:
        yield (
            "trigger",
            f"{trigger.table_qualified} (trigger {quote_ident(trigger.name)})",
            (trigger.definition),
        )
    for column in snap.columns:
        if column.default:
            obj = f"{qualify(column.schema, column.table)}.{quote_ident(column.name)}"
            yield "column default", obj, column.default
    for view in snap.views:
        if view.extension is None and view.definition:
            yield "view definition", view.qualified, view.definition


def _issue(where: str, obj: str, hits: list[SecretHit]) -> Issue:
    kinds = sorted({h.kind for h in hits})
    shown = ", ".join(f"{h.kind} {h.preview} (line {h.line})" for h in hits[:3])
    more = f" and {len(hits) - 3} more" if len(hits) > 3 else ""
    evidence: dict[str, Any] = {"where": where, "secrets": [h.to_json() for h in hits]}
    return Issue(
        object=obj,
        severity=max(h.severity for h in hits),
        detail=(
            f"The {where} of {obj} holds {len(hits)} credential(s): {shown}{more}. Any role "
            f"that can connect can read it from the catalog. Rotate the {' and '.join(kinds)} "
            "and read it at run time from a secrets store instead."
        ),
        evidence=evidence,
    )
