"""test_inference and short in-process GRPO runs (no Ray): metrics, trackers, LoRA, errors."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ray import tune

import radas.grpo as rg
from radas.errors import RadasValueError
from radas.grpo._trainable import run_grpo

from grpo_helpers import write_jsonl

METRICS = {"reward_mean", "reward_std", "percent_correct", "loss", "completion_length", "learning_rate", "step",
           "tokens_per_s"}


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


def _fake_tracker(monkeypatch: pytest.MonkeyPatch, name: str, prefix: str, calls: list) -> None:
    module = types.ModuleType(name)
    setattr(module, f"{prefix}_init", lambda config: calls.append(("init", prefix)))
    setattr(module, f"{prefix}_log", lambda metrics, step=None: calls.append(("log", prefix, step)))
    setattr(module, f"{prefix}_finish", lambda: calls.append(("finish", prefix)))
    monkeypatch.setitem(sys.modules, name, module)


def test_run_reports_metrics_checkpoints_and_logs_to_trackers(
    monkeypatch: pytest.MonkeyPatch, toy_config: dict[str, Any]
) -> None:
    calls: list = []
    _fake_tracker(monkeypatch, "radas.rwandb", "rwandb", calls)
    _fake_tracker(monkeypatch, "radas.rswanlab", "rswanlab", calls)
    reports: list[tuple[dict, Any]] = []

    def reporter(metrics: dict, checkpoint_dir: Any = None) -> None:
        if checkpoint_dir:
            assert (Path(checkpoint_dir) / "radas_grpo_state.json").is_file()
            assert (Path(checkpoint_dir) / "trainer_state.json").is_file()
        reports.append((metrics, checkpoint_dir))

    config = {**toy_config, "max_steps": 3, "checkpoint_every": 2, "logging_steps": 2, "kl_beta": 0.01,
              "wandb": {"enable": True}, "swanlab": {"enable": True}}
    run_grpo(config, reporter)
    assert [m["step"] for m, _ in reports] == [2, 3]  # step 3: the last step is always logged
    assert all(ck for _, ck in reports)  # checkpoint every 2 steps and at the end
    assert METRICS | {"kl"} <= set(reports[0][0])
    assert any(k.startswith("trl/") for k in reports[0][0])
    assert calls[:2] == [("init", "rwandb"), ("init", "rswanlab")]
    assert ("log", "rwandb", 2) in calls and ("log", "rswanlab", 3) in calls
    assert calls[-2:] == [("finish", "rwandb"), ("finish", "rswanlab")]


def test_lora_run(toy_config: dict[str, Any]) -> None:
    reports: list[dict] = []
    trainer = run_grpo({**toy_config, "lora_rank": 4}, lambda m, c=None: reports.append(m))
    assert [m["step"] for m in reports] == [1, 2]
    assert type(trainer.model).__name__.startswith("Peft")


def test_too_few_prompts_for_the_rollout_batch(toy_config: dict[str, Any]) -> None:
    with pytest.raises(RadasValueError, match="rollout_batch_size = 32 but prompt_file"):
        run_grpo({**toy_config, "rollout_batch_size": 32}, lambda m, c=None: None)


def test_prompt_too_long_for_max_seq_length(toy_config: dict[str, Any]) -> None:
    with pytest.raises(RadasValueError, match="line 1: the prompt is .* tokens long"):
        run_grpo({**toy_config, "max_seq_length": 10}, lambda m, c=None: None)
