"""The rollout engine of a trial (config key ``generation``): choosing it and what it needs.

* ``"transformers"``: TRL's default, ``model.generate`` on the whole rollout batch.
* ``"paged"``: transformers' continuous batching (paged KV cache), TRL's
  ``use_transformers_continuous_batching`` (formerly ``use_transformers_paged``); needs
  transformers >= 5.8. radas sizes its KV cache to the rollout (``num_blocks``) instead of a share
  of the free GPU memory, so packed trials do not take each other's memory, and caps the tokens
  of one forward pass (``max_batch_tokens``: every sequence decodes at once, prefill in chunks of
  at most 2048 tokens), which bounds the attention mask it allocates.
* ``"vllm"``: TRL's vLLM colocate mode, vLLM running inside the trial's process. radas gives each
  trial its own rendezvous port (``MASTER_PORT``; TRL would otherwise pick the same free port for
  trials starting together), ``vllm_gpu_memory_utilization`` sized from the memory plan
  (:func:`radas.grpo._plan.vllm_memory_share`: the room the trial's GPU share leaves beside what it
  keeps, at least the rollout's KV cache; 0.3 x the share, TRL's default for a whole GPU, when the
  model's config cannot be read), sleep mode between rollouts, and a ``vllm_max_model_length`` of
  the rollout's prompt + completion budget. vLLM's own "not enough memory" errors (no room for the
  cache blocks, none for one sequence of the maximum length, less free memory at its start than
  it was given) are raised, for a trial that shares its GPU, as
  :class:`~radas.errors.EngineOutOfMemoryError`, a ``MemoryError``, so radas's out-of-memory retry
  gives the trial a larger share; on a whole GPU, where no retry can give more, as an error saying
  what to change. Needs vLLM installed where the trials run and a GPU.
* ``"auto"``: vLLM when the trial has a GPU and vLLM is installed; else ``"transformers"``.

What ``"auto"`` rests on (``bench/grpo_gpu.py``, 2026-11-27): on an H100 with a 76M-parameter
Qwen2-style model (16 prompts x 8 samples x <= 128 tokens per step), one trial trained at 3,294
tokens/s with ``"transformers"`` and 2,855 with ``"paged"`` after the first step (``"paged"`` won
the first step, 7.7 s against 21 s of warm-up); on the CPU (the tiny model, 4 x 8 x 16) at 6,791
against 2,183. vLLM was not installed on that GPU machine, so its place first is not a measurement
of ours: it is the engine the GRPO stacks that generate fast (TRL with vLLM, slime) use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import math
import os
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from radas._deps import missing
from radas.errors import EngineOutOfMemoryError, MissingDependencyError, RadasValueError

PAGED_MIN_TRANSFORMERS = (5, 8)
PAGED_BATCH_TOKENS = 2048  # tokens per forward pass of "paged": its attention mask grows with it x the cache
VLLM_WHOLE_GPU_SHARE = 0.3  # TRL's default vllm_gpu_memory_utilization, for a whole GPU
# vLLM's advice in each of its errors for too little memory (no room for the cache blocks, for one
# sequence of the maximum length, free memory below the utilization asked for at startup)
_VLLM_MEMORY_ADVICE = ("gpu_memory_utilization", "GPU memory utilization")


@dataclasses.dataclass(frozen=True)
class Engine:
    """The engine a trial generates with, and why it was chosen."""

    name: str
    why: str


def _version(dist: str) -> tuple[int, ...] | None:
    try:
        text = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def paged_flag(grpo_config_fields: frozenset[str] | set[str]) -> str | None:
    """The GRPOConfig field that turns on continuous batching in the installed TRL, or None."""
    for name in ("use_transformers_continuous_batching", "use_transformers_paged"):
        if name in grpo_config_fields:
            return name
    return None


def paged_problem(grpo_config_fields: frozenset[str] | set[str]) -> str | None:
    """Why ``"paged"`` cannot run here (None when it can)."""
    version = _version("transformers")
    if version is None or version[:2] < PAGED_MIN_TRANSFORMERS:
        return f"transformers >= 5.8 (installed: {'none' if version is None else '.'.join(map(str, version))})"
    if paged_flag(grpo_config_fields) is None:
        return "a TRL with use_transformers_continuous_batching (trl >= 1.2)"
    return None


def vllm_installed() -> bool:
    """Whether vLLM can be imported in this process's environment."""
    return importlib.util.find_spec("vllm") is not None


def choose_engine(requested: str, device_type: str, grpo_config_fields: frozenset[str] | set[str]) -> Engine:
    """The engine for ``config['generation'] = requested`` on ``device_type`` ("cuda" or "cpu").

    Raises :class:`MissingDependencyError` when the requested engine is not installed in the
    trial's environment, and :class:`RadasValueError` for vLLM without a GPU.
    """
    if requested == "auto":
        if device_type == "cuda" and vllm_installed():
            return Engine("vllm", "auto: vLLM is installed and the trial has a GPU")
        return Engine("transformers", "auto: vLLM is not installed" if device_type == "cuda" else "auto: no GPU")
    if requested == "paged":
        problem = paged_problem(grpo_config_fields)
        if problem:
            raise MissingDependencyError(
                f"config['generation'] = 'paged' needs {problem} in the trial's environment: "
                f'pip install "transformers>=5.8" "trl>=1.16" (on a cluster: runtime_env={{"pip": [...]}}), '
                f"or set generation to 'transformers'"
            )
        return Engine("paged", "asked for")
    if requested == "vllm":
        if not vllm_installed():
            raise missing("vllm", "config['generation'] = 'vllm' (in the trial's environment)",
                          also="on a cluster runtime_env={'pip': ['vllm']}; or set generation to 'paged' or "
                          "'transformers'")
        if device_type != "cuda":
            raise RadasValueError(
                "config['generation'] = 'vllm' needs a GPU, and this trial has none: give trials one with "
                "gpu_per_trial (e.g. gpu_per_trial='auto'), or set generation to 'transformers'"
            )
        return Engine("vllm", "asked for")
    return Engine("transformers", "asked for")


def gpu_share() -> float:
    """This trial's share of a GPU as Ray assigned it (1.0 outside Ray or when Ray says nothing)."""
    try:
        import ray

        if not ray.is_initialized():
            return 1.0
        share = ray.get_runtime_context().get_assigned_resources().get("GPU")
    except Exception:  # noqa: BLE001 - not in a Ray worker
        return 1.0
    return float(share) if share else 1.0


def free_port() -> int:
    """A TCP port free on this machine right now (the OS picks it, so concurrent trials differ)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_process(engine: Engine) -> None:
    """Process-level settings the engine needs before the trainer starts (vLLM: a rendezvous port of its own)."""
    if engine.name == "vllm":
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(free_port())


def _page_size() -> int:
    from transformers.generation import ContinuousBatchingConfig  # type: ignore[attr-defined]

    config = ContinuousBatchingConfig()
    return int(getattr(config, "page_size", None) or getattr(config, "block_size", None) or 256)


def engine_fields(
    engine: Engine, grpo_config_fields: frozenset[str] | set[str], overrides: Mapping[str, Any], *,
    sequences: int, sequence_length: int, prompt_length: int, vllm_share: float = 0.0,
) -> dict[str, Any]:
    """The ``GRPOConfig`` fields of ``engine`` for a rollout of ``sequences`` sequences of at most
    ``sequence_length`` tokens (prompts of at most ``prompt_length``); vLLM gets ``vllm_share`` of
    the GPU (:func:`radas.grpo._plan.vllm_memory_share`). ``overrides`` (``grpo_config_overrides``) win."""
    if engine.name == "paged":
        flag = paged_flag(grpo_config_fields)
        assert flag is not None, "choose_engine gives 'paged' only when TRL has its flag"
        blocks = sequences * math.ceil(sequence_length / _page_size())
        batch_tokens = max(sequences, min(PAGED_BATCH_TOKENS, sequences * prompt_length))
        cb = {"num_blocks": blocks, "max_batch_tokens": batch_tokens,
              **dict(overrides.get("transformers_continuous_batching_config") or {})}
        return {flag: True, "transformers_continuous_batching_config": cb}
    if engine.name == "vllm":
        return {
            "use_vllm": True,
            "vllm_mode": "colocate",
            "vllm_gpu_memory_utilization": vllm_share,
            "vllm_enable_sleep_mode": True,
            "vllm_max_model_length": sequence_length,
        }
    return {}


def is_vllm_memory_error(error: BaseException) -> bool:
    """True for vLLM's own "too little memory" error: a ``ValueError`` raised in a module of the
    ``vllm`` package whose message gives vLLM's advice (raise ``gpu_memory_utilization``)."""
    if not isinstance(error, ValueError):
        return False
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return module.split(".")[0] == "vllm" and any(advice in str(error) for advice in _VLLM_MEMORY_ADVICE)


@contextlib.contextmanager
def vllm_memory_errors(sizing: str, more_can_help: bool) -> Iterator[None]:
    """vLLM's "too little memory" errors raised inside as :class:`~radas.errors.EngineOutOfMemoryError`
    when ``more_can_help`` (the trial shares its GPU: a retry with a larger share gives vLLM more
    room), else as a :class:`~radas.errors.RadasValueError` saying what to change (on a whole GPU
    no retry can give vLLM more). ``sizing``: how radas sized vLLM, for the message."""
    try:
        yield
    except ValueError as exc:
        if not is_vllm_memory_error(exc):
            raise
        if more_can_help:
            raise EngineOutOfMemoryError(f"vLLM found too little GPU memory: {exc} (radas gave it {sizing})") from exc
        raise RadasValueError(
            f"vLLM does not fit beside this trial on its whole GPU: {exc} (radas gave it {sizing}); lower "
            f"rollout_batch_size, n_samples_per_prompt or rollout_max_response_len, spread the trial over more GPUs "
            f"(num_workers), or set generation='transformers'") from exc
