"""Write an Ollama Modelfile for a GGUF: the chat template in Ollama's Go-template syntax, stop tokens, system prompt.

    tunesql export ollama model-q8_0.gguf --out ollama/ --name tunesql-shop
    ollama create tunesql-shop -f ollama/Modelfile

Ollama does not run the Jinja chat template stored in a GGUF; it runs the Modelfile's ``TEMPLATE``, a Go
``text/template`` over ``.Messages`` (each with ``.Role`` and ``.Content``). A model prompted in a format other
than the one it was fine-tuned on loses much of what training gave it, so the Go template is derived from the
GGUF's own ``tokenizer.chat_template``: tunesql recognises the two families its supported models use, ChatML
(Qwen2/2.5, SmolLM2) and Llama 3, and writes the equivalent Go template. Any other template is refused with a
ConfigError: pass ``--template FILE`` with a Go template you wrote, rather than get a silently wrong prompt.

The Modelfile also sets ``SYSTEM`` to the system prompt tunesql trains and evaluates with
(:data:`tunesql.data.prompts.DEFAULT_SYSTEM`; Ollama sends it as the first message when a request has none),
``temperature 0`` (SQL wants the greedy answer), one ``stop`` per end token (the template's end-of-turn markers
and the GGUF's EOS / EOT tokens), and ``num_ctx`` large enough for schema-bearing prompts.
"""

from __future__ import annotations

import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from tunesql.errors import ConfigError


@dataclass(frozen=True)
class TemplateFamily:
    """A chat format: how to recognise its Jinja template, its Go template, and the tokens that end a turn."""

    name: str
    markers: tuple[str, ...]
    """Strings that all appear in a Jinja chat template of this family."""
    go_template: str
    stops: tuple[str, ...]


CHATML = TemplateFamily(
    name="chatml",
    markers=("<|im_start|>", "<|im_end|>"),
    go_template=("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
                 "{{ end }}<|im_start|>assistant\n"),
    stops=("<|im_end|>", "<|im_start|>"),
)
LLAMA3 = TemplateFamily(
    name="llama3",
    markers=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    # No <|begin_of_text|>: llama.cpp adds BOS itself (the GGUF says add_bos_token), as Ollama's own llama3 does.
    go_template=("{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
                 "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"),
    stops=("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"),
)
FAMILIES = (CHATML, LLAMA3)
DEFAULT_NUM_CTX = 8192
"""Ollama's default context (2048-4096 tokens, by version) is shorter than a prompt carrying a real schema."""


@dataclass
class ModelfileResult:
    """What :func:`write_modelfile` wrote."""

    modelfile: Path
    name: str
    family: str
    """``chatml``, ``llama3``, or ``custom`` when ``--template`` was given."""
    stops: list[str]
    gguf: Path
    """The GGUF the Modelfile's FROM names (the copy, with ``copy=True``)."""

    @property
    def create_command(self) -> str:
        return f"ollama create {self.name} -f {self.modelfile}"


def template_family(chat_template: str | None, source: str = "the GGUF") -> TemplateFamily:
    """The family of a Jinja chat template, or a ConfigError that says what to do instead."""
    if not chat_template:
        raise ConfigError(f"{source} has no chat template (tokenizer.chat_template), so tunesql cannot tell how the "
                          f"model expects its prompt. Export the GGUF from a folder whose tokenizer has one, or pass "
                          f"--template FILE with an Ollama Go template")
    for family in FAMILIES:
        if all(m in chat_template for m in family.markers):
            return family
    raise ConfigError(f"the chat template in {source} is neither ChatML nor Llama 3, the formats tunesql can translate "
                      f"to Ollama's Go-template syntax. Write the Go template yourself (see Ollama's docs/template.md) "
                      f"and pass it with --template FILE")


def write_modelfile(gguf_path: str | Path, out_dir: str | Path, name: str | None = None, *,
                    system: str | None = None, template_file: str | Path | None = None,
                    num_ctx: int | None = None, copy: bool = False) -> ModelfileResult:
    """Write ``out_dir/Modelfile`` for ``gguf_path``; ``copy=True`` also copies the GGUF beside it."""
    from tunesql.data.prompts import DEFAULT_SYSTEM

    gguf_path = Path(gguf_path).expanduser()
    if not gguf_path.is_file():
        raise ConfigError(f"GGUF file {gguf_path} does not exist; write one with `tunesql export gguf`")
    meta = read_gguf_metadata(gguf_path)
    system = DEFAULT_SYSTEM if system is None else system
    if template_file is not None:
        path = Path(template_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"--template {path} does not exist")
        go_template, family_name, stops = path.read_text(encoding="utf-8"), "custom", []
    else:
        family = template_family(meta.get("tokenizer.chat_template"), str(gguf_path))
        go_template, family_name, stops = family.go_template, family.name, list(family.stops)
    tokens = meta.get("tokenizer.ggml.tokens") or []
    for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"):
        i = meta.get(key)
        if isinstance(i, int) and 0 <= i < len(tokens) and tokens[i] not in stops:
            stops.append(tokens[i])
    for label, text in (("the template", go_template), ("the system prompt", system)):
        if '"""' in text:
            raise ConfigError(f'{label} contains """, which a Modelfile cannot quote')
    if num_ctx is None:
        arch = meta.get("general.architecture")
        trained = meta.get(f"{arch}.context_length")
        num_ctx = min(int(trained), DEFAULT_NUM_CTX) if isinstance(trained, int) and trained > 0 else DEFAULT_NUM_CTX
    name = name or ollama_name(gguf_path.stem)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(:[A-Za-z0-9._-]+)?", name):
        raise ConfigError(f"{name!r} is not a valid Ollama model name (letters, digits, '.', '_', '-', optional :tag)")

    out_dir = Path(out_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    source = gguf_path
    if copy:
        source = out_dir / gguf_path.name
        if source.resolve() != gguf_path.resolve():
            shutil.copyfile(gguf_path, source)
    # A GGUF inside the Modelfile's folder is named relatively, so the folder can be moved as a whole.
    try:
        from_path = "./" + source.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        from_path = str(source.resolve())
    lines = [
        f"# Written by `tunesql export ollama` from {gguf_path.name} ({family_name} chat format).",
        f"# Create the model with:  ollama create {name} -f Modelfile",
        f"FROM {from_path}",
        f'TEMPLATE """{go_template}"""',
        f'SYSTEM """{system}"""',
        "PARAMETER temperature 0",
        f"PARAMETER num_ctx {num_ctx}",
        *(f'PARAMETER stop "{s}"' for s in stops),
    ]
    modelfile = out_dir / "Modelfile"
    modelfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ModelfileResult(modelfile, name, family_name, stops, source)


def ollama_name(stem: str) -> str:
    """A valid Ollama model name from a file stem: lower case, other characters as '-'."""
    name = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-._")
    return name or "tunesql-model"


# --- GGUF header -------------------------------------------------------------------------------------------------

_WANTED = {"general.architecture", "general.name", "tokenizer.chat_template", "tokenizer.ggml.tokens",
           "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}


def read_gguf_metadata(path: str | Path, wanted: set[str] | None = None) -> dict:
    """The GGUF header keys in ``wanted`` (default: what a Modelfile needs, the token strings included) and
    ``<arch>.context_length``, read by ``tunesql.models.registry.read_gguf_fields`` (header only, fast)."""
    from tunesql.models.registry import read_gguf_fields

    try:
        return read_gguf_fields(path, set(wanted or _WANTED), context_length=True)
    except (ValueError, struct.error) as e:
        raise ConfigError(f"{e}; write a GGUF with `tunesql export gguf`") from e
