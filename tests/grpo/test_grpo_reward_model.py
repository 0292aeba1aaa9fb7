"""The ``reward_model`` key: local sequence-classification models scoring completions as TRL's
model rewards do, beside the reward file's functions; checked on the driver without reading weights."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from grpo_helpers import TOY_PROMPTS, TOY_REWARD, reward_model_folder
from two_users import BOB, as_user, needs_root, shared_results

from radas.errors import RadasValueError
from radas.grpo import estimate_trial_memory, grpo_trainable, test_inference
from radas.grpo._reward_model import load_reward_model, score
from radas.grpo._trainable import run_grpo


@pytest.fixture(scope="module")
def judge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reward_model_folder(tmp_path_factory.mktemp("rm") / "judge")


def _trl_scores(folder: Path, prompts: list[Any], completions: list[Any], tmp_path: Path) -> list[float]:
    """What TRL's own GRPOTrainer gives a model in its reward_funcs for this batch."""
    import trl
    from datasets import Dataset

    from radas.grpo._tiny import build_tiny_model, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    trainer = trl.GRPOTrainer(
        model=build_tiny_model(tokenizer), reward_funcs=[str(folder)], processing_class=tokenizer,
        train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
        args=trl.GRPOConfig(output_dir=str(tmp_path / "trl"), use_cpu=True, bf16=False, report_to="none",
                            num_generations=2,
                            per_device_train_batch_size=2, max_completion_length=4),
    )
    rewards = trainer._calculate_rewards([{"prompt": p} for p in prompts], prompts, completions,
                                         [[0]] * len(prompts))
    return [float(v) for v in rewards[:, 0]]


@pytest.mark.train
def test_scores_are_trls_for_plain_and_chat_prompts(judge: Path, tmp_path: Path) -> None:
    reward = load_reward_model(str(judge))
    plain = (["Say a.", "Say bb."], [" a", " bb bb bb"])
    chat = ([[{"role": "user", "content": "Say a."}], [{"role": "user", "content": "Say bb."}]],
            [[{"role": "assistant", "content": "a"}], [{"role": "assistant", "content": "bb bb bb"}]])
    for prompts, completions in (plain, chat):
        ours = score(reward, prompts, completions, "cpu")
        assert ours == pytest.approx(_trl_scores(judge, prompts, completions, tmp_path), abs=1e-5)
        assert len(set(ours)) == 2  # the batch is right-padded: each reward read at its own last token
    # a checkpoint saved in bf16 is scored in bf16, as TRL loads it
    import torch

    half = tmp_path / "judge-bf16"
    reward.model.to(torch.bfloat16).save_pretrained(half)
    reward.tokenizer.save_pretrained(half)
    bf16 = load_reward_model(str(half))
    assert bf16.model.dtype == torch.bfloat16
    assert score(bf16, *plain, "cpu") == pytest.approx(_trl_scores(half, *plain, tmp_path), abs=1e-6)
    # broken weights: an error naming the folder, not a silent NaN reward
    with torch.no_grad():
        bf16.model.score.weight.fill_(float("nan"))
    with pytest.raises(RadasValueError, match="judge-bf16.*gave a non-finite reward"):
        score(bf16, *plain, "cpu")


@pytest.mark.train
def test_a_trial_scores_with_its_reward_model_beside_the_reward_file(judge: Path, toy_config: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    cfg = {**toy_config, "reward_model": str(judge), "reward_weights": [0.0, 1.0]}
    run_grpo(cfg, lambda metrics, checkpoint=None: reports.append(metrics))
    assert len(reports) == 2
    for r in reports:
        assert math.isfinite(r["reward/judge"]) and r["reward_mean"] == pytest.approx(r["reward/judge"], abs=1e-5)
    frame = test_inference(cfg, n=2)
    assert list(frame.columns[:3]) == ["prompt", "completion", "reward"]
    assert frame["reward"].tolist() == pytest.approx(frame["reward/judge"].tolist())
    # a reward model alone, as TRL allows: no reward file, no reward worker
    alone: list[dict[str, Any]] = []
    run_grpo({**toy_config, "reward_file": None, "reward_model": str(judge)},
             lambda metrics, checkpoint=None: alone.append(metrics))
    assert len(alone) == 2 and all(r["reward_mean"] == pytest.approx(r["reward/judge"], abs=1e-5) for r in alone)
    only = {k: v for k, v in toy_config.items() if k != "reward_file"}
    assert test_inference({**only, "reward_model": str(judge)}, n=2)["reward"].notna().all()


def test_the_driver_checks_the_folder_without_reading_weights(judge: Path, tmp_path: Path) -> None:
    check = grpo_trainable.check_param_space
    base = {"model": "tiny", "prompt_file": str(TOY_PROMPTS), "reward_file": str(TOY_REWARD)}
    check({**base, "reward_model": str(judge)})
    cases: list[tuple[Any, str]] = [
        (str(tmp_path / "missing"), "is not a folder"),
        ([], "is an empty list"),
    ]
    empty = tmp_path / "no-weights"
    empty.mkdir()
    (empty / "config.json").write_text((judge / "config.json").read_text())
    cases.append((str(empty), "holds no weights"))
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    for f in judge.iterdir():
        if f.suffix == ".safetensors" or f.name == "config.json":
            (no_tokenizer / f.name).write_bytes(f.read_bytes())
    cases.append((str(no_tokenizer), "holds no tokenizer"))
    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "config.json").write_text(json.dumps({"model_type": "clip"}))
    cases.append((str(clip), "has no sequence-classification head"))
    for value, words in cases:
        with pytest.raises(RadasValueError, match=words) as info:
            check({**base, "reward_model": value})
        assert "reward_model" in str(info.value)
    # one weight per reward: the file's function, then the model
    with pytest.raises(RadasValueError, match=r"reward_model 1 model\(s\) \(judge\); give one weight each"):
        check({**base, "reward_model": str(judge), "reward_weights": [1.0]})
    # every value of a choice or a grid search is checked, each as the key checks a value
    from ray import tune

    with pytest.raises(RadasValueError, match="is not a folder"):
        check({**base, "reward_model": tune.choice([str(tmp_path / "missing"), str(judge)])})
    with pytest.raises(RadasValueError, match="give one weight each"):
        check({**base, "reward_model": tune.choice([str(judge)]), "reward_weights": [1.0, 2.0, 3.0]})
    with pytest.raises(RadasValueError, match="is an empty list"):
        check({**base, "reward_model": tune.grid_search([[], str(judge)])})
    check({**base, "reward_model": tune.grid_search([None, [str(judge)]])})
    # a tokenizer that cannot pad, or has no chat template for conversations
    import transformers

    for name, change, words in (("no-pad", {"pad_token": None, "eos_token": None}, "neither a padding nor an end"),
                                ("no-template", {"chat_template": None}, "has none")):
        folder = reward_model_folder(tmp_path / name)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        for attr, value in change.items():
            setattr(tokenizer, attr, value)
        tokenizer.save_pretrained(folder)
        if name == "no-template":
            (folder / "chat_template.jinja").unlink(missing_ok=True)
        with pytest.raises(RadasValueError, match=words):
            check({**base, "reward_model": str(folder)})  # the toy prompts are conversations
    # a reward is required: a file, a model, or both, for every trial
    no_file = {k: v for k, v in base.items() if k != "reward_file"}
    check({**no_file, "reward_model": str(judge)})
    with pytest.raises(RadasValueError, match="config has no reward"):
        check(no_file)
    with pytest.raises(RadasValueError, match="config has no reward"):
        check({**no_file, "reward_model": tune.grid_search([None, str(judge)])})
    # a model named like a function would share its metric
    clash = reward_model_folder(tmp_path / "toy_reward")
    with pytest.raises(RadasValueError, match="two rewards are named 'toy_reward'"):
        check({**base, "reward_model": str(clash)})


def test_the_plan_counts_each_reward_model_on_every_worker(judge: Path) -> None:
    base = {"model": "tiny", "prompt_file": str(TOY_PROMPTS), "reward_file": str(TOY_REWARD)}
    without = estimate_trial_memory(base)
    one = estimate_trial_memory({**base, "reward_model": str(judge)})
    params = sum(p.numel() for p in load_reward_model(str(judge)).model.parameters())
    assert one.rewards == 4 * params and one.scoring > 0  # saved in float32: loaded so, as TRL loads it
    assert one.peak == without.peak + one.rewards + max(0, one.scoring - max(without.generation, without.training))
    two = estimate_trial_memory({**base, "reward_model": [str(judge), str(judge)], "num_workers": 2})
    assert two.rewards == 8 * params  # whole on each worker, not sharded
    assert estimate_trial_memory({**base, "reward_model": Path(judge)}).rewards == 4 * params  # a Path works too
    assert "reward models" in one.describe()



@needs_root
def test_a_folder_another_user_cannot_fully_read_is_refused_before_the_sweep(judge: Path) -> None:
    """A lab's shared reward model whose weights file only its owner can read: the user running
    the sweep (here a real second user of the machine) is told before anything starts."""
    import os
    import shutil

    from radas.grpo._reward_model import check_reward_model

    with shared_results(0o755) as shared:
        folder = shared / "judge"
        shutil.copytree(judge, folder)
        check_reward_model(str(folder))  # readable by all: passes (and imports what the check needs)
        weights = next(folder.glob("*.safetensors"))
        os.chmod(weights, 0o600)  # its owner's only
        out = shared.parent / "out.txt"
        assert as_user(BOB, lambda: check_reward_model(str(folder)), out) == 1
        said = out.read_text()
        assert "RadasValueError" in said and "cannot read its weights" in said and "Permission" in said
