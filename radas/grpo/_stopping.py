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
SATURATED = "saturated"  # the report (and the DataFrame column) that says a run has nothing left to learn


@dataclass(frozen=True)
class StopRules:
    """When a GRPO run counts as dead (or done). A setting of ``None`` turns its rule off. Every
    window counts optimizer steps (``step``), not reports: with ``logging_steps=5``, 20 steps are
    4 reports.

    The group signals are radas's own, from the rewards of each rollout (not TRL's
    ``frac_reward_zero_std``, which ``scale_rewards="batch"`` or ``normalize_then_sum`` turn into
    0 or 1 for the whole batch): ``frac_groups_failed`` is the share of prompt groups whose
    completions all got the same reward *and* none counts as correct (nothing to learn from:
    dead), ``frac_groups_solved`` the share all of whose completions are correct (nothing left to
    learn: saturated). "Correct" is ``percent_correct``'s: reward >= ``correct_threshold``, or
    the best reward of the run so far, which under a shaped reward counts wrong answers as correct:
    the rules that read it (no learning signal, saturated) need ``correct_threshold`` in the trial
    config (:func:`check_correct_threshold`).

    The reward-collapse rule judges a drop against the noise of its own moving average. The mean
    of ``reward_mean`` over ``reward_window`` steps scatters around the run's true reward, a lot
    for small rollouts (a 0/1 reward over 4 prompts x 8 samples: about 0.15 per step, most of it
    the spread of difficulty between the prompts drawn), so its best value on a plateau sits well
    above the true level by chance alone, and the current value can sit as far below. The rule
    takes the standard error of "best window minus this window" from the run's own reports, as
    the larger of two estimates: the noise of one report (half the mean squared change between
    successive reports: the slow rise of a learning run barely moves it, unlike their variance)
    times ``sqrt(1/n_best + 1/n_now)`` (n: the reports in each window); and the root mean square
    change of the moving average over one window, which also holds the policy's own wobble from
    step to step that successive reports do not show (each change counted once 3 windows old, so
    a fall being judged does not widen its own yardstick, and used once there are 5 windows of
    them). Not ``reward_std``: it misses the difference between
    prompts. Reports of ``logging_steps > 1``, already means of several steps, need nothing more.
    The rule fires when the drop exceeds ``reward_drop_sigmas`` standard errors *and*
    ``reward_drop_min``, in every report for ``reward_drop_steps`` steps. In a simulation of
    healthy and collapsing runs (0/1 rewards, 4 to 64 prompts x 8 samples:
    ``tests/grpo/test_grpo_stop_simulation.py``, figures in ``docs/benchmarks.md``) the defaults
    stopped at most 1 of 300 healthy runs per size, and every run whose accuracy fell to near 0
    within 24 steps of its fall.

    Attributes:
        no_signal_frac: "no learning signal" when ``frac_groups_failed`` is at least this...
        no_signal_steps: ...for this many consecutive optimizer steps.
        saturation_frac: "saturated" when ``frac_groups_solved`` is at least this for
            ``no_signal_steps`` steps: said once (a warning, and ``saturated`` in the report)...
        stop_on_saturation: ...and the run stops when this is True.
        stop_on_nonfinite: stop at once when ``loss`` or ``grad_norm`` is NaN or infinite (radas
            turns transformers' ``logging_nan_inf_filter`` off, so they are seen).
        kl_max: "KL blow-up" when ``kl`` (reported when ``kl_beta > 0``) stays above this...
        kl_steps: ...in every report over this many optimizer steps (one spike is not a blow-up).
        reward_drop_sigmas: "reward collapse" when the moving average of ``reward_mean`` over
            ``reward_window`` steps has fallen below its best by more than this many standard
            errors of that difference (above)...
        reward_drop_min: ...and by at least this much, in reward units (0.2: twenty points of
            accuracy for 0/1 rewards; scale it with rewards on a wider range)...
        reward_drop_steps: ...in every report over this many optimizer steps.
        reward_window: the moving average's window, in optimizer steps.
        entropy_min: "entropy collapse" when the policy's mean token ``entropy`` (nats) stays
            below this for ``entropy_steps`` steps: it writes the same thing every time.
        entropy_steps: see ``entropy_min``.
        clipped_max: "runaway length" when ``completion_clipped_ratio`` (completions cut at the
            length limit) climbs from below ``clipped_max - 0.2`` in the first window to at least
            this, for ``clipped_steps`` steps (a limit that cuts every completion from the start is
            the run's budget, not a runaway).
        clipped_steps: see ``clipped_max``.
    """

    no_signal_frac: float | None = 0.95
    no_signal_steps: int | None = 20
    saturation_frac: float | None = 0.95
    stop_on_saturation: bool = False
    stop_on_nonfinite: bool = True
    kl_max: float | None = 1.0
    kl_steps: int = 5
    reward_drop_sigmas: float | None = 4.0
    reward_drop_min: float = 0.2
    reward_drop_steps: int = 10
    reward_window: int = 10
    entropy_min: float | None = 0.01
    entropy_steps: int = 20
    clipped_max: float | None = 0.95
    clipped_steps: int = 20

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

        for key in ("no_signal_frac", "saturation_frac", "clipped_max"):
            v = getattr(self, key)
            if v is not None and not (number(v) and 0 < v <= 1):
                raise bad(key, "a number in (0, 1], or None")
        for key in ("kl_max", "entropy_min", "reward_drop_sigmas"):
            v = getattr(self, key)
            if v is not None and not (number(v) and v > 0):
                raise bad(key, "a number > 0, or None")
        if not (number(self.reward_drop_min) and self.reward_drop_min >= 0):
            raise bad("reward_drop_min", "a number >= 0")
        steps = self.no_signal_steps
        if steps is not None and not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1):
            raise bad("no_signal_steps", "an int >= 1, or None")
        for key in ("kl_steps", "reward_window", "reward_drop_steps", "entropy_steps", "clipped_steps"):
            v = getattr(self, key)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise bad(key, "an int >= 1")
        for key in ("stop_on_nonfinite", "stop_on_saturation"):
            if not isinstance(getattr(self, key), bool):
                raise bad(key, "True or False")

    def rules_reading_correct(self) -> list[str]:
        """The rules that are on and count completions as correct, each as ``"name (setting)"``."""
        on = []
        if self.no_signal_frac is not None and self.no_signal_steps is not None:
            on.append("no learning signal (no_signal_frac)")
        if self.saturation_frac is not None and self.no_signal_steps is not None:
            on.append("saturated (saturation_frac)")
        return on


def check_correct_threshold(early_stopping: Any, correct_threshold: float | None,
                            name: str = "early_stopping") -> None:
    """Raise when ``early_stopping`` (a config value, or :class:`StopRules`) turns on a rule that reads
    "correct" and ``correct_threshold`` is None.

    Without a threshold, "correct" is "the best reward of the run so far": under a shaped reward
    (format points, partial credit) a batch without a single right answer then reads as partly
    correct, which hides a run with no learning signal and fakes a saturated one. Whether the
    rewards are 0/1 cannot be known before the run, so the threshold is required whenever such a
    rule is on. ``name``: the config key, or ``"GRPOEarlyStopping"`` for the scheduler."""
    rules = StopRules.from_config(early_stopping, name)
    if rules is None or correct_threshold is not None:
        return
    reading = rules.rules_reading_correct()
    if not reading:
        return
    if name == "GRPOEarlyStopping":
        what, off = "GRPOEarlyStopping", "GRPOEarlyStopping(..., no_signal_frac=None, saturation_frac=None)"
    else:
        what, off = f"config[{name!r}]", f"{name}={{'no_signal_frac': None, 'saturation_frac': None}}"
    raise RadasValueError(
        f"{what} turns on the stop rule(s) {' and '.join(reading)}, which count a prompt group's completions as "
        "correct, but the trial config's correct_threshold is None (then \"correct\" is the best reward so far, and "
        "under a shaped reward a batch with no right answer looks partly correct). Set correct_threshold=1.0 for "
        f"0/1 rewards (or the reward a correct completion reaches), or turn these rules off: {off}")


def _value(metrics: Mapping[str, Any], key: str) -> float | None:
    v = metrics.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


@dataclass
class _Streak:
    """Since which step a condition has held in every report (None: it does not hold now)."""

    since: int | None = None

    def update(self, holds: bool, previous: int) -> int | None:
        """The step before the streak's first report, or None when the condition broke."""
        if not holds:
            self.since = None
        elif self.since is None:
            self.since = previous
        return self.since


@dataclass
class StopWatch:
    """Applies :class:`StopRules` to the successive reports of one trial."""

    rules: StopRules
    saturated: str | None = None  # what was said when the run became saturated (once)
    _last_step: int = 0
    _streaks: dict[str, _Streak] = field(default_factory=dict)
    _rewards: deque[tuple[int, float]] = field(default_factory=deque)  # the moving average's reports
    _sum: float = 0.0  # of the rewards in _rewards
    _previous_reward: float | None = None
    _report_squares: float = 0.0  # sum of the squared changes between successive reports...
    _report_count: int = 0  # ...and how many
    _averages: deque[tuple[int, float]] = field(default_factory=deque)  # the moving averages of the last window
    _changes: deque[tuple[int, float]] = field(default_factory=deque)  # squared changes over a window, not yet used
    _window_squares: float = 0.0  # sum of those used...
    _window_count: int = 0  # ...and how many
    _best: tuple[float, int, int] | None = None  # the best moving average: (value, reports in it, step)
    _first_clipped: list[float] = field(default_factory=list)

    def update(self, metrics: Mapping[str, Any]) -> str | None:
        """Take one report (radas GRPO metric names); return why the run should stop, or None."""
        step_value = _value(metrics, "step")
        step = int(step_value) if step_value is not None else self._last_step + 1
        previous, self._last_step = self._last_step, step
        for reason in (self._nonfinite(metrics, step), self._no_signal(metrics, previous, step),
                       self._saturation(metrics, previous, step), self._kl(metrics, previous, step),
                       self._collapse(metrics, previous, step), self._entropy(metrics, previous, step),
                       self._runaway(metrics, previous, step)):
            if reason:
                return reason
        return None

    def _held(self, name: str, holds: bool, previous: int, step: int, steps: int) -> int | None:
        """The steps ``name``'s condition has held when that reaches ``steps``, else None."""
        since = self._streaks.setdefault(name, _Streak()).update(holds, previous)
        return step - since if since is not None and step - since >= steps else None

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
        key = "frac_groups_failed" if "frac_groups_failed" in metrics else "frac_reward_zero_std"
        v = _value(metrics, key)
        if frac is None or steps is None or v is None:
            return None
        held = self._held("no_signal", v >= frac, previous, step, steps)
        if held is None:
            return None
        return (f"no learning signal: {key} >= {frac:g} for {held} steps (steps {step - held + 1}-{step}): in "
                "(nearly) every prompt group all completions got the same reward and none was correct")

    def _saturation(self, metrics: Mapping[str, Any], previous: int, step: int) -> str | None:
        frac, steps = self.rules.saturation_frac, self.rules.no_signal_steps
        v = _value(metrics, "frac_groups_solved")
        if frac is None or steps is None or v is None:
            return None
        held = self._held("saturated", v >= frac, previous, step, steps)
        if held is None or self.saturated is not None:
            return None
        self.saturated = (f"saturated: frac_groups_solved >= {frac:g} for {held} steps (steps {step - held + 1}-"
                          f"{step}): (nearly) every prompt group is solved by all its completions, nothing is left "
                          "to learn from this prompt file")
        return self.saturated if self.rules.stop_on_saturation else None

    def _kl(self, metrics: Mapping[str, Any], previous: int, step: int) -> str | None:
        v = _value(metrics, "kl")
        if self.rules.kl_max is None or v is None:
            return None
        held = self._held("kl", v > self.rules.kl_max, previous, step, self.rules.kl_steps)
        if held is None:
            return None
        return f"KL blow-up: kl > kl_max={self.rules.kl_max:g} for {held} steps (kl={v:.4g} at step {step})"

    def _entropy(self, metrics: Mapping[str, Any], previous: int, step: int) -> str | None:
        v = _value(metrics, "entropy")
        if self.rules.entropy_min is None or v is None:
            return None
        held = self._held("entropy", v < self.rules.entropy_min, previous, step, self.rules.entropy_steps)
        if held is None:
            return None
        return (f"entropy collapse: entropy < entropy_min={self.rules.entropy_min:g} for {held} steps "
                f"(entropy={v:.4g} at step {step}): the policy writes the same tokens whatever it samples")

    def _runaway(self, metrics: Mapping[str, Any], previous: int, step: int) -> str | None:
        v = _value(metrics, "completion_clipped_ratio")
        limit = self.rules.clipped_max
        if limit is None or v is None:
            return None
        if step <= self.rules.clipped_steps:
            self._first_clipped.append(v)
        started_below = bool(self._first_clipped) and (
            sum(self._first_clipped) / len(self._first_clipped) < limit - 0.2)
        held = self._held("runaway", v >= limit and started_below, previous, step, self.rules.clipped_steps)
        if held is None:
            return None
        return (f"runaway length: completion_clipped_ratio >= {limit:g} for {held} steps (steps {step - held + 1}-"
                f"{step}), up from {sum(self._first_clipped) / len(self._first_clipped):.2f} at the start: "
                "completions grow until the length limit cuts them")

    def _collapse(self, metrics: Mapping[str, Any], previous: int, step: int) -> str | None:
        sigmas, window = self.rules.reward_drop_sigmas, self.rules.reward_window
        reward = _value(metrics, "reward_mean")
        if sigmas is None or reward is None or not math.isfinite(reward):
            return None
        if self._previous_reward is not None:
            self._report_squares += (reward - self._previous_reward) ** 2
            self._report_count += 1
        self._previous_reward = reward
        self._rewards.append((step, reward))
        self._sum += reward
        while self._rewards[0][0] <= step - window:
            self._sum -= self._rewards.popleft()[1]
        if step < window:
            return None
        n = len(self._rewards)
        average = self._sum / n
        # The change of the moving average over one window (from the last average at least a window
        # old), used once it is 3 windows old: a fall being judged never widens its own yardstick.
        while len(self._averages) > 1 and self._averages[1][0] <= step - window:
            self._averages.popleft()
        if self._averages and self._averages[0][0] <= step - window:
            self._changes.append((step, (average - self._averages[0][1]) ** 2))
        self._averages.append((step, average))
        while self._changes and self._changes[0][0] <= step - 3 * window:
            self._window_squares += self._changes.popleft()[1]
            self._window_count += 1
        if self._best is None or average > self._best[0]:
            self._best = (average, n, step)
        best, n_best, best_step = self._best
        drop = best - average
        se = self._drop_error(n_best, n)
        holds = drop >= self.rules.reward_drop_min and drop > sigmas * se
        held = self._held("collapse", holds, previous, step, self.rules.reward_drop_steps)
        if held is None:
            return None
        errors = f"{drop / se:.1f}" if se > 0 else "inf"
        return (f"reward collapse: reward_mean's {window}-step moving average fell to {average:.4g} from its best "
                f"{best:.4g} (step {best_step}) and stayed down for {held} steps: a drop of {drop:.4g}, {errors} "
                f"times its standard error ({se:.3g}), at step {step}")

    def _drop_error(self, n_best: int, n: int) -> float:
        """The standard error of (best moving average - this one) (inf until a few reports tell).

        The larger of two estimates: the noise of one report, from successive reports (half their
        mean squared change: a slow trend barely moves it), times sqrt(1/n_best + 1/n); and the
        change of the moving average over one window, root mean square, which also holds the
        policy's own wobble within a window (successive reports do not see it), once 5 windows of
        such changes make it worth something (a few overlapping windows say little)."""
        if self._report_count < 4:
            return math.inf
        se = math.sqrt(self._report_squares / (2 * self._report_count) * (1 / n_best + 1 / n))
        if self._window_count >= 5 * n:
            se = max(se, math.sqrt(self._window_squares / self._window_count))
        return se


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
    that scheduler. The trials' configs need ``correct_threshold`` while the no-signal or
    saturation rule is on (:func:`check_correct_threshold`): a trial added without one is an
    error before it runs.

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
        """Start watching the trial; passed on. Raises (before the trial runs) when a rule reads
        "correct" and the trial's config has no ``correct_threshold``."""
        check_correct_threshold(self.rules, (trial.config or {}).get("correct_threshold"), "GRPOEarlyStopping")
        self._watches[trial.trial_id] = StopWatch(self.rules)
        self.scheduler.on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        """Passed on."""
        self.scheduler.on_trial_error(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        """Stop the trial when a rule fires (recording why); else ask the wrapped scheduler."""
        from ray.tune.schedulers import TrialScheduler

        watch = self._watches.setdefault(trial.trial_id, StopWatch(self.rules))
        saturated = watch.saturated
        reason = watch.update(result)
        if watch.saturated and not saturated:
            from radas.tuner import annotate_trial
            from radas.utils import print_info

            annotate_trial(trial.path, **{SATURATED: watch.saturated})
            print_info(f"trial {trial.trial_id}: {watch.saturated}")
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
