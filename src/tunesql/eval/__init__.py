"""Evaluation: the one result comparator, difficulty levels, text-similarity metrics.

Execution accuracy everywhere (evaluator, GRPO reward, voting, data validation) goes through
:func:`results_match`; see :mod:`tunesql.eval.compare` for the exact Spider and BIRD semantics.
"""

from tunesql.eval.compare import FLOAT_TOL, SEMANTICS, results_match
from tunesql.eval.difficulty import (
    BIRD_LEVELS,
    SPIDER_LEVELS,
    bird_difficulty,
    difficulty_of,
    spider_hardness,
)
from tunesql.eval.text_metrics import bleu4, rouge, token_f1

__all__ = [
    "BIRD_LEVELS",
    "FLOAT_TOL",
    "SEMANTICS",
    "SPIDER_LEVELS",
    "bird_difficulty",
    "bleu4",
    "difficulty_of",
    "results_match",
    "rouge",
    "spider_hardness",
    "token_f1",
]
