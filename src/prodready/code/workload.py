"""The SQL a code base runs, as one more workload source for the index advisor.

`advise --workload code:PATH` scans PATH and offers every constant SQL string passed to a
query call in server code (and scripts). Driver placeholders (`%s`, `%(name)s`, `?`,
`:name`) become `$n`, so the advisor fills them with realistic values from pg_stats as it
does for pg_stat_statements. Each call site weighs one call: code says what runs, not how
often.
"""

from __future__ import annotations

import re
from pathlib import Path

from prodready.advisor.model import WorkloadQuery
from prodready.advisor.workload import (
    PLANNABLE,
    merge_workloads,
    statement_fingerprint,
    statement_kinds,
)
from prodready.code.collect import collect
from prodready.errors import UsageError

# A quoted string, or a placeholder of one of the drivers' styles (outside quotes).
_TOKEN = re.compile(r"'(?:[^']|'')*'|%\((\w+)\)s|%s|(?<![:\w]):([A-Za-z_]\w*)|\?(?![|&])")
_ROLES = frozenset({"server", "script"})


def from_code(path: Path) -> list[WorkloadQuery]:
    """Plannable SQL literals passed to query calls under `path`, grouped by fingerprint."""
    if not path.exists():
        raise UsageError(f"code workload not found: {path}")
    snapshot = collect(path)
    queries = []
    for file in snapshot.files:
        if file.role not in _ROLES:
            continue
        for call in file.queries:
            if call.sql is None:
                continue
            text = dollar_params(call.sql)
            kinds = statement_kinds(text)
            if not kinds or not all(kind in PLANNABLE for kind in kinds):
                continue  # fragments and DDL: nothing an index can serve
            source = f"code:{file.path}:{call.line}"
            queries.append(WorkloadQuery(statement_fingerprint(text), text, 1.0, source))
    return merge_workloads([queries]) if queries else []


def dollar_params(sql: str) -> str:
    """`... WHERE a = %s AND b = %(b)s` -> `... WHERE a = $1 AND b = $2` (`$n` kept as is)."""
    taken = [int(n) for n in re.findall(r"\$(\d+)", sql)]
    counter = max(taken, default=0)
    named: dict[str, int] = {}

    def replace(match: re.Match[str]) -> str:
        nonlocal counter
        token = match.group(0)
        if token.startswith("'"):
            return token
        name = match.group(1) or match.group(2)
        if name is not None and name in named:
            return f"${named[name]}"
        counter += 1
        if name is not None:
            named[name] = counter
        return f"${counter}"

    return _TOKEN.sub(replace, sql)
