"""Forwarding TRL's logged metrics (and checkpoints) to Ray Tune from a ``TrainerCallback``."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from radas.grpo._deps import require
from radas.grpo._rewards import REWARD_INFO_PREFIX
from radas.grpo._stopping import SATURATED, STOP_REASON, StopRules, StopWatch

if TYPE_CHECKING:
    from radas.sweep import SampleLog

logger = logging.getLogger("radas")

# TRL 1.x log name (and radas's own percent_correct) -> radas metric name.
METRIC_NAMES: dict[str, str] = {
    "reward": "reward_mean",
    "reward_std": "reward_std",
    "percent_correct": "percent_correct",
    "frac_groups_failed": "frac_groups_failed",
    "frac_groups_solved": "frac_groups_solved",
    "frac_reward_zero_std": "frac_reward_zero_std",
    "loss": "loss",
    "grad_norm": "grad_norm",
    "kl": "kl",
    "entropy": "entropy",
    "clip_ratio/low_mean": "clip_ratio_low",
    "clip_ratio/low_min": "clip_ratio_low_min",
    "clip_ratio/high_mean": "clip_ratio_high",
    "clip_ratio/high_max": "clip_ratio_high_max",
    "clip_ratio/region_mean": "clip_ratio_region",
    "completions/mean_length": "completion_length",
    "completions/min_length": "completion_length_min",
    "completions/max_length": "completion_length_max",
    "completions/clipped_ratio": "completion_clipped_ratio",
    "completions/mean_terminated_length": "terminated_length",
    "completions/min_terminated_length": "terminated_length_min",
    "completions/max_terminated_length": "terminated_length_max",
    "learning_rate": "learning_rate",
    "step_time": "step_time",
    "num_tokens": "num_tokens",
    "epoch": "epoch",
}


def metric_name(trl_name: str) -> str:
    """The radas name of a TRL log entry: :data:`METRIC_NAMES`, ``rewards/<f>/mean`` -> ``reward/<f>``,
    ``rewards/<f>/std`` -> ``reward_std/<f>``, ``reward_info/<k>`` as is, anything else ``trl/<name>``."""
    if trl_name in METRIC_NAMES:
        return METRIC_NAMES[trl_name]
    if trl_name.startswith("rewards/") and trl_name.endswith("/mean"):
        return "reward/" + trl_name[len("rewards/"):-len("/mean")]
    if trl_name.startswith("rewards/") and trl_name.endswith("/std"):
        return "reward_std/" + trl_name[len("rewards/"):-len("/std")]
    if trl_name.startswith(REWARD_INFO_PREFIX):
        return trl_name
    return f"trl/{trl_name}"


STATE_FILE = "radas_grpo_state.json"
REPORTED = "reported"  # in STATE_FILE: the metrics its checkpoint was reported with
FINAL_MODEL_DIR = "final-model"  # in the trainer's output folder: where the final model is saved

Reporter = Callable[[dict[str, Any], "str | None"], None]
MetricSink = Callable[[dict[str, Any]], None]


def tune_reporter(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
    """Report ``metrics`` (and the checkpoint folder, persisted by Tune) with ``ray.tune.report``."""
    from ray import tune

    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    tune.report(metrics, checkpoint=checkpoint)


def _progress() -> None:
    """Tell the stall watchdog of this trial (radas.sweep._stall) that a step ended; nothing when
    none watches (it is imported only where one does)."""
    stall = sys.modules.get("radas.sweep._stall")
    if stall is not None:
        stall.note_progress()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def make_callback(
    reporter: Reporter,
    state_fn: Callable[[], Mapping[str, Any]],
    sinks: list[MetricSink] | None = None,
    extra_metrics_fn: Callable[[], Mapping[str, float]] | None = None,
    stop_rules: StopRules | None = None,
    final_model: Callable[..., str | None] | None = None,
    samples: SampleLog | None = None,
) -> Any:
    """A ``transformers.TrainerCallback`` that reports every log step to ``reporter``.

    ``extra_metrics_fn()`` adds metrics computed outside TRL (``percent_correct``) at each log.
    With ``stop_rules``, each report is checked; when a rule fires, the report carries
    ``stop_reason`` and training ends after it.

    Steps where the trainer saves a checkpoint are always logged too, and their metrics are
    reported together with the checkpoint folder (plus ``state_fn()`` and those metrics written to
    ``radas_grpo_state.json`` inside it), so each Tune checkpoint sits on a result with metrics.

    With ``final_model``, the last step's report (the end, or a stop rule's) is held back until
    training ends, then ``final_model(folder, metrics)`` saves the model into ``folder`` (on every
    rank; it returns the folder where this process wrote it, else None) and the metrics are
    reported with it: the trial's last checkpoint is its final model. When the last step has a
    checkpoint of its own, that one is the final model (``final_model(folder, metrics, saved=True)``
    marks it). Every rank reports as often as the others.

    With ``samples``, each logged step's sample completions go to it.
    """
    transformers = require("transformers")

    class TuneReportCallback(transformers.TrainerCallback):  # type: ignore[misc, name-defined]
        """Reports TRL's logs as radas metrics (``reward_mean``, ``percent_correct``...) to Ray Tune."""

        def __init__(self) -> None:
            self.pending: dict[str, Any] | None = None
            self.last_time: float | None = None
            self.last_tokens: float | None = None
            self.reports = 0
            self.watch = StopWatch(stop_rules) if stop_rules is not None else None
            self.final: dict[str, Any] | None = None  # the last step's metrics, held back for the final model
            self.last: dict[str, Any] | None = None  # the metrics reported last
            self.saved_step: int | None = None  # the step of the last checkpoint reported

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _progress()  # set up: the first step starts
            self.last_time = time.perf_counter()
            self.last_tokens = float(state.num_input_tokens_seen or 0)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            _progress()
            # Log on checkpoint steps and on the last step, so every checkpoint and the end have metrics.
            if control.should_save or (state.max_steps and state.global_step >= state.max_steps):
                control.should_log = True

        def metrics(self, logs: Mapping[str, Any], state: Any) -> dict[str, Any]:
            out: dict[str, Any] = {"step": int(state.global_step)}
            logs = {**logs, **(extra_metrics_fn() if extra_metrics_fn else {})}
            for key, value in logs.items():
                v = _number(value)
                if v is not None:
                    out[metric_name(key)] = v
            now = time.perf_counter()
            tokens = _number(logs.get("num_tokens"))
            if tokens is not None and self.last_time is not None and self.last_tokens is not None:
                dt = now - self.last_time
                out["tokens_per_s"] = (tokens - self.last_tokens) / dt if dt > 0 else math.nan
                self.last_tokens = tokens
            self.last_time = now
            return out

        def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
            for sink in sinks or []:
                try:
                    sink(metrics)
                except Exception:  # a logger must not kill the trial
                    logger.exception("radas.grpo: a metrics logger failed")
            reporter(metrics, checkpoint_dir)
            self.reports += 1
            self.last = metrics
            logger.info(
                "radas.grpo step %s: reward_mean=%s percent_correct=%s%s",
                metrics.get("step"), metrics.get("reward_mean"), metrics.get("percent_correct"),
                f" checkpoint={checkpoint_dir}" if checkpoint_dir else "",
            )

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            logs = logs or {}
            if "train_runtime" in logs:  # the end-of-training summary, not a step
                logger.info("radas.grpo: training done: %s", dict(logs))
                return
            metrics = self.metrics(logs, state)
            if samples is not None:
                samples.step(metrics["step"])
            saturated = self.watch.saturated if self.watch is not None else None
            reason = self.watch.update(metrics) if self.watch is not None else None
            if self.watch is not None and self.watch.saturated and not saturated:  # said once
                metrics[SATURATED] = self.watch.saturated
                logger.warning("radas.grpo: %s", self.watch.saturated)
            if reason:
                metrics[STOP_REASON] = reason
                control.should_training_stop = True
                logger.info("radas.grpo: stopping early at step %s: %s", metrics.get("step"), reason)
            if control.should_save:
                self.pending = metrics  # reported with the checkpoint in on_save
            elif final_model is not None and (control.should_training_stop or _last_step(state)):
                self.final = metrics  # reported with the final model in on_train_end
            else:
                self.report(metrics, None)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            folder: str | None = path
            if not os.path.isdir(path):
                logger.warning("radas.grpo: checkpoint folder %s not found; reporting without it", path)
                folder = None
            metrics = self.pending or {"step": int(state.global_step)}
            self.pending = None
            if folder is not None:
                with open(os.path.join(folder, STATE_FILE), "w") as f:
                    json.dump({**state_fn(), REPORTED: metrics}, f)
            if folder is not None and final_model is not None and (control.should_training_stop or _last_step(state)):
                final_model(folder, metrics, saved=True)
            self.report(metrics, folder)
            if folder is not None:
                self.saved_step = int(state.global_step)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if final_model is None or self.saved_step == int(state.global_step):
                return  # no model to keep, or the last step's checkpoint is the final model
            # the held-back last step; else (training ended at a step that was not logged) the last report again
            metrics = self.final or dict(self.last or {"step": int(state.global_step)})
            self.final = None
            folder = final_model(os.path.join(args.output_dir, FINAL_MODEL_DIR), metrics)
            self.report(metrics, folder)

    return TuneReportCallback()


def _last_step(state: Any) -> bool:
    """The trainer's last planned step."""
    return bool(state.max_steps and state.global_step >= state.max_steps)


def metrics_in(path: str | os.PathLike[str], key: str) -> dict[str, Any] | None:
    """The metrics under ``key`` of the JSON file ``path``; None when it holds none that can be
    read (missing, damaged or foreign)."""
    try:
        with open(path) as f:
            content = json.load(f)
    except (OSError, ValueError):
        return None
    metrics = content.get(key) if isinstance(content, dict) else None
    return dict(metrics) if isinstance(metrics, dict) and metrics else None


def reported_metrics(checkpoint_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The metrics the checkpoint in ``checkpoint_dir`` was reported with (None when unknown)."""
    return metrics_in(os.path.join(checkpoint_dir, STATE_FILE), REPORTED)


def read_state(checkpoint_dir: str) -> dict[str, Any]:
    """The radas state written next to a checkpoint ({} when there is none)."""
    path = os.path.join(checkpoint_dir, STATE_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)
