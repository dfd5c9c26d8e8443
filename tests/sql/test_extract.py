"""extract_sql / extract_reasoning on realistic raw model outputs."""

from __future__ import annotations

import pytest

from tunesql.sql import extract_reasoning, extract_sql

Q = "SELECT name FROM singer WHERE age > 20"

# (id, raw model output, expected SQL)
CASES = [
    ("bare", Q, Q),
    ("bare_semicolon_newline", Q + ";\n", Q),
    ("qwen_fence", f"```sql\n{Q};\n```", Q),
    ("qwen_fence_im_end", f"```sql\n{Q}\n```<|im_end|>", Q),
    ("fence_with_prose", f"To answer this, we filter by age.\n\n```sql\n{Q}\n```\n\nThis lists the names.", Q),
    ("multiple_fences_last_wins",
     "First attempt:\n```sql\nSELECT * FROM singer\n```\nCorrected:\n```sql\n" + Q + "\n```", Q),
    ("sql_fence_beats_later_other_fence",
     f"```sql\n{Q}\n```\nRun it with:\n```python\ncursor.execute(query)\n```", Q),
    ("unlabelled_fence", f"Here you go:\n```\n{Q}\n```", Q),
    ("unlabelled_fence_not_sql_skipped", f"```sql\n{Q}\n```\n```\nname\n----\nAlice\n```", Q),
    ("dialect_label", f"```sqlite\n{Q}\n```", Q),
    ("unclosed_fence", f"```sql\n{Q}\n", Q),
    ("inline_closing_fence", f"```sql\n{Q};```", Q),
    ("r1_think_then_answer", f"<think>\nThe user wants names. Maybe SELECT * FROM singer?\n</think>\n\n"
     f"<answer>{Q}</answer>", Q),
    ("r1_think_then_fence", f"<think>\nLet me check the schema... SELECT age FROM x\n</think>\n```sql\n{Q}\n```"
     "<｜end▁of▁sentence｜>", Q),
    ("think_closed_without_open", f"We need singers older than 20.\n</think>\n\n{Q}", Q),
    ("answer_with_fence_inside", f"<answer>\n```sql\n{Q}\n```\n</answer>", Q),
    ("last_answer_wins", f"<answer>SELECT 1</answer> wait, no: <answer>{Q}</answer>", Q),
    ("answer_unclosed", f"<think>ok</think><answer>{Q}", Q),
    ("prose_semicolon", f"Sure! Here is the query: {Q}; This returns the names of singers over 20.", Q),
    ("prose_multiline", f"The query is:\n\n{Q.replace(' WHERE', chr(10) + 'WHERE')}\n\nIt filters by age.",
     Q.replace(" WHERE", "\nWHERE")),
    ("prose_trailing_words", f"{Q} returns the result", Q),
    ("prose_inline_code", f"You can use `{Q}` for that.", Q),
    ("prose_sentence_end", f"The answer is {Q}. Hope this helps!", Q),
    ("semicolon_in_string", "```sql\nSELECT id FROM t WHERE note = 'a;b' AND x = 'c''d;';\n```",
     "SELECT id FROM t WHERE note = 'a;b' AND x = 'c''d;'"),
    ("prose_semicolon_in_string", "Try SELECT id FROM t WHERE note = 'a;b'; it works.",
     "SELECT id FROM t WHERE note = 'a;b'"),
    ("with_cte", "```sql\nWITH x AS (SELECT 1 AS a) SELECT a FROM x\n```", "WITH x AS (SELECT 1 AS a) SELECT a FROM x"),
    ("english_with_before_sql", f"Start with the singer table, then: {Q};", Q),
    ("two_statements_in_prose", f"Not SELECT * FROM singer; but rather {Q};", Q),
    ("chat_template_leftovers", f"<|im_start|>assistant\n{Q}<|im_end|>\n<|endoftext|>", Q),
    ("no_sql", "I'm sorry, I cannot answer that question with the given tables.", ""),
    ("empty", "", ""),
    ("unfinished_thinking", "<think>\nMaybe SELECT name FROM singer... let me think more", ""),
    ("think_only_then_nothing", "<think>SELECT name FROM singer</think>\nI don't know.", ""),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_extract_sql(raw: str, expected: str) -> None:
    assert extract_sql(raw) == expected


def test_enough_cases() -> None:
    assert len(CASES) >= 20


def test_dialect_argument() -> None:
    assert extract_sql("```sql\nSELECT a::int FROM t\n```", "postgres") == "SELECT a::int FROM t"
    assert extract_sql("Use SELECT `a` FROM `t`; done", "mysql") == "SELECT `a` FROM `t`"


def test_labelled_fence_is_returned_even_if_broken() -> None:
    # The model marked it as its SQL; the evaluator will find out that it does not run.
    assert extract_sql("```sql\nSELECT FROM WHERE\n```") == "SELECT FROM WHERE"


@pytest.mark.parametrize(("raw", "expected"), [
    ("<think>\nstep one\n</think>\nSELECT 1", "step one"),
    ("step zero</think>SELECT 1", "step zero"),
    ("<think>a</think> x <think>b</think> y", "a\n\nb"),
    ("<think>never closed", "never closed"),
    ("SELECT 1", ""),
])
def test_extract_reasoning(raw: str, expected: str) -> None:
    assert extract_reasoning(raw) == expected
