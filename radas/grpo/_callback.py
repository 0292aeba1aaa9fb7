"""Forwarding TRL's logged metrics (and checkpoints) to Ray Tune from a ``TrainerCallback``."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from radas.grpo._deps import require

logger = logging.getLogger("radas")

# TRL 1.x log name (and radas's own percent_correct) -> radas metric name.
METRIC_NAMES: dict[str, str] = {
    "reward": "reward_mean",
    "reward_std": "reward_std",
    "percent_correct": "percent_correct",
    "loss": "loss",
    "kl": "kl",
    "completions/mean_length": "completion_length",
    "learning_rate": "learning_rate",
}

STATE_FILE = "radas_grpo_state.json"

Reporter = Callable[[dict[str, Any], "str | None"], None]
MetricSink = Callable[[dict[str, Any]], None]


def tune_reporter(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
    """Report ``metrics`` (and the checkpoint folder, persisted by Tune) with ``ray.tune.report``."""
    from ray import tune

    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    tune.report(metrics, checkpoint=checkpoint)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def make_callback(
    reporter: Reporter,
    state_fn: Callable[[], Mapping[str, Any]],
    sinks: list[MetricSink] | None = None,
    extra_metrics_fn: Callable[[], Mapping[str, float]] | None = None,
) -> Any:
    """A ``transformers.TrainerCallback`` that reports every log step to ``reporter``.

    ``extra_metrics_fn()`` adds metrics computed outside TRL (``percent_correct``) at each log.

    Steps where the trainer saves a checkpoint are always logged too, and their metrics are
    reported together with the checkpoint folder (plus ``state_fn()`` written to
    ``radas_grpo_state.json`` inside it), so each Tune checkpoint sits on a result with metrics.
    """
    transformers = require("transformers")

    class TuneReportCallback(transformers.TrainerCallback):
        """Reports TRL's logs as radas metrics (``reward_mean``, ``percent_correct``...) to Ray Tune."""

        def __init__(self) -> None:
            self.pending: dict[str, Any] | None = None
            self.last_time: float | None = None
            self.last_tokens: float | None = None
            self.reports = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.last_time = time.perf_counter()
            self.last_tokens = float(state.num_input_tokens_seen or 0)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # Log on checkpoint steps and on the last step, so every checkpoint and the end have metrics.
            if control.should_save or (state.max_steps and state.global_step >= state.max_steps):
                control.should_log = True

        def metrics(self, logs: Mapping[str, Any], state: Any) -> dict[str, Any]:
            out: dict[str, Any] = {"step": int(state.global_step)}
            logs = {**logs, **(extra_metrics_fn() if extra_metrics_fn else {})}
            for src, dst in METRIC_NAMES.items():
                v = _number(logs.get(src))
                if v is not None:
                    out[dst] = v
            now = time.perf_counter()
            tokens = _number(logs.get("num_tokens"))
            if tokens is not None and self.last_time is not None and self.last_tokens is not None:
                dt = now - self.last_time
                out["tokens_per_s"] = (tokens - self.last_tokens) / dt if dt > 0 else math.nan
                self.last_tokens = tokens
            self.last_time = now
            for key, value in logs.items():
                v = _number(value)
                if key not in METRIC_NAMES and v is not None:
                    out[f"trl/{key}"] = v
            return out

        def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
            for sink in sinks or []:
                try:
                    sink(metrics)
                except Exception:  # a logger must not kill the trial
                    logger.exception("radas.grpo: a metrics logger failed")
            reporter(metrics, checkpoint_dir)
            self.reports += 1
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
            if control.should_save:
                self.pending = metrics  # reported with the checkpoint in on_save
            else:
                self.report(metrics, None)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            if not os.path.isdir(folder):
                logger.warning("radas.grpo: checkpoint folder %s not found; reporting without it", folder)
                folder = None
            else:
                with open(os.path.join(folder, STATE_FILE), "w") as f:
                    json.dump(dict(state_fn()), f)
            metrics = self.pending or {"step": int(state.global_step)}
            self.pending = None
            self.report(metrics, folder)

    return TuneReportCallback()


def read_state(checkpoint_dir: str) -> dict[str, Any]:
    """The radas state written next to a checkpoint ({} when there is none)."""
    path = os.path.join(checkpoint_dir, STATE_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)
