"""The rollout engine (config key ``generation``): the choice, what each engine sets, paged for real on the CPU."""

from __future__ import annotations

import os
from typing import Any

import pytest
from grpo_helpers import QWEN25_05B, TOY_PROMPTS, TOY_REWARD, config_folder

from radas.errors import MissingDependencyError, RadasError, RadasValueError
from radas.grpo import validate_grpo_config
from radas.grpo._config import grpo_config_field_names
from radas.grpo._engine import (
    Engine,
    choose_engine,
    engine_fields,
    paged_problem,
    prepare_process,
    vllm_installed,
)
from radas.grpo._model import Device
from radas.grpo._trainable import grpo_args, run_grpo

FIELDS = grpo_config_field_names() or frozenset()


def test_generation_values_are_checked() -> None:
    base = {"model": "tiny", "prompt_file": "p.jsonl", "reward_file": "r.py"}
    assert validate_grpo_config(base)["generation"] == "auto"
    with pytest.raises(RadasValueError) as info:
        validate_grpo_config({**base, "generation": "sglang"})
    assert "'generation'" in str(info.value) and "'paged'" in str(info.value) and "'vllm'" in str(info.value)
    with pytest.raises(RadasValueError, match="use the top-level key 'generation'"):
        validate_grpo_config({**base, "grpo_config_overrides": {"use_vllm": True}})


def test_auto_without_vllm_uses_transformers_and_cpu_never_gets_vllm() -> None:
    assert choose_engine("auto", "cpu", FIELDS) == Engine("transformers", "auto: no GPU")
    assert choose_engine("transformers", "cuda", FIELDS).name == "transformers"
    assert choose_engine("auto", "cuda", FIELDS).name == ("vllm" if vllm_installed() else "transformers")


def test_vllm_on_this_machine_is_a_clear_error() -> None:
    # Here vLLM is either missing (-> the install line) or present without a GPU (-> the GPU is named).
    with pytest.raises(RadasError) as info:
        choose_engine("vllm", "cpu", FIELDS)
    msg = str(info.value)
    assert "config['generation'] = 'vllm'" in msg
    assert ("pip install vllm" in msg) if not vllm_installed() else ("needs a GPU" in msg)
    if not vllm_installed():
        assert isinstance(info.value, MissingDependencyError)


def test_paged_is_available_here_and_named_when_not() -> None:
    assert paged_problem(FIELDS) is None  # transformers >= 5.8 and TRL 1.16 are installed
    assert choose_engine("paged", "cpu", FIELDS) == Engine("paged", "asked for")
    problem = paged_problem(frozenset())  # a TRL without the continuous-batching field
    assert problem is not None and "use_transformers_continuous_batching" in problem


def test_vllm_colocate_fields_carry_the_planned_share() -> None:
    fields = engine_fields(Engine("vllm", "asked for"), FIELDS, {}, sequences=64, sequence_length=300,
                           prompt_length=40, vllm_share=0.4321)
    assert fields == {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.4321,
                      "vllm_enable_sleep_mode": True, "vllm_max_model_length": 300}


@pytest.fixture(scope="module")
def qwen_05b(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Qwen2.5-0.5B's config with its real 151,936-token vocabulary (no weights: none is read)."""
    return config_folder(tmp_path_factory.mktemp("models") / "qwen2.5-0.5b", **QWEN25_05B)


def test_vllm_is_sized_from_the_plan_not_a_fixed_share(qwen_05b: str) -> None:
    from radas.grpo import estimate_trial_memory
    from radas.grpo._plan import GIB, SAFETY, vllm_memory_share

    cfg = {"model": qwen_05b, "prompt_file": str(TOY_PROMPTS), "reward_file": str(TOY_REWARD), "lora_rank": 16,
           "rollout_batch_size": 16, "n_samples_per_prompt": 8, "rollout_max_response_len": 512}
    plan = estimate_trial_memory({**cfg, "generation": "vllm"})
    kept = plan.weights + plan.reference + plan.context
    gpu = 80 * GIB
    # a single trial on a whole GPU: vLLM gets all the room beside what the trial keeps (TRL's fixed 0.3
    # would leave most of the GPU idle)
    whole, text = vllm_memory_share(cfg, 1.0, gpu)
    assert whole == pytest.approx((gpu - SAFETY * kept) / gpu, abs=1e-4) and whole > 0.9
    assert "vllm_gpu_memory_utilization" in text and "vLLM needs" in text
    # packed eight to a GPU: never more than the trial's share, and at least what its rollout needs
    packed, _ = vllm_memory_share(cfg, 0.125, gpu)
    assert plan.generation / gpu <= packed <= 0.125
    # a share too small for its rollout: vLLM gets its need (it fails with its memory error, retried with more)
    small, text = vllm_memory_share({**cfg, "rollout_batch_size": 64}, 0.05, gpu)
    assert small == pytest.approx(0.05, abs=1e-4) and "retried with more" in text


def _raised_in(module: str, error: BaseException) -> BaseException:
    """``error`` raised by a function of a module named ``module`` (as a vLLM function raises it)."""
    namespace: dict[str, object] = {"__name__": module, "error": error}
    exec(compile("def check():\n    raise error\n", module.replace(".", "/") + ".py", "exec"), namespace)
    try:
        namespace["check"]()  # type: ignore[operator]
    except BaseException as exc:  # noqa: BLE001 - what the function raised
        return exc
    raise AssertionError("not raised")


def test_vllms_memory_errors_are_out_of_memory_for_the_retry() -> None:
    from radas import EngineOutOfMemoryError
    from radas.grpo._engine import vllm_memory_errors
    from radas.sweep._oom import is_out_of_memory

    cache = ValueError("No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
                       "initializing the engine.")
    with pytest.raises(EngineOutOfMemoryError) as info:
        with vllm_memory_errors("vllm_gpu_memory_utilization=0.05", more_can_help=True):
            raise _raised_in("vllm.v1.core.kv_cache_utils", cache)
    assert isinstance(info.value, MemoryError) and is_out_of_memory(info.value)
    assert "cache blocks" in str(info.value) and "vllm_gpu_memory_utilization=0.05" in str(info.value)
    import traceback

    text = "".join(traceback.format_exception(info.value))  # as Tune's error.txt holds it
    assert is_out_of_memory(text)
    # on a whole GPU no retry can give vLLM more: an error saying what to change, not one to retry
    with pytest.raises(RadasValueError) as whole:
        with vllm_memory_errors("vllm_gpu_memory_utilization=0.9", more_can_help=False):
            raise _raised_in("vllm.v1.core.kv_cache_utils", cache)
    assert not is_out_of_memory(whole.value) and "rollout_batch_size" in str(whole.value)
    # the same words from elsewhere, or another vLLM ValueError, stay what they are
    for other in (_raised_in("my_reward", ValueError(str(cache))),
                  _raised_in("vllm.config", ValueError("max_model_len must be positive"))):
        with pytest.raises(ValueError) as plain:
            with vllm_memory_errors("", more_can_help=True):
                raise other
        assert not isinstance(plain.value, MemoryError)


def test_each_vllm_trial_gets_its_own_rendezvous_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    ports = []
    for _ in range(2):
        monkeypatch.delenv("MASTER_PORT", raising=False)
        prepare_process(Engine("vllm", "asked for"))
        ports.append(int(os.environ["MASTER_PORT"]))
        with socket.socket() as s:  # the port is free: binding it works
            s.bind(("127.0.0.1", ports[-1]))
    assert ports[0] != ports[1] and 12345 not in ports and os.environ["MASTER_ADDR"] == "127.0.0.1"
    monkeypatch.delenv("MASTER_PORT")
    prepare_process(Engine("paged", "asked for"))
    assert "MASTER_PORT" not in os.environ


def test_paged_trains_float32_with_tf32_on_a_bf16_gpu() -> None:
    gpu = Device("cuda", bf16=True)
    assert gpu.for_engine("paged") == Device("cuda", bf16=False, tf32=True)
    assert gpu.for_engine("paged", {"bf16": True}) == gpu  # an explicit choice is kept
    assert gpu.for_engine("transformers") == gpu and Device("cpu", False).for_engine("paged") == Device("cpu", False)


@pytest.mark.train
def test_paged_runs_for_real_on_the_cpu(toy_config: dict[str, Any]) -> None:
    reports: list[dict] = []
    trainer = run_grpo({**toy_config, "generation": "paged"}, lambda m, c=None: reports.append(m), keep_trainer=True)
    assert [m["step"] for m in reports] == [1, 2]
    assert all(m["completion_length"] <= 4 and m["num_tokens"] > 0 for m in reports)
    args = trainer.args
    assert args.use_transformers_continuous_batching
    # KV cache sized to the rollout (2 prompts x 2 samples, one 256-token page each), not to free memory
    assert args.transformers_continuous_batching_config["num_blocks"] == 4


def test_user_continuous_batching_settings_are_merged(toy_config: dict[str, Any]) -> None:
    cfg = validate_grpo_config({**toy_config, "generation": "paged",
                                "grpo_config_overrides": {
                                    "transformers_continuous_batching_config": {"num_blocks": 9}}})
    args = grpo_args(cfg, "/tmp/unused", Device("cpu", False), 4, Engine("paged", "asked for"), prompt_length=30)
    assert args.transformers_continuous_batching_config == {"num_blocks": 9, "max_batch_tokens": 120}
