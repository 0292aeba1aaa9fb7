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
