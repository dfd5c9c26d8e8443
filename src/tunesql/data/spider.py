"""Spider 1.0 (Yu et al., 2018): questions, gold SQL and 166 schemas over SQLite databases.

Layout read here (the official release's):

- ``train_spider.json`` (7000 records) and ``dev.json`` (1034): lists of ``{db_id, question, query, …}``; only
  those three fields are used, so the reduced train copy (without tokens and parsed SQL) works as well.
- ``tables.json``: one schema per ``db_id`` with ``table_names_original``, ``column_names_original``
  (``[table_index, name]``, index -1 for ``*``), ``column_types``, ``primary_keys`` (column indexes; a nested
  list for a composite key) and ``foreign_keys`` (``[column, referenced_column]`` pairs).
- ``database/<db_id>/<db_id>.sqlite``: the databases.

Two sources of schemas. ``load_spider_schemas`` reads tables.json: fast, and works without the database files,
but its types are Spider's labels (``number``, ``text``, ``others``), it loses some composite primary keys and it
has no sample values. ``load_db_schemas`` introspects the ``.sqlite`` files themselves (declared types, real
keys, sample values for M-Schema's ``Examples:``) and falls back to tables.json for a database whose file is
missing (wta_1, baseball_1 and soccer_1 in some copies).

Example ids are the 0-based positions in the split's file ("0", "1", …), the order the official evaluation
pairs predictions with gold SQL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from tunesql.data.example import Example, read_json_list, require_str
from tunesql.db.schema import Column, ForeignKey, Schema, Table
from tunesql.errors import ConnectError, DataError

log = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train_spider.json", "dev": "dev.json"}
SPLIT_SIZES = {"train": 7000, "dev": 1034}
"""The official sizes, for checks and messages (train here is train_spider.json, without train_others)."""
ENV_VAR = "TUNESQL_SPIDER_DIR"
DEFAULT_RELATIVE = Path("..") / "shared" / "benchmarks" / "spider"

Split = Literal["train", "dev"]


def resolve_spider_dir(spider_dir: str | Path | None = None) -> Path:
    """Where Spider lives: ``spider_dir`` if given, else ``$TUNESQL_SPIDER_DIR``, else
    ``../shared/benchmarks/spider`` relative to the current directory. The chosen directory must hold
    ``tables.json``; otherwise DataError says where it looked and what to pass."""
    if spider_dir is not None:
        candidates = [("the given directory", Path(spider_dir).expanduser())]
    elif os.environ.get(ENV_VAR):
        candidates = [(f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser())]
    else:
        candidates = [("the default", Path.cwd() / DEFAULT_RELATIVE)]
    label, path = candidates[0]
    if (path / "tables.json").is_file():
        return path
    raise DataError(
        f"Spider not found: {label} {path} ({path.resolve()}) has no tables.json. Pass --spider-dir PATH "
        f"(the directory holding tables.json, dev.json, train_spider.json and database/) or set {ENV_VAR}."
    )


def spider_db_path(spider_dir: str | Path, db_id: str) -> Path:
    """``<spider_dir>/database/<db_id>/<db_id>.sqlite`` (the file may be missing: check before opening)."""
    return Path(spider_dir) / "database" / db_id / f"{db_id}.sqlite"


def find_db_file(root: str | Path, db_id: str) -> Path | None:
    """The ``.sqlite`` file of ``db_id`` under ``root``, or None when there is none.

    ``root`` is either a Spider directory (``<root>/database/<db_id>/<db_id>.sqlite``) or a directory of
    databases itself (``<root>/<db_id>/<db_id>.sqlite``, BIRD's ``dev_databases``), so Spider and BIRD share
    one loader.
    """
    root = Path(root)
    for candidate in (root / "database" / db_id / f"{db_id}.sqlite", root / db_id / f"{db_id}.sqlite"):
        if candidate.is_file():
            return candidate
    return None


def load_db_schemas(
    spider_dir_or_db_root: str | Path,
    db_ids: Iterable[str],
    samples: int = 3,
    tables_json_schemas: dict[str, Schema] | None = None,
    *,
    row_counts: bool = True,
    progress: Callable[[int], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Schema]:
    """The schema of each db_id as its SQLite file describes it, keyed by db_id; each database read once.

    Each file is opened read-only and introspected (``Database.schema``): declared types (``INT``,
    ``VARCHAR(20)``; SQLite reports them upper-cased), the real primary and foreign keys (composite ones
    included), up to ``samples`` distinct values per column (0 for none) and, with ``row_counts``, each
    table's row count. Two things come from ``tables_json_schemas`` (read from ``<spider_dir>/tables.json``
    when not given and the file is there):

    * the whole schema of a database whose file is missing or cannot be opened, so prompts can still be built;
    * the foreign keys of a table that declares none in the database while tables.json lists some (Spider's
      files and tables.json disagree in places), mapped onto the database's own table and column names.

    A database with neither a usable file nor a tables.json schema raises DataError. ``progress(1)`` is called
    after each database; ``notify`` gets one summary line saying how many schemas came from the files and
    which fell back to tables.json, and why (default: the log, as a warning when any fell back).
    """
    from tunesql.db.connect import open_database

    root = Path(spider_dir_or_db_root)
    if tables_json_schemas is None:
        tables_json = root / "tables.json"
        tables_json_schemas = load_spider_schemas(tables_json) if tables_json.is_file() else {}
    schemas: dict[str, Schema] = {}
    fell_back: dict[str, list[str]] = {}  # why -> db_ids
    kept_fk_tables = 0
    for db_id in dict.fromkeys(db_ids):
        listed = tables_json_schemas.get(db_id)
        path = find_db_file(root, db_id)
        why = "no .sqlite file"
        if path is not None:
            try:
                with open_database(path) as db:
                    schema = db.schema(samples=samples, row_counts=row_counts)
            except ConnectError as e:
                why = f"cannot open it ({e})"
            else:
                schema.name = db_id
                if listed is not None:
                    kept_fk_tables += _keep_listed_foreign_keys(schema, listed)
                schemas[db_id] = schema
                if progress is not None:
                    progress(1)
                continue
        if listed is None:
            raise DataError(f"database {db_id!r}: {why} under {root}, and no tables.json schema to fall back on")
        schemas[db_id] = listed
        fell_back.setdefault(why, []).append(db_id)
        if progress is not None:
            progress(1)

    n_back = sum(len(ids) for ids in fell_back.values())
    per_column = f"{samples} sample value{'' if samples == 1 else 's'} per column" if samples > 0 else "no samples"
    n_read = len(schemas) - n_back
    summary = (f"schemas of {len(schemas)} database{'' if len(schemas) == 1 else 's'}: "
               f"{n_read} read from their SQLite files" + (f" ({per_column})" if n_read else ""))
    if n_back:
        reasons = "; ".join(f"{why}: {_some(sorted(ids))}" for why, ids in fell_back.items())
        summary += f", {n_back} from tables.json ({reasons})"
    if kept_fk_tables:
        summary += f"; tables.json's foreign keys kept for {kept_fk_tables} table(s) that declare none"
    if notify is not None:
        notify(summary)
    else:
        log.log(logging.WARNING if n_back else logging.INFO, "%s", summary)
    return schemas


def _some(names: list[str], shown: int = 10) -> str:
    """``a, b, c`` or, for a long list (a copy without any database files), ``a, b, …, j and 130 more``."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def _keep_listed_foreign_keys(schema: Schema, listed: Schema) -> int:
    """Give each table without foreign keys the ones tables.json lists for it; returns how many tables got some.

    Only keys whose table and columns exist in the database are kept, written with the database's names.
    """
    changed = 0
    for table in schema.tables:
        other = listed.table(table.name)
        if table.foreign_keys or other is None:
            continue
        for fk in other.foreign_keys:
            target = schema.table(fk.ref_table)
            cols = [table.column(c) for c in fk.columns]
            refs = [target.column(c) for c in fk.ref_columns] if target is not None else []
            if target is None or len(cols) != len(refs) or any(c is None for c in cols + refs):
                continue
            new = ForeignKey([c.name for c in cols if c], target.name, [r.name for r in refs if r])
            if new not in table.foreign_keys:
                table.foreign_keys.append(new)
        changed += bool(table.foreign_keys)
    return changed


def load_spider_schemas(tables_json: str | Path, dialect: str = "sqlite") -> dict[str, Schema]:
    """Every schema in a Spider-format ``tables.json`` (BIRD's ``*_tables.json`` too), keyed by db_id.

    Tables and columns keep their original names; types are tables.json's (``text``, ``number``, ``time``,
    ``boolean``, ``others``); ``sqlite_*`` tables are left out. Each ``[column, referenced]`` pair becomes one
    single-column ForeignKey.
    """
    path = str(tables_json)
    entries = read_json_list(tables_json, "schemas")
    schemas: dict[str, Schema] = {}
    for index, entry in enumerate(entries):
        schema = _schema_from_entry(entry, path=path, index=index, dialect=dialect)
        if schema.name in schemas:
            raise DataError(f"db_id {schema.name!r} appears twice", path=path, index=index, field="db_id")
        schemas[schema.name] = schema
    return schemas


def _schema_from_entry(entry: Any, *, path: str, index: int, dialect: str) -> Schema:
    db_id = require_str(entry, "db_id", path=path, index=index)

    def field_list(name: str) -> list[Any]:
        if name not in entry:
            raise DataError("required field is missing", path=path, index=index, field=name)
        value = entry[name]
        if not isinstance(value, list):
            raise DataError(f"expected a list, got {type(value).__name__}", path=path, index=index,
                            field=name)
        return value

    table_names = field_list("table_names_original")
    column_names = field_list("column_names_original")
    column_types = field_list("column_types")
    if len(column_types) != len(column_names):
        raise DataError(f"{len(column_types)} types for {len(column_names)} columns", path=path, index=index,
                        field="column_types")
    n_cols = len(column_names)

    def column_index(value: Any, name: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n_cols:
            raise DataError(f"{value!r} is not a column index (0..{n_cols - 1})", path=path, index=index,
                            field=name)
        return value

    pk_columns: set[int] = set()
    for pk in field_list("primary_keys"):
        for col in pk if isinstance(pk, list) else [pk]:
            pk_columns.add(column_index(col, "primary_keys"))

    tables = [Table(name=str(name), columns=[]) for name in table_names]
    owner: list[int] = []
    for col_index, item in enumerate(column_names):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)
                and isinstance(item[1], str)):
            raise DataError(f"item {col_index} is not [table_index, name]: {item!r}", path=path, index=index,
                            field="column_names_original")
        table_index, name = item
        owner.append(table_index)
        if table_index == -1:  # the "*" pseudo-column
            continue
        if not 0 <= table_index < len(tables):
            raise DataError(f"item {col_index} names table {table_index}, but there are {len(tables)}",
                            path=path, index=index, field="column_names_original")
        col_type = column_types[col_index]
        tables[table_index].columns.append(Column(
            name=name, type=str(col_type), primary_key=col_index in pk_columns,
        ))

    for pair in field_list("foreign_keys"):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise DataError(f"{pair!r} is not a [column, referenced_column] pair", path=path, index=index,
                            field="foreign_keys")
        src, dst = (column_index(c, "foreign_keys") for c in pair)
        if owner[src] < 0 or owner[dst] < 0:
            raise DataError(f"{pair!r} refers to the '*' column", path=path, index=index,
                            field="foreign_keys")
        tables[owner[src]].foreign_keys.append(ForeignKey(
            columns=[column_names[src][1]],
            ref_table=tables[owner[dst]].name,
            ref_columns=[column_names[dst][1]],
        ))

    kept = [t for t in tables if not t.name.lower().startswith("sqlite_")]
    return Schema(name=db_id, dialect=dialect, tables=kept)


def load_spider(
    spider_dir: str | Path,
    split: Split = "dev",
    *,
    schemas: dict[str, Schema] | None = None,
) -> list[Example]:
    """The ``train`` (train_spider.json, 7000) or ``dev`` (dev.json, 1034) split as Examples.

    Every record needs a non-empty string ``db_id``, ``question`` and ``query``, and the db_id must be in
    tables.json (pass ``schemas`` to skip re-reading it); otherwise DataError names the file, the record index
    and the field.
    """
    if split not in SPLIT_FILES:
        raise DataError(f"unknown Spider split {split!r}; use one of {', '.join(SPLIT_FILES)}")
    spider_dir = Path(spider_dir)
    if schemas is None:
        schemas = load_spider_schemas(spider_dir / "tables.json")
    path = spider_dir / SPLIT_FILES[split]
    records = read_json_list(path, f"Spider {split} records")
    examples: list[Example] = []
    for index, record in enumerate(records):
        db_id = require_str(record, "db_id", path=str(path), index=index)
        question = require_str(record, "question", path=str(path), index=index)
        sql = require_str(record, "query", path=str(path), index=index)
        if db_id not in schemas:
            raise DataError(f"unknown db_id {db_id!r}: not in tables.json", path=str(path), index=index,
                            field="db_id")
        examples.append(Example(
            id=str(index), question=question.strip(), sql=sql.strip(), db_id=db_id, dialect="sqlite",
            source=f"spider/{split}",
        ))
    return examples
