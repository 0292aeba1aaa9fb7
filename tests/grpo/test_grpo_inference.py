"""test_inference and short in-process GRPO runs (no Ray): metrics, trackers, LoRA, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from grpo_helpers import reward_files, write_jsonl
from ray import tune

import radas.grpo as rg
from radas.errors import RadasValueError
from radas.grpo._trainable import run_grpo

# TRL's metric set under radas's names (kl only with kl_beta > 0), and radas's own.
METRICS = {"reward_mean", "reward_std", "frac_reward_zero_std", "percent_correct", "loss", "grad_norm", "entropy",
           "clip_ratio_low", "clip_ratio_low_min", "clip_ratio_high", "clip_ratio_high_max", "clip_ratio_region",
           "completion_length", "completion_length_min", "completion_length_max", "completion_clipped_ratio",
           "terminated_length", "learning_rate", "step_time", "num_tokens", "epoch", "step", "tokens_per_s"}


def test_test_inference_returns_scored_completions(toy_config: dict[str, Any]) -> None:
    df = rg.test_inference(toy_config, n=5)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["prompt", "completion", "reward", "letter"]
    assert len(df) == 5
    assert df["prompt"][0] == [{"role": "user", "content": "Write the letter a many times."}]
    assert all(isinstance(c, str) for c in df["completion"])
    assert df["reward"].between(0, 1).all()


def test_test_inference_plain_prompts_and_clashing_field(tmp_path: Path, toy_config: dict[str, Any]) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Say a", "letter": "a", "reward": 3}] * 3)
    df = rg.test_inference({**toy_config, "prompt_file": str(prompts)}, n=8)
    assert len(df) == 3 and list(df.columns) == ["prompt", "completion", "reward", "letter", "reward_field"]
    assert df["prompt"][0] == "Say a"


def test_test_inference_needs_concrete_values(toy_config: dict[str, Any]) -> None:
    with pytest.raises(RadasValueError, match=r"\['seed'\] are still Tune search spaces"):
        rg.test_inference({**toy_config, "seed": tune.grid_search([0, 1])})


@pytest.mark.train
def test_run_reports_metrics_checkpoints_and_logs_to_real_trackers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toy_config: dict[str, Any]
) -> None:
    for key, value in {"WANDB_SILENT": "true", "WANDB_ERROR_REPORTING": "false", "WANDB_DISABLE_GIT": "true"}.items():
        monkeypatch.setenv(key, value)
    reports: list[tuple[dict, Any]] = []

    def reporter(metrics: dict, checkpoint_dir: Any = None) -> None:
        if checkpoint_dir:
            assert (Path(checkpoint_dir) / "radas_grpo_state.json").is_file()
            assert (Path(checkpoint_dir) / "trainer_state.json").is_file()
        reports.append((metrics, checkpoint_dir))

    config = {**toy_config, "max_steps": 3, "checkpoint_every": 2, "logging_steps": 2, "kl_beta": 0.01,
              "wandb": {"init_kwargs": {"mode": "offline", "dir": str(tmp_path / "wb")}},
              "swanlab": {"init_kwargs": {"mode": "offline", "log_dir": str(tmp_path / "sl")}}}
    run_grpo(config, reporter)
    assert [m["step"] for m, _ in reports] == [2, 3]  # step 3: the last step is always logged
    assert all(ck for _, ck in reports)  # checkpoint every 2 steps and at the end
    metrics = reports[0][0]
    assert METRICS | {"kl", "reward/toy_reward", "reward_std/toy_reward"} <= set(metrics)
    assert not [k for k in metrics if k.startswith("trl/")]  # every TRL log entry has a radas name here
    assert 0 <= metrics["frac_reward_zero_std"] <= 1 and metrics["completion_clipped_ratio"] <= 1
    # one offline run each, holding the metrics under their radas names
    (wandb_file,) = (tmp_path / "wb" / "wandb").glob("offline-run-*/run-*.wandb")
    (swanlab_file,) = (tmp_path / "sl").glob("run-*/run-*.swanlab")
    for path in (wandb_file, swanlab_file):
        data = path.read_bytes()
        assert b"reward_mean" in data and b"frac_reward_zero_std" in data and b"clip_ratio_region" in data


@pytest.mark.train
def test_several_reward_functions_weights_and_info_metrics(tmp_path: Path, toy_config: dict[str, Any]) -> None:
    multi, batch = reward_files(tmp_path)
    reports: list[dict] = []
    config = {**toy_config, "reward_file": [str(multi), f"{batch}:distinct"], "reward_weights": [1.0, 0.5, 2.0],
              "correct_threshold": 0.5}
    run_grpo(config, lambda m, c=None: reports.append(m))
    for m in reports:
        means = [m["reward/letter_share"], m["reward/short"], m["reward/distinct"]]
        assert m["reward_mean"] == pytest.approx(means[0] + 0.5 * means[1] + 2.0 * means[2])
        assert 0 <= m["reward_info/has_letter"] <= 1 and m["reward_info/length"] >= 0
        assert "reward_info/note" not in m  # only numbers are reported
    df = rg.test_inference(config, n=3)
    assert {"reward/letter_share", "reward/short", "reward/distinct", "reward_info/length"} <= set(df.columns)
    assert df["reward"].tolist() == pytest.approx(
        (df["reward/letter_share"] + 0.5 * df["reward/short"] + 2.0 * df["reward/distinct"]).tolist())


@pytest.mark.train
def test_lora_run(toy_config: dict[str, Any]) -> None:
    reports: list[dict] = []
    trainer = run_grpo({**toy_config, "lora_rank": 4}, lambda m, c=None: reports.append(m), keep_trainer=True)
    assert [m["step"] for m in reports] == [1, 2]
    assert type(trainer.model).__name__.startswith("Peft")


def test_too_few_prompts_for_the_rollout_batch(toy_config: dict[str, Any]) -> None:
    with pytest.raises(RadasValueError, match="rollout_batch_size = 32 but prompt_file"):
        run_grpo({**toy_config, "rollout_batch_size": 32}, lambda m, c=None: None)


def test_prompt_too_long_for_max_seq_length(toy_config: dict[str, Any]) -> None:
    with pytest.raises(RadasValueError, match="line 1: the prompt is .* tokens long"):
        run_grpo({**toy_config, "max_seq_length": 10}, lambda m, c=None: None)
