"""Token F1, BLEU-4 and ROUGE on known values."""

from __future__ import annotations

import pytest

from tunesql.eval import bleu4, rouge, token_f1


def test_token_f1() -> None:
    assert token_f1("SELECT a FROM t", "select a from t") == 1.0  # keywords are case-insensitive
    assert token_f1("SELECT a FROM t", "SELECT A FROM t") < 1.0  # names keep their spelling
    assert token_f1("SELECT a, b FROM t", "SELECT b, a FROM t") == 1.0  # a multiset
    assert token_f1("", "") == 1.0
    assert token_f1("foo", "bar") == 0.0
    # pred: SELECT a FROM t (4 tokens); gold: SELECT a FROM t WHERE x = 1 (8 tokens): P=1, R=0.5
    assert token_f1("SELECT a FROM t", "SELECT a FROM t WHERE x = 1") == pytest.approx(2 / 3)


def test_bleu4() -> None:
    pytest.importorskip("sacrebleu")
    text = "the number of singers older than twenty"
    assert bleu4([text], [text]) == pytest.approx(100.0)
    assert bleu4(["alpha beta gamma delta"], ["one two three four"]) == pytest.approx(0.0)
    assert 0 < bleu4(["the number of singers older than 20"], [text]) < 100
    assert bleu4([], []) == 0.0
    with pytest.raises(ValueError):
        bleu4(["a"], [])


def test_rouge() -> None:
    pytest.importorskip("rouge_score")
    text = "count the singers from france"
    assert rouge([text], [text]) == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})
    assert rouge(["alpha beta"], ["gamma delta"]) == pytest.approx({"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0})
    both = rouge([text, "alpha beta"], [text, "gamma delta"])
    assert both["rouge1"] == pytest.approx(0.5)
