"""Facts from Python source, read from its `ast` (not regexes).

One visitor walks the module once, keeping the loop it is in, and records what the checks
need: database calls (psycopg, asyncpg, SQLAlchemy, Django ORM, supabase-py) and their loop,
SQL built by f-strings/concatenation/%/format, print(), env reads, settings validation,
CORS with credentials, tracebacks in responses.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from prodready.code import sqltext
from prodready.code.snapshot import EnvRead, Flag, LogCall, ParsedFacts, QueryCall, SqlText

# A name anywhere in the receiver chain that says "this talks to the database".
DB_NAMES = frozenset({
    "objects", "session", "db", "cursor", "cur", "conn", "connection", "supabase", "engine",
    "pool", "database", "tx", "transaction",
})  # fmt: skip
DB_METHODS = frozenset({
    "execute", "fetch", "fetchrow", "fetchval", "get", "filter", "exclude", "all", "first",
    "count", "exists", "create", "update", "delete", "get_or_create", "update_or_create",
    "scalar", "scalars", "query", "raw", "table", "select", "insert", "upsert", "rpc", "one",
    "one_or_none", "aggregate", "values", "values_list", "annotate", "from_",
})  # fmt: skip
SQL_METHODS = frozenset({
    "execute", "executemany", "executescript", "raw", "extra", "text", "read_sql",
    "read_sql_query", "fetch", "fetchrow", "fetchval", "exec_driver_sql", "RawSQL", "mogrify",
    "run", "cursor",
})  # fmt: skip
# Query-builder methods that accept a raw SQL fragment as a string (SQLAlchemy's text
# coercion, Django's extra()): a built string there is injection even without SELECT.
FRAGMENT_METHODS = frozenset({"filter", "order_by", "group_by", "having", "distinct", "where"})
_BUILDER_NAMES = frozenset({"query", "session", "select", "objects"})
RESPONSES = frozenset({
    "JSONResponse", "Response", "HTMLResponse", "PlainTextResponse", "jsonify",
    "make_response", "HttpResponse", "JsonResponse", "HTTPException", "HttpResponseServerError",
    "ORJSONResponse", "UJSONResponse", "abort",
})  # fmt: skip
ENV_VALIDATORS = ("pydantic_settings", "environs", "environ", "dynaconf", "envparse")
_SENSITIVE = re.compile(
    r"(?i)\b(password|passwd|token|secret|authorization|api_?key|cookie)s?\b"
    r"|\brequest\.(?:body|json|form|data|headers)\b"
)
_DEV_GUARD = re.compile(r"DEBUG|development|is_dev", re.IGNORECASE)
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")


def py_facts(text: str) -> ParsedFacts:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return ParsedFacts(parsed=False)
    visitor = _Visitor(look_for_sql=bool(sqltext.MAYBE_SQL.search(text)))
    visitor.visit(tree)
    visitor.finish()
    return visitor.facts


class _Visitor(ast.NodeVisitor):
    def __init__(self, look_for_sql: bool) -> None:
        self.facts = ParsedFacts()
        self.look_for_sql = look_for_sql
        self.loops: list[str] = []
        self.guards = 0  # depth of `if DEBUG:`-style blocks
        self.assigned: dict[str, ast.expr] = {}
        self.chained: set[int] = set()  # inner calls of a chain; the outermost reports
        self.tracebacks: set[str] = set()  # names holding traceback text
        self.settings: dict[str, tuple[int, bool]] = {}

    # -- structure: imports, loops, functions, guards --

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._imported(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module:
            self._imported(node.module, node.lineno)

    def _imported(self, module: str, line: int) -> None:
        self.facts.imports.append(module)
        if module.split(".")[0] in ENV_VALIDATORS:
            self.facts.env_validation.append(Flag(line, f"import {module}"))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if any(_dotted(base).endswith("BaseSettings") for base in node.bases):
            self.facts.env_validation.append(Flag(node.lineno, f"class {node.name}(BaseSettings)"))
        self.generic_visit(node)

    def _loop_body(self, kind: str, body: list[ast.stmt]) -> None:
        self.loops.append(kind)
        for stmt in body:
            self.visit(stmt)
        self.loops.pop()

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.target)
        self.visit(node.iter)  # evaluated once, before the loop
        self._loop_body("for", node.body)
        for stmt in node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_While(self, node: ast.While) -> None:
        self.visit(node.test)
        self._loop_body("while", node.body)
        for stmt in node.orelse:
            self.visit(stmt)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        first, *rest = node.generators
        self.visit(first.iter)
        self.loops.append("comprehension")
        self.visit(first.target)
        for cond in first.ifs:
            self.visit(cond)
        for gen in rest:
            self.visit(gen)
        self.visit(node.elt)
        self.loops.pop()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = _comprehension

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self.visit(node.generators[0].iter)
        self.loops.append("comprehension")
        for gen in node.generators[1:]:
            self.visit(gen)
        self.visit(node.key)
        self.visit(node.value)
        self.loops.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        saved, self.loops = self.loops, []  # a function defined in a loop runs when called
        self.generic_visit(node)
        self.loops = saved

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        guard = bool(_DEV_GUARD.search(ast.unparse(node.test)))
        self.visit(node.test)
        self.guards += guard
        for stmt in node.body:
            self.visit(stmt)
        self.guards -= guard
        for stmt in node.orelse:
            self.visit(stmt)

    # -- assignments, settings, strings --

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.assigned[target.id] = node.value
                if _is_traceback_call(node.value):
                    self.tracebacks.add(target.id)
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, bool):
                    self.settings[target.id] = (node.lineno, node.value.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        """`query += user_input` keeps building the SQL held in `query`."""
        target = node.target
        if isinstance(target, ast.Name) and isinstance(node.op, ast.Add):
            before = self.assigned.get(target.id)
            if before is not None:
                grown = ast.BinOp(left=before, op=ast.Add(), right=node.value)
                self.assigned[target.id] = ast.copy_location(grown, node)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if self.look_for_sql and isinstance(node.value, str) and sqltext.looks_like_sql(node.value):
            self.facts.sql_texts.append(SqlText(node.lineno, sqltext.shorten(node.value)))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        if self.look_for_sql:
            text = _fstring_text(node)
            if sqltext.looks_like_sql(text):
                self.facts.sql_texts.append(SqlText(node.lineno, sqltext.shorten(text)))
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                self.visit(value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        key = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if isinstance(key, str) and _dotted(node.value) in ("os.environ", "environ"):
            self.facts.env_reads.append(EnvRead(node.lineno, key))
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not self.guards and self._has_traceback(node.value):
            self.facts.stack_responses.append(Flag(node.lineno, "traceback in a returned value"))
        self.generic_visit(node)

    # -- calls --

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func)
        last = name.rpartition(".")[2]
        if name == "print":
            match = _SENSITIVE.search(" ".join(ast.unparse(a) for a in node.args))
            self.facts.logs.append(LogCall(node.lineno, "print", match and match.group(0)))
        self._env_call(node, name)
        self._cors_call(node, name, last)
        if last in RESPONSES and not self.guards:
            parts = [*node.args, *(k.value for k in node.keywords)]
            if any(self._has_traceback(part) for part in parts):
                self.facts.stack_responses.append(Flag(node.lineno, f"traceback in {last}(...)"))
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Call):
            self._mark_chain(node.func.value)
        self._query_call(node, name, last)
        self.generic_visit(node)

    def _mark_chain(self, inner: ast.Call) -> None:
        self.chained.add(id(inner))
        if isinstance(inner.func, ast.Attribute) and isinstance(inner.func.value, ast.Call):
            self._mark_chain(inner.func.value)

    def _query_call(self, node: ast.Call, name: str, last: str) -> None:
        first = node.args[0] if node.args else None
        built = self._built_sql(first) if first is not None and last in SQL_METHODS else None
        if built is None:
            built = self._built_fragment(node, name, last)
        parts = {p.lower() for p in name.split(".")[:-1]}
        is_db = (
            last in DB_METHODS
            and bool(parts & DB_NAMES)
            and not name.startswith(("request.", "self.request."))
        )
        if not (is_db or built) or (id(node) in self.chained and not built):
            return
        sql = (
            first.value
            if isinstance(first, ast.Constant) and isinstance(first.value, str)
            else None
        )
        self.facts.queries.append(
            QueryCall(
                line=node.lineno,
                call=name,
                sql=sql if sql and sqltext.looks_like_sql(sql) else None,
                built=built[0] if built else None,
                built_line=built[1] if built and built[1] != node.lineno else None,
                loop=self.loops[-1] if self.loops and is_db else None,
            )
        )

    def _built_fragment(self, node: ast.Call, name: str, last: str) -> tuple[str, int] | None:
        """A built string passed as a raw SQL fragment: `.extra(where=[...])`,
        SQLAlchemy's `.filter("a = {}".format(x))` on a query."""
        parts: list[ast.expr] = []
        if last == "extra":
            for keyword in node.keywords:
                if keyword.arg in ("where", "select", "tables", "order_by"):
                    value = keyword.value
                    parts += value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
        elif last in FRAGMENT_METHODS and set(name.lower().split(".")[:-1]) & _BUILDER_NAMES:
            parts = list(node.args)
        for part in parts:
            built = self._built_sql(part, fragment=True)
            if built is not None:
                return built
        return None

    def _built_sql(
        self, arg: ast.expr, depth: int = 0, fragment: bool = False
    ) -> tuple[str, int] | None:
        """How `arg` builds SQL from non-constant input; `fragment`: any piece of SQL."""

        def sql_like(text: str) -> bool:
            return fragment or sqltext.looks_like_sql(text)

        if isinstance(arg, ast.Name) and depth == 0 and arg.id in self.assigned:
            return self._built_sql(self.assigned[arg.id], depth + 1, fragment)
        if isinstance(arg, ast.JoinedStr):
            variable = any(
                isinstance(v, ast.FormattedValue) and not _is_constant(v.value) for v in arg.values
            )
            if variable and sql_like(_fstring_text(arg)):
                return "f-string", arg.lineno
        elif isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Add | ast.Mod):
            text = " ".join(_strings(arg, self._constant_text))
            if sql_like(text) and _has_variable(arg):
                how = "concatenation" if isinstance(arg.op, ast.Add) else "% formatting"
                return how, arg.lineno
        elif isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute):
            template = self._constant_text(arg.func.value)
            values = [*arg.args, *(k.value for k in arg.keywords)]
            if (
                arg.func.attr == "format"
                and isinstance(template, str)
                and sql_like(template)
                and any(not _is_constant(v) for v in values)
            ):
                return "str.format", arg.lineno
        return None

    def _constant_text(self, node: ast.expr) -> str | None:
        """A string literal, or a name last assigned one (`query = "SELECT ..."`)."""
        if isinstance(node, ast.Name):
            node = self.assigned.get(node.id, node)
        return (
            node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
        )

    def _env_call(self, node: ast.Call, name: str) -> None:
        if name in (
            "os.getenv",
            "os.environ.get",
            "environ.get",
            "getenv",
            "os.environ.setdefault",
        ):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self.facts.env_reads.append(EnvRead(node.lineno, first.value))

    def _cors_call(self, node: ast.Call, name: str, last: str) -> None:
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if last == "add_middleware" and node.args and _dotted(node.args[0]) == "CORSMiddleware":
            last = "CORSMiddleware"
        if last == "CORSMiddleware":
            origins = keywords.get("allow_origins")
            wildcard = origins is not None and "'*'" in ast.unparse(origins)
            regex = keywords.get("allow_origin_regex")
            wildcard = wildcard or (regex is not None and ast.unparse(regex) in ("'.*'", "'.+'"))
            if wildcard and _is_true(keywords.get("allow_credentials")):
                note = "CORSMiddleware allow_origins ['*'] with allow_credentials"
                self.facts.cors_wildcard_credentials.append(Flag(node.lineno, note))
        elif name in ("CORS", "flask_cors.CORS") and _is_true(keywords.get("supports_credentials")):
            origins = keywords.get("origins")
            if origins is None or "'*'" in ast.unparse(origins):
                note = "flask-cors: every origin with supports_credentials"
                self.facts.cors_wildcard_credentials.append(Flag(node.lineno, note))

    def _has_traceback(self, node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if _is_traceback_call(sub):
                return True
            if isinstance(sub, ast.Name) and sub.id in self.tracebacks:
                return True
        return False

    def finish(self) -> None:
        """Django settings: every origin allowed and credentials on, at module level."""
        every = self.settings.get("CORS_ALLOW_ALL_ORIGINS") or self.settings.get(
            "CORS_ORIGIN_ALLOW_ALL"
        )
        credentials = self.settings.get("CORS_ALLOW_CREDENTIALS")
        if every and every[1] and credentials and credentials[1]:
            note = "CORS_ALLOW_ALL_ORIGINS with CORS_ALLOW_CREDENTIALS"
            self.facts.cors_wildcard_credentials.append(Flag(every[0], note))


def _dotted(node: ast.AST) -> str:
    """`a.b(x).c` -> 'a.b.c': names through attributes and calls."""
    parts: list[str] = []
    current: ast.AST | None = node
    while current is not None:
        if isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        elif isinstance(current, ast.Call):
            current = current.func
        elif isinstance(current, ast.Name):
            parts.append(current.id)
            current = None
        else:
            parts.append("?")
            current = None
    return ".".join(reversed(parts))


def _is_traceback_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = _dotted(node.func)
    return name.startswith("traceback.format") or name in ("format_exc", "format_exception")


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _is_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.Name) and bool(_CONSTANT.match(node.id))


def _fstring_text(node: ast.JoinedStr) -> str:
    return "".join(
        v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "?"
        for v in node.values
    )


def _strings(node: ast.expr, constant: Callable[[ast.expr], str | None]) -> list[str]:
    if isinstance(node, ast.BinOp):
        return _strings(node.left, constant) + _strings(node.right, constant)
    if isinstance(node, ast.JoinedStr):
        return [_fstring_text(node)]
    text = constant(node)
    return [text] if text is not None else ["?"]


def _has_variable(node: ast.expr) -> bool:
    if isinstance(node, ast.BinOp):
        return _has_variable(node.left) or _has_variable(node.right)
    if isinstance(node, ast.Tuple):
        return any(_has_variable(e) for e in node.elts)
    return not _is_constant(node)
