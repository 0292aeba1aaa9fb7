"""Turning prompt-file records into the ``datasets.Dataset`` GRPOTrainer trains on."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from radas.errors import RadasValueError
from radas.grpo._deps import require
from radas.grpo._files import PromptRecord

logger = logging.getLogger("radas")

MIN_COMPLETION_TOKENS = 1


def normalize_prompts(records: Sequence[PromptRecord], tokenizer: Any, prompt_file: str,
                      apply_chat_template: bool = False) -> list[Any]:
    """Prompts as TRL takes them: plain strings stay plain text (TRL's standard format: no chat
    template, and the reward functions get strings), message lists are conversational. With
    ``apply_chat_template``, plain strings become one user message too. Chat prompts need a
    tokenizer with a chat template."""
    prompts = [[{"role": "user", "content": r.prompt}] if apply_chat_template and isinstance(r.prompt, str)
               else r.prompt for r in records]
    chat = [r for r, p in zip(records, prompts, strict=True) if not isinstance(p, str)]
    if chat and getattr(tokenizer, "chat_template", None) is None:
        raise RadasValueError(
            f"prompt_file {prompt_file!r} line {chat[0].line}: the prompt is a list of chat messages"
            f"{' (apply_chat_template=True)' if apply_chat_template else ''}, but the model's tokenizer has no chat "
            "template; use plain-string prompts (apply_chat_template=False) or a chat model"
        )
    return prompts


def prompt_lengths(prompts: Sequence[Any], tokenizer: Any) -> list[int]:
    """Token count of each prompt as the trainer will feed it (chat template + generation prompt)."""
    lengths = []
    for p in prompts:
        if isinstance(p, str):
            lengths.append(len(tokenizer(p)["input_ids"]))
        else:
            enc = tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)
            lengths.append(len(enc["input_ids"]))
    return lengths


def completion_budget(
    lengths: Sequence[int], records: Sequence[PromptRecord], max_seq_length: int,
    rollout_max_response_len: int | None, prompt_file: str,
) -> int:
    """``max_completion_length``: ``rollout_max_response_len`` capped so the longest prompt still fits."""
    longest = max(lengths)
    room = max_seq_length - longest
    if room < MIN_COMPLETION_TOKENS:
        line = records[lengths.index(longest)].line
        raise RadasValueError(
            f"prompt_file {prompt_file!r} line {line}: the prompt is {longest} tokens long, which leaves no room for "
            f"a completion within max_seq_length={max_seq_length}; raise max_seq_length or shorten the prompt"
        )
    if rollout_max_response_len is None:
        return room
    if rollout_max_response_len > room:
        logger.warning(
            "radas.grpo: rollout_max_response_len=%d capped to %d so the longest prompt (%d tokens) fits in "
            "max_seq_length=%d", rollout_max_response_len, room, longest, max_seq_length,
        )
        return room
    return rollout_max_response_len


def build_dataset(records: Sequence[PromptRecord], prompts: Sequence[Any]) -> Any:
    """A ``Dataset`` with ``prompt``, ``_radas_line`` and ``_radas_extra`` (the extra fields as JSON)."""
    datasets = require("datasets")
    return datasets.Dataset.from_dict(
        {
            "prompt": list(prompts),
            "_radas_line": [r.line for r in records],
            "_radas_extra": [json.dumps(r.extra) for r in records],
        }
    )
