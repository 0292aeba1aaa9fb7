"""GRPO sweeps through run_experiment: files and keys are checked before any trial starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray import tune

import radas
from radas.grpo import grpo_trainable

TOY = Path(__file__).resolve().parents[2] / "examples" / "grpo"


def _space(**overrides):
    return {"model": "tiny", "prompt_file": str(TOY / "toy_prompts.jsonl"),
            "reward_file": str(TOY / "toy_reward.py"), "learning_rate": tune.grid_search([1e-3, 5e-3]),
            **overrides}


async def _fails(space, error, *words):
    with pytest.raises(error) as info:
        await radas.run_experiment(user_name="tester", experiment_name="grpo-never", trainable=grpo_trainable,
                                   param_space=space)
    for word in words:
        assert word in str(info.value)
    assert not (Path(radas.get_ray_results_dir("tester")) / "grpo-never").exists()


async def test_bad_prompt_line_fails_before_the_sweep(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "hi", "letter": "a"}\n{"prompt": "oops"\n')
    await _fails(_space(prompt_file=str(prompts)), radas.RadasValueError, str(prompts), "line 2")


async def test_reward_file_without_reward_fn_fails_before_the_sweep(tmp_path):
    reward = tmp_path / "reward.py"
    reward.write_text("def score(completion):\n    return 1.0\n")
    await _fails(_space(reward_file=str(reward)), radas.RadasValueError, str(reward), "reward_fn")


async def test_unknown_key_lists_known_ones():
    await _fails(_space(lr=1e-3), radas.RadasValueError, "'lr'", "learning_rate", "kl_beta")


async def test_relative_files_resolve_against_the_launch_folder(tmp_path, monkeypatch, local_ray):
    """Ray was started from another folder: trials still find files relative to where
    run_experiment was called."""
    import shutil

    task = tmp_path / "task"
    task.mkdir()
    for name in ("toy_prompts.jsonl", "toy_reward.py"):
        shutil.copy(TOY / name, task / name)
    monkeypatch.chdir(tmp_path)
    results = await radas.run_experiment(
        user_name="tester", experiment_name="grpo-relative", trainable=grpo_trainable,
        param_space={"model": "tiny", "prompt_file": "task/toy_prompts.jsonl", "reward_file": "task/toy_reward.py",
                     "max_steps": 2, "rollout_batch_size": 2, "n_samples_per_prompt": 2,
                     "rollout_max_response_len": 4},
        run_choice="run",
    )
    assert list(results["df"]["status"]) == ["TERMINATED"] and list(results["df"]["step"]) == [2]
