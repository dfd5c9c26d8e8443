"""Value retrieval: which stored values does the question mention?

A question says "orders in Sanlitun"; the database stores ``stores.name = 'Beijing Sanlitun'``. A model that only
sees the schema (and three sample values per column) has to guess the spelling, and guesses wrong often enough to
matter (BIRD's evidence exists largely for this). So for each database we index the distinct values of its
text-like columns and, per question, look up the ones that share words with it; the hits become prompt hints
("Values that may be relevant: stores.name = 'Beijing Sanlitun'") and raise those columns' relevance for schema
pruning.

How a value is matched:

- Values and questions are cut into the same tokens: lower-cased words (Unicode ``\\w`` runs), with pure numbers
  dropped (a number in a question matches thousands of ids and dates and tells us nothing) and a short list of
  English function words dropped; a run of CJK characters becomes its character bigrams (and the single
  character when the run is one long), because Chinese is not written with spaces.
- Scoring is BM25 (``bm25s``) over those tokens, one document per (table, column, value), so rare words weigh
  more than common ones and short values that are mostly the matched word rank first.
- Fuzzy fallback: a question word of five characters or more that is not in the values' vocabulary (a typo,
  a plural, a different inflection: "sanlitn", "stores") is replaced by the vocabulary words that share most of
  its character trigrams (Dice coefficient >= ``FUZZY_MIN``), each weighted by that similarity. Exact words
  are tried first, so "beijing" finds "Beijing Sanlitun" through the word itself.

Reading values: only through the database handle's read-only ``run_query`` (guard, timeout and row cap included),
``SELECT DISTINCT col FROM t WHERE col IS NOT NULL LIMIT cap`` per column, so nothing here can write or run long.
Values longer than ``max_value_chars`` (free-text comments, descriptions) are skipped: they are not values a
question would quote, and they would crowd out the ones that are.

Caching: an index is kept in memory per database, keyed by URL and, for files, the path's mtime and size (so an
edited database is re-read); with ``cache_dir`` the extracted values are also stored on disk as JSON under that
key, and the BM25 index (cheap) is rebuilt from them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesql.db.render import quote_identifier
from tunesql.errors import TunesqlError

if TYPE_CHECKING:
    from tunesql.db.connect import Database
    from tunesql.db.schema import Column, Schema

MAX_VALUES_PER_COLUMN = 2000
MAX_VALUE_CHARS = 80
FUZZY_MIN = 0.65
"""Smallest trigram Dice similarity for a question word to stand in for a vocabulary word."""
FUZZY_MIN_CHARS = 5
"""Shorter question words are only matched exactly: "name" would otherwise find "Namest"."""
PER_COLUMN = 3
"""At most this many hits from one column, so one wide column of look-alike values cannot fill every slot."""

_TEXT_TYPES = ("CHAR", "TEXT", "CLOB", "STRING", "ENUM", "SET", "NAME", "CITEXT", "UUID")
_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
_STOPWORDS_TEXT = """
a an the of in on at to for from by with and or not no is are was were be been being do does did has have had
what which who whom whose when where why how many much list show give find tell return count number all each
every any some that this these those there their its it as than then per me my our we you your i please
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class ValueHit:
    table: str
    column: str
    value: str
    score: float


@dataclass
class ValueIndex:
    """The distinct text values of one database and a BM25 index over their tokens."""

    key: str
    entries: list[tuple[str, str, str]]
    """(table, column, value), in schema order then database order."""
    _bm25: Any = field(default=None, repr=False)
    _vocab: frozenset[str] = field(default=frozenset(), repr=False)
    _trigram_words: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _schema_words: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        self._build()

    def _build(self) -> None:
        names = {w for t, c, _ in self.entries for name in (t, c) for w in tokenize(name.replace("_", " "))}
        self._schema_words = frozenset(names | {_singular(w) for w in names})
        docs = [tokenize(v) for _, _, v in self.entries]
        vocab = sorted({t for d in docs for t in d})
        self._vocab = frozenset(vocab)
        grams: dict[str, list[str]] = defaultdict(list)
        for word in vocab:
            for g in set(_trigrams(word)):
                grams[g].append(word)
        self._trigram_words = dict(grams)
        if not any(docs):
            self._bm25 = None
            return
        import bm25s

        retriever = bm25s.BM25()
        retriever.index(docs, show_progress=False)
        self._bm25 = retriever

    def __len__(self) -> int:
        return len(self.entries)

    def scores(self, weighted_tokens: dict[str, float]) -> list[float]:
        """Per entry, the BM25 score of the weighted query tokens (0 for an empty index)."""
        if self._bm25 is None or not weighted_tokens:
            return [0.0] * len(self.entries)
        total = None
        for token, weight in sorted(weighted_tokens.items()):
            s = self._bm25.get_scores([token]) * weight
            total = s if total is None else total + s
        assert total is not None
        return [float(x) for x in total]

    def expand(self, question: str) -> dict[str, float]:
        """Question tokens → weights: vocabulary words as they are (weight 1), other words replaced by their
        fuzzy look-alikes in the vocabulary (weight = similarity).

        Words that name a table or column ("How many customers…") refer to the schema, not to stored values:
        searching them as values hints 'Customer Service Specialist' for every question about customers, which
        misleads small models. They are skipped.
        """
        weights: dict[str, float] = {}
        for token in tokenize(question):
            if token in self._schema_words or _singular(token) in self._schema_words:
                continue
            if token in self._vocab:
                weights[token] = max(weights.get(token, 0.0), 1.0)
                continue
            if len(token) < FUZZY_MIN_CHARS or _CJK.fullmatch(token):
                continue
            for word, sim in self._fuzzy(token):
                weights[word] = max(weights.get(word, 0.0), sim)
        return weights

    def _fuzzy(self, token: str) -> list[tuple[str, float]]:
        grams = Counter(_trigrams(token))
        if not grams:
            return []
        shared: Counter[str] = Counter()
        for g in grams:
            for word in self._trigram_words.get(g, ()):
                shared[word] += 1
        out = []
        for word, common in shared.items():
            sim = 2 * common / (len(grams) + len(set(_trigrams(word))))
            if sim >= FUZZY_MIN:
                out.append((word, sim))
        out.sort(key=lambda ws: (-ws[1], ws[0]))
        return out[:3]


def _singular(word: str) -> str:
    """A crude English singular, enough to match 'customers' / 'categories' to table and column names."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without numbers and function words; CJK runs as character bigrams."""
    tokens: list[str] = []
    for word in _WORD.findall(str(text).lower()):
        if word.isdigit() or word in STOPWORDS or word == "_":
            continue
        pos = 0
        for m in _CJK.finditer(word):
            tokens.extend(_latin_parts(word[pos:m.start()]))
            run = m.group()
            tokens.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
            pos = m.end()
        tokens.extend(_latin_parts(word[pos:]))
    return tokens


def _latin_parts(word: str) -> list[str]:
    """``snake_case`` splits into its parts; digits-only parts go."""
    return [p for p in word.split("_") if p and not p.isdigit() and p not in STOPWORDS]


def _trigrams(word: str) -> list[str]:
    padded = f"#{word}#"
    return [padded[i:i + 3] for i in range(len(padded) - 2)]


# --- building ---------------------------------------------------------------------------------------------------


def is_text_column(column: Column) -> bool:
    """Text-like by its declared type, or (SQLite's untyped columns) by its sample values."""
    declared = (column.type or "").upper()
    if any(t in declared for t in _TEXT_TYPES):
        return True
    if not declared:
        return bool(column.samples) and all(isinstance(v, str) for v in column.samples)
    return False


def collect_values(db: Database, schema: Schema, *, max_values_per_column: int = MAX_VALUES_PER_COLUMN,
                   max_value_chars: int = MAX_VALUE_CHARS, timeout: float = 10.0) -> list[tuple[str, str, str]]:
    """Distinct short text values per text-like column, read through ``run_query`` (read-only, capped)."""
    from tunesql.db.execute import run_query

    entries: list[tuple[str, str, str]] = []
    for table in schema.tables:
        for column in table.columns:
            if not is_text_column(column):
                continue
            q_col = quote_identifier(column.name, schema.dialect)
            sql = (f"SELECT DISTINCT {q_col} FROM {quote_identifier(table.name, schema.dialect)} "
                   f"WHERE {q_col} IS NOT NULL LIMIT {int(max_values_per_column)}")
            try:
                result = run_query(db, sql, timeout=timeout, max_rows=max_values_per_column)
            except TunesqlError:
                continue  # a view that fails, a column the guard refuses: no values from it, the rest still count
            for (value,) in result.rows:
                if isinstance(value, str) and value.strip() and len(value) <= max_value_chars \
                        and tokenize(value):
                    entries.append((table.name, column.name, value))
    return entries


def index_key(db: Database) -> str:
    """URL (password hidden) plus, for a database file, its mtime and size: a changed file gets a new key."""
    url = db.url.render_as_string(hide_password=True)
    path = db.path
    if path is not None and path.exists():
        st = path.stat()
        return f"{url}|{st.st_mtime_ns}|{st.st_size}"
    return url


_MEMORY: dict[str, ValueIndex] = {}
_MEMORY_LOCK = threading.Lock()


def get_value_index(db: Database, schema: Schema | None = None, *, cache_dir: str | Path | None = None,
                    max_values_per_column: int = MAX_VALUES_PER_COLUMN, max_value_chars: int = MAX_VALUE_CHARS,
                    timeout: float = 10.0) -> ValueIndex:
    """The value index of ``db``, built once per database version (memory, then ``cache_dir``, then the db)."""
    key = f"{index_key(db)}|{max_values_per_column}|{max_value_chars}"
    with _MEMORY_LOCK:
        if key in _MEMORY:
            return _MEMORY[key]
    disk = Path(cache_dir) / f"values-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json" if cache_dir else None
    entries: list[tuple[str, str, str]] | None = None
    if disk is not None and disk.is_file():
        try:
            data = json.loads(disk.read_text(encoding="utf-8"))
            if data.get("key") == key:
                entries = [tuple(e) for e in data["entries"]]  # type: ignore[misc]
        except (OSError, ValueError, KeyError, TypeError):
            entries = None  # a damaged cache file is rebuilt, never trusted
    if entries is None:
        if schema is None:
            schema = db.schema(samples=3, row_counts=False)
        entries = collect_values(db, schema, max_values_per_column=max_values_per_column,
                                 max_value_chars=max_value_chars, timeout=timeout)
        if disk is not None:
            disk.parent.mkdir(parents=True, exist_ok=True)
            tmp = disk.with_suffix(".tmp")
            tmp.write_text(json.dumps({"key": key, "entries": entries}, ensure_ascii=False), encoding="utf-8")
            tmp.replace(disk)
    index = ValueIndex(key=key, entries=entries)
    with _MEMORY_LOCK:
        _MEMORY[key] = index
    return index


def clear_cache() -> None:
    """Forget every in-memory index (tests, long-running servers after a schema change)."""
    with _MEMORY_LOCK:
        _MEMORY.clear()


# --- querying ---------------------------------------------------------------------------------------------------


def retrieve_values(question: str, index: ValueIndex, k: int = 10, *, per_column: int = PER_COLUMN,
                    min_score: float = 0.0) -> list[ValueHit]:
    """The ``k`` values that best match the question's words, best first (ties: schema order).

    At most ``per_column`` hits come from one column. Only values with a score above ``min_score`` count.
    """
    if k <= 0 or not len(index):
        return []
    scores = index.scores(index.expand(question))
    order = sorted((i for i, s in enumerate(scores) if s > min_score and math.isfinite(s)),
                   key=lambda i: (-round(scores[i], 9), i))
    per: Counter[tuple[str, str]] = Counter()
    hits: list[ValueHit] = []
    for i in order:
        table, column, value = index.entries[i]
        if per[(table, column)] >= per_column:
            continue
        per[(table, column)] += 1
        hits.append(ValueHit(table, column, value, round(scores[i], 6)))
        if len(hits) >= k:
            break
    return hits


def hit_columns(hits: Iterable[ValueHit]) -> dict[tuple[str, str], float]:
    """(table, column) → best hit score, lower-cased names: what pruning reads to raise a column's relevance."""
    out: dict[tuple[str, str], float] = {}
    for h in hits:
        key = (h.table.lower(), h.column.lower())
        out[key] = max(out.get(key, 0.0), h.score)
    return out


def filter_hits(hits: Sequence[ValueHit], schema: Schema) -> list[ValueHit]:
    """The hits whose table and column are still in ``schema`` (after pruning), so hints never name a column the
    prompt does not show."""
    out = []
    for h in hits:
        table = schema.table(h.table)
        if table is not None and table.column(h.column) is not None:
            out.append(h)
    return out
