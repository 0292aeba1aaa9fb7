"""Prompt files (JSONL) in the hosted RL API's format, and resolving the files a config names.

Prompt file: one JSON object per line, ``{"prompt": [{"role": "user", "content": "..."}], ...extra}``
(``prompt`` may also be a plain string). Blank lines are skipped. The extra fields go to the
reward functions as keyword arguments; ``prompt`` and ``completion`` are reserved.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radas.core import get_launch_dir
from radas.errors import RadasValueError

# Names the reward function's keyword arguments must not use: ``completion`` is its first argument.
# the names a reward function gets from radas and TRL besides the prompt line's own fields
RESERVED_FIELDS: frozenset[str] = frozenset({
    "prompt", "completion", "prompts", "completions", "completion_ids", "trainer_state", "log_metric",
    "log_extra", "environments", "_radas_extra", "_radas_line",
})


@dataclass(frozen=True)
class PromptRecord:
    """One prompt of a prompt file: its 1-based line number, the prompt, and the extra fields."""

    line: int
    prompt: str | list[dict[str, str]]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptFileSummary:
    """What :func:`validate_prompt_file` found: the file, the number of prompts, the extra field names."""

    path: str
    n_prompts: int
    extra_fields: tuple[str, ...]
    conversational: bool


def resolve_path(path: str | os.PathLike[str], param: str) -> Path:
    """``path`` as an existing file: as given, else relative to the folder the sweep was
    launched from (:func:`radas.core.get_launch_dir`)."""
    p = Path(os.fspath(path)).expanduser()
    candidates = [p]
    if not p.is_absolute():
        candidates.append(get_launch_dir() / p)
    for c in candidates:
        if c.is_file():
            return c.resolve()
    if p.exists():
        raise RadasValueError(f"{param} {os.fspath(path)!r} is not a file")
    tried = ", ".join(repr(str(c)) for c in candidates)
    raise RadasValueError(f"{param} {os.fspath(path)!r} does not exist (looked at {tried}; cwd: {os.getcwd()!r})")


def _check_prompt(value: Any, where: str) -> str | list[dict[str, str]]:
    if isinstance(value, str):
        if not value:
            raise RadasValueError(f"{where}: 'prompt' is an empty string")
        return value
    if isinstance(value, list):
        if not value:
            raise RadasValueError(f"{where}: 'prompt' is an empty list; give at least one message")
        for i, msg in enumerate(value):
            if not isinstance(msg, dict) or not isinstance(msg.get("role"), str) or not isinstance(
                msg.get("content"), str
            ):
                raise RadasValueError(
                    f"{where}: 'prompt'[{i}] = {msg!r} is not a chat message; each message must be "
                    f'{{"role": "<system|user|assistant>", "content": "<text>"}}'
                )
        return [{"role": m["role"], "content": m["content"]} for m in value]
    raise RadasValueError(
        f"{where}: 'prompt' must be a list of chat messages or a string; got {type(value).__name__}"
    )


def read_prompt_file(path: str | os.PathLike[str]) -> list[PromptRecord]:
    """Parse and check a JSONL prompt file; errors name the file and the line."""
    p = resolve_path(path, "prompt_file")
    records: list[PromptRecord] = []
    kinds: set[bool] = set()
    try:
        lines = p.read_bytes().splitlines()
    except OSError as exc:
        raise RadasValueError(f"prompt_file {str(p)!r} cannot be read: {exc}") from exc
    for number, raw in enumerate(lines, start=1):
        where = f"prompt_file {str(p)!r} line {number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RadasValueError(f"{where}: not UTF-8 ({exc})") from exc
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RadasValueError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(obj, dict):
            raise RadasValueError(f"{where}: each line must be a JSON object; got {type(obj).__name__}")
        if "prompt" not in obj:
            raise RadasValueError(f"{where}: missing the 'prompt' field; the line has the fields {sorted(obj)}")
        prompt = _check_prompt(obj["prompt"], where)
        extra = {k: v for k, v in obj.items() if k != "prompt"}
        reserved = sorted(RESERVED_FIELDS & set(extra))
        if reserved:
            raise RadasValueError(
                f"{where}: the field name(s) {reserved} are reserved: a reward function gets the completion "
                "(and, in TRL's batch form, TRL's keyword arguments prompts, completions, completion_ids, "
                "trainer_state, log_metric, log_extra) under these names; rename them"
            )
        kinds.add(isinstance(prompt, list))
        records.append(PromptRecord(number, prompt, extra))
    if not records:
        raise RadasValueError(f"prompt_file {str(p)!r} holds no prompts (it is empty or only blank lines)")
    return records


def validate_prompt_file(path: str | os.PathLike[str]) -> PromptFileSummary:
    """Check a JSONL prompt file before a sweep and summarize it.

    Raises :class:`~radas.errors.RadasValueError` naming the file (and line) for a missing file,
    a line that is not valid JSON or not an object, a missing or malformed ``prompt``, or an
    extra field named ``prompt``/``completion``.
    """
    records = read_prompt_file(path)
    fields: dict[str, None] = {}
    for r in records:
        fields.update(dict.fromkeys(r.extra))
    return PromptFileSummary(
        path=str(resolve_path(path, "prompt_file")),
        n_prompts=len(records),
        extra_fields=tuple(fields),
        conversational=any(isinstance(r.prompt, list) for r in records),
    )
