"""Paths and helpers shared by the radas.grpo tests (imported by module name: tests/grpo is on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "grpo"
TOY_PROMPTS = EXAMPLES / "toy_prompts.jsonl"
TOY_REWARD = EXAMPLES / "toy_reward.py"


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """Write ``rows`` (objects, or raw strings written as they are) one per line."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# Reward files as users bring them: a helper module next to the file, several functions, a
# (reward, {name: number}) tuple, an async function, and TRL's batch form in a second file.
HELPER = "def share(text, letter):\n    return sum(ch == letter for ch in text) / max(len(text), 1)\n"

MULTI = """
import asyncio

from letters import share  # a helper module next to the reward file


def letter_share(completion, letter, **kwargs):
    text = completion[0]["content"]
    return share(text, letter), {"length": len(text), "has_letter": letter in text, "note": "not a number"}


async def short(completion, **kwargs):
    await asyncio.sleep(0)
    return 1.0 if len(completion[0]["content"]) < 3 else 0.0


reward_fns = [letter_share, short]
"""

BATCH = """
def distinct(prompts, completions, letter, **kwargs):
    # TRL's batch form: one reward per completion, the extra field as a list
    assert len(prompts) == len(completions) == len(letter)
    return [len(set(c[0]["content"])) / 8 for c in completions]
"""


def reward_files(tmp_path: Path) -> tuple[Path, Path]:
    """Write letters.py (the helper), multi.py (reward_fns: letter_share, short) and batch.py (distinct)."""
    (tmp_path / "letters.py").write_text(HELPER)
    multi = tmp_path / "multi.py"
    multi.write_text(MULTI)
    batch = tmp_path / "batch.py"
    batch.write_text(BATCH)
    return multi, batch


# real model shapes with their real vocabularies, for memory sizing (configs only: no weights, no download)
QWEN25_05B: dict[str, Any] = dict(vocab_size=151936, tie_word_embeddings=True, hidden_size=896, intermediate_size=4864,
                                  num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2)
QWEN25_7B: dict[str, Any] = dict(vocab_size=152064, tie_word_embeddings=False, hidden_size=3584,
                                 intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                                 num_key_value_heads=4)


def config_folder(path: Path, **config: Any) -> str:
    """A local Qwen2-style model folder holding only its config.json (no weights at all); a
    260-token vocabulary, untied, unless ``config`` says otherwise."""
    import transformers

    transformers.Qwen2Config(**{"vocab_size": 260, "tie_word_embeddings": False, **config}).save_pretrained(path)
    assert [p.name for p in path.iterdir()] == ["config.json"]
    return str(path)


def reward_model_folder(path: Path, seed: int = 0) -> Path:
    """A local reward model as labs keep one: a small Qwen2 sequence classifier (one label, random
    weights from ``seed``) with its tokenizer (the tiny byte-level one), saved with save_pretrained."""
    import torch
    import transformers

    from radas.grpo._tiny import TINY_ARCH, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    config = transformers.Qwen2Config(vocab_size=len(tokenizer), num_labels=1, pad_token_id=tokenizer.pad_token_id,
                                      **TINY_ARCH)
    torch.manual_seed(seed)
    model = transformers.Qwen2ForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
