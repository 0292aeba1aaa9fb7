"""GRPO-aware early stopping: the rules, the in-trial switch, and the Tune scheduler in a real sweep."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from grpo_helpers import TOY_PROMPTS
from ray.tune.schedulers import ASHAScheduler

import radas
from radas.errors import RadasTypeError, RadasValueError
from radas.grpo import GRPOEarlyStopping, StopRules, grpo_trainable, validate_grpo_config
from radas.grpo._stopping import StopWatch
from radas.grpo._trainable import run_grpo

DEAD = "def reward_fn(completion, **kwargs):\n    return 0.0\n"
# Different texts get different rewards, so a group of samples never has equal rewards.
LIVELY = "def reward_fn(completion, **kwargs):\n    return (sum(map(ord, completion[0]['content'])) % 101) / 101\n"


def feed(rules: StopRules, reports: list[dict[str, Any]]) -> list[str | None]:
    watch = StopWatch(rules)
    return [watch.update(r) for r in reports]


def test_no_learning_signal_needs_the_steps_not_the_reports() -> None:
    rules = StopRules(no_signal_frac=0.9, no_signal_steps=6)
    reasons = feed(rules, [{"step": s, "frac_groups_failed": f} for s, f in
                           [(2, 1.0), (4, 0.5), (6, 0.95), (8, 1.0), (10, 1.0)]])  # logged every 2 steps
    assert reasons[:4] == [None] * 4
    assert reasons[4] is not None and reasons[4].startswith("no learning signal: frac_groups_failed >= 0.9 for 6 "
                                                            "steps (steps 5-10)")


def test_a_saturated_run_is_said_and_stops_only_when_asked() -> None:
    reports = [{"step": s, "frac_groups_solved": 1.0, "frac_groups_failed": 0.0} for s in range(1, 6)]
    watch = StopWatch(StopRules(no_signal_steps=3))
    assert [watch.update(r) for r in reports] == [None] * 5 and watch.saturated is not None
    assert watch.saturated.startswith("saturated: frac_groups_solved >= 0.95 for 3 steps (steps 1-3)")
    reasons = feed(StopRules(no_signal_steps=3, stop_on_saturation=True), reports)
    assert reasons[:2] == [None, None] and reasons[2].startswith("saturated")


def test_nonfinite_loss_and_kl_blowup_over_a_window() -> None:
    assert feed(StopRules(), [{"step": 1, "loss": 0.1}, {"step": 2, "loss": math.nan}])[1] == \
        "non-finite loss: loss=nan at step 2"
    assert feed(StopRules(), [{"step": 1, "grad_norm": math.inf}])[0] == "non-finite grad_norm: grad_norm=inf at step 1"
    assert feed(StopRules(stop_on_nonfinite=False), [{"loss": math.nan}]) == [None]
    spike = [{"step": 1, "kl": 0.4}, {"step": 2, "kl": 3.0}, {"step": 3, "kl": 0.3}]  # one spike is no blow-up
    assert feed(StopRules(kl_max=0.5, kl_steps=2), spike) == [None] * 3
    reasons = feed(StopRules(kl_max=0.5, kl_steps=2), [{"step": s, "kl": 0.5 + s} for s in range(1, 3)])
    assert reasons == [None, "KL blow-up: kl > kl_max=0.5 for 2 steps (kl=2.5 at step 2)"]


def test_entropy_collapse_and_runaway_length_but_not_a_budget_that_cuts_from_the_start() -> None:
    collapse = feed(StopRules(entropy_steps=3), [{"step": s, "entropy": e} for s, e in
                                                 enumerate([2.0, 0.5, 0.005, 0.004, 0.003], start=1)])
    assert collapse[:4] == [None] * 4 and collapse[4].startswith("entropy collapse: entropy < entropy_min=0.01 for 3")
    rising = [0.1, 0.2, 0.5, 0.96, 0.99, 1.0]
    runaway = feed(StopRules(clipped_steps=3), [{"step": s, "completion_clipped_ratio": c}
                                                for s, c in enumerate(rising, start=1)])
    assert runaway[:5] == [None] * 5 and runaway[5].startswith("runaway length: completion_clipped_ratio >= 0.95 for 3")
    budget = feed(StopRules(clipped_steps=3), [{"step": s, "completion_clipped_ratio": 1.0} for s in range(1, 9)])
    assert budget == [None] * 8


def rewards(levels: list[tuple[int, float]], noise: float, seed: int = 0, every: int = 1) -> list[dict[str, Any]]:
    """Reports of reward_mean: ``levels`` = (steps, true reward) pieces, each step's reward with Gaussian
    ``noise``; a report every ``every`` steps holds the mean of its steps (as TRL logs with logging_steps)."""
    rng = np.random.default_rng(seed)
    per_step = np.concatenate([level + rng.normal(0.0, noise, size=steps) for steps, level in levels])
    return [{"step": s, "reward_mean": float(per_step[s - every:s].mean())}
            for s in range(every, len(per_step) + 1, every)]


def first_stop(rules: StopRules, reports: list[dict[str, Any]]) -> tuple[int, str] | None:
    watch = StopWatch(rules)
    for report in reports:
        reason = watch.update(report)
        if reason:
            return int(report["step"]), reason
    return None


def test_reward_collapse_is_a_drop_beyond_the_noise_of_the_moving_average() -> None:
    rules = StopRules()
    noisy = [(60, 0.3), (440, 0.6)]  # a small rollout's noise (0.15 per step): its best window sits well above 0.6
    assert first_stop(rules, rewards(noisy, 0.15)) is None
    stop = first_stop(rules, rewards([*noisy, (40, 0.02)], 0.15))
    assert stop is not None and 500 < stop[0] <= 525
    assert re.fullmatch(r"reward collapse: reward_mean's 10-step moving average fell to 0\.\d+ from its best "
                        r"0\.\d+ \(step \d+\) and stayed down for 10 steps: a drop of 0\.\d+, \d+\.\d times its "
                        r"standard error \(0\.\d+\), at step \d+", stop[1]), stop[1]
    assert first_stop(StopRules(reward_drop_sigmas=None), rewards([*noisy, (40, 0.02)], 0.15)) is None


def test_reward_collapse_needs_a_drop_of_some_size_and_a_sustained_one() -> None:
    quiet = 0.005  # a large rollout: a drop of 0.1 is 30 standard errors, but below reward_drop_min
    assert first_stop(StopRules(), rewards([(100, 0.6), (100, 0.5)], quiet)) is None
    assert first_stop(StopRules(reward_drop_min=0.05), rewards([(100, 0.6), (100, 0.5)], quiet)) is not None
    stop = first_stop(StopRules(), rewards([(100, 0.6), (100, 0.35)], quiet))
    assert stop is not None and 110 <= stop[0] <= 120
    dip = [(100, 0.6), (12, 0.1), (100, 0.6)]  # the 10-step average is more than 0.2 down for 14 steps
    assert first_stop(StopRules(), rewards(dip, quiet)) is not None
    assert first_stop(StopRules(reward_drop_steps=20), rewards(dip, quiet)) is None


def test_reward_collapse_with_a_report_every_5_steps() -> None:
    noisy = [(60, 0.3), (440, 0.6)]
    assert first_stop(StopRules(), rewards(noisy, 0.15, every=5)) is None
    stop = first_stop(StopRules(), rewards([*noisy, (40, 0.02)], 0.15, every=5))
    assert stop is not None and 500 < stop[0] <= 530


def test_groups_are_judged_from_the_rewards_whatever_trl_scales() -> None:
    from radas.grpo._rewards import RewardBook

    book = RewardBook([1.0], correct_threshold=1.0, group_size=4)
    failed, solved = book.group_signal([0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0.5, 0.5, 0.5, 0.5])
    assert (failed, solved) == (0.5, 0.25)  # all-wrong and all-half groups failed, one solved, one learning


def test_config_switch_and_bad_settings() -> None:
    base = {"model": "tiny", "prompt_file": "p.jsonl", "reward_file": "r.py"}
    assert validate_grpo_config(base)["early_stopping"] is False
    assert StopRules.from_config(True) == StopRules() and StopRules.from_config(False) is None
    with pytest.raises(RadasValueError, match=r"unknown key\(s\) \['patience'\]; valid keys: \['no_signal_frac'"):
        validate_grpo_config({**base, "early_stopping": {"patience": 3}})
    with pytest.raises(RadasValueError, match=r"\['no_signal_frac'\] = 2 is invalid"):
        validate_grpo_config({**base, "early_stopping": {"no_signal_frac": 2}})
    with pytest.raises(RadasTypeError, match="must be True, False or a dict"):
        validate_grpo_config({**base, "early_stopping": "yes"})
    with pytest.raises(RadasTypeError, match="must be a ray.tune scheduler"):
        GRPOEarlyStopping("asha")
    with pytest.raises(RadasValueError, match=r"unknown key\(s\) \['reward_collapse'\]"):  # the old share-of-gain rule
        validate_grpo_config({**base, "early_stopping": {"reward_collapse": 0.5}})
    with pytest.raises(RadasValueError, match=r"\['reward_drop_min'\] = -0.1 is invalid; valid: a number >= 0"):
        validate_grpo_config({**base, "early_stopping": {"reward_drop_min": -0.1}, "correct_threshold": 1.0})


def test_rules_that_read_correct_need_correct_threshold_before_anything_starts() -> None:
    from ray import tune
    from ray.tune.experiment import Trial

    base = {"model": "tiny", "prompt_file": "p.jsonl", "reward_file": "r.py"}
    with pytest.raises(RadasValueError, match=(
            r"config\['early_stopping'\] turns on the stop rule\(s\) no learning signal \(no_signal_frac\) and "
            r"saturated \(saturation_frac\), which count a prompt group's completions as correct, but the trial "
            r"config's correct_threshold is None .* Set correct_threshold=1.0 for 0/1 rewards")):
        validate_grpo_config({**base, "early_stopping": True})
    with pytest.raises(RadasValueError, match=r"rule\(s\) saturated \(saturation_frac\), which.* turn these "
                                              r"rules off: early_stopping=\{'no_signal_frac': None, 'saturation_frac': "
                                              r"None\}"):
        validate_grpo_config({**base, "early_stopping": {"no_signal_frac": None}})
    assert validate_grpo_config({**base, "early_stopping": True, "correct_threshold": 1.0})["correct_threshold"] == 1.0
    off = {"no_signal_frac": None, "saturation_frac": None}  # the other rules do not read "correct"
    assert validate_grpo_config({**base, "early_stopping": off})["early_stopping"] == off
    assert validate_grpo_config({**base, "early_stopping": {"no_signal_steps": None}})
    # a search space is checked per trial, once Tune has resolved it
    validate_grpo_config({**base, "early_stopping": True, "correct_threshold": tune.grid_search([None, 1.0])})
    with pytest.raises(RadasValueError, match=r"trial config's correct_threshold is None"):
        validate_grpo_config({**base, "early_stopping": True, "correct_threshold": None})

    stopper = GRPOEarlyStopping()
    with pytest.raises(RadasValueError, match=r"^GRPOEarlyStopping turns on the stop rule\(s\) no learning signal .* "
                                              r"turn these rules off: GRPOEarlyStopping\(\.\.\., no_signal_frac=None"):
        stopper.on_trial_add(None, Trial("grpo", config=base, stub=True))
    with pytest.raises(RadasValueError, match="correct_threshold is None"):
        stopper.on_trial_add(None, Trial("grpo", config={**base, "correct_threshold": None}, stub=True))
    off_stopper = GRPOEarlyStopping(no_signal_frac=None, saturation_frac=None)
    off_stopper.on_trial_add(None, Trial("grpo", config=base, stub=True))  # the other rules need no threshold


@pytest.mark.train
def test_a_dead_run_stops_itself_and_says_why(tmp_path: Path, toy_config: dict[str, Any]) -> None:
    reward = tmp_path / "dead.py"
    reward.write_text(DEAD)
    reports: list[dict] = []
    run_grpo({**toy_config, "reward_file": str(reward), "max_steps": 6, "early_stopping": {"no_signal_steps": 2},
              "correct_threshold": 1.0}, lambda m, c=None: reports.append(m))
    assert [m["step"] for m in reports] == [1, 2]
    assert "stop_reason" not in reports[0]
    assert reports[-1]["stop_reason"].startswith("no learning signal: frac_groups_failed >= 0.95 for 2 steps")


async def test_scheduler_stops_the_dead_trial_of_a_sweep_with_asha(tmp_path: Path, local_ray: None) -> None:
    (tmp_path / "dead.py").write_text(DEAD)
    (tmp_path / "lively.py").write_text(LIVELY)
    from ray import tune

    stopper = GRPOEarlyStopping(ASHAScheduler(metric="reward_mean", mode="max", max_t=100, grace_period=100),
                                no_signal_steps=2)
    results = await radas.run_experiment(
        user_name="tester", experiment_name="grpo-stop", trainable=grpo_trainable, run_choice="run",
        param_space={"model": "tiny", "prompt_file": str(TOY_PROMPTS),
                     "reward_file": tune.grid_search([str(tmp_path / "dead.py"), str(tmp_path / "lively.py")]),
                     "max_steps": 4, "rollout_batch_size": 2, "n_samples_per_prompt": 2,
                     "rollout_max_response_len": 4, "correct_threshold": 1.0},
        tuner_init_kwargs={"tune_config": {"scheduler": stopper}},
    )
    df = results["df"].set_index(results["df"]["config/reward_file"].map(lambda p: Path(p).stem))
    assert df.loc["dead", "step"] == 2 and df.loc["lively", "step"] == 4
    assert df.loc["dead", "stop_reason"].startswith("no learning signal: frac_groups_failed >= 0.95 for 2 steps")
    assert not isinstance(df.loc["lively", "stop_reason"], str)  # not stopped: no reason
    assert set(df["status"]) == {"TERMINATED"}
    curves = results["tuner"].get_iteration_dataframe()
    dead = curves[curves["config/reward_file"].str.endswith("dead.py")]
    assert dead["stop_reason"].str.startswith("no learning signal").all()


SOLVED = "def reward_fn(completion, **kwargs):\n    return 1.0\n"


@pytest.mark.train
def test_a_saturated_run_says_so_and_a_healthy_run_is_left_alone(tmp_path: Path, toy_config: dict[str, Any]) -> None:
    solved = tmp_path / "solved.py"
    solved.write_text(SOLVED)
    reports: list[dict] = []
    run_grpo({**toy_config, "reward_file": str(solved), "correct_threshold": 1.0, "max_steps": 3,
              "early_stopping": {"no_signal_steps": 2}}, lambda m, c=None: reports.append(m))
    assert [m["step"] for m in reports] == [1, 2, 3]  # not stopped: saturation is said, not a stop by default
    assert reports[1]["saturated"].startswith("saturated: frac_groups_solved >= 0.95 for 2 steps")
    assert all(m["frac_groups_solved"] == 1.0 and m["frac_groups_failed"] == 0.0 for m in reports)
    lively = tmp_path / "lively.py"
    lively.write_text(LIVELY)
    healthy: list[dict] = []
    run_grpo({**toy_config, "reward_file": str(lively), "max_steps": 4, "early_stopping": True,
              "correct_threshold": 1.0}, lambda m, c=None: healthy.append(m))
    assert [m["step"] for m in healthy] == [1, 2, 3, 4] and not any("stop_reason" in m for m in healthy)
