"""A canonical string for a SQL query, so that exact match compares meaning-preserving rewrites as equal.

What "exact match" means here: two queries match when they are the same query up to surface form, the
differences a careful human would call "the same SQL, written differently". It is stricter than Spider's
component matching (which ignores literal values and treats conditions as sets) and much stricter than
execution match; it never calls two queries equal when they could return different results. Every rule below
either changes only spelling, or is applied only where it provably keeps the meaning.

Rules, in the order they run (all on the sqlglot tree, never on the text):

1. Parse one statement in the dialect (``SQLSyntaxError`` otherwise). Comments, whitespace, keyword case and
   trailing semicolons disappear because the output is regenerated from the tree.
2. SQLite double-quoted strings. SQLite reads ``"Bob"`` as an identifier and falls back to a string when no
   column of that name exists; Spider's gold SQL uses it for strings everywhere. With a ``schema``, a
   double-quoted, unqualified name that is not a column of any table (nor an alias in the query) becomes the
   string literal, exactly SQLite's rule. Without one, it becomes a string only in value position: the right
   operand of a comparison or LIKE, an IN-list item, a BETWEEN bound. MySQL reads ``"Bob"`` as a string
   already. String literals keep their case: ``'Bob'`` and ``'bob'`` stay different.
3. Identifier case and quotes. Unquoted identifiers are case-insensitive in every engine tunesql runs on, so
   they are lower-cased. Quoted identifiers are lower-cased too where the engine compares identifiers
   case-insensitively even when quoted (SQLite, DuckDB, MySQL column names; MySQL table names depend on
   ``lower_case_table_names``, and we treat them as case-insensitive like Spider does); in PostgreSQL a quoted
   identifier keeps its case. A SQLite double-quoted name whose role stays unclear (rule 2, no schema) keeps
   its exact spelling. Quotes are then dropped wherever the name does not need them, so ``"name"``,
   ```name```, ``[name]`` and ``name`` are one identifier.
4. Redundant parentheses go (sqlglot's ``simplify_parens``: only where precedence does not depend on them):
   ``WHERE (a = 1)``, ``SELECT ((a))``, ``(a = 1) AND (b = 2)``; ``(a OR b) AND c`` keeps them.
5. Spelling variants the tree already merges: ``!=``/``<>``, ``==``/``=``, ``AS`` present or not in aliases,
   function-name case. Made equal here: ``INNER JOIN``/``JOIN``, ``LEFT OUTER JOIN``/``LEFT JOIN``, an
   explicit ``ASC``.
6. Table aliases. A table qualifier on a column is dropped where its SELECT reads from one source only
   (``SELECT T1.name FROM singer AS T1`` = ``SELECT name FROM singer``). A base table that appears once in
   the whole query loses its alias and the columns use the table name (``T1.name`` -> ``singer.name``), so
   ``T1``/``T2``, ``s``/``c`` and no aliases at all compare equal. A table that appears more than once (self
   joins, the same table in a subquery) gets canonical aliases ``t1``, ``t2``, ... in order of appearance.
   Resolution follows sqlglot's scopes, so a correlated subquery's reference to an outer alias is renamed
   with the outer table. Derived-table and CTE names are kept (lower-cased): renaming them would need the
   same care for little gain.

Deliberately not normalised (they change the query or its output, or the cost outweighs the rare match):
column aliases (they name the result columns), the order of AND/OR operands, of SELECT columns and of IN
lists, ``COUNT(*)`` vs ``COUNT(1)``, ``1`` vs ``1.0``, ``a > 1`` vs ``1 < a``, ``JOIN ... ON`` vs comma joins,
``IS NOT NULL`` spelled as ``NOT ... IS NULL`` (the tree already merges it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.optimizer.simplify import simplify_parens

from tunesql.errors import SQLSyntaxError
from tunesql.sql.transpile import parse_statement, resolve_dialect

if TYPE_CHECKING:
    from tunesql.db.schema import Schema

_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_VALUE_PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Glob,
                     exp.NullSafeEQ, exp.NullSafeNEQ)


def normalize_sql(sql: str, dialect: str = "sqlite", *, schema: Schema | None = None) -> str:
    """The canonical form of one SQL statement (see the module docstring for the rules).

    ``schema`` is optional; given, it settles SQLite's ``"name"`` ambiguity exactly (rule 2).
    Raises SQLSyntaxError when the SQL does not parse as one statement in ``dialect``.
    """
    dialect = resolve_dialect(dialect)
    tree = parse_statement(sql, dialect)
    tree = normalize_tree(tree, dialect, sql=sql, schema=schema)
    return tree.sql(dialect=dialect, normalize_functions="upper", comments=False)


def try_normalize(sql: str, dialect: str = "sqlite", *, schema: Schema | None = None) -> str | None:
    """``normalize_sql``, or None when the SQL does not parse (or sqlglot's scope analysis rejects it)."""
    try:
        return normalize_sql(sql, dialect, schema=schema)
    except (SQLSyntaxError, OptimizeError):
        return None


def exact_match(pred: str, gold: str, dialect: str = "sqlite", *, schema: Schema | None = None) -> bool:
    """Whether ``pred`` and ``gold`` normalise to the same string.

    An unparseable prediction never matches. An unparseable gold query (a data problem, not the model's)
    falls back to comparing the two texts with whitespace collapsed and trailing semicolons stripped, so an
    evaluation run does not stop on one bad record.
    """
    dialect = resolve_dialect(dialect)
    norm_pred = try_normalize(pred, dialect, schema=schema)
    norm_gold = try_normalize(gold, dialect, schema=schema)
    if norm_gold is None:
        return _collapse(pred) == _collapse(gold) and bool(_collapse(gold))
    return norm_pred is not None and norm_pred == norm_gold


def _collapse(sql: str) -> str:
    return " ".join((sql or "").split()).rstrip("; ").strip()


# --- the rules ------------------------------------------------------------------------------------------------


def normalize_tree(tree: exp.Expr, dialect: str, *, sql: str | None = None,
                   schema: Schema | None = None) -> exp.Expr:
    """Apply the normalisation rules to a parsed tree (changed in place and returned)."""
    ambiguous: set[int] = set()
    if dialect == "sqlite" and sql is not None:
        ambiguous = _resolve_sqlite_double_quotes(tree, sql, schema)
    _normalize_identifiers(tree, dialect, keep_case=ambiguous)
    for paren in reversed(list(tree.find_all(exp.Paren))):  # innermost first, so ((a)) unwraps fully
        simpler = simplify_parens(paren, dialect)
        if simpler is not paren:
            if paren is tree:
                tree = simpler
            paren.replace(simpler)
    for join in tree.find_all(exp.Join):
        kind = (join.args.get("kind") or "").upper()
        if kind == "INNER" or (kind == "OUTER" and join.args.get("side")):
            join.set("kind", None)
    for ordered in tree.find_all(exp.Ordered):
        if ordered.args.get("desc") is False:
            ordered.set("desc", None)
    if isinstance(tree, exp.Query):
        renamed = tree.copy()
        try:
            _canonical_table_aliases(renamed)
            tree = renamed
        except OptimizeError:  # one alias for two sources ("Alias already used"): leave the aliases as written
            pass
    return tree


def _is_double_quoted(ident: exp.Identifier, sql: str) -> bool:
    start = ident.meta.get("start")
    return ident.quoted and isinstance(start, int) and 0 <= start < len(sql) and sql[start] == '"'


def _in_value_position(col: exp.Column) -> bool:
    parent = col.parent
    if isinstance(parent, _VALUE_PREDICATES):
        return parent.args.get("expression") is col
    if isinstance(parent, exp.In):
        return col in parent.expressions
    if isinstance(parent, exp.Between):
        return col is parent.args.get("low") or col is parent.args.get("high")
    return False


def _resolve_sqlite_double_quotes(tree: exp.Expr, sql: str, schema: Schema | None) -> set[int]:
    """Turn SQLite ``"text"`` that means a string into a string literal (rule 2).

    Returns the ids of the identifiers whose role stayed unclear, which keep their exact spelling.
    """
    unclear: set[int] = set()
    known: set[str] | None = None
    if schema is not None:
        known = {c.name.lower() for t in schema.tables for c in t.columns}
        known |= {a.alias_or_name.lower() for a in tree.find_all(exp.Alias)}
    for col in list(tree.find_all(exp.Column)):
        ident = col.this
        if col.args.get("table") or not isinstance(ident, exp.Identifier) or not _is_double_quoted(ident, sql):
            continue
        is_string = ident.name.lower() not in known if known is not None else _in_value_position(col)
        if is_string:
            col.replace(exp.Literal.string(ident.name))
        elif known is None:
            unclear.add(id(ident))
    return unclear


def _normalize_identifiers(tree: exp.Expr, dialect: str, keep_case: set[int], *,
                           force_lower: bool = False) -> None:
    strategy = Dialect.get_or_raise(dialect).NORMALIZATION_STRATEGY
    quoted_insensitive = force_lower or strategy == NormalizationStrategy.CASE_INSENSITIVE or dialect == "mysql"
    for ident in tree.find_all(exp.Identifier):
        if id(ident) in keep_case:
            continue
        name = ident.name
        if not ident.quoted or quoted_insensitive:
            name = name.lower()
        ident.set("this", name)
        ident.set("quoted", not _PLAIN_IDENT.match(name))


def _scope_of_columns(root: exp.Expr) -> tuple[list[Scope], dict[int, Scope]]:
    scopes = list(traverse_scope(root))
    owner: dict[int, Scope] = {}
    for scope in scopes:  # innermost scopes come first, so the first owner seen is the column's own scope
        for col in scope.columns:
            owner.setdefault(id(col), scope)
    return scopes, owner


def _binding(scope: Scope | None, name: str) -> tuple[Scope, object] | None:
    while scope is not None:
        sources = scope.selected_sources
        if name in sources:
            return scope, sources[name][1]
        scope = scope.parent
    return None


def _canonical_table_aliases(tree: exp.Query) -> None:
    try:
        scopes, owner = _scope_of_columns(tree)
    except Exception:  # scope building fails on odd trees; then aliases stay as written
        return
    columns = [c for s in scopes for c in s.columns if owner.get(id(c)) is s]

    # Drop qualifiers that point at the only source of their own SELECT.
    for col in columns:
        scope = owner[id(col)]
        if col.table and len(scope.selected_sources) == 1 and col.table in scope.selected_sources:
            col.set("table", None)

    # Every base-table source, and the names in the table namespace that are not base tables.
    sources: list[tuple[Scope, str, exp.Table]] = []
    other_names: set[str] = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for scope in scopes:
        for name, (node, source) in scope.selected_sources.items():
            alias_node = node.args.get("alias") if isinstance(node, exp.Table) else None
            if isinstance(source, exp.Table) and not (alias_node is not None and alias_node.columns):
                sources.append((scope, name, node))
            else:
                other_names.add(name)
    is_source = {(id(s), n) for s, n, _ in sources}

    # Which sources qualified columns bind to, and through which scopes each reference passes.
    bindings: list[tuple[exp.Column, tuple[int, str], list[Scope]]] = []
    for col in columns:
        if not col.table:
            continue
        path: list[Scope] = []
        scope: Scope | None = owner[id(col)]
        while scope is not None and col.table not in scope.selected_sources:
            path.append(scope)
            scope = scope.parent
        if scope is None:
            continue
        path.append(scope)
        bindings.append((col, (id(scope), col.table), path))
    referenced = {key for _, key, _ in bindings if key in is_source}

    # Referenced tables: the table name when the table is referenced once in the query, else an alias.
    counts: dict[str, int] = {}
    for scope, name, node in sources:
        if (id(scope), name) in referenced:
            counts[node.name] = counts.get(node.name, 0) + 1
    final: dict[tuple[int, str], str | None] = {}  # None: needs a canonical alias
    for scope, name, node in sources:
        if (id(scope), name) in referenced:
            unique = counts[node.name] == 1 and node.name not in other_names
            final[(id(scope), name)] = node.name if unique else None

    # Names that qualified references need to see, per scope they pass through.
    seen_through: dict[int, set[tuple[str, tuple[int, str]]]] = {}
    for _, key, path in bindings:
        target = final.get(key)
        if target is not None:
            for scope in path:
                seen_through.setdefault(id(scope), set()).add((target, key))

    # Unreferenced tables: no alias, unless the bare table name would capture or clash with another name.
    used_in_scope: dict[int, set[str]] = {}
    for (sid, _), target in final.items():
        if target is not None:
            used_in_scope.setdefault(sid, set()).add(target)
    for scope, name, node in sources:
        key = (id(scope), name)
        if key in final:
            continue
        clash = (
            node.name in other_names
            or node.name in used_in_scope.get(id(scope), set())
            or any(t == node.name and k != key for t, k in seen_through.get(id(scope), set()))
        )
        final[key] = None if clash else node.name
        if not clash:
            used_in_scope.setdefault(id(scope), set()).add(node.name)

    # Canonical aliases t1, t2, ... in reading order, skipping names the query already uses for tables.
    reserved = {n.name for _, _, n in sources} | other_names
    positions = {id(n): i for i, n in enumerate(tree.walk())}
    k = 0
    for scope, name, node in sorted(sources, key=lambda item: positions.get(id(item[2]), -1)):
        key = (id(scope), name)
        if final[key] is None:
            k += 1
            while f"t{k}" in reserved:
                k += 1
            final[key] = f"t{k}"
            node.set("alias", exp.TableAlias(this=exp.to_identifier(f"t{k}")))
        else:
            node.set("alias", None)

    for col, key, _ in bindings:
        target = final.get(key)
        if target is not None and target != col.table:
            col.set("table", exp.to_identifier(target))
