"""Prompt files (JSONL) and reward files (Python) in the hosted RL API's formats.

Prompt file: one JSON object per line, ``{"prompt": [{"role": "user", "content": "..."}], ...extra}``
(``prompt`` may also be a plain string). Blank lines are skipped. Reward file: a Python file
defining ``reward_fn(completion, **kwargs) -> float``; ``completion`` is a list of messages
(``completion[0]["content"]`` is the generated text) and ``kwargs`` are the line's extra fields.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import math
import numbers
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from radas.core import get_launch_dir
from radas.errors import RadasTypeError, RadasValueError

# Names the reward function's keyword arguments must not use: ``completion`` is its first argument.
RESERVED_FIELDS: frozenset[str] = frozenset({"prompt", "completion"})

SAMPLE_COMPLETION = "This is a sample completion."


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
                f"{where}: the field name(s) {reserved} are reserved (reward_fn receives the completion as its "
                f"first argument); rename them"
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


def _frame_in(exc: BaseException, path: Path) -> str:
    """' (line N)' of the innermost traceback frame in ``path``, or ''."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and Path(frame.filename).resolve() == path:
            line = frame.lineno
    return f" (line {line})" if line else ""


def load_reward_module(path: str | os.PathLike[str]) -> tuple[ModuleType, Path]:
    """Import a reward file as a fresh module; errors name the file and the line."""
    p = resolve_path(path, "reward_file")
    name = "radas_reward_" + hashlib.sha1(str(p).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise RadasValueError(f"reward_file {str(p)!r} cannot be imported as Python (use a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so dataclasses/pickle inside the file can find their module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise RadasValueError(
            f"reward_file {str(p)!r} line {exc.lineno}: syntax error: {exc.msg}"
        ) from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise RadasValueError(
            f"reward_file {str(p)!r} does not import{_frame_in(exc, p)}: {type(exc).__name__}: {exc}"
        ) from exc
    return module, p


def load_reward_fn(path: str | os.PathLike[str]) -> tuple[Callable[..., Any], Path]:
    """The ``reward_fn`` of a reward file, checked to be a function taking the completion first."""
    module, p = load_reward_module(path)
    fn = getattr(module, "reward_fn", None)
    if fn is None:
        defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise RadasValueError(
            f"reward_file {str(p)!r} does not define reward_fn(completion, **kwargs) -> float; it defines {defined}"
        )
    if not callable(fn):
        raise RadasTypeError(f"reward_file {str(p)!r}: reward_fn is a {type(fn).__name__}, not a function")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn, p
    positional = [
        q for q in sig.parameters.values()
        if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD, q.VAR_POSITIONAL)
    ]
    if not positional:
        raise RadasValueError(
            f"reward_file {str(p)!r}: reward_fn{sig} takes no positional argument; it must be "
            f"reward_fn(completion, **kwargs) with the completion (a list of messages) first"
        )
    return fn, p


def as_messages(completion: Any) -> list[dict[str, str]]:
    """A completion as the hosted API passes it: a list of messages (plain text becomes one message)."""
    if isinstance(completion, str):
        return [{"role": "assistant", "content": completion}]
    return list(completion)


def check_reward_value(value: Any, reward_file: Path, where: str) -> float:
    """``value`` as a float, or an error naming the reward file and the prompt line."""
    scalar = value
    item = getattr(value, "item", None)  # 0-d numpy arrays / torch tensors
    if not isinstance(value, numbers.Real) and callable(item) and getattr(value, "ndim", None) == 0:
        scalar = item()
    if isinstance(scalar, numbers.Real):
        out = float(scalar)
        if math.isfinite(out):
            return out
    raise RadasValueError(
        f"reward_file {str(reward_file)!r}: reward_fn returned {value!r} ({type(value).__name__}) for {where}; "
        f"it must return a finite number (float or int)"
    )


def call_reward_fn(
    fn: Callable[..., Any], reward_file: Path, completion: Any, extra: Mapping[str, Any], where: str
) -> float:
    """Call the user's ``reward_fn`` like the hosted API does and check the result."""
    try:
        value = fn(as_messages(completion), **extra)
    except Exception as exc:
        note = f"radas: raised by reward_fn of reward_file {str(reward_file)!r}{_frame_in(exc, reward_file)} on {where}"
        if hasattr(exc, "add_note"):
            exc.add_note(note)
            raise
        raise RadasValueError(f"{note}: {type(exc).__name__}: {exc}") from exc
    return check_reward_value(value, reward_file, where)


def validate_reward_file(
    path: str | os.PathLike[str], prompt_file: str | os.PathLike[str] | None = None, n_lines: int = 3
) -> Callable[..., Any]:
    """Check a reward file before a sweep; return its ``reward_fn``.

    The file must import and define ``reward_fn(completion, **kwargs)``. With ``prompt_file``,
    ``reward_fn`` is also called on the first ``n_lines`` prompts (a sample completion plus each
    line's extra fields) and must return a finite number. Errors
    (:class:`~radas.errors.RadasValueError`) name the reward file and, where it applies, its line
    and the prompt-file line.
    """
    fn, p = load_reward_fn(path)
    if prompt_file is None:
        return fn
    records = read_prompt_file(prompt_file)
    pf = str(resolve_path(prompt_file, "prompt_file"))
    for r in records[: max(1, n_lines)]:
        call_reward_fn(fn, p, SAMPLE_COMPLETION, r.extra, f"prompt_file {pf!r} line {r.line}")
    return fn


class RewardAdapter:
    """The user's ``reward_fn`` as a TRL reward function, plus the ``percent_correct`` metric.

    TRL calls it with ``prompts``, ``completions`` (lists of messages, or strings for plain-text
    prompts) and one list per dataset column. radas stores each line's extra fields as a JSON
    string in ``_radas_extra`` and its line number in ``_radas_line``, so ``reward_fn`` gets the
    line's own fields, exactly as written.

    ``percent_correct``: the share of the batch's completions that count as correct. With a
    ``correct_threshold``, a completion is correct when its reward is ``>= correct_threshold``.
    Without one, it is correct when its reward reaches the best reward seen so far in the run
    (this batch included), and only once some reward has beaten the worst one seen (so a run where
    all rewards are equal reports 0).
    """

    __name__ = "reward_fn"

    def __init__(
        self,
        fn: Callable[..., Any],
        reward_file: Path,
        prompt_file: str,
        correct_threshold: float | None = None,
    ) -> None:
        self.fn = fn
        self.reward_file = reward_file
        self.prompt_file = prompt_file
        self.correct_threshold = correct_threshold
        self.best: float | None = None
        self.worst: float | None = None
        self._window: list[float] = []  # percent_correct of each batch since the last take_metrics()

    def state(self) -> dict[str, Any]:
        """What a checkpoint must keep for ``percent_correct`` to continue after a restore."""
        return {"best": self.best, "worst": self.worst}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`."""
        self.best = state.get("best")
        self.worst = state.get("worst")

    def take_metrics(self) -> dict[str, float]:
        """``percent_correct`` averaged over the batches scored since the last call ({} if none)."""
        if not self._window:
            return {}
        out = {"percent_correct": sum(self._window) / len(self._window)}
        self._window.clear()
        return out

    def percent_correct(self, rewards: Sequence[float]) -> float:
        """Share of ``rewards`` counted as correct (see the class docstring); updates the running best."""
        if not rewards:
            return 0.0
        if self.correct_threshold is not None:
            return sum(r >= self.correct_threshold for r in rewards) / len(rewards)
        hi, lo = max(rewards), min(rewards)
        self.best = hi if self.best is None else max(self.best, hi)
        self.worst = lo if self.worst is None else min(self.worst, lo)
        if self.best <= self.worst:
            return 0.0
        tol = 1e-9 * max(1.0, abs(self.best))
        return sum(r >= self.best - tol for r in rewards) / len(rewards)

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        _radas_extra: list[str] | None = None,
        _radas_line: list[int] | None = None,
        **_: Any,
    ) -> list[float]:
        """Score a batch for TRL: one float per completion."""
        n = len(completions)
        extras = [json.loads(e) if e else {} for e in (_radas_extra or [None] * n)]
        lines = list(_radas_line or [0] * n)
        rewards = [
            call_reward_fn(self.fn, self.reward_file, c, extra, f"prompt_file {self.prompt_file!r} line {line}")
            for c, extra, line in zip(completions, extras, lines)
        ]
        self._window.append(self.percent_correct(rewards))
        return rewards
