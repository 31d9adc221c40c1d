"""Candidate indexes from analysed statements: the shapes a DBA would try first.

B-trees put equality columns first (most selective first), then one range column or the
ORDER BY keys with their direction, so `WHERE buyer_id = $1 ORDER BY created_at DESC
LIMIT 50` is served by an ordered index scan that stops after 50 rows. Variants add
INCLUDE columns (index-only scans), a WHERE clause for rare literal predicates (partial
indexes), expressions (lower(email)) and join columns. Full-text, trigram and jsonb
searches get GIN candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from psycopg import sql

from prodready.advisor.analysis import Constant, QueryAnalysis, Scan, SortKey, TableName
from prodready.advisor.sizes import TableStats
from prodready.db.snapshot import Index

PARTIAL_MAX_SELECTIVITY = 0.25  # a literal predicate keeping at most this share is "rare"
PARTIAL_ALL_CONSTANTS = 0.5  # a WHERE of every literal conjunct, when it halves the index
PARTIAL_MAX_DISTINCT = 100  # beyond this a column holds identifiers, not categories
UNSELECTIVE = 0.5  # an equality keeping half the rows is not worth a key column
MAX_SHAPES_PER_SCAN = 40


@dataclass(frozen=True, order=True)
class IndexKey:
    """A key column (or expression) with its sort order and operator class."""

    expr: str
    is_column: bool = True
    desc: bool = False
    nulls_first: bool | None = None  # None: the direction's default
    opclass: str | None = None

    def flipped(self) -> IndexKey:
        nulls = None if self.nulls_first is None else not self.nulls_first
        return replace(self, desc=not self.desc, nulls_first=nulls)

    def plain(self) -> IndexKey:
        return IndexKey(self.expr, self.is_column, opclass=self.opclass)


@dataclass(frozen=True)
class Candidate:
    """A hypothetical index; equal candidates are the same index whatever query asked."""

    table: TableName
    keys: tuple[IndexKey, ...]
    include: tuple[str, ...] = ()
    predicate: str | None = None
    method: str = "btree"
    search: str | None = None  # "fulltext", "trigram", "jsonb" for GIN candidates
    columns: frozenset[str] = field(default=frozenset(), compare=False, hash=False)
    selectivity: float = field(default=1.0, compare=False, hash=False)  # share of rows indexed
    # equality columns a partial index's WHERE fixes (status = 'pending' -> status)
    fixed: tuple[str, ...] = field(default=(), compare=False, hash=False)

    @property
    def width(self) -> int:
        return len(self.keys) + len(self.include)

    def label(self) -> str:
        """Short text for logs and notes: orders(buyer_id, created_at DESC) WHERE ..."""
        keys = ", ".join(_key_text(k) for k in self.keys)
        text = f"{self.table.qualified}({keys})"
        if self.method != "btree":
            text = f"{self.table.qualified} USING {self.method} ({keys})"
        if self.include:
            text += f" INCLUDE ({', '.join(self.include)})"
        if self.predicate:
            text += f" WHERE {self.predicate}"
        return text

    def unfolded(self) -> Candidate:
        """A partial index on a category as the plain index it specialises: the fixed
        columns lead (`(created_at) WHERE queue_id = 3` -> `(queue_id, created_at)`)."""
        keys = [*(IndexKey(c) for c in self.fixed), *self.keys]
        return make(self.table, keys, self.include, method=self.method)

    def stem(self) -> str:
        """The base of a deterministic index name."""
        parts = [self.table.name, *(_name_part(k.expr) for k in self.keys)]
        if self.include:
            parts.append("incl")
        if self.predicate:
            parts.append("part")
        if self.method != "btree":
            parts.append(self.method)
        return "_".join(p for p in parts if p)

    def definition(
        self, name: str | None, *, concurrently: bool = False, partitioned: bool = False
    ) -> sql.Composed:
        """CREATE INDEX with every name quoted by psycopg; expressions come from pglast."""
        parts: list[sql.Composable] = [sql.SQL("CREATE INDEX")]
        if concurrently and not partitioned:  # refused on partitioned parents
            parts.append(sql.SQL("CONCURRENTLY"))
        if name is not None:
            parts.append(sql.Identifier(name))
        parts += [sql.SQL("ON"), sql.Identifier(self.table.schema, self.table.name)]
        if self.method != "btree":
            parts += [sql.SQL("USING"), sql.SQL(self.method)]
        keys = sql.SQL(", ").join(_key_sql(k) for k in self.keys)
        parts.append(sql.SQL("({})").format(keys))
        if self.include:
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in self.include)
            parts.append(sql.SQL("INCLUDE ({})").format(columns))
        if self.predicate:
            parts.append(sql.SQL("WHERE {}").format(sql.SQL(self.predicate)))
        return sql.SQL(" ").join(parts)


def make(
    table: TableName,
    keys: Iterable[IndexKey],
    include: Iterable[str] = (),
    predicate: str | None = None,
    *,
    method: str = "btree",
    search: str | None = None,
    expr_columns: Iterable[str] = (),
    predicate_columns: Iterable[str] = (),
    selectivity: float = 1.0,
    fixed: Iterable[str] = (),
) -> Candidate:
    """A candidate with duplicate keys removed and its referenced columns recorded."""
    unique: list[IndexKey] = []
    for key in keys:
        if all(key.expr != k.expr for k in unique):
            unique.append(key)
    key_names = {k.expr for k in unique}
    extra = tuple(c for c in dict.fromkeys(include) if c not in key_names)
    columns = {k.expr for k in unique if k.is_column} | set(extra)
    columns |= set(expr_columns) | set(predicate_columns)
    return Candidate(
        table,
        tuple(unique),
        extra,
        predicate,
        method,
        search,
        frozenset(columns),
        selectivity,
        tuple(fixed),
    )


def extended(candidate: Candidate, key: IndexKey) -> Candidate:
    """`candidate` with one more key column (Extend's step); INCLUDE loses that column."""
    include = tuple(c for c in candidate.include if c != key.expr)
    return replace(
        candidate,
        keys=(*candidate.keys, key),
        include=include,
        columns=candidate.columns | ({key.expr} if key.is_column else set()),
    )


def with_include(candidate: Candidate, column: str) -> Candidate:
    """`candidate` covering one more column (for index-only scans)."""
    return replace(
        candidate, include=(*candidate.include, column), columns=candidate.columns | {column}
    )


Page = tuple[frozenset[str], tuple[IndexKey, ...]]  # equality columns, ORDER BY keys


def page_orders(analyses: Iterable[QueryAnalysis]) -> dict[TableName, set[Page]]:
    """Per table, its paged scans (`col = ... ORDER BY k LIMIT n`): equalities and order."""
    found: dict[TableName, set[Page]] = {}
    for analysis in analyses:
        for scan in analysis.scans:
            if scan.sort and scan.limited and scan.eq and all(k.column for k in scan.sort):
                order = tuple(_sort_key(k) for k in scan.sort)
                found.setdefault(scan.table, set()).add((frozenset(scan.eq), order))
    return found


def ordered(candidate: Candidate, pages: set[Page]) -> list[Candidate]:
    """`candidate`, an index on exactly a page's equality columns, followed by that page's
    ORDER BY keys: (tenant) -> (tenant, created_at DESC), which serves a heavy tenant's page
    as well as a light one's."""
    if candidate.method != "btree" or candidate.include:
        return []
    if not all(k.is_column and k == k.plain() for k in candidate.keys):
        return []
    names = frozenset(k.expr for k in candidate.keys)
    return [
        replace(
            candidate,
            keys=(*candidate.keys, *order),
            columns=candidate.columns | {k.expr for k in order},
        )
        for eq, order in sorted(pages, key=lambda page: (sorted(page[0]), page[1]))
        if eq == names and not names & {k.expr for k in order}
    ]


def narrower(candidate: Candidate) -> list[Candidate]:
    """Slimmer forms of a wide b-tree (INCLUDE columns or 3+ keys): without its INCLUDE
    columns, and without its last key; the pruning pass keeps one when it serves as well."""
    if candidate.method != "btree":
        return []
    own = {k.expr for k in candidate.keys} | set(candidate.include)
    other = candidate.columns - own  # columns of the predicate and of expressions
    forms = []
    if candidate.include:
        forms.append((candidate.keys, ()))
    if len(candidate.keys) >= 3 or (candidate.include and len(candidate.keys) >= 2):
        forms.append((candidate.keys[:-1], ()))
    return [
        replace(
            candidate,
            keys=keys,
            include=include,
            columns=frozenset({k.expr for k in keys if k.is_column} | set(include) | other),
        )
        for keys, include in forms
    ]


# -- generation --


@dataclass
class Generator:
    """Builds candidates for every scan of the workload, remembering which statement asked."""

    tables: dict[TableName, TableStats]
    max_width: int = 3
    found: dict[Candidate, set[int]] = field(default_factory=dict)

    def add_statement(self, statement_id: int, analysis: QueryAnalysis) -> None:
        for scan in analysis.scans:
            stats = self.tables.get(scan.table)
            if stats is None:
                continue
            for candidate in list(_scan_candidates(scan, stats, self.max_width))[
                :MAX_SHAPES_PER_SCAN
            ]:
                self.found.setdefault(candidate, set()).add(statement_id)

    def attributes(self, analyses: Iterable[QueryAnalysis]) -> dict[TableName, list[IndexKey]]:
        """Per table, the columns Extend may append to a chosen index."""
        found: dict[TableName, list[IndexKey]] = {}
        for analysis in analyses:
            for scan in analysis.scans:
                keys = found.setdefault(scan.table, [])
                for column in [*scan.eq, *scan.in_list, *scan.range, *scan.joins, *scan.group]:
                    _append(keys, IndexKey(column))
                for sort in scan.sort:
                    if sort.column is not None:
                        _append(keys, _sort_key(sort))
        return found


def _scan_candidates(scan: Scan, stats: TableStats, width: int) -> Iterator[Candidate]:
    eq = _ordered_equalities(scan, stats)
    ins = [c for c in scan.in_list if c not in eq]
    ranges = [c for c in scan.range if c not in eq and c not in ins]
    sort = [_sort_key(k) for k in scan.sort]
    shapes: list[list[IndexKey]] = []
    keys_eq = [IndexKey(c) for c in eq]
    keys_in = [IndexKey(c) for c in ins]
    # single columns: what Extend and single-column advisors start from
    for column in [*eq, *ins, *ranges, *scan.joins, *scan.group[:1]]:
        shapes.append([IndexKey(column)])
    if sort and (scan.limited or eq):
        shapes.append(sort)
        shapes.append([*keys_eq, *sort])  # equality prefix, then the ORDER BY: no sort node
        if keys_in:
            shapes.append([*keys_eq, *keys_in, *sort])  # IN as a filter inside the scan
    if eq:
        shapes.append(keys_eq)
    if ins:
        shapes.append([*keys_eq, *keys_in])
    for column in ranges:
        shapes.append([*keys_eq, IndexKey(column)])
        if ins:
            shapes.append([*keys_eq, *keys_in, IndexKey(column)])
    for column in scan.joins:
        shapes.append([IndexKey(column), *keys_eq])
        shapes.append([*keys_eq, IndexKey(column)])
    if len(scan.group) > 1:
        shapes.append([IndexKey(c) for c in scan.group])
    yield from _btrees(scan, shapes, width, None)
    yield from _partials(scan, stats, eq, ins, ranges, sort, width)
    yield from _expressions(scan, keys_eq, width)
    yield from _searches(scan)


@dataclass(frozen=True)
class _Where:
    """A partial index's predicate, the columns it reads and the share of rows it keeps."""

    sql: str
    columns: frozenset[str]
    selectivity: float
    fixed: tuple[str, ...]


def _btrees(
    scan: Scan, shapes: list[list[IndexKey]], width: int, where: _Where | None
) -> Iterator[Candidate]:
    for shape in shapes:
        keys = _dedupe(shape)[:width]
        if not keys:
            continue
        variants: list[list[str]] = [[]]
        covering = _covering(scan, keys, width, where)
        if covering:
            variants.append(covering)
        for include in variants:
            yield make(
                scan.table,
                keys,
                include,
                predicate=where.sql if where else None,
                predicate_columns=where.columns if where else (),
                selectivity=where.selectivity if where else 1.0,
                fixed=where.fixed if where else (),
            )


def _covering(scan: Scan, keys: list[IndexKey], width: int, where: _Where | None) -> list[str]:
    """INCLUDE columns for an index-only scan, when they fit in the width. A partial index's
    own predicate columns are left out: the quals it implies are not rechecked."""
    if scan.star or any(not k.is_column for k in keys):
        return []
    rest = sorted(scan.used - {k.expr for k in keys} - (where.columns if where else set()))
    return rest if 0 < len(rest) <= width - len(keys) else []


def _partials(
    scan: Scan,
    stats: TableStats,
    eq: list[str],
    ins: list[str],
    ranges: list[str],
    sort: list[IndexKey],
    width: int,
) -> Iterator[Candidate]:
    """Partial indexes: WHERE the rare literal predicates (or all of them), keys the rest.

    An ORDER BY ... LIMIT also gets its sort keys under a WHERE of all the literal
    predicates but IN lists, however common: the scan then walks only matching rows in
    order and stops at the limit, with nothing left to filter (so no risk that matching
    rows come late). A row-level security policy often repeats those predicates (status =
    'active' AND deleted_at IS NULL): the index predicate then implies the policy's too.
    """
    constants = [c for c in scan.constants if _categorical(c, stats)]
    if not constants:
        return
    selectivity = {c: stats.selectivity(c.column, c.kind, c.values) for c in constants}
    rare = [c for c in constants if (selectivity[c] or 1.0) <= PARTIAL_MAX_SELECTIVITY]
    variants = []
    if rare:
        variants.append(rare)
    if _share(constants, selectivity) <= PARTIAL_ALL_CONSTANTS and len(constants) > len(rare):
        variants.append(constants)
    for variant in variants:
        where = _where(variant, selectivity)
        keys_eq = [IndexKey(c) for c in eq if c not in where.fixed]
        keys_in = [IndexKey(c) for c in ins if c not in where.fixed]
        shapes = [[*keys_eq, *keys_in]]
        if sort:
            shapes.append([*keys_eq, *sort])
        shapes += [[*keys_eq, IndexKey(c)] for c in ranges if c not in where.fixed]
        shapes += [[IndexKey(c), *keys_eq] for c in scan.joins if c not in where.fixed]
        if not any(shapes):
            # nothing left to seek on: a small index on the predicate's own column
            shapes.append([IndexKey(sorted(where.columns)[0])])
        yield from _btrees(scan, shapes, width, where)
    # IN lists are left out: they are the sets a user picks (a status tab), not the fixed
    # conditions (active, not deleted) every call of the query shares
    fixed = [c for c in constants if c.kind != "in"]
    if sort and scan.limited and fixed and fixed not in variants:
        where = _where(fixed, selectivity)
        keys_eq = [IndexKey(c) for c in eq if c not in where.fixed]
        yield from _btrees(scan, [[*keys_eq, *sort]], width, where)


def _share(constants: list[Constant], selectivity: dict[Constant, float | None]) -> float:
    """Share of rows all of `constants` keep (independent columns; unknown counts as 1)."""
    share = 1.0
    for constant in constants:
        share *= selectivity[constant] or 1.0
    return share


def _where(constants: list[Constant], selectivity: dict[Constant, float | None]) -> _Where:
    fixed = {c.column for c in constants if c.kind in ("eq", "bool", "null")}
    return _Where(
        " AND ".join(sorted(c.sql for c in constants)),
        frozenset(c.column for c in constants),
        _share(constants, selectivity),
        tuple(sorted(fixed)),
    )


def _categorical(constant: Constant, stats: TableStats) -> bool:
    """A literal that names a category (status = 'pending'), not one row (id = 42).

    NULL tests and booleans always qualify; an equality only on a column that is no key
    (primary, unique or foreign), has few distinct values, and whose most common values
    in pg_stats include every compared value.
    """
    if constant.kind in ("null", "notnull", "bool"):
        return True
    if constant.column in stats.identifiers:
        return False  # category_id = 28 is one parent's rows, however few categories exist
    column = stats.columns.get(constant.column)
    distinct = stats.distinct(constant.column)
    if column is None or distinct is None or distinct > PARTIAL_MAX_DISTINCT:
        return False
    return all(value in column.mcv for value in constant.values)


def _expressions(scan: Scan, keys_eq: list[IndexKey], width: int) -> Iterator[Candidate]:
    for predicate in scan.expressions:
        key = IndexKey(predicate.expr, is_column=False)
        for keys in ([key], [*keys_eq, key]):
            trimmed = _dedupe(keys)[:width]
            if key in trimmed:
                yield make(scan.table, trimmed, expr_columns=predicate.columns)


def _searches(scan: Scan) -> Iterator[Candidate]:
    for search in scan.searches:
        is_column = search.column is not None
        opclass = "gin_trgm_ops" if search.kind == "trigram" else None
        key = IndexKey(search.expr, is_column=is_column, opclass=opclass)
        columns = [search.column] if search.column else []
        yield make(
            scan.table,
            [key],
            method="gin",
            search=search.kind,
            expr_columns=columns,
        )


def _ordered_equalities(scan: Scan, stats: TableStats) -> list[str]:
    """Equality columns, most selective first; unselective ones (a boolean flag) left out."""
    columns = [*scan.eq, *(c for c in scan.null if c not in scan.eq)]
    literal = {c.column: c for c in scan.constants if c.kind in ("eq", "bool", "null")}
    scored = []
    for position, column in enumerate(columns):
        constant = literal.get(column)
        if constant is not None:
            share = stats.selectivity(column, constant.kind, constant.values)
        else:
            distinct = stats.distinct(column)
            share = 1.0 / distinct if distinct else None
        scored.append((share if share is not None else 0.1, position, column))
    scored.sort()
    kept = [column for share, _, column in scored if share < UNSELECTIVE]
    return kept or [column for _, _, column in scored[:1]]


def _sort_key(sort: SortKey) -> IndexKey:
    return IndexKey(sort.expr, sort.column is not None, sort.desc, sort.nulls_first)


def _dedupe(keys: list[IndexKey]) -> list[IndexKey]:
    seen: set[str] = set()
    kept = []
    for key in keys:
        if key.expr not in seen:
            seen.add(key.expr)
            kept.append(key)
    return kept


def _append(keys: list[IndexKey], key: IndexKey) -> None:
    if key not in keys:
        keys.append(key)


# -- what existing indexes already serve --


def served_by(candidate: Candidate, index: Index) -> bool:
    """True when a valid existing index already does everything the candidate would."""
    if not index.is_valid or index.method != candidate.method:
        return False
    if index.predicate is not None and index.predicate != candidate.predicate:
        return False
    if candidate.method != "btree":
        return _same_search(candidate, index)
    n = len(candidate.keys)
    if index.n_key_columns < n or any(not k.is_column for k in candidate.keys):
        return False
    if 0 in index.attnums[:n] or index.key_columns[:n] != [k.expr for k in candidate.keys]:
        return False
    if any(k.opclass for k in candidate.keys):
        return False
    wanted = [_desc_bits(k) for k in candidate.keys]
    have = list(index.options[:n])
    flipped = [bits ^ 3 for bits in wanted]  # a backward scan serves the mirror order
    if have != wanted and have != flipped:
        return False
    return set(candidate.include) <= set(index.columns)


def _same_search(candidate: Candidate, index: Index) -> bool:
    """A GIN index on the same column or expression, with the same operator class when the
    candidate needs a particular one (gin_trgm_ops)."""
    key = candidate.keys[0]
    if index.n_key_columns < 1 or not index.columns:
        return False
    if key.is_column:
        same = index.attnums[0] != 0 and index.columns[0] == key.expr
    else:
        same = index.attnums[0] == 0 and _normal(index.columns[0]) == _normal(key.expr)
    return same and (key.opclass is None or index.opclasses[:1] == [key.opclass])


def _normal(expr: str) -> str:
    """Expression text without casts, spaces or parentheses: pg_get_indexdef adds them."""
    text = re.sub(r"::[a-z_ ]+(\[\])?", "", expr.lower())
    return re.sub(r"[\s()]", "", text)


def _desc_bits(key: IndexKey) -> int:
    """pg_index.indoption bits: 1 DESC, 2 NULLS FIRST (DESC defaults to NULLS FIRST)."""
    nulls_first = key.desc if key.nulls_first is None else key.nulls_first
    return (1 if key.desc else 0) | (2 if nulls_first else 0)


# -- SQL of one key --


def _key_sql(key: IndexKey) -> sql.Composable:
    parts: list[sql.Composable] = [
        sql.Identifier(key.expr) if key.is_column else sql.SQL("({})").format(sql.SQL(key.expr))
    ]
    if key.opclass:
        parts.append(sql.Identifier(key.opclass))
    if key.desc:
        parts.append(sql.SQL("DESC"))
    if key.nulls_first is not None:
        parts.append(sql.SQL("NULLS FIRST" if key.nulls_first else "NULLS LAST"))
    return sql.SQL(" ").join(parts)


def _key_text(key: IndexKey) -> str:
    text = key.expr if key.is_column else f"({key.expr})"
    if key.opclass:
        text += f" {key.opclass}"
    if key.desc:
        text += " DESC"
    if key.nulls_first is not None:
        text += " NULLS FIRST" if key.nulls_first else " NULLS LAST"
    return text


def _name_part(expr: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", expr).strip("_").lower()
