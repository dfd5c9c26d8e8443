"""``write_modelfile``: Modelfile content from real GGUFs (the tiny export and the shipped SmolLM2), and the Go
templates rendered by Go's own text/template (when a Go toolchain is on PATH) against the Jinja chat templates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.export.conftest import go_render
from tunesql.data.prompts import DEFAULT_SYSTEM
from tunesql.errors import ConfigError
from tunesql.export import export_gguf, template_family, write_modelfile
from tunesql.export.ollama import CHATML, LLAMA3, read_gguf_metadata

# Meta's Llama 3 Instruct chat template (as in its tokenizer_config.json).
LLAMA3_JINJA = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
CONVERSATIONS = [
    [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": "How many singers do we have?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "List tables.\nThen count rows."},
     {"role": "assistant", "content": "SELECT name FROM sqlite_master;"}, {"role": "user", "content": "And views?"}],
]


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "Tiny Qwen2-F16.gguf", "f16",
                       progress=False).path


def _modelfile_template(text: str) -> str:
    return re.search(r'^TEMPLATE """(.*?)"""$', text, re.S | re.M).group(1)


def test_modelfile_for_a_chatml_gguf(tiny_gguf, tmp_path):
    result = write_modelfile(tiny_gguf, tmp_path / "ollama")
    text = result.modelfile.read_text()
    assert result.name == "tiny-qwen2-f16" and result.family == "chatml"
    assert f"FROM {tiny_gguf.resolve()}\n" in text
    assert _modelfile_template(text) == CHATML.go_template
    assert f'SYSTEM """{DEFAULT_SYSTEM}"""\n' in text
    assert "PARAMETER temperature 0\n" in text and "PARAMETER num_ctx 512\n" in text  # the tiny model's context
    assert re.findall(r'^PARAMETER stop "(.*)"$', text, re.M) == ["<|im_end|>", "<|im_start|>"]  # eos is <|im_end|>
    assert result.create_command == f"ollama create tiny-qwen2-f16 -f {result.modelfile}"


def test_copy_puts_the_gguf_beside_the_modelfile_and_names_it_relatively(tiny_gguf, tmp_path):
    result = write_modelfile(tiny_gguf, tmp_path / "ollama", "my-sql:v1", copy=True, system="Answer in SQL.",
                             num_ctx=4096)
    text = result.modelfile.read_text()
    assert "FROM ./Tiny Qwen2-F16.gguf\n" in text and (tmp_path / "ollama" / tiny_gguf.name).is_file()
    assert 'SYSTEM """Answer in SQL."""' in text and "PARAMETER num_ctx 4096" in text


def test_modelfile_for_the_shipped_smollm2_gguf(smollm2_gguf, tmp_path):
    meta = read_gguf_metadata(smollm2_gguf)
    assert meta["general.architecture"] == "llama" and len(meta["tokenizer.ggml.tokens"]) == 49152
    result = write_modelfile(smollm2_gguf, tmp_path)
    assert result.family == "chatml"
    assert result.stops[:2] == ["<|im_end|>", "<|im_start|>"]
    assert meta["tokenizer.ggml.tokens"][meta["tokenizer.ggml.eos_token_id"]] in result.stops


def test_template_families_and_unknown_templates():
    from tests.infer.tiny_model import CHATML_TEMPLATE

    assert template_family(CHATML_TEMPLATE) is CHATML
    assert template_family(LLAMA3_JINJA) is LLAMA3
    mistral = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
    with pytest.raises(ConfigError, match=r"neither ChatML nor Llama 3.*--template FILE"):
        template_family(mistral, "x.gguf")
    with pytest.raises(ConfigError, match=r"has no chat template.*--template FILE"):
        template_family(None)


def test_custom_template_file_and_bad_inputs(tiny_gguf, tmp_path):
    custom = tmp_path / "t.gotmpl"
    custom.write_text("{{ range .Messages }}{{ .Content }}{{ end }}")
    result = write_modelfile(tiny_gguf, tmp_path / "o", template_file=custom)
    assert result.family == "custom" and result.stops == ["<|im_end|>"]  # the GGUF's EOS still stops it
    assert _modelfile_template(result.modelfile.read_text()) == custom.read_text()
    with pytest.raises(ConfigError, match=r"does not exist; write one with `tunesql export gguf`"):
        write_modelfile(tmp_path / "nope.gguf", tmp_path / "o")
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ConfigError, match=r"not a GGUF file"):
        write_modelfile(not_gguf, tmp_path / "o")
    with pytest.raises(ConfigError, match=r"--template .* does not exist"):
        write_modelfile(tiny_gguf, tmp_path / "o", template_file=tmp_path / "missing.gotmpl")
    with pytest.raises(ConfigError, match=r"not a valid Ollama model name"):
        write_modelfile(tiny_gguf, tmp_path / "o", name="my model")
    with pytest.raises(ConfigError, match='system prompt contains """'):
        write_modelfile(tiny_gguf, tmp_path / "o", system='say """hi"""')


# --- the Go templates, executed by Go ----------------------------------------------------------------------------


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["system-user", "multi-turn"])
def test_chatml_go_template_renders_like_the_tokenizers_template(tiny_model_dir, tiny_gguf, conversation, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    expected = tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    template = _modelfile_template(write_modelfile(tiny_gguf, tmp_path / "o").modelfile.read_text())
    assert go_render(template, conversation, tmp_path) == expected


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["system-user", "multi-turn"])
def test_llama3_go_template_renders_like_metas_template(conversation, tmp_path):
    import jinja2

    # bos_token empty: llama.cpp adds BOS itself, so neither the Go template nor this rendering carries it.
    expected = jinja2.Environment().from_string(LLAMA3_JINJA).render(messages=conversation, bos_token="",
                                                                     add_generation_prompt=True)
    assert go_render(LLAMA3.go_template, conversation, tmp_path) == expected
