"""A tiny random chat model, built from nothing in a second: no hub, no download, no real weights.

The tokenizer is a byte-level BPE trained here on a few SQL strings (byte-level like Qwen's, so decoding
round-trips text and transformers' ``stop_strings`` can see the vocabulary), with ChatML special tokens and a
ChatML chat template. The model is a 2-layer Qwen2 with hidden size 32. Its outputs are gibberish, but they are
deterministic for greedy decoding, which is all the backend tests need: left padding, batching, sampling, stop
strings and adapters can be checked exactly against one-by-one greedy decoding.
"""

from __future__ import annotations

from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "SELECT name FROM singer WHERE age > 30",
    "SELECT count(*) FROM concert",
    "SELECT country, avg(age) FROM singer GROUP BY country ORDER BY avg(age) DESC",
    "SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id",
    "How many singers do we have? List the names of all stadiums.",
    "You are a careful data analyst who writes correct, read-only SQL.",
]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tokenizer():
    """A byte-level BPE tokenizer (~400 tokens) with ChatML specials; pad is ``<|endoftext|>`` like Qwen."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_model(out_dir: Path, *, seed: int = 0, max_positions: int = 512) -> Path:
    """Save a random 2-layer Qwen2 and its tokenizer to ``out_dir`` (an HF folder) and return it."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=max_positions,
        # Larger than the usual 0.02 so logits are spread out: greedy never hinges on a near-tie that float
        # noise from padding could flip, and sampling at temperature 1 still varies.
        initializer_range=0.3,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
