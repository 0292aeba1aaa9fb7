"""The ``"tiny"`` model preset: a 2-layer Qwen2-style model with random weights and a byte-level
tokenizer, both built locally (no download), so any prompt file works offline.

The tokenizer has one token per byte (the 256 byte-level symbols of GPT-2's byte-to-unicode map,
no merges) plus ``<|pad|>``, ``<|bos|>``, ``<|im_start|>`` and ``<|im_end|>`` (the eos token), and a
ChatML chat template.
"""

from __future__ import annotations

from typing import Any

from radas.grpo._deps import require

TINY_NAME = "tiny"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SPECIAL_TOKENS = ("<|pad|>", "<|bos|>", "<|im_end|>", "<|im_start|>")

TINY_ARCH: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "tie_word_embeddings": False,
}


def build_tiny_tokenizer() -> Any:
    """A byte-level ``PreTrainedTokenizerFast`` (260 tokens) with pad/bos/eos and a chat template."""
    tokenizers = require("tokenizers")
    transformers = require("transformers")
    from tokenizers import decoders, models, pre_tokenizers

    vocab: dict[str, int] = {}
    for tok in SPECIAL_TOKENS:
        vocab[tok] = len(vocab)
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    backend = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<|pad|>",
        bos_token="<|bos|>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
        padding_side="left",
        truncation_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(tokenizer: Any, seed: int = 0, max_position_embeddings: int = 4096) -> Any:
    """A ~100k-parameter ``Qwen2ForCausalLM`` with weights drawn from ``seed`` (fp32, on CPU)."""
    torch = require("torch")
    transformers = require("transformers")
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **TINY_ARCH,
    )
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = transformers.Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model
