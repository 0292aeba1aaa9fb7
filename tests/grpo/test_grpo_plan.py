"""gpu_per_trial="auto" for GRPO: trials per GPU from the model's config (no weights), the worst grid point, CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest
from grpo_helpers import QWEN25_7B, TOY_PROMPTS, TOY_REWARD, config_folder
from ray import tune

from radas.errors import RadasValueError
from radas.grpo import estimate_trial_memory, grpo_trainable
from radas.grpo._plan import GIB, model_shape
from radas.grpo._tiny import build_tiny_model, build_tiny_tokenizer

BASE = {"prompt_file": str(TOY_PROMPTS), "reward_file": str(TOY_REWARD), "rollout_batch_size": 16,
        "n_samples_per_prompt": 8, "rollout_max_response_len": 128}
plan = grpo_trainable.plan_gpu_per_trial


@pytest.fixture(scope="module")
def folder_76m(tmp_path_factory: pytest.TempPathFactory) -> str:
    return config_folder(tmp_path_factory.mktemp("models") / "qwen2-76m", hidden_size=768, intermediate_size=2048,
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
    assert estimate.weights == 16 * shape.parameters and estimate.reference == 0  # full fine-tuning, kl_beta 0
    # 128 sequences of at most (longest prompt's bytes + 32 + 128) tokens; float32 keys and values (the
    # weights are float32), plus the last token's logits
    assert estimate.sequences == 128 and estimate.sequence_length < 300
    assert estimate.generation == 128 * estimate.sequence_length * 12 * 512 * 4 + 128 * 260 * 4
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
    big = config_folder(tmp_path / "qwen2-7b", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
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


@pytest.mark.parametrize(("name", "arch", "realistic_peak_gib"), [
    # Qwen2.5-0.5B's and -1.5B's shapes with their real 151,936-token vocabulary (random weights from a
    # config: no download). The realistic peaks with the defaults (256 sequences x 1,024 tokens, full
    # fine-tuning): float32 weights + gradients + AdamW, float32 KV cache under bf16 autocast, TRL's
    # fused LM head, generation and training never at once (the old plan said 29.6 and 56 GiB)
    ("qwen2.5-0.5b", dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                          num_key_value_heads=2), 14.0),
    ("qwen2.5-1.5b", dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                          num_key_value_heads=2), 38.0),
])
def test_the_plan_of_real_shaped_models_is_within_a_quarter_of_their_peak(tmp_path: Path, name: str, arch: dict,
                                                                          realistic_peak_gib: float) -> None:
    folder = config_folder(tmp_path / name, vocab_size=151936, tie_word_embeddings=True, **arch)
    estimate = estimate_trial_memory({"model": str(folder), "prompt_file": str(TOY_PROMPTS),
                                      "reward_file": str(TOY_REWARD), "generation": "transformers"})
    assert estimate.shape.vocab == 151936
    assert 0.75 * realistic_peak_gib <= estimate.peak / GIB <= 1.25 * realistic_peak_gib
    assert estimate.generation > estimate.training  # the rollout's cache is the larger phase here
    fraction, _ = plan({"model": str(folder), "prompt_file": str(TOY_PROMPTS), "reward_file": str(TOY_REWARD),
                           "generation": "transformers"}, gpu_memory_gib=80, cpus_per_gpu=None, cpu_per_trial=1)
    assert round(1 / fraction) == int(80 * GIB // (1.2 * estimate.peak))


def test_auto_is_planned_as_the_engine_the_trials_will_pick(folder_76m: str, monkeypatch) -> None:
    from radas.grpo import _plan

    monkeypatch.setattr(_plan, "vllm_installed", lambda: True)
    assert estimate_trial_memory({**BASE, "model": folder_76m, "generation": "auto"}).engine == "vllm"
    monkeypatch.setattr(_plan, "vllm_installed", lambda: False)
    assert estimate_trial_memory({**BASE, "model": folder_76m, "generation": "auto"}).engine == "transformers"


@pytest.fixture(scope="module")
def folder_7b(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Qwen2.5-7B's config with its real 152,064-token vocabulary (no weights)."""
    return config_folder(tmp_path_factory.mktemp("models") / "qwen2.5-7b", **QWEN25_7B)


def test_sharding_divides_what_fsdp_and_zero_divide(folder_7b: str, tmp_path: Path) -> None:
    from radas.grpo._plan import sharding

    cfg = {**BASE, "model": folder_7b, "kl_beta": 0.04, "generation": "transformers"}
    one = estimate_trial_memory(cfg)
    p = one.shape.parameters
    assert 7.0e9 < p < 7.8e9 and one.weights == 16 * p and one.reference == 4 * p
    four = estimate_trial_memory({**cfg, "num_workers": 4})  # plain data parallel: every rank keeps it all
    assert four.weights == 16 * p and four.sequences == one.sequences // 4 and four.generation < one.generation
    full = estimate_trial_memory({**cfg, "num_workers": 4, "grpo_config_overrides": {"fsdp": "full_shard auto_wrap"}})
    assert full.sharding == "full" and full.weights == 16 * p // 4 and full.reference == 4 * p // 4
    # generate() runs on weights gathered whole: the rest of them come back while generating
    assert full.generation == four.generation + 4 * p - 4 * p // 4
    assert full.total < one.total / 2
    zero2 = tmp_path / "zero2.json"
    zero2.write_text('{"zero_optimization": {"stage": 2}}')
    grads = estimate_trial_memory({**cfg, "num_workers": 4, "grpo_config_overrides": {"deepspeed": str(zero2)}})
    assert grads.sharding == "gradients" and grads.weights == 4 * p + 12 * p // 4
    assert sharding({"deepspeed": {"zero_optimization": {"stage": 1}}}) == "optimizer"
    assert sharding({"fsdp": ["shard_grad_op"]}) == "gradients" and sharding({}) is None
    # transformers' own form: fsdp=True, the strategy in fsdp_config (resharding after forward by default)
    assert sharding({"fsdp": True}) == "full" and sharding({"fsdp": False}) is None
    assert sharding({"fsdp": True, "fsdp_config": {"reshard_after_forward": False}}) == "gradients"
    fsdp_file = tmp_path / "fsdp.json"
    fsdp_file.write_text('{"reshard_after_forward": false}')
    assert sharding({"fsdp": True, "fsdp_config": str(fsdp_file)}) == "gradients"
    assert sharding({"fsdp": "hybrid_shard"}) is None  # within a node only: not divided by the workers
    assert estimate_trial_memory({**cfg, "num_workers": 4, "grpo_config_overrides": {"fsdp": True}}).total == (
        full.total)
    assert "per worker of 4 (weights, gradients and optimizer sharded)" in full.describe()


def test_a_trial_too_big_for_one_gpu_is_told_the_smallest_number_of_workers(folder_7b: str) -> None:
    space = {**BASE, "model": folder_7b, "generation": "transformers"}
    with pytest.raises(RadasValueError) as info:
        plan(space, gpu_memory_gib=80, cpus_per_gpu=16, cpu_per_trial=1)
    msg = str(info.value)
    k = int(msg.split("num_workers=")[1].split(" ")[0])
    assert "grpo_config_overrides={'fsdp': 'full_shard'}" in msg and 2 <= k <= 8
    shard = {"fsdp": "full_shard"}
    assert estimate_trial_memory({**space, "num_workers": k, "grpo_config_overrides": shard}).total <= 80 * GIB
    # on other GPUs the advice is the smallest k that fits and splits the rollout evenly, as the config check asks
    from radas.grpo import validate_grpo_config

    for gib in (40, 48, 64, 80, 94, 141):
        with pytest.raises(RadasValueError) as info:
            plan(space, gpu_memory_gib=gib, cpus_per_gpu=16, cpu_per_trial=1)
        fitting = [j for j in range(2, 65) if 128 % (8 * j) == 0 and estimate_trial_memory(
            {**space, "num_workers": j, "grpo_config_overrides": shard}).total <= gib * GIB]
        told = str(info.value).split("num_workers=")[1].split(" ")[0] if "num_workers=" in str(info.value) else None
        assert told == (str(fitting[0]) if fitting else None), (gib, told, fitting)
        if fitting:
            validate_grpo_config({**space, "num_workers": fitting[0], "grpo_config_overrides": shard})
    # workers without sharding are told to shard at the same count when that fits
    with pytest.raises(RadasValueError, match=r"num_workers=4 GPUs \(gpu_per_trial=1, grpo_config_overrides"):
        plan({**space, "num_workers": 4}, gpu_memory_gib=80, cpus_per_gpu=16, cpu_per_trial=1)
    # as told: each worker gets a GPU of its own
    fraction, text = plan({**space, "num_workers": k, "grpo_config_overrides": shard}, gpu_memory_gib=80,
                          cpus_per_gpu=16, cpu_per_trial=1)
    assert fraction == 1.0 and text.startswith(f"1 GPU per worker (a trial of one worker: 1 GPU), {k} workers")
    # workers that do not fit either are told how many would
    with pytest.raises(RadasValueError, match=r"one worker needs about .* num_workers="):
        plan({**space, "num_workers": 2, "grpo_config_overrides": shard}, gpu_memory_gib=80, cpus_per_gpu=16,
             cpu_per_trial=1)


def test_auto_is_planned_as_the_engine_of_the_trials_environment(folder_76m: str) -> None:
    from radas.sweep import TrialEnvironment

    space = {**BASE, "model": folder_76m, "generation": "auto"}
    vllm = estimate_trial_memory({**space, "generation": "vllm"})
    hf = estimate_trial_memory({**space, "generation": "transformers"})
    larger = max(vllm, hf, key=lambda e: e.total)

    def planned(here: bool, runtime_env: dict) -> tuple[int, str]:
        fraction, text = plan(space, gpu_memory_gib=80, cpus_per_gpu=None, cpu_per_trial=1,
                              trial_environment=TrialEnvironment(here, runtime_env))
        return round(1 / fraction), text

    # a cluster's trials with vLLM in their runtime_env, however it is spelled
    for env in ({"pip": ["vllm==0.11.0"]}, {"pip": {"packages": ["vLLM>=0.10"]}}, {"uv": ["vllm[audio]"]},
                {"conda": {"dependencies": ["python=3.11", {"pip": ["vllm"]}]}}):
        n, text = planned(False, env)
        assert n == int(80 * GIB // vllm.total) and "generating (vllm)" in text and "unknown" not in text
    # a cluster's trials without: unknown from here, the larger of the two counts and the plan says so
    n, text = planned(False, {"pip": ["numpy"]})
    assert n == int(80 * GIB // larger.total) and "is unknown here" in text
    # trials here, in this environment as it is: whether vLLM imports here (it does not on this machine)
    import importlib.util

    here = vllm if importlib.util.find_spec("vllm") else hf
    n, text = planned(True, {})
    assert n == int(80 * GIB // here.total) and "unknown" not in text
    # trials here, but in an environment their runtime_env builds: unknown again
    assert planned(True, {"pip": ["numpy"]})[0] == int(80 * GIB // larger.total)
    assert TrialEnvironment(True, {"py_executable": "/opt/other/python"}).has("vllm") is None


def test_worker_counts_in_a_search_space_plan_each_worker_a_gpu_and_the_fewest_workers(folder_7b: str) -> None:
    space = {**BASE, "model": folder_7b, "generation": "transformers", "grpo_config_overrides": {"fsdp": True}}
    # a grid mixing one and two workers: every trial gets whole GPUs (a worker cannot share one)
    fraction, text = plan({**space, "lora_rank": 8, "num_workers": tune.grid_search([1, 2])}, gpu_memory_gib=80,
                          cpus_per_gpu=16, cpu_per_trial=1)
    assert fraction == 1.0 and "up to 2 workers per trial" in text
    grpo_trainable.check_workers({**space, "num_workers": tune.grid_search([1, 2])}, 1, fraction)
    # a range of worker counts counts its fewest: 1 to 4 workers of a 7B full fine-tuning do not fit 80 GiB
    with pytest.raises(RadasValueError, match="one trial needs about"):
        plan({**space, "num_workers": tune.randint(1, 5)}, gpu_memory_gib=80, cpus_per_gpu=16, cpu_per_trial=1)


def test_quantized_ranges_reach_their_upper_end_and_big_grids_keep_their_worst_point(folder_76m: str,
                                                                                   folder_7b: str) -> None:
    from radas.grpo._plan import candidates

    assert candidates(tune.qrandint(8, 32, 8)) == [8, 32] and candidates(tune.randint(8, 33)) == [8, 32]
    # a range's worst is a grid's of the same values: 16 trials per GPU, not 17
    grid = plan({**BASE, "model": folder_76m, "rollout_batch_size": tune.grid_search([8, 16, 24, 32])},
                gpu_memory_gib=80, cpus_per_gpu=None, cpu_per_trial=1)
    ranged = plan({**BASE, "model": folder_76m, "rollout_batch_size": tune.qrandint(8, 32, 8)}, gpu_memory_gib=80,
                  cpus_per_gpu=None, cpu_per_trial=1)
    assert ranged[0] == grid[0]
    # thousands of grid points: the worst (the 7B model, the largest batch) is still found
    many = {**BASE, "model": tune.grid_search([folder_76m, folder_7b]), "lora_rank": tune.grid_search([0, 16]),
            "rollout_batch_size": tune.grid_search(list(range(1, 18))),
            "n_samples_per_prompt": tune.grid_search(list(range(2, 18))),
            "max_seq_length": tune.grid_search([256 * i for i in range(1, 17)]), "generation": "transformers"}
    with pytest.raises(RadasValueError, match="one trial needs about"):
        plan(many, gpu_memory_gib=80, cpus_per_gpu=16, cpu_per_trial=1)


def test_worker_counts_of_a_choice_or_a_range_are_checked_before_anything_starts() -> None:
    for workers in (tune.choice([1, 2]), tune.randint(1, 3), tune.grid_search([1, 2])):
        with pytest.raises(RadasValueError, match="needs whole GPUs"):
            grpo_trainable.check_workers({**BASE, "model": "tiny", "num_workers": workers}, 1, 0.5)
    grpo_trainable.check_workers({**BASE, "model": "tiny", "num_workers": tune.choice([1, 2])}, 1, 1)
