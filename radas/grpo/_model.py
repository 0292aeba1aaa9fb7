"""Choosing the device and loading the policy model and tokenizer for a trial."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from radas.errors import RadasValueError
from radas.grpo._deps import require
from radas.grpo._tiny import TINY_NAME, build_tiny_model, build_tiny_tokenizer

logger = logging.getLogger("radas")


@dataclass(frozen=True)
class Device:
    """Where a trial trains: ``"cuda"`` with bf16 when the trial has a GPU, else ``"cpu"`` with fp32."""

    type: str
    bf16: bool
    tf32: bool = False

    def for_engine(self, engine: str, overrides: Mapping[str, Any] | None = None) -> Device:
        """The device settings for a rollout ``engine``.

        ``"paged"`` on a bf16 GPU trains in float32 with TF32 matmuls instead of bf16 autocast:
        TRL's continuous-batching path casts the policy to bf16 for good when bf16 is on, which
        would leave the optimizer bf16 weights (AdamW steps of ~1e-6 vanish). An explicit
        ``grpo_config_overrides["bf16"]`` is kept as it is.
        """
        if engine == "paged" and self.type == "cuda" and self.bf16 and "bf16" not in (overrides or {}):
            return Device("cuda", bf16=False, tf32=True)
        return self

    def weights_dtype(self, trained_in_full: bool) -> str:
        """The dtype to load the weights in.

        Weights the optimizer updates stay float32 (bf16 runs as autocast mixed precision: AdamW
        steps of ~1e-6 vanish when rounded to bf16); frozen weights (LoRA's base model, inference)
        are loaded in bf16 on a bf16 GPU.
        """
        return "bfloat16" if self.bf16 and not trained_in_full else "float32"


def pick_device(overrides: Mapping[str, Any] | None = None) -> Device:
    """The trial's GPU (bf16 when supported) if it has one, else the CPU (fp32).

    ``grpo_config_overrides`` may force the choice with ``use_cpu`` / ``bf16``.
    """
    torch = require("torch")
    overrides = overrides or {}
    if torch.cuda.is_available() and not overrides.get("use_cpu", False):
        bf16 = bool(overrides.get("bf16", torch.cuda.is_bf16_supported()))
        return Device("cuda", bf16)
    return Device("cpu", bool(overrides.get("bf16", False)))


def model_path(model: str) -> str:
    """``config['model']`` as the trial loads it: a relative local folder (``"./ckpt/sft"``) is the
    folder of that name in the folder the sweep was launched from — not in Tune's trial folder,
    which is a trial's working directory. Hub ids and ``"tiny"`` stay as they are."""
    if model == TINY_NAME or os.path.isabs(os.path.expanduser(model)):
        return os.path.expanduser(model)
    from radas.core import get_launch_dir

    local = get_launch_dir() / model
    return str(local) if local.is_dir() or model.startswith(".") else model


def load_tokenizer(model: str) -> Any:
    """The tokenizer of ``model`` (left padding, as generation needs), or the tiny one."""
    if model == TINY_NAME:
        return build_tiny_tokenizer()
    transformers = require("transformers")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model, padding_side="left", truncation_side="left")
    except Exception as exc:  # OSError (not found / offline), ValueError (no tokenizer)...
        raise RadasValueError(
            f"config['model'] = {model!r}: cannot load its tokenizer ({type(exc).__name__}: {exc}). Give a Hugging "
            f"Face model id reachable from the trial, a local folder, or 'tiny'"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    model: str, tokenizer: Any, dtype: str, seed: int, max_seq_length: int,
    init_kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """The model in ``dtype`` (still on the CPU: the trainer moves it).

    ``init_kwargs`` (``grpo_config_overrides["model_init_kwargs"]``) go to ``from_pretrained``;
    a ``dtype`` there wins.
    """
    torch = require("torch")
    if isinstance(init_kwargs, str):  # GRPOConfig also takes it as a JSON string
        init_kwargs = json.loads(init_kwargs)
    kwargs = dict(init_kwargs or {})
    dtype = kwargs.pop("dtype", dtype)
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else dtype
    if model == TINY_NAME:
        m = build_tiny_model(tokenizer, seed=seed, max_position_embeddings=max(4096, max_seq_length))
        return m.to(torch_dtype) if isinstance(torch_dtype, torch.dtype) else m
    transformers = require("transformers")
    try:
        return transformers.AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype, **kwargs)
    except Exception as exc:
        raise RadasValueError(
            f"config['model'] = {model!r}: cannot load it as a causal LM ({type(exc).__name__}: {exc}). Give a "
            f"Hugging Face model id reachable from the trial, a local folder, or 'tiny'"
        ) from exc
