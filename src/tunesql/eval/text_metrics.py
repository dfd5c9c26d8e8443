"""Surface-similarity metrics: SQL token F1 for text-to-SQL, BLEU-4 and ROUGE for SQL-to-text explanations.

They say how close the text is, never whether the SQL is right (execution accuracy does that); they are reported
next to it because papers do. BLEU and ROUGE need the ``eval`` extra (``pip install 'tunesql[eval]'``:
sacrebleu and rouge-score), imported only when called.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

_KEEP_CASE = {"VAR", "IDENTIFIER", "STRING", "NATIONAL_STRING", "RAW_STRING", "BIT_STRING", "HEX_STRING",
              "BYTE_STRING", "NUMBER", "PARAMETER", "PLACEHOLDER"}


def sql_tokens(sql: str, dialect: str = "sqlite") -> list[str]:
    """sqlglot's tokens of ``sql`` with keywords and operators upper-cased (names, strings and numbers keep
    their spelling); a whitespace/punctuation split when sqlglot cannot tokenize the text."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import TokenError

    try:
        tokens = Dialect.get_or_raise(dialect or "sqlite").tokenize(sql)
    except (TokenError, ValueError):
        return [t.upper() if t.isalpha() else t for t in re.findall(r"\w+|[^\w\s]", sql)]
    out = []
    for tok in tokens:
        if tok.token_type.name in _KEEP_CASE:
            out.append(tok.text)
        else:
            out.append(tok.text.upper())
    return out


def token_f1(pred_sql: str, gold_sql: str, dialect: str = "sqlite") -> float:
    """F1 of the two token multisets (``sql_tokens``): 1.0 for the same tokens in any order, 0.0 for none in
    common; 1.0 when both are empty."""
    pred, gold = Counter(sql_tokens(pred_sql, dialect)), Counter(sql_tokens(gold_sql, dialect))
    if not pred and not gold:
        return 1.0
    overlap = sum((pred & gold).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(pred.values())
    recall = overlap / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def bleu4(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU-4 (sacrebleu defaults, one reference per prediction), on the 0-100 scale."""
    _check_pairs(preds, refs)
    sacrebleu = _need("sacrebleu", "sacrebleu")
    if not preds:
        return 0.0
    return float(sacrebleu.corpus_bleu(list(preds), [list(refs)]).score)


def rouge(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F-measures (rouge-score, with stemming), each averaged over the pairs,
    in [0, 1]: ``{"rouge1": …, "rouge2": …, "rougeL": …}``. rouge-score lower-cases and keeps only letters and
    digits, so SQL punctuation does not count."""
    _check_pairs(preds, refs)
    rouge_scorer = _need("rouge_score.rouge_scorer", "rouge-score")
    keys = ("rouge1", "rouge2", "rougeL")
    if not preds:
        return dict.fromkeys(keys, 0.0)
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    totals = dict.fromkeys(keys, 0.0)
    for pred, ref in zip(preds, refs, strict=True):
        scores = scorer.score(ref, pred)
        for key in keys:
            totals[key] += scores[key].fmeasure
    return {key: totals[key] / len(preds) for key in keys}


def _check_pairs(preds: Sequence[str], refs: Sequence[str]) -> None:
    if isinstance(preds, str) or isinstance(refs, str):
        raise TypeError("preds and refs are lists of strings, not single strings")
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")


def _need(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"{package} is needed for this metric; install the eval extra: pip install 'tunesql[eval]'"
        ) from e
