"""Reward files: loading the reward functions users bring, calling them, and serving them to TRL.

A reward file is a Python file. Its folder is put on ``sys.path`` (first, as for a script) before it
is imported, so a helper module next to it imports. It provides:

* ``reward_fn(completion, **extra_fields)`` - the hosted RL API's per-completion form:
  ``completion`` is a list of messages (``completion[0]["content"]`` is the text), the keyword
  arguments are the prompt line's extra fields. It returns a number, or ``(number, {"name":
  number, ...})`` whose numbers are reported as ``reward_info/<name>`` metrics (mean over the
  step's completions); or
* ``reward_fns`` - several functions: a list (named by their ``__name__``) or a dict name -> function;
* or any function picked with ``"file.py:function_name"``.

Each function may also be TRL's batch form, ``f(completions, **kwargs) -> list`` (recognised by a
parameter named ``completions``): it gets ``prompts``, ``completions`` and each extra field as a list
(one value per completion), plus TRL's own keyword arguments (``trainer_state`` as a
:class:`RewardTrainerState`: the run's progress), and returns one number (or None: not
applicable) per completion. A per-completion function may return None too. As in TRL, a None
leaves that completion out of the sum and of the function's mean. ``async def`` functions are
awaited. Several functions are summed with ``reward_weights`` (TRL's), each reported as
``reward/<name>``. How they run (worker processes, timeouts, one event loop, the async functions
of a batch together) is :mod:`radas.grpo._reward_runner`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import math
import numbers
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from radas.errors import RadasTypeError, RadasValueError
from radas.grpo._files import resolve_path

REWARD_INFO_PREFIX = "reward_info/"
_SPEC = re.compile(r"^(?P<path>.+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class RewardSpec:
    """What a trial knows of one reward function without importing its file: its metric name,
    its file and its calling form (reported by the reward worker that imported it)."""

    name: str
    path: Path
    batch: bool  # TRL's batch form: f(completions, **kwargs) -> list
    is_async: bool


@dataclass(frozen=True)
class RewardFunction(RewardSpec):
    """One reward function of a sweep, imported: its :class:`RewardSpec` and the callable."""

    fn: Callable[..., Any]

    def spec(self) -> RewardSpec:
        """The function as a trial knows it (no callable: it stays in the process that imported it)."""
        return RewardSpec(self.name, self.path, self.batch, self.is_async)


@dataclass
class RewardTrainerState:
    """The ``trainer_state`` a batch reward function gets: the run's progress, with the attribute
    names of TRL's (transformers') ``TrainerState`` — ``global_step`` (optimizer steps done),
    ``max_steps``, ``epoch`` (float, None before training), ``num_train_epochs`` and
    ``num_input_tokens_seen`` (prompt + completion tokens so far, TRL's ``num_tokens``).

    Only these: the full state carries the whole ``log_history``, which grows every logged step
    and made each reward call slower as a run went on (it travels to a reward worker per call).
    A reward that shapes itself on progress (``trainer_state.global_step / trainer_state.max_steps``)
    works unchanged.
    """

    global_step: int = 0
    max_steps: int = 0
    epoch: float | None = None
    num_train_epochs: int = 0
    num_input_tokens_seen: int = 0

    @classmethod
    def of(cls, state: Any) -> RewardTrainerState | None:
        """The progress of TRL's ``state`` (None stays None)."""
        if state is None or isinstance(state, RewardTrainerState):
            return state
        return cls(**{f: getattr(state, f, getattr(cls, f)) for f in
                      ("global_step", "max_steps", "epoch", "num_train_epochs", "num_input_tokens_seen")})


def _frame_in(exc: BaseException, path: Path) -> str:
    """' (line N)' of the innermost traceback frame in ``path``, or ''."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and Path(frame.filename).resolve() == path:
            line = frame.lineno
    return f" (line {line})" if line else ""


def load_reward_module(path: str | os.PathLike[str]) -> tuple[ModuleType, Path]:
    """Import a reward file as a fresh module, its folder first on ``sys.path``; errors name the file and line."""
    p = resolve_path(path, "reward_file")
    folder = str(p.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # like running a script: modules next to it import
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
        raise RadasValueError(f"reward_file {str(p)!r} line {exc.lineno}: syntax error: {exc.msg}") from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise RadasValueError(
            f"reward_file {str(p)!r} does not import{_frame_in(exc, p)}: {type(exc).__name__}: {exc}"
        ) from exc
    return module, p


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004 - an async __call__


def _form(fn: Any, p: Path, label: str) -> tuple[bool, bool]:
    """(batch form?, async?) of a reward function, checked to take an argument."""
    if not callable(fn):
        raise RadasTypeError(f"reward_file {str(p)!r}: {label} is a {type(fn).__name__}, not a function")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False, _is_async(fn)
    if "completions" in sig.parameters:
        return True, _is_async(fn)
    positional = [q for q in sig.parameters.values()
                  if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD, q.VAR_POSITIONAL)]
    if not positional:
        raise RadasValueError(
            f"reward_file {str(p)!r}: {label}{sig} takes no positional argument; it must be "
            f"reward_fn(completion, **kwargs) with the completion (a list of messages) first, or TRL's batch form "
            f"f(completions, **kwargs) -> list"
        )
    return False, _is_async(fn)


def _functions_of(module: ModuleType, p: Path, attr: str | None) -> list[tuple[str, Any, str]]:
    """(name, function, label) of what a reward file provides."""
    if attr is not None:
        if not hasattr(module, attr):
            raise RadasValueError(f"reward_file {str(p)!r} does not define {attr!r} (asked for with ':{attr}')")
        return [(attr, getattr(module, attr), attr)]
    fns = getattr(module, "reward_fns", None)
    if fns is not None:
        if isinstance(fns, Mapping) and fns:
            return [(str(k), v, f"reward_fns[{k!r}]") for k, v in fns.items()]
        if isinstance(fns, (list, tuple)) and fns:
            return [(getattr(f, "__name__", f"reward_{i}"), f, f"reward_fns[{i}]") for i, f in enumerate(fns)]
        raise RadasTypeError(f"reward_file {str(p)!r}: reward_fns must be a non-empty list or dict of functions")
    fn = getattr(module, "reward_fn", None)
    if fn is None:
        defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise RadasValueError(
            f"reward_file {str(p)!r} does not define reward_fn(completion, **kwargs) -> float (or reward_fns, a "
            f"list of them); it defines {defined}. Name another function with 'file.py:function_name'"
        )
    return [(p.stem, fn, "reward_fn")]


def reward_specs(reward_file: str | os.PathLike[str] | Sequence[str] | None) -> list[tuple[str, str | None]]:
    """(path, function name or None) of each entry of a ``reward_file`` config value (None: none)."""
    entries = [] if reward_file is None else [reward_file] if isinstance(reward_file, (str, os.PathLike)) else list(
        reward_file)
    out: list[tuple[str, str | None]] = []
    for entry in entries:
        text = os.fspath(entry)
        match = _SPEC.match(text)
        out.append((match["path"], match["name"]) if match and not os.path.exists(text) else (text, None))
    return out


def resolved_reward_file(reward_file: str | os.PathLike[str] | Sequence[str] | None) -> list[str]:
    """A ``reward_file`` config value with each file's path resolved here (as given, else from the
    sweep's launch folder), so that a worker process finds the same files whatever its working
    folder; a missing file is an error naming it."""
    out = []
    for path, attr in reward_specs(reward_file):
        resolved = str(resolve_path(path, "reward_file"))
        out.append(resolved if attr is None else f"{resolved}:{attr}")
    return out


def load_reward_functions(reward_file: str | os.PathLike[str] | Sequence[str]) -> list[RewardFunction]:
    """The reward functions a ``reward_file`` config value names, in order, with unique names."""
    modules: dict[str, tuple[ModuleType, Path]] = {}
    out: list[RewardFunction] = []
    names: set[str] = set()
    for path, attr in reward_specs(reward_file):
        if path not in modules:
            modules[path] = load_reward_module(path)
        module, p = modules[path]
        for name, fn, label in _functions_of(module, p, attr):
            batch, is_async = _form(fn, p, label)
            unique, i = name, 2
            while unique in names:
                unique, i = f"{name}_{i}", i + 1
            names.add(unique)
            out.append(RewardFunction(name=unique, path=p, batch=batch, is_async=is_async, fn=fn))
    return out


def as_messages(completion: Any) -> list[dict[str, str]]:
    """A completion as the hosted API passes it: a list of messages (plain text becomes one message)."""
    if isinstance(completion, str):
        return [{"role": "assistant", "content": completion}]
    return list(completion)


def _scalar(value: Any) -> Any:
    item = getattr(value, "item", None)  # 0-d numpy arrays / torch tensors
    if not isinstance(value, numbers.Real) and callable(item) and getattr(value, "ndim", None) == 0:
        return item()
    return value


def check_reward_value(value: Any, reward_file: Path, where: str, allow_none: bool = False) -> float:
    """``value`` as a float (None as NaN when allowed), or an error naming the reward file and the prompt line."""
    if value is None and allow_none:
        return math.nan
    scalar = _scalar(value)
    if isinstance(scalar, numbers.Real):
        out = float(scalar)
        if math.isfinite(out):
            return out
    raise RadasValueError(
        f"reward_file {str(reward_file)!r}: the reward function returned {value!r} ({type(value).__name__}) for "
        f"{where}; it must return a finite number (float or int){', or None' if allow_none else ''}, or "
        f"(number, {{'name': number, ...}})"
    )


def _info_numbers(info: Any, reward_file: Path, where: str) -> dict[str, float]:
    if not isinstance(info, Mapping):
        raise RadasValueError(
            f"reward_file {str(reward_file)!r}: the reward function returned a tuple whose second item is "
            f"{type(info).__name__} for {where}; it must be (number, {{'name': number, ...}})"
        )
    out = {}
    for key, v in info.items():
        v = _scalar(v)
        if isinstance(v, numbers.Real) and math.isfinite(float(v)):
            out[str(key)] = float(v)
    return out


def result_of(value: Any, reward_file: Path, where: str) -> tuple[float, dict[str, float]]:
    """A per-completion function's return value as (reward, infos): a number, ``None`` (the
    function does not apply to this completion, as in TRL: NaN, left out of sums and means) or
    ``(number, {"name": number})``."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise RadasValueError(
                f"reward_file {str(reward_file)!r}: the reward function returned a tuple of {len(value)} items for "
                f"{where}; it must be (number, {{'name': number, ...}})"
            )
        return (check_reward_value(value[0], reward_file, where, allow_none=True),
                _info_numbers(value[1], reward_file, where))
    return check_reward_value(value, reward_file, where, allow_none=True), {}


def note_error(exc: BaseException, rf: RewardSpec, where: str) -> BaseException:
    """``exc`` with a note naming the reward function, its file and line, and the input."""
    note = (f"radas: raised by reward function {rf.name!r} of reward_file {str(rf.path)!r}"
            f"{_frame_in(exc, rf.path)} on {where}")
    if hasattr(exc, "add_note"):
        exc.add_note(note)
        return exc
    return RadasValueError(f"{note}: {type(exc).__name__}: {exc}")


def values_of_batch(out: Any, rf: RewardSpec, n: int, wheres: Sequence[str]) -> list[float]:
    """A batch function's return value as one reward (NaN for None: not applicable) per completion."""
    values = list(out) if isinstance(out, Iterable) and not isinstance(out, (str, bytes, Mapping)) else None
    if values is None or len(values) != n:
        raise RadasValueError(
            f"reward_file {str(rf.path)!r}: {rf.name} (TRL's batch form, it has a 'completions' parameter) "
            f"returned {type(out).__name__}{f' of {len(values)} values' if values is not None else ''} for {n} "
            "completions; it must return a list with one number (or None) per completion"
        )
    return [check_reward_value(v, rf.path, w, allow_none=True) for v, w in zip(values, wheres, strict=True)]


class RewardBook:
    """What the reward functions of one run share: the weighted sum of their rewards and ``percent_correct``.

    ``percent_correct``: the share of the batch's completions that count as correct, judged on the
    weighted sum of the rewards. With a ``correct_threshold``, a completion is correct when its
    reward is ``>= correct_threshold``. Without one, it is correct when its reward reaches the best
    reward seen so far in the run (this batch included), and only once some reward has beaten the
    worst one seen (so a run where all rewards are equal reports 0).
    """

    def __init__(self, weights: Sequence[float], correct_threshold: float | None = None, group_size: int = 1) -> None:
        self.weights = list(weights)
        self.correct_threshold = correct_threshold
        self.group_size = max(1, group_size)
        self.best: float | None = None
        self.worst: float | None = None
        self._pending: dict[int, list[float]] = {}
        self._window: list[float] = []  # percent_correct of each batch since the last take_metrics()
        self._failed: list[float] = []  # frac_groups_failed of each batch since then
        self._solved: list[float] = []  # frac_groups_solved of each batch since then
        self._samples: list[dict[str, Any]] = []  # the last batch's best and worst completion

    def record(self, index: int, rewards: Sequence[float], prompts: Sequence[Any] = (),
               completions: Sequence[Any] = ()) -> None:
        """Keep function ``index``'s rewards of a batch; with the last function's, score the batch
        (and keep its best and worst completion, with their prompts, as the step's samples)."""
        self._pending[index] = list(rewards)
        if index != len(self.weights) - 1:
            return
        per_function = [self._pending.get(i, [math.nan] * len(rewards)) for i in range(len(self.weights))]
        self._pending = {}
        combined = []  # one per completion; NaN where no function applies
        for values in zip(*per_function, strict=True):
            present = [w * v for w, v in zip(self.weights, values, strict=True) if not math.isnan(v)]
            combined.append(sum(present) if present else math.nan)
        self._window.append(self.percent_correct([r for r in combined if not math.isnan(r)]))
        failed, solved = self.group_signal(combined)
        self._failed.append(failed)
        self._solved.append(solved)
        if len(prompts) == len(completions) == len(combined):
            self._samples = extremes(prompts, completions, combined)

    def group_signal(self, combined: Sequence[float]) -> tuple[float, float]:
        """(frac_groups_failed, frac_groups_solved) of a rollout whose completions come in groups of
        ``group_size`` per prompt (TRL's order): groups whose rewards are all equal, split by whether
        they are correct (:meth:`correct`). Computed from the rewards, so it means the same whatever
        TRL's ``scale_rewards`` does to its own ``frac_reward_zero_std``."""
        groups = [[r for r in combined[i:i + self.group_size] if not math.isnan(r)]
                  for i in range(0, len(combined), self.group_size)]
        groups = [g for g in groups if g]
        if not groups:
            return 0.0, 0.0
        flat = [g for g in groups if max(g) - min(g) <= 1e-9 * max(1.0, abs(max(g)))]
        solved = sum(self.correct(g[0]) for g in flat)
        return (len(flat) - solved) / len(groups), solved / len(groups)

    def correct(self, reward: float) -> bool:
        """Whether one reward counts as correct (the class docstring's rule, with the best so far)."""
        if self.correct_threshold is not None:
            return reward >= self.correct_threshold
        if self.best is None or self.worst is None or self.best <= self.worst:
            return False
        return reward >= self.best - 1e-9 * max(1.0, abs(self.best))

    def state(self) -> dict[str, Any]:
        """What a checkpoint must keep for ``percent_correct`` to continue after a restore."""
        return {"best": self.best, "worst": self.worst}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`."""
        self.best = state.get("best")
        self.worst = state.get("worst")

    def take_metrics(self) -> dict[str, float]:
        """``percent_correct``, ``frac_groups_failed`` and ``frac_groups_solved`` averaged over the
        batches scored since the last call ({} if none)."""
        if not self._window:
            return {}
        out = {"percent_correct": sum(self._window) / len(self._window),
               "frac_groups_failed": sum(self._failed) / len(self._failed),
               "frac_groups_solved": sum(self._solved) / len(self._solved)}
        for window in (self._window, self._failed, self._solved):
            window.clear()
        return out

    def take_samples(self) -> list[dict[str, Any]]:
        """The best and the worst completion of the batch scored last (prompt, completion, reward),
        once ([] until another batch is scored)."""
        samples, self._samples = self._samples, []
        return samples

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


def as_text(value: Any) -> str:
    """A prompt or a completion as text: a conversation's messages as ``role: content`` lines (a
    content of parts: its text parts, other parts as ``[type]``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return "\n".join(f"{m.get('role', '?')}: {as_text(m.get('content', ''))}" if isinstance(m, Mapping)
                         and "role" in m else _part(m) for m in value)
    return str(value)


def _part(part: Any) -> str:
    """One part of a message's content: its text, else ``[type]`` (an image...)."""
    if isinstance(part, Mapping):
        return str(part["text"]) if "text" in part else f"[{part.get('type', 'part')}]"
    return str(part)


def extremes(prompts: Sequence[Any], completions: Sequence[Any], rewards: Sequence[float]) -> list[dict[str, Any]]:
    """The best and the worst completion of a batch by reward (NaN left out; one when they are the
    same), as text."""
    scored = [i for i, r in enumerate(rewards) if not math.isnan(r)]
    if not scored:
        return []
    best = max(scored, key=lambda i: rewards[i])
    worst = min(scored, key=lambda i: rewards[i])
    return [{"sample": which, "reward": float(rewards[i]), "prompt": as_text(prompts[i]),
             "completion": as_text(completions[i])}
            for which, i in (("best", best), ("worst", worst)) if which == "best" or i != best]


class RewardAdapter:
    """One reward function as a TRL reward function (``reward_funcs`` entry), run by the trial's
    reward runner (:class:`radas.grpo._reward_runner.RewardRunner`).

    TRL calls it with ``prompts``, ``completions`` and one list per dataset column. radas stores
    each prompt line's extra fields as a JSON string in ``_radas_extra`` and its line number in
    ``_radas_line``, so the function gets the line's own fields, exactly as written. Numbers a
    function returns in a ``(reward, {name: number})`` tuple are logged through TRL's
    ``log_metric`` as ``reward_info/<name>``.
    """

    def __init__(self, runner: Any, index: int, book: RewardBook, prompt_file: str,
                 together: AsyncStep | None = None) -> None:
        self.runner = runner
        self.rf: RewardSpec = runner.functions[index]
        self.index = index
        self.book = book
        self.prompt_file = prompt_file
        self.together = together if self.rf.is_async else None
        self.__name__ = self.rf.name  # TRL names the function's metrics after it

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        _radas_extra: list[str] | None = None,
        _radas_line: list[int] | None = None,
        **trl_kwargs: Any,
    ) -> list[float]:
        """Score a batch for TRL: one float (NaN: not applicable) per completion."""
        n = len(completions)
        extras = [json.loads(e) if e else {} for e in (_radas_extra or [""] * n)]
        wheres = [f"prompt_file {self.prompt_file!r} line {line}" for line in (_radas_line or [0] * n)]
        if self.together is not None:
            rewards, infos = self.together.score(self.index, prompts, completions, extras, wheres, trl_kwargs)
        else:
            rewards, infos = self.runner.score(self.index, prompts, completions, extras, wheres, trl_kwargs)
        log_metric = trl_kwargs.get("log_metric")
        if callable(log_metric):
            sums: dict[str, list[float]] = {}
            for info in infos:
                for key, value in info.items():
                    sums.setdefault(key, []).append(value)
            for key, values in sums.items():
                log_metric(REWARD_INFO_PREFIX + key, sum(values) / len(values))
        self.book.record(self.index, rewards, prompts, completions)
        return rewards


class AsyncStep:
    """The async reward functions of a trial, scored together on each batch, as TRL runs them.

    TRL gathers its async reward functions on one event loop. radas's adapters are plain
    functions to TRL, called one after another with the same ``completions`` list; so the first
    async one called on a batch scores every async function at once
    (:meth:`~radas.grpo._reward_runner.RewardRunner.score_together`: concurrently, at most
    ``reward_concurrency`` calls at a time per worker) and the others take their results.
    """

    def __init__(self, runner: Any, indices: Sequence[int]) -> None:
        self.runner = runner
        self.indices = list(indices)
        self._batch: Any = None  # the completions scored last (held, so its identity is the key)
        self._results: dict[int, tuple[list[float], list[dict[str, float]]]] = {}

    def score(self, index: int, prompts: Sequence[Any], completions: Sequence[Any],
              extras: Sequence[Mapping[str, Any]], wheres: Sequence[str],
              trl_kwargs: Mapping[str, Any]) -> tuple[list[float], list[dict[str, float]]]:
        """Function ``index``'s rewards and infos for ``completions``, scoring all of them on a new batch."""
        if self._batch is not completions or index not in self._results:
            self._batch, self._results = None, {}
            outs = self.runner.score_together(self.indices, prompts, completions, extras, wheres, trl_kwargs)
            self._batch, self._results = completions, dict(zip(self.indices, outs, strict=True))
        return self._results.pop(index)


def make_adapters(
    runner: Any, weights: Sequence[float] | None, prompt_file: str, correct_threshold: float | None,
    group_size: int = 1, reward_models: Sequence[Any] = (),
    device: Callable[[], tuple[Any, bool]] | None = None,
) -> tuple[list[Any], RewardBook]:
    """TRL reward functions for the runner's functions, then the ``reward_models``
    (:class:`~radas.grpo._reward_model.RewardModel`, scoring on the device and with the bf16
    autocast ``device()`` gives), and the book they
    share (``group_size``: completions per prompt); the async functions of a batch are scored
    together (:class:`AsyncStep`)."""
    from radas.grpo._reward_model import ModelRewardAdapter, check_names

    functions = runner.functions
    names = [rf.name for rf in functions] + [m.name for m in reward_models]
    check_names(names)
    weights = list(weights) if weights is not None else [1.0] * len(names)
    check_weights(weights, names)
    book = RewardBook(weights, correct_threshold, group_size)
    together = AsyncStep(runner, [i for i, rf in enumerate(functions) if rf.is_async])
    adapters: list[Any] = [RewardAdapter(runner, i, book, prompt_file, together) for i in range(len(functions))]
    for j, model in enumerate(reward_models):
        assert device is not None, "reward models score on the trainer's device"
        adapters.append(ModelRewardAdapter(model, len(functions) + j, book, device))
    return adapters, book


def check_weights(weights: Sequence[float] | None, names: Sequence[str]) -> None:
    """``reward_weights`` must have one weight per reward (the reward file's functions, then the reward models)."""
    if weights is not None and len(weights) != len(names):
        raise RadasValueError(
            f"config['reward_weights'] has {len(weights)} weight(s) but there are {len(names)} reward(s) "
            f"({', '.join(names)}: the reward file's functions, then the reward_model folders); give one weight each"
        )
