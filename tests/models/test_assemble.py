"""Assembly of chunked models: a fake chunked model made here, then the real SmolLM2 and Qwen files when installed.

The fake model is three small chunk files inside three importable packages on sys.path, exactly how the
real chunk packages are laid out, with a spec whose sha256 is computed here.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from tunesql.errors import ConfigError
from tunesql.models import REGISTRY, ModelIntegrityError, ModelSpec, ensure_gguf, is_assembled, resolve_model
from tunesql.models import assemble as assemble_mod
from tunesql.models.registry import _locate, read_gguf_fields


def make_chunked_model(root: Path, chunks: list[bytes], monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """Write each chunk into its own importable package under ``root`` and return a spec that pins them."""
    stem = f"fakechunks_{uuid.uuid4().hex[:8]}"
    parts = []
    for n, chunk in enumerate(chunks, start=1):
        pkg = root / "site" / f"{stem}_part{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(chunk)
        parts.append((pkg.name, f"data/part{n:02d}.bin"))
    monkeypatch.syspath_prepend(str(root / "site"))
    whole = b"".join(chunks)
    return ModelSpec(key=f"fake-{stem[-8:]}", display="fake chunked model", family="llama",
                     packages=tuple(f"{stem}-part{n}==1.0" for n in range(1, len(chunks) + 1)), parts=tuple(parts),
                     filename="fake.gguf", sha256=hashlib.sha256(whole).hexdigest(), size_bytes=len(whole),
                     license="none")


CHUNKS = [os.urandom(100_000), os.urandom(70_001), os.urandom(3)]


@pytest.fixture
def fake(tmp_path, monkeypatch) -> ModelSpec:
    return make_chunked_model(tmp_path, CHUNKS, monkeypatch)


@pytest.fixture
def hash_calls(monkeypatch) -> list[int]:
    """Counts every sha256 hasher ensure_gguf creates."""
    calls: list[int] = []
    real = assemble_mod._new_hasher

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(assemble_mod, "_new_hasher", counting)
    return calls


def cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_assembles_in_order_and_verifies(fake, tmp_path):
    cache = tmp_path / "cache"
    path = ensure_gguf(fake, cache, progress=False)
    assert path == cache / "models" / fake.key / "fake.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert cache_files(cache) == [f"models/{fake.key}/fake.gguf", f"models/{fake.key}/fake.gguf.verified.json"]
    assert path.stat().st_mode & 0o444 == 0o444, "readable by the other users of a shared cache"
    assert is_assembled(fake, cache)


def test_second_call_trusts_the_stamp_and_does_not_rehash(fake, tmp_path, hash_calls):
    cache = tmp_path / "cache"
    path = ensure_gguf(fake, cache, progress=False)
    assert len(hash_calls) == 1
    mtime = path.stat().st_mtime_ns
    assert ensure_gguf(fake, cache, progress=False) == path
    assert len(hash_calls) == 1, "a stamped file is not re-hashed"
    assert path.stat().st_mtime_ns == mtime, "nor rewritten"

    assert ensure_gguf(fake, cache, progress=False, verify=True) == path
    assert len(hash_calls) == 2, "verify=True re-hashes"
    assert path.stat().st_mtime_ns == mtime, "an intact file is kept"

    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    assert not is_assembled(fake, cache)
    ensure_gguf(fake, cache, progress=False)
    assert len(hash_calls) == 3, "a changed mtime voids the stamp: re-hash"
    assert is_assembled(fake, cache) and len(hash_calls) == 3


def test_corrupted_chunk_is_refused_and_nothing_is_cached(fake, tmp_path):
    chunk = _locate(*fake.parts[1])
    data = bytearray(chunk.read_bytes())
    data[500] ^= 0xFF  # same size, one flipped byte
    chunk.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(ModelIntegrityError) as e:
        ensure_gguf(fake, cache, progress=False)
    assert fake.sha256 in str(e.value) and "--force-reinstall" in str(e.value)
    assert cache_files(cache) == [], "no tmp file, no target, no stamp"


def test_wrong_total_size_is_refused_before_copying(fake, tmp_path, hash_calls):
    _locate(*fake.parts[2]).write_bytes(b"abcd")
    cache = tmp_path / "cache"
    with pytest.raises(ModelIntegrityError, match="not the expected versions"):
        ensure_gguf(fake, cache, progress=False)
    assert hash_calls == [] and cache_files(cache) == []


def test_a_corrupted_cached_file_is_reassembled_on_verify(fake, tmp_path):
    cache = tmp_path / "cache"
    path = ensure_gguf(fake, cache, progress=False)
    stat = path.stat()
    with path.open("r+b") as f:
        f.write(b"\0\0\0\0")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # a corruption the stamp cannot see
    assert is_assembled(fake, cache)
    ensure_gguf(fake, cache, progress=False, verify=True)
    assert path.read_bytes() == b"".join(CHUNKS)


def test_missing_package_names_the_pip_command(fake, tmp_path):
    missing = replace(fake, parts=(*fake.parts, ("no_such_pkg_xyz", "data/part04.bin")),
                      packages=(*fake.packages, "no-such-pkg-xyz==1.0"))
    with pytest.raises(ConfigError) as e:
        ensure_gguf(missing, tmp_path / "cache", progress=False)
    assert "1 of its packages are not installed (no-such-pkg-xyz==1.0)" in str(e.value)
    assert missing.pip_command in str(e.value)


def test_cache_dir_comes_from_the_environment(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESQL_CACHE_DIR", str(tmp_path / "envcache"))
    assert ensure_gguf(fake, progress=False) == tmp_path / "envcache" / "models" / fake.key / "fake.gguf"


def test_single_part_model_is_copied_and_verified(tmp_path, monkeypatch):
    spec = make_chunked_model(tmp_path, [b"GGUF" + os.urandom(1000)], monkeypatch)
    path = ensure_gguf(spec, tmp_path / "cache", progress=True)
    assert path.read_bytes() == _locate(*spec.parts[0]).read_bytes()


def test_progress_bar_goes_to_stderr(fake, tmp_path, capsys):
    ensure_gguf(fake, tmp_path / "cache", progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "assembling" in err


# --- the real models ---------------------------------------------------------------------------------------------

def _require(key: str) -> None:
    spec = REGISTRY[key]
    if spec.missing_packages():
        ci = " (CI installs it)" if key != "qwen2.5-coder-1.5b" else ""
        pytest.skip(f"{key} is not installed{ci}: {spec.pip_command}")


def test_real_smollm2_verifies_and_loads(tmp_path):
    _require("smollm2-135m")
    path = ensure_gguf("smollm2-135m", tmp_path, progress=False)
    assert path.stat().st_size == REGISTRY["smollm2-135m"].size_bytes
    fields = read_gguf_fields(path, {"general.architecture", "tokenizer.chat_template"})
    assert fields["general.architecture"] == "llama" and "<|im_start|>" in fields["tokenizer.chat_template"]
    assert resolve_model(str(path)).family == "llama"
    try:
        from llama_cpp import Llama
    except ImportError:
        return  # loading through transformers is covered by test_convert.py
    llm = Llama(model_path=str(path), n_ctx=128, n_threads=2, verbose=False)
    out = llm.create_completion("SELECT", max_tokens=4, temperature=0.0)
    assert isinstance(out["choices"][0]["text"], str)


@pytest.mark.slow
def test_real_qwen_05b_assembles_and_verifies(tmp_path):
    _require("qwen2.5-coder-0.5b")
    started = time.perf_counter()
    path = ensure_gguf("qwen2.5-coder-0.5b", tmp_path, progress=False)
    seconds = time.perf_counter() - started
    assert path.stat().st_size == 491_400_064
    print(f"assembled and verified the 0.5B in {seconds:.1f} s")


@pytest.mark.slow
def test_real_qwen_15b_assembles_and_verifies(tmp_path):
    _require("qwen2.5-coder-1.5b")
    path = ensure_gguf("qwen2.5-coder-1.5b", tmp_path, progress=False)
    assert path.stat().st_size == 1_117_320_768
