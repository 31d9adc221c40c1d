"""Facts from JavaScript and TypeScript, read from tree-sitter's syntax tree (not regexes).

One query pass captures the nodes we care about (calls, member reads, declarations,
strings); small functions below judge each: database calls and the loop they run in,
SQL built from non-constant input, console logging, env reads, CORS, stacks in responses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import tree_sitter as ts

from prodready.code import sqltext
from prodready.code.snapshot import EnvRead, Flag, LogCall, ParsedFacts, QueryCall, SqlText

_QUERY = """
(call_expression) @call
(member_expression) @member
(subscript_expression) @subscript
(variable_declarator) @decl
(augmented_assignment_expression) @append
(assignment_expression left: (identifier)) @assign
(import_statement source: (string) @import)
(string) @string
(template_string) @template
"""
LOG_METHODS = frozenset({"log", "info", "debug", "warn", "error", "trace", "dir", "table"})
ENV_OBJECTS = frozenset({"process.env", "import.meta.env"})
# Roots that name a database client in the code bases we read.
DB_ROOTS = frozenset({
    "supabase", "prisma", "db", "knex", "pool", "client", "pg", "sql", "conn", "connection",
    "trx", "tx", "database", "drizzle", "kysely", "sequelize", "em", "orm", "pgClient",
    "dbClient", "supabaseAdmin", "adminClient", "postgres",
})  # fmt: skip
DB_METHODS = frozenset({
    "query", "execute", "from", "rpc", "select", "insert", "update", "delete", "upsert",
    "findUnique", "findUniqueOrThrow", "findFirst", "findFirstOrThrow", "findMany", "create",
    "createMany", "updateMany", "deleteMany", "count", "aggregate", "groupBy", "$queryRaw",
    "$executeRaw", "$queryRawUnsafe", "$executeRawUnsafe", "one", "oneOrNone", "many",
    "manyOrNone", "any", "none", "raw", "first", "findOne", "findAll", "findByPk", "findOneBy",
    "findBy", "save", "where", "selectFrom", "insertInto", "updateTable", "deleteFrom",
    "unsafe", "single", "maybeSingle", "eq",
})  # fmt: skip
# Model classes (Sequelize, Mongoose-style, TypeORM) queried statically: `User.findOne(...)`.
MODEL_METHODS = frozenset({"findOne", "findAll", "findByPk", "findById", "findMany", "findOneBy"})
# Calls whose first argument is SQL text.
SQL_METHODS = frozenset({
    "query", "execute", "raw", "unsafe", "$queryRawUnsafe", "$executeRawUnsafe", "any", "one",
    "many", "none", "oneOrNone", "manyOrNone", "result", "prepare", "whereRaw", "havingRaw",
    "orderByRaw", "joinRaw", "selectRaw", "fromRaw", "all", "get", "run", "exec",
})  # fmt: skip
ITERATORS = frozenset({"map", "forEach", "flatMap", "reduce", "filter", "some", "every"})
FUNCTIONS = frozenset({
    "arrow_function", "function_expression", "function", "function_declaration",
    "method_definition", "generator_function", "generator_function_declaration",
})  # fmt: skip
RESPONSE_METHODS = frozenset({"json", "send", "end", "write", "render", "jsonp"})
_SENSITIVE = re.compile(
    r"(?i)\b(password|passwd|token|secret|authorization|api_?key|apikey|cookie)s?\b"
    r"|\breq(?:uest)?\.(?:body|headers)\b"
)
_DEV_GUARD = re.compile(r"NODE_ENV|development|isDev|isProd|DEBUG", re.IGNORECASE)
# name -> [(position, is an append, value node, enclosing function)] in source order
Decls = dict[str, list[tuple[int, bool, ts.Node, int]]]
STAR_SELECT = ".select('*')"  # supabase-js: every column, like SELECT *
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")


@cache
def _parser(language: str) -> tuple[ts.Parser, ts.Query]:
    if language == "javascript":
        import tree_sitter_javascript as grammar

        lang = ts.Language(grammar.language())
    else:
        import tree_sitter_typescript as tsgrammar

        raw = tsgrammar.language_tsx() if language == "tsx" else tsgrammar.language_typescript()
        lang = ts.Language(raw)
    return ts.Parser(lang), ts.Query(lang, _QUERY)


def js_facts(text: str, language: str) -> ParsedFacts:
    """Everything the checks need from one JS/TS file."""
    parser, query = _parser(language)
    tree = parser.parse(text.encode("utf-8"))
    found = ts.QueryCursor(query).captures(tree.root_node)
    facts = ParsedFacts(parsed=not tree.root_node.has_error)
    decls = _declarations(found.get("decl", []) + found.get("assign", []), found.get("append", []))
    for node in found.get("import", []):
        facts.imports.append(_string_value(node))
    _env_reads(found, facts)
    headers: dict[str, tuple[int, str]] = {}
    for node in found.get("call", []):
        _call(node, decls, facts, headers)
    _header_cors(headers, facts)
    for node in found.get("member", []):
        if _prop(node) == "stack" and _sent_to_client(node):
            facts.stack_responses.append(Flag(_line(node), _short(node.text)))
    if sqltext.MAYBE_SQL.search(text):
        for node in found.get("string", []) + found.get("template", []):
            value = _template_text(node) if node.type == "template_string" else _string_value(node)
            if sqltext.looks_like_sql(value):
                facts.sql_texts.append(SqlText(_line(node), sqltext.shorten(value)))
    return facts


# -- calls --


def _call(
    node: ts.Node, decls: Decls, facts: ParsedFacts, headers: dict[str, tuple[int, str]]
) -> None:
    fn = node.child_by_field_name("function")
    args = node.child_by_field_name("arguments")
    if fn is None or args is None:
        return
    root, props = _chain(fn)
    first = _first_arg(args)
    last = props[-1] if props else ""
    if root == "require" and not props and first is not None and first.type == "string":
        facts.imports.append(_string_value(first))
    elif root == "console" and len(props) == 1 and last in LOG_METHODS:
        match = _SENSITIVE.search(_text(args))
        facts.logs.append(LogCall(_line(node), f"console.{last}", match and match.group(0)))
        return
    if root == "cors" and not props and first is not None and first.type == "object":
        _cors_options(first, facts)
    if last in {"setHeader", "header", "set", "append"} and first is not None:
        _header_call(args, headers)
    if _validates_env(root, last, args):
        facts.env_validation.append(Flag(_line(node), _short(fn.text)))
    tagged = args.type == "template_string"
    is_db = _is_db_call(root, props, tagged)
    if is_db and last == "select" and first is not None and _text(first) in ("'*'", '"*"'):
        facts.sql_texts.append(SqlText(_line(node), STAR_SELECT))
    built = None
    if not tagged and first is not None and (last in SQL_METHODS or (is_db and last != "")):
        built = _built_sql(first, decls, fragment=last.endswith("Raw") and last != "$queryRaw")
    if not (is_db or built):
        return
    outer = node.parent is not None and node.parent.type == "member_expression"
    if outer and not built:
        return  # part of a longer chain: the outermost call reports it
    sql = _constant_sql(first) if first is not None and not tagged else None
    if tagged:
        sql = _template_text(args)
    facts.queries.append(
        QueryCall(
            line=_line(node),
            call=".".join([root or "?", *props]),
            sql=sql if sql and sqltext.looks_like_sql(sql) else None,
            built=built[0] if built else None,
            built_line=built[1] if built and built[1] != _line(node) else None,
            loop=_loop_of(node),
        )
    )


def _chain(fn: ts.Node) -> tuple[str | None, list[str]]:
    """`supabase.from('x').select('*')` -> ('supabase', ['from', 'select'])."""
    props: list[str] = []
    node: ts.Node | None = fn
    while node is not None:
        kind = node.type
        if kind == "member_expression":
            props.append(_prop(node))
            node = node.child_by_field_name("object")
        elif kind == "call_expression":
            node = node.child_by_field_name("function")
        elif kind in ("await_expression", "parenthesized_expression", "non_null_expression"):
            node = node.named_child(0)
        elif kind in ("identifier", "this"):
            props.reverse()
            return _text(node), props
        else:
            break
    props.reverse()
    return None, props


def _is_db_call(root: str | None, props: list[str], tagged: bool) -> bool:
    if root is None:
        return False
    if tagged:
        return root in {"sql", "db", "tx", "trx"}
    if root in DB_ROOTS or root.endswith(("Db", "DB", "Pool", "Supabase", "Prisma")):
        return any(p in DB_METHODS for p in props)
    if root == "knex" or root.endswith("Knex"):
        return True
    return root[:1].isupper() and bool(props) and props[-1] in MODEL_METHODS


def _built_sql(arg: ts.Node, decls: Decls, fragment: bool = False) -> tuple[str, int] | None:
    """How `arg` builds SQL from non-constant input, and on which line; None when it doesn't.
    `fragment`: the callee takes a piece of SQL (knex whereRaw), not a whole statement."""
    if arg.type == "identifier":
        return _built_variable(arg, decls, fragment)
    if arg.type == "call_expression":  # "SELECT ...".concat(input), util.format("...%s", input)
        fn, args = arg.child_by_field_name("function"), arg.child_by_field_name("arguments")
        if fn is None or args is None or fn.type != "member_expression":
            return None
        values = [a for a in args.named_children if a.type != "comment"]
        head = fn.child_by_field_name("object")
        if _prop(fn) == "concat" and head is not None:
            text = _sql_constant(head, decls)
            variable = any(not _is_constant(a) for a in values)
            if text is not None and variable and (fragment or sqltext.looks_like_sql(text)):
                return "concatenation", _line(arg)
        if _text(fn) == "util.format" and values and values[0].type == "string":
            variable = any(not _is_constant(a) for a in values[1:])
            if variable and sqltext.looks_like_sql(_string_value(values[0])):
                return "util.format", _line(arg)
        return None
    if arg.type == "template_string":
        subs = [c for c in arg.named_children if c.type == "template_substitution"]
        if any(not _is_constant(s.named_child(0)) for s in subs) and (
            fragment or sqltext.looks_like_sql(_template_text(arg))
        ):
            return "template literal", _line(arg)
        return None
    if arg.type == "binary_expression" and _op(arg) == "+":
        leaves = list(_concat_leaves(arg))
        strings = [_string_value(x) if x.type == "string" else "?" for x in leaves]
        variable = any(x.type not in ("string", "number") and not _is_constant(x) for x in leaves)
        if variable and (fragment or sqltext.looks_like_sql(" ".join(strings))):
            return "concatenation", _line(arg)
    return None


def _concat_leaves(node: ts.Node) -> Iterator[ts.Node]:
    if node.type == "binary_expression" and _op(node) == "+":
        for side in ("left", "right"):
            child = node.child_by_field_name(side)
            if child is not None:
                yield from _concat_leaves(child)
    elif node.type == "template_string":
        yield node
    else:
        yield node


def _is_constant(node: ts.Node | None) -> bool:
    if node is None:
        return True
    if node.type in ("string", "number", "true", "false", "null"):
        return True
    return node.type == "identifier" and bool(_CONSTANT.match(_text(node)))


def _constant_sql(arg: ts.Node) -> str | None:
    if arg.type == "string":
        return _string_value(arg)
    if arg.type == "template_string" and not any(
        c.type == "template_substitution" for c in arg.named_children
    ):
        return _template_text(arg)
    return None


def _loop_of(node: ts.Node) -> str | None:
    """The loop whose body runs this call once per item, up to the enclosing function."""
    child, parent = node, node.parent
    while parent is not None:
        kind = parent.type
        if kind in ("for_statement", "for_in_statement", "while_statement", "do_statement"):
            if parent.child_by_field_name("body") == child:
                return "while" if kind in ("while_statement", "do_statement") else "for"
        elif kind in FUNCTIONS:
            holder = parent.parent
            if holder is not None and holder.type == "arguments" and holder.parent is not None:
                callee = holder.parent.child_by_field_name("function")
                if callee is not None and callee.type == "member_expression":
                    name = _prop(callee)
                    if name in ITERATORS:
                        is_async = _text(parent).startswith("async")
                        return f".{name}(async ...)" if is_async else f".{name}(...)"
            return None
        child, parent = parent, parent.parent
    return None


# -- env, cors, stacks --


def _env_reads(found: dict[str, list[ts.Node]], facts: ParsedFacts) -> None:
    for node in found.get("member", []):
        obj = node.child_by_field_name("object")
        if obj is not None and _text(obj) in ENV_OBJECTS:
            facts.env_reads.append(EnvRead(_line(node), _prop(node)))
    for node in found.get("subscript", []):
        obj, index = node.child_by_field_name("object"), node.child_by_field_name("index")
        if (
            obj is not None
            and index is not None
            and index.type == "string"
            and (_text(obj) in ENV_OBJECTS)
        ):
            facts.env_reads.append(EnvRead(_line(node), _string_value(index)))
    for node in found.get("decl", []):
        name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
        if name is None or value is None or name.type != "object_pattern":
            continue
        if _text(value) in ENV_OBJECTS:
            for item in name.named_children:
                key = item.child_by_field_name("key") if item.type == "pair_pattern" else item
                if key is not None and "identifier" in key.type:
                    facts.env_reads.append(EnvRead(_line(item), _text(key)))


def _validates_env(root: str | None, last: str, args: ts.Node) -> bool:
    if root in {"cleanEnv", "createEnv", "envSchema", "envsafe", "loadEnv"}:
        return True
    body = _text(args)
    return last in {"parse", "safeParse", "validate", "validateSync", "cast", "assert"} and (
        "process.env" in body or "import.meta.env" in body
    )


def _cors_options(options: ts.Node, facts: ParsedFacts) -> None:
    values = {}
    for pair in options.named_children:
        if pair.type == "pair":
            key, value = pair.child_by_field_name("key"), pair.child_by_field_name("value")
            if key is not None and value is not None:
                values[_text(key).strip("'\"")] = value
    origin, credentials = values.get("origin"), values.get("credentials")
    if origin is None or credentials is None or _text(credentials) != "true":
        return
    if origin.type == "string" and _string_value(origin) == "*":
        facts.cors_wildcard_credentials.append(Flag(_line(origin), "origin '*' with credentials"))
    elif _text(origin) == "true":
        note = "origin: true (reflects any origin) with credentials"
        facts.cors_wildcard_credentials.append(Flag(_line(origin), note))


def _header_call(args: ts.Node, headers: dict[str, tuple[int, str]]) -> None:
    parts = [c for c in args.named_children if c.type != "comment"]
    if len(parts) < 2 or parts[0].type != "string":
        return
    name = _string_value(parts[0]).lower()
    if name in ("access-control-allow-origin", "access-control-allow-credentials"):
        value = _string_value(parts[1]) if parts[1].type == "string" else _text(parts[1])
        headers[name] = (_line(parts[0]), value)


def _header_cors(headers: dict[str, tuple[int, str]], facts: ParsedFacts) -> None:
    origin, credentials = (
        headers.get("access-control-allow-origin"),
        headers.get("access-control-allow-credentials"),
    )
    if origin is None or credentials is None or credentials[1].strip("'\"") != "true":
        return
    if origin[1] == "*" or "origin" in origin[1].lower():
        note = f"Access-Control-Allow-Origin: {_short(origin[1].encode())} with credentials"
        facts.cors_wildcard_credentials.append(Flag(origin[0], note))


def _sent_to_client(member: ts.Node) -> bool:
    """`err.stack` inside what a handler sends: res.json/send, new Response, ctx.body = ..."""
    node: ts.Node | None = member.parent
    sent = False
    while node is not None and node.type not in FUNCTIONS:
        kind = node.type
        if kind in ("ternary_expression", "if_statement"):
            condition = node.child_by_field_name("condition")
            if condition is not None and _DEV_GUARD.search(_text(condition)):
                return False  # shown in development only
        if kind == "call_expression" and not sent:
            fn = node.child_by_field_name("function")
            if fn is not None and fn.type == "member_expression":
                sent = _prop(fn) in RESPONSE_METHODS and not _text(fn).startswith("console.")
        elif kind == "new_expression" and not sent:
            sent = _text(node).startswith(("new Response", "new NextResponse"))
        elif kind == "assignment_expression" and not sent:
            left = node.child_by_field_name("left")
            sent = left is not None and _text(left).endswith(".body")
        node = node.parent
    return sent


# -- small helpers --


def _declarations(nodes: list[ts.Node], appends: list[ts.Node]) -> Decls:
    """Each name's declarations (`let q = ...`) and appends (`q += ...`), in source order."""
    decls: Decls = {}
    for node in nodes:
        field = "name" if node.type == "variable_declarator" else "left"
        name = node.child_by_field_name(field)
        value = node.child_by_field_name("value" if field == "name" else "right")
        if name is not None and value is not None and name.type == "identifier":
            entry = (node.start_byte, False, value, _scope(node))
            decls.setdefault(_text(name), []).append(entry)
    for node in appends:
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if (
            left is not None
            and right is not None
            and left.type == "identifier"
            and (_op(node) == "+=")
        ):
            decls.setdefault(_text(left), []).append((node.start_byte, True, right, _scope(node)))
    for entries in decls.values():
        entries.sort(key=lambda e: e[0])
    return decls


def _built_variable(ident: ts.Node, decls: Decls, fragment: bool) -> tuple[str, int] | None:
    """The SQL a variable holds where it is used: its last declaration before the use, plus
    whatever `+=` appended since."""
    scope = _scope(ident)
    entries = [
        e for e in decls.get(_text(ident), []) if e[0] < ident.start_byte and e[3] in (scope, -1)
    ]
    starts = [i for i, e in enumerate(entries) if not e[1]]
    if not starts:
        return None
    declared, *appended = entries[starts[-1] :]
    built = _built_sql(declared[2], decls, fragment)
    if built is not None:
        return built
    text = _sql_constant(declared[2], decls)
    if text is not None and (fragment or sqltext.looks_like_sql(text)):
        for _, _, value, _ in appended:
            if not _is_constant(value):
                return "concatenation", _line(value)
    return None


def _sql_constant(node: ts.Node, decls: Decls) -> str | None:
    """The constant string a node holds: a literal, or a variable declared as one."""
    if node.type == "string":
        return _string_value(node)
    if node.type == "identifier":
        scope = _scope(node)
        entries = [
            e
            for e in decls.get(_text(node), [])
            if e[0] < node.start_byte and e[3] in (scope, -1) and not e[1]
        ]
        if entries and entries[-1][2].type == "string":
            return _string_value(entries[-1][2])
    return None


def _scope(node: ts.Node) -> int:
    """The start of the function enclosing `node`; -1 at module level."""
    parent = node.parent
    while parent is not None:
        if parent.type in FUNCTIONS:
            return int(parent.start_byte)
        parent = parent.parent
    return -1


def _first_arg(args: ts.Node) -> ts.Node | None:
    if args.type == "template_string":
        return args
    for child in args.named_children:
        if child.type != "comment":
            return child
    return None


def _prop(member: ts.Node) -> str:
    prop = member.child_by_field_name("property")
    return _text(prop) if prop is not None else ""


def _op(node: ts.Node) -> str:
    op = node.child_by_field_name("operator")
    return _text(op) if op is not None else ""


def _string_value(node: ts.Node) -> str:
    return _text(node)[1:-1]


def _template_text(node: ts.Node) -> str:
    """A template literal's text with each `${...}` as `?`."""
    parts = []
    for child in node.children:
        if child.type == "string_fragment":
            parts.append(_text(child))
        elif child.type == "template_substitution":
            parts.append("?")
        elif child.type == "escape_sequence":
            parts.append(_text(child))
    return "".join(parts)


def _text(node: ts.Node) -> str:
    raw: Any = node.text
    return raw.decode("utf-8", "replace") if raw is not None else ""


def _short(raw: bytes | None, limit: int = 80) -> str:
    text = " ".join((raw or b"").decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _line(node: ts.Node) -> int:
    return int(node.start_point.row) + 1
