"""GRPO-aware early stopping: rules that spot a dead GRPO run from its metrics, and a Tune scheduler.

The same :class:`StopRules` serve two ways of stopping:

* inside the trial, with the config key ``early_stopping`` (``True`` or a dict of rule settings):
  the trial checks its own metrics at every report, and when a rule fires it reports the reason
  as ``stop_reason`` in its last result and ends training (the trial ends ``TERMINATED``);
* on the driver, with :class:`GRPOEarlyStopping` as the Tune scheduler (it can wrap another
  scheduler, e.g. ASHA on ``reward_mean``): it stops the trial and records ``stop_reason`` with
  :func:`radas.tuner.annotate_trial`, so it becomes a column of the DataFrames.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from radas._ray import setting as ray_setting
from radas.errors import RadasTypeError, RadasValueError

STOP_REASON = "stop_reason"


@dataclass(frozen=True)
class StopRules:
    """When a GRPO run counts as dead. A setting of ``None`` turns its rule off.

    Attributes:
        no_signal_frac: "no learning signal" when ``frac_reward_zero_std`` (the share of prompt
            groups whose completions all got the same reward, so zero advantage) is at least this...
        no_signal_steps: ...in every report covering this many consecutive optimizer steps.
        stop_on_nonfinite: stop at once when ``loss`` or ``grad_norm`` is NaN or infinite.
        kl_max: "KL blow-up" when ``kl`` (reported when ``kl_beta > 0``) exceeds this.
        reward_collapse: "reward collapse" when the moving average of ``reward_mean`` has lost
            this share of the gain it had made from its start (its first full window) to its best...
        reward_window: ...the moving average being over this many reports. A gain counts only once it
            exceeds half the mean ``reward_std`` of the first window, so noise on a flat run is no collapse.
    """

    no_signal_frac: float | None = 0.95
    no_signal_steps: int | None = 20
    stop_on_nonfinite: bool = True
    kl_max: float | None = 1.0
    reward_collapse: float | None = 0.5
    reward_window: int = 10

    @classmethod
    def from_config(cls, value: Any, name: str = "early_stopping") -> StopRules | None:
        """The rules of a config value: ``False``/``None`` -> None (off), ``True`` -> the defaults,
        a dict -> the defaults updated with its keys (unknown keys are an error listing the valid ones)."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, StopRules):
            return value
        if not isinstance(value, Mapping):
            raise RadasTypeError(
                f"config[{name!r}] must be True, False or a dict of rule settings; "
                f"got {value!r} ({type(value).__name__})"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in value if k not in names]
        if unknown:
            raise RadasValueError(f"config[{name!r}] has unknown key(s) {unknown}; valid keys: {names}")
        rules = cls(**dict(value))
        rules.check(name)
        return rules

    def check(self, name: str = "early_stopping") -> None:
        """Raise when a setting is out of range."""
        def bad(key: str, valid: str) -> RadasValueError:
            return RadasValueError(f"config[{name!r}][{key!r}] = {getattr(self, key)!r} is invalid; valid: {valid}")

        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if self.no_signal_frac is not None and not (number(self.no_signal_frac) and 0 < self.no_signal_frac <= 1):
            raise bad("no_signal_frac", "a number in (0, 1], or None")
        steps = self.no_signal_steps
        if steps is not None and not (isinstance(steps, int) and steps >= 1):
            raise bad("no_signal_steps", "an int >= 1, or None")
        if not isinstance(self.stop_on_nonfinite, bool):
            raise bad("stop_on_nonfinite", "True or False")
        if self.kl_max is not None and not (number(self.kl_max) and self.kl_max > 0):
            raise bad("kl_max", "a number > 0, or None")
        if self.reward_collapse is not None and not (number(self.reward_collapse) and 0 < self.reward_collapse <= 1):
            raise bad("reward_collapse", "a number in (0, 1], or None")
        if not (isinstance(self.reward_window, int) and self.reward_window >= 1):
            raise bad("reward_window", "an int >= 1")


def _value(metrics: Mapping[str, Any], key: str) -> float | None:
    v = metrics.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


@dataclass
class StopWatch:
    """Applies :class:`StopRules` to the successive reports of one trial."""

    rules: StopRules
    _last_step: int = 0
    _no_signal_from: int | None = None  # the step before the first report of the current no-signal streak
    _rewards: deque[float] = field(default_factory=deque)
    _stds: list[float] = field(default_factory=list)
    _start: float | None = None
    _best: float | None = None
    _min_gain: float = 0.0

    def update(self, metrics: Mapping[str, Any]) -> str | None:
        """Take one report (radas GRPO metric names); return why the run should stop, or None."""
        step_value = _value(metrics, "step")
        step = int(step_value) if step_value is not None else self._last_step + 1
        previous, self._last_step = self._last_step, step
        for reason in (self._nonfinite(metrics, step), self._no_signal(metrics, previous, step),
                       self._kl(metrics, step), self._collapse(metrics, step)):
            if reason:
                return reason
        return None

    def _nonfinite(self, metrics: Mapping[str, Any], step: int) -> str | None:
        if not self.rules.stop_on_nonfinite:
            return None
        for key in ("loss", "grad_norm"):
            v = _value(metrics, key)
            if v is not None and not math.isfinite(v):
                return f"non-finite {key}: {key}={v} at step {step}"
        return None

    def _no_signal(self, metrics: Mapping[str, Any], previous: int, step: int) -> str | None:
        frac, steps = self.rules.no_signal_frac, self.rules.no_signal_steps
        if frac is None or steps is None:
            return None
        v = _value(metrics, "frac_reward_zero_std")
        if v is None:
            return None
        if v < frac:
            self._no_signal_from = None
            return None
        if self._no_signal_from is None:
            self._no_signal_from = previous
        if step - self._no_signal_from >= steps:
            return (f"no learning signal: frac_reward_zero_std >= {frac:g} for {step - self._no_signal_from} steps "
                    f"(steps {self._no_signal_from + 1}-{step}): every group's completions got equal rewards")
        return None

    def _kl(self, metrics: Mapping[str, Any], step: int) -> str | None:
        v = _value(metrics, "kl")
        if self.rules.kl_max is None or v is None or not v > self.rules.kl_max:
            return None
        return f"KL blow-up: kl={v:.4g} > kl_max={self.rules.kl_max:g} at step {step}"

    def _collapse(self, metrics: Mapping[str, Any], step: int) -> str | None:
        share, window = self.rules.reward_collapse, self.rules.reward_window
        reward = _value(metrics, "reward_mean")
        if share is None or reward is None or not math.isfinite(reward):
            return None
        self._rewards.append(reward)
        if self._start is None:
            std = _value(metrics, "reward_std")
            if std is not None and math.isfinite(std):
                self._stds.append(std)
        if len(self._rewards) > window:
            self._rewards.popleft()
        if len(self._rewards) < window:
            return None
        average = sum(self._rewards) / window
        if self._start is None:
            self._start = self._best = average
            self._min_gain = 0.5 * (sum(self._stds) / len(self._stds)) if self._stds else 0.0
            return None
        assert self._best is not None
        self._best = max(self._best, average)
        gain = self._best - self._start
        if gain <= self._min_gain or gain <= 0:
            return None
        if average <= self._best - share * gain:
            return (f"reward collapse: reward_mean (mean of the last {window} reports) fell to {average:.4g} from its "
                    f"best {self._best:.4g} (start {self._start:.4g}) at step {step}")
        return None


def _trial_scheduler_base() -> type:
    from ray.tune.schedulers import TrialScheduler

    return TrialScheduler


class GRPOEarlyStopping(_trial_scheduler_base()):  # type: ignore[misc]
    """A Ray Tune scheduler that stops dead GRPO trials, and says why.

    It applies :class:`StopRules` to every result of every trial: no learning signal, NaN/inf
    loss, KL blow-up, reward collapse. A trial it stops gets ``stop_reason`` (a sentence) recorded
    with :func:`radas.tuner.annotate_trial`, which makes it a column of ``Tuner.get_dataframe()``
    and of the per-iteration frame. Every other decision is left to ``scheduler`` (FIFO when
    None), so it composes with ASHA::

        from ray.tune.schedulers import ASHAScheduler
        from radas.grpo import GRPOEarlyStopping
        run_experiment(..., tuner_init_kwargs={"tune_config": {"scheduler": GRPOEarlyStopping(
            ASHAScheduler(metric="reward_mean", mode="max", grace_period=20, max_t=200),
            no_signal_steps=10)}})

    A trial the wrapped scheduler stops early (before its ``max_t``) gets a ``stop_reason`` naming
    that scheduler.

    Args:
        scheduler: the Tune scheduler that makes the other decisions (e.g. ``ASHAScheduler``).
        rules: a :class:`StopRules`; or give its fields as keyword arguments.
    """

    def __init__(self, scheduler: Any = None, rules: StopRules | None = None, **rule_settings: Any) -> None:
        from ray.tune.schedulers import FIFOScheduler, TrialScheduler

        super().__init__()
        if rules is not None and rule_settings:
            raise RadasValueError(
                "GRPOEarlyStopping: give either rules=StopRules(...) or rule keyword arguments, not both")
        self.rules = rules or StopRules.from_config(rule_settings or True, "GRPOEarlyStopping") or StopRules()
        if scheduler is not None and not isinstance(scheduler, TrialScheduler):
            raise RadasTypeError(
                f"GRPOEarlyStopping(scheduler=...) must be a ray.tune scheduler (e.g. ASHAScheduler); got {scheduler!r}"
            )
        self.scheduler = scheduler if scheduler is not None else FIFOScheduler()
        self._watches: dict[str, StopWatch] = {}

    @property
    def _metric(self) -> Any:
        return ray_setting(self.scheduler, "metric")

    @_metric.setter
    def _metric(self, value: Any) -> None:
        pass  # the wrapped scheduler owns metric and mode

    @property
    def _mode(self) -> Any:
        return ray_setting(self.scheduler, "mode")

    @_mode.setter
    def _mode(self, value: Any) -> None:
        pass

    @property
    def _supports_buffered_results(self) -> bool:
        return bool(ray_setting(self.scheduler, "supports_buffered_results", True))

    @_supports_buffered_results.setter
    def _supports_buffered_results(self, value: bool) -> None:
        pass

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Passed on to the wrapped scheduler."""
        return self.scheduler.set_search_properties(metric, mode, **spec)

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        """Start watching the trial; passed on."""
        self._watches[trial.trial_id] = StopWatch(self.rules)
        self.scheduler.on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        """Passed on."""
        self.scheduler.on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        """Stop the trial when a rule fires (recording why); else ask the wrapped scheduler."""
        from ray.tune.schedulers import TrialScheduler

        watch = self._watches.setdefault(trial.trial_id, StopWatch(self.rules))
        reason = watch.update(result)
        if reason:
            self._annotate(trial, reason)
            return TrialScheduler.STOP
        decision = self.scheduler.on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP and not result.get("done"):
            time_attr, max_t = ray_setting(self.scheduler, "time_attr"), ray_setting(self.scheduler, "max_t")
            at_end = time_attr and isinstance(max_t, (int, float)) and result.get(time_attr, 0) >= max_t
            if not at_end:  # stopping at its max_t is the end of the run, not an early stop
                step = result.get("step", result.get("training_iteration"))
                self._annotate(trial, f"stopped by {type(self.scheduler).__name__} at step {step}")
        return decision

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        """Passed on."""
        self._watches.pop(trial.trial_id, None)
        self.scheduler.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        """Passed on."""
        self._watches.pop(trial.trial_id, None)
        self.scheduler.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        """Passed on."""
        return self.scheduler.choose_trial_to_run(tune_controller)

    def debug_string(self) -> str:
        """The wrapped scheduler's, with the rules."""
        return f"GRPO early stopping ({self.rules}) over: {self.scheduler.debug_string()}"

    def save(self, checkpoint_path: str) -> None:
        """Passed on."""
        self.scheduler.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        """Passed on."""
        self.scheduler.restore(checkpoint_path)

    @staticmethod
    def _annotate(trial: Any, reason: str) -> None:
        from radas.tuner import annotate_trial

        annotate_trial(trial.path, **{STOP_REASON: reason})
