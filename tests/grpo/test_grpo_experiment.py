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


async def test_gpu_per_trial_auto_needs_a_known_gpu_memory(local_ray, toy_config):
    with pytest.raises(radas.RadasValueError, match="gpu_per_trial='auto'.*gram_per_gpu_gb"):
        await radas.run_experiment(user_name="tester", experiment_name="grpo-auto-nogpu", trainable=grpo_trainable,
                                   param_space=toy_config, gpu_per_trial="auto")


async def test_gpu_per_trial_auto_packs_trials_on_a_clusters_gpu(ray_cluster, config_file, tmp_path, monkeypatch,
                                                                 toy_config, capsys):
    """The test cluster's worker has one GPU (a logical one: the trials run on its CPU)."""
    monkeypatch.chdir(tmp_path)
    config_file(ray_cluster.config(extra="gram_per_gpu_gb = 24\n"))
    results = await radas.run_experiment(
        user_name="tester", experiment_name="grpo-auto", trainable=grpo_trainable, run_with="cluster:testc",
        param_space={**toy_config, "learning_rate": tune.grid_search([1e-3, 5e-3])}, gpu_per_trial="auto")
    out = capsys.readouterr().out
    # two CPUs per GPU on the largest node, one CPU per trial: the CPUs allow 2 trials per GPU
    assert "gpu_per_trial='auto': 2 trials per GPU (gpu_per_trial=0.5, limited by the CPUs" in out
    # the client cannot see what the cluster's trials have installed: generation='auto' counts both engines
    assert "whether vLLM is installed where the trials run is unknown here" in out
    assert set(results["df"]["status"]) == {"TERMINATED"} and len(results["df"]) == 2
