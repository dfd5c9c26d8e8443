"""Generation with Hugging Face transformers, optionally through a PEFT (LoRA) adapter.

This is the backend that sees exactly what training saw: the same tokenizer, the same chat template, the same
weights in full precision, and a freshly trained adapter can be used without merging or converting it. It is the
slowest on a CPU (llama.cpp is several times faster), so it serves evaluation right after training and machines
with a GPU.

Sampling is plain temperature + top-p: the model's own ``generation_config`` defaults (Qwen ships top_k=20 and a
repetition penalty) are overridden, so one ``GenerationConfig`` means the same thing on every backend.
torch and transformers are imported only when a backend is built, so ``import tunesql`` stays light.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tunesql.errors import ConfigError
from tunesql.infer.backend import Completion, GenerationConfig, Message, Usage, check_single, cut_at_stop

TRAIN_EXTRA_HINT = "pip install 'tunesql[train]'"

# Tokens that end an assistant turn in common chat templates (ChatML/Qwen, Llama 3, Gemma, Phi). Generation stops
# at any of them that the tokenizer knows, besides the tokenizer's and the model's own EOS ids.
CHAT_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")


def trim_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string (the stop string itself is dropped).

    Every backend applies this to what it gets back: engines stop *after* the token that completes a stop
    string, and some servers ignore ``stop`` or accept only four of them.
    """
    cut = len(text)
    for s in stop:
        if s:
            at = text.find(s)
            if 0 <= at < cut:
                cut = at
    return text[:cut]


def finished(text: str, stop: Sequence[str], hit_limit: bool) -> Completion:
    """``text`` cut at its stop strings, as a ``Completion`` that ended by ``"length"`` only where the model hit its
    token limit and no stop string cut the text short (then the text is complete, whatever the limit did)."""
    cut = trim_at_stop(text, stop)
    return Completion(cut, "length" if hit_limit and cut == text else "stop")


def check_config(config: GenerationConfig) -> None:
    """Refuse nonsense before any model work starts (shared by every backend)."""
    if config.n < 1:
        raise ConfigError(f"GenerationConfig.n must be at least 1, got {config.n}")
    if config.max_new_tokens < 1:
        raise ConfigError(f"GenerationConfig.max_new_tokens must be at least 1, got {config.max_new_tokens}")
    if config.temperature < 0:
        raise ConfigError(f"GenerationConfig.temperature must be >= 0, got {config.temperature}")
    if not 0 < config.top_p <= 1:
        raise ConfigError(f"GenerationConfig.top_p must be in (0, 1], got {config.top_p}")


def _import_transformers():
    try:
        import torch
        import transformers
    except ImportError as e:
        raise ConfigError(
            f"the transformers backend needs torch and transformers ({e.name} is missing): {TRAIN_EXTRA_HINT}"
        ) from e
    return torch, transformers


def _resolve_dtype(torch, dtype: Any, device: str):
    """``auto`` means float32 on a CPU (bf16 matmuls are slow there) and bf16/fp16 on an accelerator."""
    if dtype is None or dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise ConfigError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16")
        return resolved
    return dtype


class HFBackend:
    """A transformers causal LM (an HF folder, a ``.gguf`` file, or a model object) behind the Backend Protocol.

    ``batch_size`` bounds the rows of one ``generate`` call (conversations × samples), so memory stays flat
    when ``n`` grows. Prompts are sorted by length before batching, so little compute goes into padding.
    """

    def __init__(
        self,
        model: str | Path | Any,
        tokenizer: str | Path | Any | None = None,
        *,
        adapter: str | Path | None = None,
        device: str = "cpu",
        dtype: Any = "auto",
        batch_size: int = 8,
    ) -> None:
        torch, transformers = _import_transformers()
        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.usage = Usage()
        torch_dtype = _resolve_dtype(torch, dtype, device)

        label = getattr(model, "name_or_path", None) or type(model).__name__
        if isinstance(model, (str, Path)):
            path = Path(model)
            label = path.stem if path.suffix == ".gguf" else path.name
            load_kw: dict[str, Any] = {}
            where: str | Path = model
            if path.suffix == ".gguf":
                # transformers dequantises a GGUF on every load (slow); tunesql.models.convert.ensure_hf caches
                # a converted folder instead. Loading directly stays possible for one-off use.
                if not path.is_file():
                    raise ConfigError(f"GGUF file not found: {path}")
                where, load_kw = path.parent, {"gguf_file": path.name}
            elif path.exists() and not (path / "config.json").is_file():
                raise ConfigError(f"{path} is not a Hugging Face model folder (no config.json)")
            try:
                model = transformers.AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype, **load_kw)
                if tokenizer is None:
                    tokenizer = transformers.AutoTokenizer.from_pretrained(where, **load_kw)
            except OSError as e:
                raise ConfigError(f"cannot load a transformers model from {model}: {e}") from e
        elif tokenizer is None:
            source = getattr(model, "name_or_path", None)
            if not source:
                raise ConfigError("HFBackend was given a model object without a tokenizer; pass tokenizer=")
            tokenizer = source
        if isinstance(tokenizer, (str, Path)):
            tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer)

        if adapter is not None:
            model = self._apply_adapter(model, adapter)
            label = f"{label}+{Path(adapter).name}"
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.name = f"transformers:{label}"

        # Left padding: every row's prompt ends at the same column, so new tokens line up and one slice
        # ``[:, prompt_len:]`` takes them all; with right padding, rows would continue after pad tokens.
        self.tokenizer.padding_side = "left"
        vocab = tokenizer.get_vocab()
        eos: list[int] = []
        for source in (getattr(self.model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
            for i in source if isinstance(source, (list, tuple)) else [source]:
                if isinstance(i, int) and i not in eos:
                    eos.append(i)
        for tok in CHAT_END_TOKENS:
            i = vocab.get(tok)
            if i is not None and i not in eos:
                eos.append(i)
        if not eos:
            raise ConfigError(f"{self.name}: the tokenizer has no EOS token, so generation could never stop")
        self.eos_ids = eos
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token_id = self.pad_id
        self._stop_strings_ok = True

    @staticmethod
    def _apply_adapter(model: Any, adapter: str | Path) -> Any:
        try:
            from peft import PeftModel
        except ImportError as e:
            raise ConfigError(f"loading a LoRA adapter needs peft: {TRAIN_EXTRA_HINT}") from e
        if not Path(adapter).exists():
            raise ConfigError(f"adapter folder not found: {adapter}")
        return PeftModel.from_pretrained(model, str(adapter))

    def render(self, conversation: Sequence[Message]) -> str:
        """The prompt text the model reads: its own chat template, ending with the assistant's turn opener.

        A base model without a chat template gets the turns' contents joined by blank lines — there is no
        "right" format for it, and the caller's few-shot prompt is then all the model has to go on.
        """
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(list(conversation), add_generation_prompt=True, tokenize=False)
        return "\n\n".join(m["content"] for m in conversation) + "\n"

    def generate(self, conversations: Sequence[Sequence[Message]], config: GenerationConfig) -> list[list[str]]:
        check_config(config)
        if not conversations:
            return []
        torch = self._torch
        if config.seed is not None:
            torch.manual_seed(config.seed)
        prompts = [self.render(c) for c in conversations]
        # Template text already holds any BOS the model wants; add_special_tokens would add a second one.
        ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        sampling = config.temperature > 0
        rows_per_call = config.n if sampling else 1
        per_batch = max(1, self.batch_size // rows_per_call)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        results: list[list[str]] = [[] for _ in conversations]
        for start in range(0, len(order), per_batch):
            chunk = order[start : start + per_batch]
            texts, written = self._generate_batch([ids[i] for i in chunk], config, rows_per_call)
            self.usage.add(sum(len(ids[i]) for i in chunk), written)
            for k, i in enumerate(chunk):
                got = texts[k * rows_per_call : (k + 1) * rows_per_call]
                # Greedy decoding is deterministic: one completion, repeated n times.
                results[i] = got if sampling else got * config.n
        return results

    def _generate_batch(self, batch_ids: list[list[int]], config: GenerationConfig, n: int
                        ) -> tuple[list[Completion], int]:
        """The batch's completions (``n`` rows per prompt) and how many tokens were generated for them."""
        torch = self._torch
        enc = self.tokenizer.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt").to(self.device)
        kwargs = self._generate_kwargs(config, n)
        stop = [s for s in config.stop if s]
        with torch.inference_mode():
            out = self._run_generate(enc, kwargs, stop)
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        texts, written = [], 0
        eos = set(self.eos_ids)
        for row in new:
            end = next((j for j, t in enumerate(row) if t in eos), len(row))
            # Rows that ended early (EOS, a stop string) are padded to the batch's length, often with the EOS id
            # itself, so the tokens before the first EOS or pad are counted (an ending EOS is not, as in llama.cpp).
            done = next((j for j, t in enumerate(row) if t in eos or t == self.pad_id), len(row))
            written += done
            text = self.tokenizer.decode(row[:end], skip_special_tokens=True)
            texts.append(finished(text, stop, hit_limit=done >= config.max_new_tokens))
        return texts, written

    def _generate_kwargs(self, config: GenerationConfig, n: int) -> dict[str, Any]:
        """Sampling arguments shared by ``generate`` and ``stream``, so both decode the same way."""
        sampling = config.temperature > 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=config.max_new_tokens,
            do_sample=sampling,
            repetition_penalty=1.0,
            num_return_sequences=n,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
        )
        if sampling:
            # top_k=0 switches off the model's own top-k default, so only temperature and top-p shape sampling.
            kwargs.update(temperature=config.temperature, top_p=config.top_p, top_k=0)
        return kwargs

    def _run_generate(self, enc: Any, kwargs: dict[str, Any], stop: list[str],
                      may_retry: Callable[[], bool] | None = None) -> Any:
        if stop and self._stop_strings_ok:
            try:
                return self.model.generate(**enc, **kwargs, stop_strings=stop, tokenizer=self.tokenizer)
            except (ValueError, TypeError, KeyError, AttributeError):
                # Some tokenizers' vocabularies defeat transformers' stop-string matcher (it is built before
                # any decoding, so nothing is lost); trimming the text still honours the stop strings.
                if may_retry is not None and not may_retry():
                    raise
                self._stop_strings_ok = False
        return self.model.generate(**enc, **kwargs)

    def stream(self, conversation: Sequence[Message], config: GenerationConfig) -> Iterator[str]:
        """One completion, piece by piece (see ``tunesql.infer.backend`` on streaming).

        ``generate`` runs in a thread and hands decoded text to a ``TextIteratorStreamer``; the pieces are cut at
        the stop strings on this side too. Closing the iterator early sets a flag that a stopping criterion checks
        after every token, so the thread ends within a token instead of decoding to ``max_new_tokens``.
        """
        check_config(config)
        check_single(config)
        ids = self.tokenizer(self.render(conversation), add_special_tokens=False)["input_ids"]
        return cut_at_stop(self._stream_pieces(ids, config), config.stop)

    def _stream_pieces(self, ids: list[int], config: GenerationConfig) -> Iterator[str]:
        torch = self._torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        eos = set(self.eos_ids)
        cancelled = threading.Event()

        class Streamer(TextIteratorStreamer):
            generated = 0

            # generate() decodes up to the first EOS; an EOS id that is not a special token would otherwise
            # reach the text, so it is dropped here as well.
            def put(self, value: Any) -> None:
                if not self.next_tokens_are_prompt:
                    self.generated += 1
                    kept = [t for t in value.reshape(-1).tolist() if t not in eos]
                    if not kept:
                        return
                    value = torch.tensor(kept)
                super().put(value)

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool,
                                  device=input_ids.device)

        streamer = Streamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        enc = {"input_ids": torch.tensor([ids], device=self.device),
               "attention_mask": torch.ones((1, len(ids)), dtype=torch.long, device=self.device)}
        kwargs = self._generate_kwargs(config, 1)
        kwargs.update(streamer=streamer, stopping_criteria=StoppingCriteriaList([Cancelled()]))
        failure: list[BaseException] = []

        def restart() -> bool:
            # The stop-string matcher failed after generate() had handed the prompt to the streamer: retry from a
            # clean streamer, unless text already went out (then a retry would repeat it).
            if streamer.generated:
                return False
            streamer.next_tokens_are_prompt = True
            streamer.token_cache, streamer.print_len = [], 0
            return True

        def run() -> None:
            try:
                if config.seed is not None:
                    torch.manual_seed(config.seed)
                with torch.inference_mode():
                    self._run_generate(enc, kwargs, [s for s in config.stop if s], may_retry=restart)
            except BaseException as e:  # handed to the consuming thread, which re-raises it
                failure.append(e)
                streamer.end()  # wakes the consumer, which would otherwise wait for text forever

        thread = threading.Thread(target=run, name="tunesql-hf-stream", daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
            thread.join()
            if failure:
                raise failure[0]
        finally:
            cancelled.set()
            thread.join()
