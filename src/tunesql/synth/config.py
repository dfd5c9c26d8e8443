"""The ``tunesql synth`` job: one typed config, from YAML and/or ``key=value`` overrides (as training jobs are).

Sections: ``db`` (what to describe), ``llm`` (who writes), ``generate`` (how much, how hard), ``validate``
(what counts as a usable pair) and ``output``. Unknown keys and bad values are refused with the dotted key and
the valid choices before any request is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DBSection(_Section):
    url: str | None = None
    """A SQLAlchemy URL or a file path; None is the bundled sample database."""
    db_id: str | None = None
    """The name pairs are filed under (default: the file's stem or the database's name)."""


class LLMSection(_Section):
    base_url: str = "http://127.0.0.1:8000/v1"
    """Any OpenAI-compatible endpoint: vLLM, llama.cpp's server, Ollama (``…:11434/v1``), a hosted API."""
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    """The environment variable holding the key (keys do not belong in config files)."""
    timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0)
    concurrency: int = Field(4, ge=1)
    cache_dir: str | None = None
    """Answers are cached here, so a re-run costs nothing; default ``<output.dir>/llm-cache``."""


class GenerateSection(_Section):
    n: int = Field(500, ge=1)
    """Pairs to accept in the end."""
    levels: dict[str, float] = Field(default_factory=lambda: {"easy": 1.0, "medium": 1.0, "hard": 1.0})
    """Requested difficulty levels and their weights."""
    batch_size: int = Field(5, ge=1, le=50)
    """Pairs asked for per request."""
    oversample: float = Field(1.5, ge=1.0)
    """Ask for this many times what is still missing: validation and dedupe reject some."""
    max_rounds: int = Field(3, ge=1)
    """Rounds of asking again for what is still missing, each with new seeds."""
    temperature: float = Field(0.8, ge=0.0)
    max_tokens: int = Field(1500, ge=64)
    max_tables_per_topic: int = Field(4, ge=1)
    schema_format: Literal["ddl", "mschema", "cards"] = "mschema"
    seed: int = 0

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, value: dict[str, float]) -> dict[str, float]:
        from tunesql.synth.generate import LEVELS

        unknown = set(value) - set(LEVELS)
        if unknown:
            raise ValueError(f"unknown level(s) {sorted(unknown)}; known: {', '.join(LEVELS)}")
        if not value or any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("levels need at least one positive weight, none negative")
        return value


class ValidateSection(_Section):
    timeout: float = Field(5.0, gt=0)
    """Seconds a generated query may run (read-only) before it is rejected as too slow."""
    require_rows: bool = True
    question_threshold: float = Field(0.8, gt=0.0, le=1.0)
    """Jaccard similarity of content words above which two questions on one database are near-duplicates."""
    max_per_template: int = Field(1, ge=1)
    """Pairs kept per normalised SQL template (same query, other constants)."""
    balance: bool = True
    """Cap each measured difficulty at its share of ``generate.n``."""


class OutputSection(_Section):
    dir: str = "runs/synth"
    formats: list[Literal["alpaca", "sharegpt", "messages"]] = Field(default_factory=lambda: ["alpaca"])
    """Training files written besides ``pairs.jsonl`` (with a LLaMA-Factory ``dataset_info.json``)."""


class SynthJob(_Section):
    db: DBSection = Field(default_factory=DBSection)
    llm: LLMSection = Field(default_factory=LLMSection)
    generate: GenerateSection = Field(default_factory=GenerateSection)
    validate_: ValidateSection = Field(default_factory=ValidateSection, alias="validate")
    output: OutputSection = Field(default_factory=OutputSection)

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    def cache_dir(self) -> Path:
        return Path(self.llm.cache_dir) if self.llm.cache_dir else Path(self.output.dir) / "llm-cache"


def load_synth_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> SynthJob:
    from tunesql.train.config import load_job

    return load_job(SynthJob, path, overrides)
