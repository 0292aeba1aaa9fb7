"""grpo_trainable under a real ray.tune.Tuner: it learns the toy task, and a restored trial resumes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from grpo_helpers import TOY_PROMPTS, TOY_REWARD, write_jsonl
from ray import tune

from radas.grpo import grpo_trainable, validate_grpo_config, validate_prompt_file, validate_reward_file
from radas.sweep import read_samples


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A 2-CPU local Ray for this module (trials inherit HF_HUB_OFFLINE=1 from this process)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


def test_grpo_learns_the_toy_task(ray_local: None, tmp_path: Path) -> None:
    param_space = {
        "model": "tiny",
        "prompt_file": str(TOY_PROMPTS),
        "reward_file": str(TOY_REWARD),
        "learning_rate": 5e-3,
        "max_steps": 60,
        "rollout_batch_size": 4,
        "n_samples_per_prompt": 8,
        "rollout_max_response_len": 16,
        "seed": 0,
        "lr_scheduler_type": "constant",
    }
    # What a user runs on the driver before the sweep:
    validate_grpo_config(param_space)
    validate_prompt_file(param_space["prompt_file"])
    validate_reward_file(param_space["reward_file"], prompt_file=param_space["prompt_file"])

    tuner = tune.Tuner(
        grpo_trainable,
        param_space=param_space,
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="learn", verbose=0),
    )
    results = tuner.fit()
    assert not results.errors, results.errors
    df = results[0].metrics_dataframe
    assert df["step"].tolist() == list(range(1, 61))
    first = df["reward_mean"].head(10).mean()
    last = df["reward_mean"].tail(10).mean()
    print(f"toy task reward_mean: first 10 steps {first:.4f}, last 10 steps {last:.4f}")
    assert last > first + 0.03 and last > 5 * first
    for col in ("reward_std", "percent_correct", "loss", "completion_length", "learning_rate", "tokens_per_s"):
        assert df[col].notna().all(), col
    # what the model wrote: the best and worst completion of the 1st, 2nd, 4th... and the last step
    samples = read_samples(results[0].path)
    assert list(samples) == [1, 2, 4, 8, 16, 32, 60]
    for step, kept in samples.items():
        best, worst = kept[0], kept[-1]  # one when the whole rollout got the same reward
        assert best["sample"] == "best" and worst["reward"] <= best["reward"], step
        assert best["prompt"] and isinstance(best["completion"], str)


FAILING_REWARD = '''
import os

CALLS = 0


def reward_fn(completion, letter, fail_flag, fail_at_call, **kwargs):
    """Fails once (the first time a process reaches call number fail_at_call), then behaves."""
    global CALLS
    CALLS += 1
    if CALLS == fail_at_call and not os.path.exists(fail_flag):
        open(fail_flag, "w").close()
        raise RuntimeError("injected failure")
    text = completion[0]["content"]
    return sum(ch == letter for ch in text) / max(len(text), 1)
'''


def test_restored_trial_resumes_from_its_checkpoint(ray_local: None, tmp_path: Path) -> None:
    flag = tmp_path / "failed-once"
    # 2 prompts x 2 samples = 4 reward calls per step: call 17 is in step 5, after the checkpoint of step 4.
    rows = [{"prompt": f"Say {c}", "letter": c, "fail_flag": str(flag), "fail_at_call": 17} for c in "abcd"]
    prompts = write_jsonl(tmp_path / "prompts.jsonl", rows)
    reward = tmp_path / "reward.py"
    reward.write_text(FAILING_REWARD)
    param_space: dict[str, Any] = {
        "model": "tiny",
        "prompt_file": str(prompts),
        "reward_file": str(reward),
        "learning_rate": 1e-3,
        "max_steps": 6,
        "checkpoint_every": 2,
        "rollout_batch_size": 2,
        "n_samples_per_prompt": 2,
        "rollout_max_response_len": 4,
        "reward_workers": 1,  # the reward counts its calls in its process
    }
    storage = tmp_path / "results"
    tuner = tune.Tuner(
        grpo_trainable,
        param_space=param_space,
        run_config=tune.RunConfig(storage_path=str(storage), name="ckpt", verbose=0),
    )
    first = tuner.fit()
    assert flag.exists() and len(first.errors) == 1 and "injected failure" in str(first.errors[0])
    assert first[0].metrics_dataframe["step"].tolist() == [1, 2, 3, 4]

    restored = tune.Tuner.restore(str(storage / "ckpt"), trainable=grpo_trainable, resume_errored=True)
    second = restored.fit()
    assert not second.errors, second.errors
    # Resumed after step 4 (the last checkpoint): steps 5 and 6, not a restart at step 1.
    assert second[0].metrics_dataframe["step"].tolist() == [1, 2, 3, 4, 5, 6]
    with second[0].checkpoint.as_directory() as d:
        state = json.loads((Path(d) / "trainer_state.json").read_text())
        assert state["global_step"] == 6
        assert (Path(d) / "radas_grpo_state.json").is_file()
