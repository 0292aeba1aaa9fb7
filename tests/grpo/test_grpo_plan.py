"""gpu_per_trial="auto" for GRPO: trials per GPU from the model's config (no weights), the worst grid point, CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest
import transformers
from grpo_helpers import TOY_PROMPTS, TOY_REWARD
from ray import tune

from radas.errors import RadasValueError
from radas.grpo import estimate_trial_memory, grpo_trainable
from radas.grpo._plan import GIB, model_shape
from radas.grpo._tiny import build_tiny_model, build_tiny_tokenizer

BASE = {"prompt_file": str(TOY_PROMPTS), "reward_file": str(TOY_REWARD), "rollout_batch_size": 16,
        "n_samples_per_prompt": 8, "rollout_max_response_len": 128}
plan = grpo_trainable.plan_gpu_per_trial


def config_folder(tmp_path: Path, name: str, **arch: int) -> str:
    """A local Qwen2-style model folder holding only its config.json (no weights at all)."""
    folder = tmp_path / name
    transformers.Qwen2Config(vocab_size=260, tie_word_embeddings=False, **arch).save_pretrained(folder)
    assert [p.name for p in folder.iterdir()] == ["config.json"]
    return str(folder)


@pytest.fixture(scope="module")
def folder_76m(tmp_path_factory: pytest.TempPathFactory) -> str:
    return config_folder(tmp_path_factory.mktemp("models"), "qwen2-76m", hidden_size=768, intermediate_size=2048,
                         num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4)


def test_tiny_preset_counts_its_real_parameters_and_packs_by_cpus() -> None:
    real = sum(p.numel() for p in build_tiny_model(build_tiny_tokenizer()).parameters())
    assert model_shape("tiny").parameters == real
    fraction, text = plan({**BASE, "model": "tiny"}, gpu_memory_gib=80, cpus_per_gpu=16, cpu_per_trial=1)
    assert fraction == 0.0625
    assert text.startswith("16 trials per GPU (gpu_per_trial=0.0625, limited by the CPUs: "
                           "16 per GPU at cpu_per_trial=1")
    fraction, text = plan({**BASE, "model": "tiny"}, gpu_memory_gib=80, cpus_per_gpu=16, cpu_per_trial=4)
    assert fraction == 0.25 and text.startswith("4 trials per GPU")


def test_local_config_folder_without_weights(folder_76m: str) -> None:
    shape = model_shape(folder_76m)
    assert 75e6 < shape.parameters < 77e6 and shape.layers == 12 and shape.kv_per_token == 2 * 4 * 64
    estimate = estimate_trial_memory({**BASE, "model": folder_76m}, shape)
    assert estimate.weights == 18 * shape.parameters and estimate.reference == 0  # full fine-tuning, kl_beta 0
    # 128 sequences of at most (longest prompt's bytes + 32 + 128) tokens, bf16 keys and values
    assert estimate.sequences == 128 and estimate.sequence_length < 300
    assert estimate.kv_cache == 128 * estimate.sequence_length * 12 * 512 * 2
    fraction, text = plan({**BASE, "model": folder_76m}, gpu_memory_gib=79.2, cpus_per_gpu=None, cpu_per_trial=1)
    n = round(1 / fraction)
    assert n == int(79.2 * GIB // estimate.total) and 15 <= n <= 30  # by memory alone
    assert text.startswith(f"{n} trials per GPU") and "limited by memory" in text and "model 76M params" in text
    assert f"~{estimate.total / GIB:.1f} GiB each" in text


def test_worst_grid_point_counts(folder_76m: str) -> None:
    space = {**BASE, "model": folder_76m, "kl_beta": tune.grid_search([0.0, 0.04]),
             "lora_rank": tune.grid_search([0, 16]), "rollout_batch_size": tune.choice([8, 16]),
             "learning_rate": tune.loguniform(1e-6, 1e-4)}
    worst = estimate_trial_memory({**BASE, "model": folder_76m, "kl_beta": 0.04, "lora_rank": 0,
                                   "rollout_batch_size": 16})
    assert worst.reference == 4 * worst.shape.parameters
    fraction, text = plan(space, gpu_memory_gib=80, cpus_per_gpu=None, cpu_per_trial=1)
    assert round(1 / fraction) == int(80 * GIB // worst.total)
    assert "reference model" in text and "full fine-tuning" in text
    lora = estimate_trial_memory({**BASE, "model": folder_76m, "kl_beta": 0.04, "lora_rank": 16})
    assert lora.reference == 0 and lora.total < worst.total


def test_unknown_gpu_memory_names_the_fix() -> None:
    with pytest.raises(RadasValueError) as info:
        plan({**BASE, "model": "tiny"}, gpu_memory_gib=None, cpus_per_gpu=8, cpu_per_trial=1)
    assert "gpu_per_trial='auto'" in str(info.value) and "gram_per_gpu_gb" in str(info.value)


def test_a_model_too_big_for_one_gpu(tmp_path: Path) -> None:
    big = config_folder(tmp_path, "qwen2-7b", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                        num_attention_heads=32, num_key_value_heads=32)
    with pytest.raises(RadasValueError) as info:
        plan({**BASE, "model": big}, gpu_memory_gib=80, cpus_per_gpu=16, cpu_per_trial=1)
    msg = str(info.value)
    assert "one trial needs about" in msg and "more than one GPU's 80 GiB" in msg and "lora_rank" in msg
    fraction, text = plan({**BASE, "model": big, "lora_rank": 16}, gpu_memory_gib=80, cpus_per_gpu=16,
                          cpu_per_trial=1)
    assert fraction >= 0.25 and "LoRA rank 16" in text


def test_unreadable_model_config_is_an_error_naming_the_model(tmp_path: Path) -> None:
    with pytest.raises(RadasValueError, match="cannot read the config of model"):
        plan({**BASE, "model": str(tmp_path / "no-such-model")}, gpu_memory_gib=80, cpus_per_gpu=16, cpu_per_trial=1)
