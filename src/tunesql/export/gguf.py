"""Write a transformers folder (llama or qwen2) as a GGUF file for llama.cpp and Ollama, offline.

    tunesql export gguf runs/merged --out model-f16.gguf --type f16

Why our own converter rather than llama.cpp's ``convert_hf_to_gguf.py``: that script ships only in
llama-cpp-python's *source* distribution (so exporting would need PyPI at export time), and it identifies the
pre-tokenizer by hashing the tokens of a test string against a list of known models, raising for any tokenizer
it has not seen, which includes every tokenizer trained here or built in a test. What llama.cpp needs from a
llama or qwen2 checkpoint is small and written down in the ``gguf`` package (tensor names, metadata keys,
quantisers), so this module writes it directly:

- hyper-parameters from ``config.json``;
- tensors streamed from the safetensors files one at a time (peak memory is one tensor, not the model), renamed
  with gguf's own name map; llama's q/k projections are re-ordered for llama.cpp's rotary layout (qwen2 uses the
  NeoX layout HF uses, so it is copied as is); llama-3-style rope scaling becomes the ``rope_freqs`` tensor;
- the byte-level BPE tokenizer (vocabulary, merges, token types, special ids, whether BOS is added, chat
  template), its pre-tokenizer named by *reading* the tokenizer's pre-tokenizer rules (regex / digits /
  byte-level) instead of hashing its output, so an unknown rule set is a clear error, never a silent mismatch.

Types: ``f32`` (exact), ``f16``, ``bf16``, ``q8_0``. Norms and biases always stay f32, as llama.cpp expects;
a matrix whose rows do not split into q8_0 blocks of 32 falls back to f16. The output is written beside the
target and renamed into place, so a crash never leaves a truncated ``.gguf`` under the final name.

:func:`check_tokenizer` loads the written vocabulary into llama.cpp and compares its tokenization with the HF
tokenizer's on probe strings: the test that the pre-tokenizer was named right.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesql.errors import ConfigError, TunesqlError

GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")
"""What ``--type`` accepts: the tensor type of the 2-D weight matrices."""

ARCHITECTURES = {"Qwen2ForCausalLM": "qwen2", "LlamaForCausalLM": "llama"}
"""transformers class → llama.cpp architecture name; the ones this converter writes."""

TRAIN_EXTRA_HINT = "exporting to GGUF needs the train extra: pip install 'tunesql[train]' (torch, transformers, gguf)"

# Regexes of the Split pre-tokenizers in tokenizer.json (as HF ships them) for the pre-tokenizers llama.cpp knows.
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZERS: dict[tuple[str, ...], str] = {
    ("bytelevel(regex)",): "gpt-2",
    (f"split({_QWEN2_SPLIT})", "bytelevel"): "qwen2",
    (f"split({_LLAMA3_SPLIT})", "bytelevel"): "llama-bpe",
    ("digits(individual)", "bytelevel(regex)"): "smollm",
}
"""Pre-tokenizer rules (as :func:`pre_tokenizer_signature` spells them) → llama.cpp's ``tokenizer.ggml.pre`` name."""

PROBE_TEXTS = (
    "SELECT name, count(*) FROM singer WHERE age > 30 GROUP BY country;",
    "How many   singers\n\n\tare older than 1234567 years? It's they're we'll I'VE",
    "  leading spaces and trailing   ",
    "数据库中有多少位歌手？ émigré naïve café 🙂",
    "x\r\ny\n\n\nz 3.14159 1,000,000",
)
"""Strings :func:`check_tokenizer` tokenizes both ways: digits, space and newline runs, contractions, CJK, emoji."""


class ExportCheckError(TunesqlError):
    """The GGUF was written, but a check found it differs from the transformers model (e.g. tokenization)."""


@dataclass
class GGUFResult:
    """What :func:`export_gguf` wrote."""

    path: Path
    arch: str
    type: str
    pre_tokenizer: str
    n_tensors: int
    n_vocab: int
    bytes: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    """Things the user should know (tensors kept in f16 under q8_0, tokens added as padding…)."""


def export_gguf(model_dir: str | Path, out: str | Path, type: str = "f16", *, name: str | None = None,
                progress: bool = True) -> GGUFResult:
    """Convert the transformers folder ``model_dir`` (llama or qwen2, safetensors) to the GGUF file ``out``."""
    if type not in GGUF_TYPES:
        raise ConfigError(f"unknown GGUF type {type!r}; choose one of {', '.join(GGUF_TYPES)} "
                          f"(f16 keeps the weights nearly exact, q8_0 halves the size again)")
    model_dir = Path(model_dir).expanduser()
    config = read_config(model_dir)
    arch = model_arch(config, model_dir)
    files = _safetensors_files(model_dir)
    out = Path(out).expanduser()
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give the path of the .gguf file to write")
    gguf, torch = _import_stack()
    started = time.perf_counter()
    _say(f"writing {out} ({arch}, {type}) from {model_dir}", progress)

    hp = hyperparameters(config, arch)
    vocab = read_vocab(model_dir, config)
    notes = list(vocab.notes)
    tensors = list(_plan_tensors(files, hp, gguf, type, notes))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(tmp, arch)
    try:
        _add_metadata(writer, gguf, hp, vocab, type, name or _model_name(config, model_dir))
        for t in tensors:
            writer.add_tensor_info(t.gguf_name, t.stored_shape, t.np_dtype, t.nbytes, raw_dtype=t.raw_dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for t in _progress(tensors, progress):
            writer.write_tensor_data(t.load(torch))
        writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        writer.close()
        tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    _say(f"wrote {out} ({out.stat().st_size / 1e6:.0f} MB, {len(tensors)} tensors) in {seconds:.0f} s", progress)
    return GGUFResult(out, arch, type, vocab.pre, len(tensors), len(vocab.tokens), out.stat().st_size,
                      round(seconds, 1), notes)


# --- config ------------------------------------------------------------------------------------------------------


def read_config(model_dir: Path) -> dict:
    """``config.json`` of a transformers folder, or a ConfigError saying what the folder lacks."""
    if not model_dir.is_dir():
        raise ConfigError(f"model folder {model_dir} does not exist; pass the folder `tunesql export merge` wrote "
                          f"(or any transformers folder with config.json and *.safetensors)")
    path = model_dir / "config.json"
    if not path.is_file():
        raise ConfigError(f"{model_dir} has no config.json: not a transformers model folder")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from e


def model_arch(config: dict, model_dir: Path | str = "") -> str:
    """llama.cpp's architecture name for a config, or a ConfigError listing the ones supported."""
    classes = config.get("architectures") or []
    for cls in classes:
        if cls in ARCHITECTURES:
            return ARCHITECTURES[cls]
    what = ", ".join(classes) or f"model_type {config.get('model_type')!r}"
    raise ConfigError(f"{model_dir or 'the model'} is a {what}; tunesql writes GGUF for "
                      f"{', '.join(ARCHITECTURES)} only. For other architectures use llama.cpp's "
                      f"convert_hf_to_gguf.py (in llama-cpp-python's source distribution, vendor/llama.cpp/)")


@dataclass
class HParams:
    """The hyper-parameters llama.cpp reads, taken from config.json."""

    arch: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ctx: int
    rms_eps: float
    rope_theta: float
    rope: dict
    """Rope scaling parameters (``rope_type`` default / linear / llama3), empty when there is none."""
    tie_embeddings: bool


def hyperparameters(config: dict, arch: str) -> HParams:
    """Read what llama.cpp needs; an unsupported rope scaling or a missing field is a ConfigError."""
    try:
        n_embd = int(config["hidden_size"])
        n_head = int(config["num_attention_heads"])
        hp = HParams(
            arch=arch,
            n_layer=int(config["num_hidden_layers"]),
            n_embd=n_embd,
            n_ff=int(config["intermediate_size"]),
            n_head=n_head,
            n_head_kv=int(config.get("num_key_value_heads") or n_head),
            head_dim=int(config.get("head_dim") or n_embd // n_head),
            n_ctx=int(config.get("max_position_embeddings") or 4096),
            rms_eps=float(config.get("rms_norm_eps") or 1e-6),
            rope_theta=0.0,
            rope={},
            tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"config.json lacks or mangles a field llama.cpp needs: {e}") from e
    # transformers 5 keeps rope settings in rope_parameters; 4.x in rope_theta + rope_scaling.
    params = dict(config.get("rope_parameters") or {})
    scaling = dict(config.get("rope_scaling") or {})
    hp.rope_theta = float(params.get("rope_theta") or config.get("rope_theta") or scaling.get("rope_theta") or 10000.0)
    rope = {**params, **scaling}
    rope_type = rope.get("rope_type") or rope.get("type") or "default"
    if rope_type not in ("default", "linear", "llama3"):
        raise ConfigError(f"rope scaling {rope_type!r} is not supported by tunesql's GGUF writer (default, linear "
                          f"and llama3 are); use llama.cpp's convert_hf_to_gguf.py for this model")
    hp.rope = {**rope, "rope_type": rope_type} if rope_type != "default" else {}
    if config.get("use_sliding_window") and config.get("sliding_window") and \
            int(config["sliding_window"]) < hp.n_ctx and arch == "qwen2":
        raise ConfigError("this qwen2 config uses sliding-window attention, which llama.cpp's qwen2 does not do")
    return hp


def _model_name(config: dict, model_dir: Path) -> str:
    named = config.get("_name_or_path") or config.get("_model_name_or_path") or ""
    return str(named).rstrip("/").split("/")[-1] or model_dir.resolve().name


# --- tokenizer ---------------------------------------------------------------------------------------------------


@dataclass
class Vocab:
    """The tokenizer as GGUF stores it: one entry per id, ``0..n_vocab-1``."""

    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    add_bos: bool
    chat_template: str | None
    notes: list[str] = field(default_factory=list)


def pre_tokenizer_signature(pre: dict | None) -> tuple[str, ...]:
    """The tokenizer.json pre-tokenizer as a tuple of rule names, e.g. ``('split(<regex>)', 'bytelevel')``."""
    if not pre:
        return ()
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    out = []
    for step in steps or []:
        kind = step.get("type")
        if kind == "ByteLevel":
            if step.get("add_prefix_space"):
                out.append("bytelevel(prefix-space)")
            else:
                out.append("bytelevel(regex)" if step.get("use_regex", True) else "bytelevel")
        elif kind == "Split":
            pattern = step.get("pattern") or {}
            regex = pattern.get("Regex") if "Regex" in pattern else f"string:{pattern.get('String')}"
            behaviour = step.get("behavior", "Isolated")
            out.append(f"split({regex})" if behaviour == "Isolated" and not step.get("invert") else
                       f"split({regex}, {behaviour}, invert={step.get('invert')})")
        elif kind == "Digits":
            out.append("digits(individual)" if step.get("individual_digits") else "digits")
        else:
            out.append(str(kind).lower())
    return tuple(out)


def read_vocab(model_dir: Path, config: dict) -> Vocab:
    """Read the folder's tokenizer (byte-level BPE only) into what llama.cpp's ``gpt2`` tokenizer needs."""
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise ConfigError(f"{TRAIN_EXTRA_HINT} ({e})") from e
    try:
        tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load the tokenizer of {model_dir}: {e}") from e
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError(f"the tokenizer of {model_dir} is a slow (Python) tokenizer; save it with a tokenizer.json "
                          f"(a fast tokenizer) first")
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(spec.get("decoder")):
        raise ConfigError(f"the tokenizer of {model_dir} is {model.get('type')} without a byte-level decoder; tunesql "
                          f"writes GGUF for byte-level BPE tokenizers (Qwen2, Llama 3, SmolLM, GPT-2 style) only")
    signature = pre_tokenizer_signature(spec.get("pre_tokenizer"))
    pre = PRE_TOKENIZERS.get(signature)
    if pre is None:
        known = ", ".join(PRE_TOKENIZERS.values())
        raise ConfigError(f"the tokenizer of {model_dir} splits text with pre-tokenizer rules {list(signature)}, which "
                          f"tunesql cannot name for llama.cpp (it knows those of {known}); use llama.cpp's "
                          f"convert_hf_to_gguf.py for this tokenizer")

    added = {int(t["id"]): t for t in spec.get("added_tokens") or []}
    by_id: dict[int, str] = {int(i): t for t, i in (model.get("vocab") or {}).items()}
    for i, t in added.items():
        by_id[i] = t["content"]
    n_vocab = max(int(config.get("vocab_size") or 0), max(by_id) + 1)
    notes = []
    tokens: list[str] = []
    types: list[int] = []
    missing = 0
    for i in range(n_vocab):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(_TOKEN_UNUSED)
            missing += 1
        elif i in added:
            tokens.append(by_id[i])
            types.append(_TOKEN_CONTROL if added[i].get("special") else _TOKEN_USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(_TOKEN_NORMAL)
    if missing:
        notes.append(f"{missing} embedding rows have no token (vocab_size {n_vocab} > tokenizer's {len(by_id)}); "
                     f"written as unused [PADn] tokens")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]

    # Whether encoding adds BOS: ask the tokenizer instead of guessing from its post-processor.
    bos_id = tok.bos_token_id
    plain = tok.encode("a", add_special_tokens=False)
    special = tok.encode("a", add_special_tokens=True)
    add_bos = bos_id is not None and len(special) > len(plain) and special[0] == bos_id
    template = tok.chat_template if isinstance(tok.chat_template, str) else None
    return Vocab(tokens, types, merges, pre, bos_id, tok.eos_token_id, tok.pad_token_id, add_bos, template, notes)


_TOKEN_NORMAL, _TOKEN_CONTROL, _TOKEN_USER_DEFINED, _TOKEN_UNUSED = 1, 3, 4, 5  # gguf.TokenType values


# --- tensors -----------------------------------------------------------------------------------------------------


@dataclass
class _Tensor:
    """One tensor to write: where it comes from, what it becomes. Loaded only when written."""

    hf_name: str
    gguf_name: str
    file: Path | None
    shape: tuple[int, ...]
    qtype: Any
    transform: str = ""
    """``permute_q`` / ``permute_k`` (llama rotary layout) or ``rope_freqs`` (computed, no file)."""
    hp: HParams | None = None
    stored_shape: tuple[int, ...] = ()
    np_dtype: Any = None
    raw_dtype: Any = None
    nbytes: int = 0

    def load(self, torch) -> Any:
        """The tensor as the numpy array to write (converted, permuted, quantised)."""
        import numpy as np
        from gguf import GGMLQuantizationType, quants
        from safetensors import safe_open

        if self.transform == "rope_freqs":
            data = torch.tensor(llama3_rope_factors(self.hp), dtype=torch.float32)
        else:
            with safe_open(str(self.file), framework="pt") as f:
                data = f.get_tensor(self.hf_name).to(torch.float32)
            if self.transform == "permute_q":
                data = permute_for_llama_rope(data, self.hp.n_head)
            elif self.transform == "permute_k":
                data = permute_for_llama_rope(data, self.hp.n_head_kv)
        data = data.contiguous()
        if self.qtype == GGMLQuantizationType.F32:
            return data.numpy()
        if self.qtype == GGMLQuantizationType.F16:
            return data.to(torch.float16).numpy()
        if self.qtype == GGMLQuantizationType.BF16:  # torch rounds to nearest even, in place of a uint64 numpy copy
            return data.to(torch.bfloat16).view(torch.uint8).numpy()
        return quants.quantize(np.ascontiguousarray(data.numpy()), self.qtype)


def permute_for_llama_rope(w, n_head: int):
    """Reorder q/k rows within each head from HF's half-split rotary pairs (i, i+d/2) to llama.cpp's (2i, 2i+1).

    HF llama rotates ``x[:d/2]`` against ``x[d/2:]``; llama.cpp's llama graph rotates neighbouring pairs, so row
    ``k`` of a head moves to ``2k`` and row ``d/2+k`` to ``2k+1``. Works for weights (2-D) and biases (1-D),
    torch tensors or numpy arrays.
    """
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(hp: HParams) -> list[float]:
    """Per-frequency divisors for llama-3 rope scaling (llama.cpp's ``rope_freqs`` tensor, one per pair).

    High frequencies (short wavelengths) are kept, low ones divided by ``factor``, and the band between is
    interpolated smoothly, as in Meta's reference implementation and transformers' ``_compute_llama3_parameters``.
    """
    factor = float(hp.rope["factor"])
    low = float(hp.rope.get("low_freq_factor", 1.0))
    high = float(hp.rope.get("high_freq_factor", 4.0))
    old_ctx = float(hp.rope.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    factors = []
    for i in range(0, hp.head_dim, 2):
        freq = 1.0 / hp.rope_theta ** (i / hp.head_dim)
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return factors


def _plan_tensors(files: dict[str, Path], hp: HParams, gguf, type: str, notes: list[str]) -> Iterator[_Tensor]:
    """Map every HF tensor to its GGUF name and type, with shapes and byte sizes, without loading any data."""
    import numpy as np
    from safetensors import safe_open

    arch_enum = {"qwen2": gguf.MODEL_ARCH.QWEN2, "llama": gguf.MODEL_ARCH.LLAMA}[hp.arch]
    names = gguf.get_tensor_name_map(arch_enum, hp.n_layer)
    matrix_type = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
                   "bf16": gguf.GGMLQuantizationType.BF16, "q8_0": gguf.GGMLQuantizationType.Q8_0}[type]
    shapes: dict[str, tuple[int, ...]] = {}
    for file in sorted(set(files.values())):
        with safe_open(str(file), framework="pt") as f:
            shapes.update({n: tuple(f.get_slice(n).get_shape()) for n in f.keys()})  # noqa: SIM118
    fallback = 0
    planned: list[_Tensor] = []
    for hf_name, file in files.items():
        if hf_name.endswith((".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias")):
            continue  # buffers transformers recomputes; llama.cpp has its own
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ConfigError(f"tensor {hf_name!r} of {file.parent} has no GGUF name for {hp.arch}; the checkpoint "
                              f"does not look like a plain {hp.arch} model (was the LoRA adapter merged?)")
        shape = shapes[hf_name]
        transform = ""
        if hp.arch == "llama" and gguf_name.startswith("blk.") and ".attn_q." in gguf_name:
            transform = "permute_q"
        elif hp.arch == "llama" and gguf_name.startswith("blk.") and ".attn_k." in gguf_name:
            transform = "permute_k"
        qtype = gguf.GGMLQuantizationType.F32 if len(shape) == 1 else matrix_type
        if qtype == gguf.GGMLQuantizationType.Q8_0 and shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0]:
            qtype = gguf.GGMLQuantizationType.F16
            fallback += 1
        planned.append(_Tensor(hf_name, gguf_name, file, shape, qtype, transform, hp))
    if hp.rope.get("rope_type") == "llama3":
        planned.append(_Tensor("", "rope_freqs.weight", None, (hp.head_dim // 2,), gguf.GGMLQuantizationType.F32,
                               "rope_freqs", hp))
    if fallback:
        notes.append(f"{fallback} matrices have rows not divisible by 32 and were written as f16, not q8_0")
    seen = {t.gguf_name for t in planned}
    if "token_embd.weight" not in seen:
        raise ConfigError("the checkpoint has no token embedding (model.embed_tokens.weight)")
    if "output.weight" not in seen and not hp.tie_embeddings:
        raise ConfigError("the checkpoint has no lm_head.weight and does not tie it to the embeddings")
    for t in planned:
        block, size = gguf.GGML_QUANT_SIZES[t.qtype]
        n = int(np.prod(t.shape))
        if t.qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            t.stored_shape, t.np_dtype, t.raw_dtype = t.shape, np.float32 if size == 4 else np.float16, None
        else:  # quantised: gguf takes the byte shape of a uint8 array plus the real type
            t.stored_shape = gguf.quants.quant_shape_to_byte_shape(t.shape, t.qtype)
            t.np_dtype, t.raw_dtype = np.uint8, t.qtype
        t.nbytes = n // block * size
        yield t


def _safetensors_files(model_dir: Path) -> dict[str, Path]:
    """Tensor name → the safetensors file holding it (one file, or several listed in an index)."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        return {name: model_dir / file for name, file in weight_map.items()}
    single = model_dir / "model.safetensors"
    if single.is_file():
        try:
            from safetensors import safe_open
        except ImportError as e:
            raise ConfigError(f"{TRAIN_EXTRA_HINT} ({e})") from e
        with safe_open(str(single), framework="pt") as f:
            return {name: single for name in f.keys()}  # noqa: SIM118  (safe_open has keys(), no __iter__)
    raise ConfigError(f"{model_dir} has no model.safetensors (or index); save the model with safetensors "
                      f"(transformers' default) before exporting")


def _add_metadata(writer, gguf, hp: HParams, vocab: Vocab, type: str, name: str) -> None:
    writer.add_name(name)
    writer.add_context_length(hp.n_ctx)
    writer.add_embedding_length(hp.n_embd)
    writer.add_block_count(hp.n_layer)
    writer.add_feed_forward_length(hp.n_ff)
    writer.add_head_count(hp.n_head)
    writer.add_head_count_kv(hp.n_head_kv)
    writer.add_rope_freq_base(hp.rope_theta)
    writer.add_layer_norm_rms_eps(hp.rms_eps)
    writer.add_rope_dimension_count(hp.head_dim)
    if hp.head_dim != hp.n_embd // hp.n_head:
        writer.add_key_length(hp.head_dim)
        writer.add_value_length(hp.head_dim)
    if hp.rope.get("rope_type") == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(hp.rope["factor"]))
    if hp.arch == "llama":
        writer.add_vocab_size(len(vocab.tokens))
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[type]
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    if vocab.bos_id is not None:
        writer.add_bos_token_id(vocab.bos_id)
    if vocab.eos_id is not None:
        writer.add_eos_token_id(vocab.eos_id)
    if vocab.pad_id is not None:
        writer.add_pad_token_id(vocab.pad_id)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)


# --- checks ------------------------------------------------------------------------------------------------------


def check_tokenizer(gguf_path: str | Path, model_dir: str | Path, texts: tuple[str, ...] = PROBE_TEXTS) -> list[str]:
    """Tokenize ``texts`` with llama.cpp (vocabulary only) and with the HF tokenizer; return the mismatches.

    An empty list means llama.cpp splits these strings exactly as transformers does, special tokens included.
    Needs llama-cpp-python; loading only the vocabulary takes about a second.
    """
    try:
        import llama_cpp
    except ImportError as e:
        raise ConfigError("checking the GGUF tokenizer needs llama-cpp-python: pip install 'tunesql[llamacpp]'") from e
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    probes = list(texts)
    if isinstance(hf.chat_template, str):
        probes.append(hf.apply_chat_template([{"role": "user", "content": texts[0]}], tokenize=False,
                                             add_generation_prompt=True))
    bad = []
    for text in probes:
        ours = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        theirs = hf.encode(text, add_special_tokens=False)
        if list(ours) != list(theirs):
            bad.append(f"{text!r}: llama.cpp {list(ours)[:12]}… vs transformers {list(theirs)[:12]}…")
    return bad


# --- plumbing ----------------------------------------------------------------------------------------------------


def _import_stack():
    try:
        import gguf
        import numpy  # noqa: F401
        import safetensors  # noqa: F401
        import torch
    except ImportError as e:
        raise ConfigError(f"{TRAIN_EXTRA_HINT} ({e})") from e
    return gguf, torch


def _progress(items: list, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="tensors", unit="t", file=sys.stderr, leave=False)


def _say(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr)
