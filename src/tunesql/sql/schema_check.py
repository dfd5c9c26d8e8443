"""Check the tables and columns a query references against a ``Schema``.

The query is parsed (sqlglot), SQLite's ``"text"`` strings are told from identifiers the way SQLite does it
(a double-quoted name that is no column is a string), identifiers are compared case-insensitively (Spider mixes
case freely, and the engines fold unquoted names), and sqlglot's optimizer ``qualify`` resolves each column to
its source with ``schema.sqlglot_mapping()``: aliases, CTEs, derived tables, subqueries (correlated ones
included), ``USING`` joins, ``SELECT *``, ``COUNT(*)``, references to SELECT aliases in ORDER BY / HAVING.
Then every column is checked against the source it binds to; what qualify could not place is reported as an
unknown column (no source has it) or an ambiguous one (several sources of the same SELECT have it).
CTE names and aliases are never unknown tables; a source whose table is unknown is reported once, and its
columns are not reported again.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from tunesql.sql.normalize import _normalize_identifiers, _resolve_sqlite_double_quotes
from tunesql.sql.transpile import parse_statement, resolve_dialect

if TYPE_CHECKING:
    from tunesql.db.schema import Schema

_SQLITE_ROWID = {"rowid", "oid", "_rowid_"}


def check_references(sql: str, schema: Schema, dialect: str | None = None) -> list[str]:
    """Problems with the tables/columns ``sql`` references in ``schema``; [] when every reference resolves.

    Each problem is one line: ``unknown table 'x'``, ``unknown column 't.c'`` (with the table it was looked up
    in), ``unknown table or alias 'a' in a.c``, ``unknown column 'c'``, ``ambiguous column 'c' (in t1, t2)``.
    ``dialect`` defaults to the schema's. Raises SQLSyntaxError when ``sql`` is not one parseable query.
    """
    dialect = resolve_dialect(dialect or schema.dialect)
    mapping = {t.name.lower(): {c.name.lower(): (c.type or "TEXT") for c in t.columns} for t in schema.tables}
    tree = _prepare(sql, dialect, schema)
    problems: list[str] = []

    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    unknown_tables: set[str] = set()
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # table functions, VALUES, …
        if table.name not in mapping and table.name not in cte_names and table.name not in unknown_tables:
            unknown_tables.add(table.name)
            problems.append(f"unknown table {table.name!r}")

    qualified = tree.copy()
    qualify_error: str | None = None
    try:
        qualified = qualify(qualified, dialect=dialect, schema=mapping, validate_qualify_columns=False,
                            quote_identifiers=False, identify=False, expand_stars=True)
    except (OptimizeError, KeyError, ValueError, AttributeError) as e:
        qualify_error = str(e).splitlines()[0]
        qualified = tree  # check the unqualified tree directly
    try:
        column_problems = _check_columns(qualified, mapping, dialect)
    except (OptimizeError, KeyError, ValueError, AttributeError) as e:  # e.g. one alias used for two tables
        column_problems = [f"could not resolve the query's columns: {str(e).splitlines()[0]}"]
    problems.extend(p for p in column_problems if p not in problems)
    if qualify_error and not column_problems and not unknown_tables:
        problems.append(f"could not resolve the query's columns: {qualify_error}")
    return problems


def referenced_tables(sql: str, dialect: str = "sqlite") -> set[str]:
    """The base tables ``sql`` reads (lower-cased; CTE names and aliases excluded)."""
    dialect = resolve_dialect(dialect)
    tree = _prepare(sql, dialect, None)
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {
        t.name for t in tree.find_all(exp.Table)
        if isinstance(t.this, exp.Identifier) and t.name not in cte_names
    }


def referenced_columns(sql: str, dialect: str = "sqlite", schema: Schema | None = None) -> set[str]:
    """The base-table columns ``sql`` references, as ``table.column`` (lower-cased).

    Aliases are resolved to their tables; columns of CTEs and derived tables are followed only as far as their
    own SELECTs (which are scanned too). With ``schema``, unqualified columns are placed by sqlglot's
    ``qualify``; without one, an unqualified column is placed only when its SELECT reads one base table, and
    otherwise appears bare (``column``). ``*`` stands for all columns (``table.*``).
    """
    dialect = resolve_dialect(dialect)
    tree = _prepare(sql, dialect, schema)
    if schema is not None:
        mapping = {t.name.lower(): {c.name.lower(): c.type or "TEXT" for c in t.columns} for t in schema.tables}
        with contextlib.suppress(OptimizeError, KeyError, ValueError, AttributeError):
            tree = qualify(tree, dialect=dialect, schema=mapping, validate_qualify_columns=False,
                           quote_identifiers=False, identify=False, expand_stars=False)
    out: set[str] = set()
    scopes, owner = _scopes(tree)
    for scope in scopes:
        for col in scope.columns:
            if owner.get(id(col)) is not scope:
                continue
            name = "*" if isinstance(col.this, exp.Star) else col.name
            if col.table:
                bound = _bind(scope, col.table)
                if bound is not None and isinstance(bound[1], exp.Table):
                    out.add(f"{bound[1].name}.{name}")
                elif bound is None:
                    out.add(f"{col.table}.{name}")
                continue
            tables = [s for _, s in scope.selected_sources.values() if isinstance(s, exp.Table)]
            if len(scope.selected_sources) == 1 and len(tables) == 1:
                out.add(f"{tables[0].name}.{name}")
            elif not _is_select_alias(scope, name):
                out.add(name)
        for star in scope.expression.find_all(exp.Star):
            if isinstance(star.parent, exp.Select) and star.find_ancestor(exp.Select) is scope.expression:
                for _, source in scope.selected_sources.values():
                    if isinstance(source, exp.Table):
                        out.add(f"{source.name}.*")
    return out


# --- internals ------------------------------------------------------------------------------------------------


def _prepare(sql: str, dialect: str, schema: Schema | None) -> exp.Expr:
    tree = parse_statement(sql, dialect, queries_only=True)
    if dialect == "sqlite":
        _resolve_sqlite_double_quotes(tree, sql, schema)
    _normalize_identifiers(tree, dialect, keep_case=set(), force_lower=True)
    return tree


def _scopes(tree: exp.Expr) -> tuple[list[Scope], dict[int, Scope]]:
    scopes = list(traverse_scope(tree))
    owner: dict[int, Scope] = {}
    for scope in scopes:
        for col in scope.columns:
            owner.setdefault(id(col), scope)
    return scopes, owner


def _bind(scope: Scope | None, name: str) -> tuple[Scope, object] | None:
    while scope is not None:
        if name in scope.selected_sources:
            return scope, scope.selected_sources[name][1]
        scope = scope.parent
    return None


def _source_columns(source: object, mapping: dict[str, dict[str, str]], depth: int = 0) -> set[str] | None:
    """Column names a source offers; None when unknown (an unknown table, or a star we cannot expand)."""
    if isinstance(source, exp.Table):
        cols = mapping.get(source.name)
        return None if cols is None else set(cols)
    if not isinstance(source, Scope) or depth > 20:
        return None
    query = source.expression
    if not isinstance(query, exp.Query):
        return None
    names = {n.lower() for n in query.named_selects if n != "*"}
    for e in _projections(query):
        star_of = None
        if isinstance(e, exp.Star):
            star_of = list(source.selected_sources.values())
        elif isinstance(e, exp.Column) and isinstance(e.this, exp.Star):
            star_of = [source.selected_sources[e.table]] if e.table in source.selected_sources else None
        if star_of is None and (isinstance(e, exp.Star) or isinstance(getattr(e, "this", None), exp.Star)):
            return None
        for _, inner in star_of or []:
            cols = _source_columns(inner, mapping, depth + 1)
            if cols is None:
                return None
            names |= cols
    return names


def _projections(query: exp.Expr) -> list[exp.Expr]:
    while isinstance(query, exp.SetOperation):
        query = query.this
    return list(query.expressions) if isinstance(query, exp.Select) else []


def _is_select_alias(scope: Scope, name: str) -> bool:
    """Whether ``name`` is an output alias of the scope's SELECT (not ``qualify``'s own ``c AS c``)."""
    query = scope.expression
    return isinstance(query, exp.Select) and any(
        isinstance(e, exp.Alias) and e.alias.lower() == name
        and not (isinstance(e.this, exp.Column) and e.this.name.lower() == name)
        for e in query.expressions
    )


def _using_columns(scope: Scope) -> set[str]:
    out: set[str] = set()
    query = scope.expression
    if isinstance(query, exp.Select):
        for join in query.args.get("joins") or []:
            for ident in join.args.get("using") or []:
                out.add(ident.name.lower())
            if (join.args.get("method") or "").upper() == "NATURAL":
                out.add("*natural*")
    return out


def _check_columns(tree: exp.Expr, mapping: dict[str, dict[str, str]], dialect: str) -> list[str]:
    problems: list[str] = []
    try:
        scopes, owner = _scopes(tree)
    except Exception as e:  # sqlglot cannot build scopes for this tree
        return [f"could not analyse the query's scopes: {e}"]
    for scope in scopes:
        for col in scope.columns:
            if owner.get(id(col)) is not scope:
                continue
            problem = _check_column(col, scope, mapping, dialect)
            if problem and problem not in problems:
                problems.append(problem)
    return problems


def _check_column(col: exp.Column, scope: Scope, mapping: dict[str, dict[str, str]], dialect: str) -> str | None:
    name = col.name
    is_star = isinstance(col.this, exp.Star)
    if col.table:
        bound = _bind(scope, col.table)
        if bound is None:
            return f"unknown table or alias {col.table!r} in {col.table}.{name}"
        if is_star:
            return None
        source = bound[1]
        cols = _source_columns(source, mapping)
        if cols is None or name in cols or (dialect == "sqlite" and name in _SQLITE_ROWID):
            return None
        where = f"table {source.name}" if isinstance(source, exp.Table) else f"subquery/CTE {col.table}"
        return f"unknown column '{col.table}.{name}' ({where} has no column {name!r})"
    # Unqualified: qualify left it alone, so either no source has it, or several do, or it names an alias.
    if is_star:
        return None
    if isinstance(scope.expression, exp.SetOperation):  # ORDER BY of a UNION names the first SELECT's outputs
        outputs = {n.lower() for n in scope.expression.named_selects}
        return None if name in outputs or "*" in outputs else f"unknown column {name!r} (not an output column)"
    here: list[str] = []
    unknown_source = False
    for alias, (_, source) in scope.selected_sources.items():
        cols = _source_columns(source, mapping)
        if cols is None:
            unknown_source = True
        elif name in cols:
            here.append(alias)
    if len(here) == 1 or unknown_source:
        return None
    if len(here) > 1:
        using = _using_columns(scope)
        if name in using or "*natural*" in using:
            return None
        return f"ambiguous column {name!r} (in {', '.join(sorted(here))})"
    if _is_select_alias(scope, name) or (dialect == "sqlite" and name in _SQLITE_ROWID):
        return None
    outer = scope.parent
    while outer is not None:
        for _, source in outer.selected_sources.values():
            cols = _source_columns(source, mapping)
            if cols is None or name in cols:
                return None
        outer = outer.parent
    return f"unknown column {name!r}"
