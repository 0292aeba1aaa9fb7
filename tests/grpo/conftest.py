"""Shared fixtures of the radas.grpo tests: offline Hugging Face, toy files, small configs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
if str(Path(__file__).parent) not in sys.path:  # for `import grpo_helpers` under any import mode
    sys.path.insert(0, str(Path(__file__).parent))

from grpo_helpers import TOY_PROMPTS, TOY_REWARD


@pytest.fixture
def toy_config() -> dict[str, Any]:
    """A tiny, fast GRPO config on the toy task (2 steps of 2 prompts x 2 samples x 4 tokens)."""
    return {
        "model": "tiny",
        "prompt_file": str(TOY_PROMPTS),
        "reward_file": str(TOY_REWARD),
        "learning_rate": 1e-3,
        "max_steps": 2,
        "rollout_batch_size": 2,
        "n_samples_per_prompt": 2,
        "rollout_max_response_len": 4,
    }
