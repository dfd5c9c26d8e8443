"""One typed config per training job: loaded from YAML, overridden from the command line, checked before loading.

A recipe is a YAML file with up to five sections (``model``, ``peft``, ``data``, ``train``, ``ex_eval``, and
``grpo`` for GRPO jobs). Anything left out keeps its default, so a recipe says only what it changes. The command
line overrides single keys with dotted paths, ``train.max_steps=3 peft.r=8 data.train=[shop]``, each
value read as YAML (so numbers, booleans and lists need no quoting).

Validation is pydantic's, with every model set to forbid unknown keys: a typo (``peft.rank``) or a value outside
the choices (``peft.method=lora4``) is rejected with the file, the dotted key and the valid keys or choices,
before torch is even imported. That is the point: a 7B job must not fail after twenty minutes of loading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tunesql.errors import ConfigError

REWARD_NAMES = ("format", "execution", "result", "length")
Job = TypeVar("Job", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(_Section):
    name: str = "qwen2.5-coder-0.5b"
    """A tunesql registry key (``tunesql models list``), a Hugging Face model folder, or a ``.gguf`` file (converted
    once to a model folder). Hub ids work where the hub is reachable."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """``auto``: float32 on a CPU (bf16 matmuls are slow there), bf16 on a GPU that has it, else fp16."""
    adapter: str | None = None
    """A LoRA adapter folder to start from: the SFT cold start of a GRPO run, or continued SFT."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: about 30 % slower, far less memory (long prompts, 7B)."""
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] | None = None


class PeftSection(_Section):
    method: Literal["lora", "qlora", "full"] = "lora"
    """``qlora`` loads the base in 4-bit NF4 (bitsandbytes, CUDA only); ``full`` trains every weight."""
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"
    """``all-linear`` (every linear layer but the output head, as the QLoRA paper recommends) or module names."""
    layers: int | None = Field(None, ge=1)
    """Adapt only the top N transformer layers. The backward pass then stops below them: on a CPU, the 0.5B
    model trains ~1.5x faster with the top 8 of 24 layers (bench/train_speed.py), in half the memory."""


class DataSection(_Section):
    train: list[str] = Field(default_factory=lambda: ["shop"])
    """Datasets: ``shop`` (the bundled pairs), ``spider:train``, ``spider:dev``, or Example JSONL / Spider-style
    JSON files (``tunesql data export --format jsonl`` writes the former)."""
    eval: str | None = None
    """Where execution accuracy during training is measured; None: the held-out part of ``train``."""
    held_out: float = Field(0.0, ge=0.0, lt=1.0)
    """Fraction of ``train`` kept out by a stable hash of the id (the same split ``tunesql quickstart`` uses)."""
    task: Literal["nl2sql", "sql2nl", "both", "reasoning"] = "nl2sql"
    """``both`` trains the two directions at once; ``reasoning`` needs a ``reasoning`` text per example
    (``meta.reasoning``, e.g. from teacher distillation) and targets ``<think>…</think><answer>…</answer>``."""
    schema_format: Literal["ddl", "mschema", "cards", "json"] = "mschema"
    budget_tokens: int = Field(6000, ge=50)
    """Schema pruning budget, as at inference: training sees what inference will show."""
    values: bool = True
    """Value hints (BM25 over the database's values) in the prompt, as at inference."""
    samples: bool = True
    """Sample values per column in the rendered schema. Off, a prompt is much shorter (the data summary a run
    prints gives tokens per record); the value hints still name the values the question mentions. Inference
    must then be asked the same way (``tunesql ask --no-samples``)."""
    comments: bool = True
    """Table and column comments in the rendered schema (the bundled database's are bilingual and long)."""
    max_examples: int | None = Field(None, ge=1)
    max_length: int = Field(2048, ge=32)
    """Tokens per training sequence; longer examples are dropped (and counted), never silently truncated."""
    spider_dir: str | None = None


class TrainSection(_Section):
    output_dir: str = "runs/sft"
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    """Optimizer steps; -1 runs ``epochs`` epochs."""
    learning_rate: float = Field(2e-4, gt=0)
    batch_size: int = Field(1, ge=1)
    grad_accum: int = Field(4, ge=1)
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0)
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(50, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    packing: bool = False
    seed: int = 0
    report_to: Literal["none", "tensorboard", "wandb"] = "none"
    resume: str = "auto"
    """``auto``: continue from the newest checkpoint in ``output_dir`` if there is one; ``never``; or a
    checkpoint folder."""
    threads: int | None = Field(None, ge=1)
    """CPU threads for torch (None: torch's default, all cores)."""


class ExEvalSection(_Section):
    every_steps: int = Field(0, ge=0)
    """Measure execution accuracy every N optimizer steps (0: only before and after training, if ``limit``)."""
    limit: int = Field(0, ge=0)
    """How many evaluation examples (0 switches the measurement off)."""
    max_new_tokens: int = Field(160, ge=8)
    batch_size: int = Field(8, ge=1)
    timeout: float = Field(10.0, gt=0)
    """Seconds one generated query may run."""


class GRPOSection(_Section):
    num_generations: int = Field(4, ge=2)
    """Completions per prompt (the group whose rewards are normalised against each other)."""
    max_completion_length: int = Field(256, ge=8)
    temperature: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0.0)
    """KL penalty weight; 0 (TRL's default) needs no reference model, halving memory."""
    rewards: dict[str, float] = Field(default_factory=lambda: {n: 1.0 for n in REWARD_NAMES})
    """Weight per reward function; names: format, execution, result, length."""
    timeout: float = Field(5.0, gt=0)
    """Seconds a generated query may run when it is rewarded."""
    use_vllm: bool = False
    """Generate with vLLM (GPU extra) instead of transformers."""
    vllm_mode: Literal["colocate", "server"] = "colocate"

    @field_validator("rewards")
    @classmethod
    def _known_rewards(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(REWARD_NAMES))
        if unknown:
            raise ValueError(f"unknown reward(s) {', '.join(unknown)}; valid: {', '.join(REWARD_NAMES)}")
        return value


class SFTJob(_Section):
    """``tunesql train sft``."""

    model: ModelSection = Field(default_factory=ModelSection)
    peft: PeftSection = Field(default_factory=PeftSection)
    data: DataSection = Field(default_factory=DataSection)
    train: TrainSection = Field(default_factory=TrainSection)
    ex_eval: ExEvalSection = Field(default_factory=ExEvalSection)


class GRPOJob(SFTJob):
    """``tunesql train grpo``: the SFT sections (``data.task`` defaults to ``reasoning`` prompts) plus ``grpo``."""

    grpo: GRPOSection = Field(default_factory=GRPOSection)

    @model_validator(mode="after")
    def _grpo_defaults(self) -> GRPOJob:
        if "learning_rate" not in self.train.model_fields_set:
            self.train.learning_rate = 1e-5  # RL steps are noisier than SFT's; TRL's GRPO default is 1e-6
        if "output_dir" not in self.train.model_fields_set:
            self.train.output_dir = "runs/grpo"
        return self


JOBS: dict[str, type[SFTJob]] = {"sft": SFTJob, "grpo": GRPOJob}


def load_config(kind: str, path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> SFTJob:
    """The validated config of a ``kind`` job from a YAML file (optional) plus ``key=value`` overrides."""
    if kind not in JOBS:
        raise ConfigError(f"unknown job kind {kind!r}; valid: {', '.join(JOBS)}")
    return load_job(JOBS[kind], path, overrides)


def load_job(cls: type[Job], path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Job:
    """Any job config (``cls``, a pydantic model that forbids unknown keys) from YAML plus overrides."""
    import yaml

    where = str(path) if path else "the command line"
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML: {e}") from e
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded or {}
    for item in overrides:
        apply_override(data, item)
    return validate(cls, data, where)


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set ``a.b=value`` in ``data`` (the value read as YAML)."""
    import yaml

    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {item!r} is not key=value (for example train.max_steps=3)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"override {item!r}: the value is not valid YAML: {e}") from e
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def validate(cls: type[Job], data: dict[str, Any], where: str = "config") -> Job:
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{where}: " + "; ".join(_describe(cls, err) for err in e.errors())) from None


def _describe(cls: type[BaseModel], err: Any) -> str:
    loc = [str(x) for x in err["loc"]]
    key = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = _model_at(cls, loc[:-1])
        valid = ", ".join(parent.model_fields) if parent is not None else "?"
        return f"{key}: unknown key (valid keys here: {valid})"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{key}: {msg} (got {err.get('input')!r})"


def _model_at(cls: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    model: Any = cls
    for part in loc:
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def dump_config(job: BaseModel, path: str | Path) -> Path:
    """Write the resolved config next to the run, so a result can always be traced to what produced it."""
    import yaml

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(job.model_dump(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return p


RECIPES = Path(__file__).resolve().parents[1] / "configs"
"""The shipped recipes (``configs/`` in the repository links here, so they install with the package)."""


def recipe_path(name: str) -> Path:
    """A shipped recipe by name (``quickstart-cpu``), for commands that run one without a file argument."""
    path = RECIPES / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in RECIPES.glob("*.yaml")))
        raise ConfigError(f"no shipped recipe {name!r}; known: {known}")
    return path
