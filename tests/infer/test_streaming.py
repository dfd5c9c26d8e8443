"""Token streaming: every backend's pieces join to exactly what ``generate`` returns, and stop strings cut right.

Real parts throughout: the tiny random Qwen2 under transformers, the shipped SmolLM2 GGUF under llama.cpp, and
the OpenAI backend over real HTTP against the scripted server (which streams server-sent events in 3-character
chunks, so stop strings span chunks). Each generation is at most 16 tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunesql.errors import ConfigError
from tunesql.infer.backend import GenerationConfig, Message, ScriptedBackend, cut_at_stop, split_pieces, stream_text
from tunesql.infer.hf import trim_at_stop

CAPITAL = [
    {"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]
HOW_MANY = [{"role": "user", "content": "How many singers do we have?"}]


# --- cutting a stream at stop strings ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab;*/", max_size=14),
    stop=st.lists(st.text(alphabet="ab;*/", max_size=4), max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=14), max_size=6),
)
def test_cut_at_stop_equals_trimming_the_joined_text(text: str, stop: list[str], cuts: list[int]) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    got = list(cut_at_stop(pieces, stop))
    assert "".join(got) == trim_at_stop(text, stop)
    assert all(got)  # no empty pieces reach a client


def test_a_stop_string_spanning_pieces_is_cut_and_the_source_is_not_read_past_it() -> None:
    consumed: list[str] = []
    closed: list[bool] = []

    def source() -> Iterator[str]:
        try:
            for piece in ["SELECT 1 ", "/* why", " */", "; DROP", " TABLE"]:
                consumed.append(piece)
                yield piece
        finally:
            closed.append(True)

    # "*/;" starts in piece 3 and ends in piece 4: " " goes out at once, "*/" is held until "; DROP" completes it.
    got = list(cut_at_stop(source(), ["*/;", "```"]))
    assert got == ["SELECT 1 ", "/* why", " "]
    assert consumed == ["SELECT 1 ", "/* why", " */", "; DROP"]
    assert closed == [True]


def test_an_earlier_unfinished_stop_string_wins_over_a_later_finished_one() -> None:
    # trim_at_stop("abcd", ["abcd", "c"]) is "": "c" is found first, but "abcd" begins earlier.
    assert list(cut_at_stop(["ab", "c", "d"], ["abcd", "c"])) == []
    assert list(cut_at_stop(["ab", "c", "x"], ["abcd", "c"])) == ["ab"]


# --- the scripted backend and the stream_text helper -------------------------------------------------------------


def test_scripted_backend_streams_its_completion_in_pieces() -> None:
    answer = "SELECT count(*)\nFROM singer  WHERE age > 30"
    backend = ScriptedBackend(default=[answer, "SELECT 2"])
    pieces = list(stream_text(backend, HOW_MANY, GenerationConfig()))
    assert len(pieces) > 3 and "".join(pieces) == answer
    assert backend.calls == [HOW_MANY]
    assert split_pieces("") == []


def test_n_above_one_is_refused_before_anything_streams() -> None:
    backend = ScriptedBackend()
    with pytest.raises(ConfigError, match="n must be 1"):
        stream_text(backend, HOW_MANY, GenerationConfig(n=2))  # raised at the call, not at the first next()
    with pytest.raises(ConfigError, match="n must be 1"):
        backend.stream(HOW_MANY, GenerationConfig(n=3))
    assert backend.calls == []


def test_stream_text_falls_back_to_generate_for_backends_without_stream() -> None:
    class GenerateOnly:
        name = "generate-only"

        def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
            return [["SELECT 42"] * config.n for _ in conversations]

    assert list(stream_text(GenerateOnly(), HOW_MANY, GenerationConfig())) == ["SELECT 42"]
    with pytest.raises(ConfigError):
        stream_text(GenerateOnly(), HOW_MANY, GenerationConfig(n=2))


# --- transformers -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_backend(tiny_model_dir: Path):
    from tunesql.infer.hf import HFBackend

    return HFBackend(tiny_model_dir)


def test_hf_stream_joins_to_the_greedy_completion(hf_backend) -> None:
    config = GenerationConfig(max_new_tokens=16)
    full = hf_backend.generate([HOW_MANY], config)[0][0]
    assert full
    pieces = list(hf_backend.stream(HOW_MANY, config))
    assert "".join(pieces) == full
    assert list(stream_text(hf_backend, HOW_MANY, config)) == pieces  # the helper uses stream()


def test_hf_stream_cuts_at_stop_strings(hf_backend) -> None:
    full = hf_backend.generate([HOW_MANY], GenerationConfig(max_new_tokens=16))[0][0]
    stop = full[4:7]
    config = GenerationConfig(max_new_tokens=16, stop=["NEVER-SEEN", stop])
    assert "".join(hf_backend.stream(HOW_MANY, config)) == full[: full.find(stop)]
    assert "".join(hf_backend.stream(HOW_MANY, config)) == hf_backend.generate([HOW_MANY], config)[0][0]


def test_hf_stream_closed_early_ends_its_generation_thread(hf_backend) -> None:
    import threading

    stream = hf_backend.stream(HOW_MANY, GenerationConfig(max_new_tokens=16))
    next(stream)
    stream.close()
    assert not [t for t in threading.enumerate() if t.name == "tunesql-hf-stream"]


# --- llama.cpp ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_backend(smollm2_gguf: Path):
    pytest.importorskip("llama_cpp", reason="llama.cpp not installed: pip install 'tunesql[llamacpp]'")
    from tunesql.infer.llamacpp import LlamaCppBackend

    return LlamaCppBackend(smollm2_gguf, n_ctx=1024)


def test_llamacpp_stream_yields_tokens_that_join_to_the_greedy_completion(llama_backend) -> None:
    config = GenerationConfig(max_new_tokens=12)
    full = llama_backend.generate([CAPITAL], config)[0][0]
    pieces = list(llama_backend.stream(CAPITAL, config))
    assert len(pieces) > 1
    assert "".join(pieces) == full
    assert "Paris" in full


def test_llamacpp_stream_cuts_at_a_stop_string_spanning_tokens(llama_backend) -> None:
    full = llama_backend.generate([CAPITAL], GenerationConfig(max_new_tokens=12))[0][0]
    stop = "pital of"  # " capital" and " of" are separate tokens
    config = GenerationConfig(max_new_tokens=12, stop=["NEVER", stop])
    got = "".join(llama_backend.stream(CAPITAL, config))
    assert stop in full and got == full[: full.find(stop)]
    with pytest.raises(ConfigError, match="n must be 1"):
        llama_backend.stream(CAPITAL, GenerationConfig(max_new_tokens=4, n=2))


# --- OpenAI-compatible endpoint -------------------------------------------------------------------------------------


@pytest.fixture
def openai_server():
    pytest.importorskip("openai", reason="the OpenAI-compatible backend needs the openai package: pip install openai")
    from tests.infer.openai_server import FakeOpenAIServer

    server = FakeOpenAIServer()
    server.base_url = server.start()
    yield server
    server.stop()


def test_openai_stream_joins_to_the_completion_and_asks_for_a_stream(openai_server) -> None:
    from tunesql.infer.openai_api import OpenAIBackend

    backend = OpenAIBackend(openai_server.base_url, "qwen-test", api_key="sk-test")
    config = GenerationConfig(max_new_tokens=16, seed=3)
    full = backend.generate([HOW_MANY], config)[0][0]
    pieces = list(backend.stream(HOW_MANY, config))
    assert len(pieces) > 5 and "".join(pieces) == full
    first, streamed = openai_server.requests
    assert "stream" not in first and streamed["stream"] is True
    assert (streamed["n"], streamed["seed"], streamed["max_tokens"]) == (1, 3, 16)


def test_openai_stream_cuts_at_stop_strings_across_chunks(openai_server) -> None:
    from tunesql.infer.openai_api import OpenAIBackend

    backend = OpenAIBackend(openai_server.base_url, "qwen-test", api_key="sk-test")
    # The scripted text is "SELECT 0 /* seed=None q=How many singers do we have? */;\nTRAILING", sent 3 characters
    # per chunk; the server ignores stop, so the cut is all ours. "*/;" spans chunks.
    config = GenerationConfig(max_new_tokens=16, stop=["*/;", "NEVER"])
    got = "".join(backend.stream(HOW_MANY, config))
    assert got == "SELECT 0 /* seed=None q=How many singers do we have? "
    assert got == backend.generate([HOW_MANY], config)[0][0]


def test_openai_stream_reports_endpoint_errors(openai_server) -> None:
    from tunesql.errors import EndpointError
    from tunesql.infer.openai_api import OpenAIBackend

    openai_server.fail_with = [500, 500]
    backend = OpenAIBackend(openai_server.base_url, "qwen-test", api_key="sk-test", max_retries=1)
    with pytest.raises(EndpointError, match="HTTP 500"):
        list(backend.stream(HOW_MANY, GenerationConfig(max_new_tokens=4)))
