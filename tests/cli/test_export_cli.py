"""``tunesql export merge|gguf|ollama`` through typer's runner: the whole chain on a tiny model, and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tunesql.cli import app

runner = CliRunner()

pytest.importorskip("peft", reason="the export tests need the train extra: pip install 'tunesql[train]'")
pytest.importorskip("gguf", reason="the export tests need the train extra: pip install 'tunesql[train]'")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    from tests.export.conftest import make_lora_adapter
    from tests.infer.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("cli-export")
    base = build_tiny_model(root / "base")
    return make_lora_adapter(base, root / "adapter")


def test_merge_gguf_ollama_chain(adapter, tmp_path):
    pytest.importorskip("llama_cpp", reason="the GGUF tokenizer check needs llama-cpp-python")
    merged, gguf_file, ollama_dir = tmp_path / "merged", tmp_path / "model.gguf", tmp_path / "ollama"

    result = runner.invoke(app, ["export", "merge", str(adapter), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    assert f"→ {merged}" in result.stdout and (merged / "model.safetensors").is_file()

    result = runner.invoke(app, ["export", "gguf", str(merged), "--out", str(gguf_file), "--type", "q8_0"])
    assert result.exit_code == 0, result.output
    assert "qwen2, q8_0" in result.stdout and "llama.cpp and transformers agree" in result.stdout

    result = runner.invoke(app, ["export", "ollama", str(gguf_file), "--out", str(ollama_dir), "--name", "shop-sql"])
    assert result.exit_code == 0, result.output
    assert f"ollama create shop-sql -f {ollama_dir / 'Modelfile'}" in result.stdout
    assert (ollama_dir / "Modelfile").read_text().startswith("# Written by `tunesql export ollama` from model.gguf")

    again = runner.invoke(app, ["export", "merge", str(adapter), "--out", str(merged)])
    assert again.exit_code == 1 and "--force" in again.output
    forced = runner.invoke(app, ["export", "merge", str(adapter), "--out", str(merged), "--force"])
    assert forced.exit_code == 0, forced.output


def test_bad_inputs_exit_1_with_one_line(adapter, tmp_path):
    cases = [
        (["export", "merge", str(tmp_path / "nope"), "--out", str(tmp_path / "o")], "adapter folder"),
        (["export", "gguf", str(tmp_path), "--out", str(tmp_path / "x.gguf"), "--type", "q4_k"],
         "unknown GGUF type 'q4_k'; choose one of f32, f16, bf16, q8_0"),
        (["export", "gguf", str(tmp_path / "nope"), "--out", str(tmp_path / "x.gguf")], "does not exist"),
        (["export", "ollama", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "o")], "does not exist"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output, result.output
        assert result.output.startswith("error: ConfigError:")


def test_unknown_architecture_through_the_cli(adapter, tmp_path):
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    result = runner.invoke(app, ["export", "gguf", str(folder), "--out", str(tmp_path / "x.gguf")])
    assert result.exit_code == 1 and "GPT2LMHeadModel" in result.output and "convert_hf_to_gguf.py" in result.output


def test_help_lists_the_three_commands():
    result = runner.invoke(app, ["export", "--help"])
    assert result.exit_code == 0
    for command in ("merge", "gguf", "ollama"):
        assert command in result.stdout
