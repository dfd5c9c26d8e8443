"""A deterministic train / held-out split that does not move when examples are added.

Each example goes to the held-out side when a hash of its id falls under the fraction, so the same question
stays on the same side across runs, machines and dataset growth — a held-out accuracy is only honest if the
model never trained on those questions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tunesql.data.example import Example


def split_examples(examples: Sequence[Example], held_out: float = 0.25, *, salt: str = "tunesql"
                   ) -> tuple[list[Example], list[Example]]:
    """``(train, held_out)``; ``held_out`` is the fraction (0 < f < 1) expected on the held-out side."""
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be between 0 and 1, got {held_out}")
    train, test = [], []
    for ex in examples:
        h = int.from_bytes(hashlib.sha256(f"{salt}:{ex.id}".encode()).digest()[:8], "big") / 2**64
        (test if h < held_out else train).append(ex)
    return train, test
