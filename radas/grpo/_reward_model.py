"""Reward models (config key ``reward_model``): local sequence-classification models that score
completions as TRL's model rewards do.

A reward model is a folder with a ``config.json`` of an architecture transformers has a
sequence-classification head for, its weights and its tokenizer. The trial loads it once (with
``num_labels=1``, in bf16 on a bf16 GPU, else float32), frozen, on the trainer's device, and
scores the whole batch of a step in one forward pass, exactly as TRL's ``GRPOTrainer`` scores a
model in ``reward_funcs``: conversational prompts through the reward tokenizer's chat template
(``prompt + completion`` messages), plain text as ``prompt + completion``; right padding, no
special tokens added; the reward is the head's first logit. Its rewards go into the weighted sum
with the reward file's functions (``reward_weights`` lists the file's functions first, then the
models), reported as ``reward/<folder name>`` (TRL's name for a model reward). Unlike TRL, which
shards a reward model with FSDP / DeepSpeed ZeRO-3 when the policy is, each rank of a trial keeps
a whole copy (the plan counts it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radas.errors import RadasValueError
from radas.grpo._deps import require

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def reward_model_paths(value: str | Sequence[str] | None) -> list[str]:
    """The folders of a checked ``reward_model`` value (None: none), as the trial reads them."""
    from radas.grpo._model import model_path

    if value is None:
        return []
    return [model_path(v) for v in ([value] if isinstance(value, str) else value)]


def reward_model_name(path: str) -> str:
    """The reward's name in metrics: the folder's name, as TRL names a model reward."""
    return Path(path.rstrip("/\\")).name


def check_reward_model(path: str) -> None:
    """On the driver, reading no weights: ``path`` is a local folder with a config transformers
    can put a sequence-classification head on, weights and a tokenizer."""
    transformers = require("transformers", "config['reward_model']")
    folder = Path(path)
    where = f"config['reward_model'] = {path!r}"
    if not folder.is_dir():
        raise RadasValueError(f"{where} is not a folder; give the local folder of a sequence-classification model "
                              f"(its config.json, weights and tokenizer)")
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder))
    except Exception as exc:
        raise RadasValueError(f"{where}: cannot read its config.json ({type(exc).__name__}: {exc})") from exc
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        raise RadasValueError(
            f"{where}: model type {config.model_type!r} has no sequence-classification head in transformers; "
            f"valid: a model whose type AutoModelForSequenceClassification knows (e.g. qwen2, llama)")
    if not any(next(folder.glob(p), None) for p in WEIGHT_PATTERNS):
        raise RadasValueError(f"{where} holds no weights ({', '.join(WEIGHT_PATTERNS)}); save the reward model "
                              f"there with save_pretrained")
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise RadasValueError(f"{where} holds no tokenizer ({', '.join(TOKENIZER_FILES)}); save the reward model's "
                              f"tokenizer there with save_pretrained")


def check_names(names: Sequence[str]) -> None:
    """Reward names (the file's functions, then the models) must differ: each is a metric."""
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise RadasValueError(
            f"two rewards are named {seen[0]!r} (reward functions and reward_model folders are named in the "
            f"metrics reward/<name>: {', '.join(names)}); rename one function or folder")


@dataclass
class RewardModel:
    """A loaded reward model and its tokenizer."""

    name: str
    model: Any
    tokenizer: Any


def load_reward_model(path: str, dtype: str) -> RewardModel:
    """The reward model of folder ``path`` in ``dtype``, frozen and in eval mode, on the CPU (its
    scorer moves it), with TRL's padding settings."""
    torch = require("torch", "config['reward_model']")
    transformers = require("transformers", "config['reward_model']")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=getattr(torch, dtype))
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id  # the reward is read at the last non-pad
    model.eval().requires_grad_(False)
    return RewardModel(reward_model_name(path), model, tokenizer)


def score(reward: RewardModel, prompts: Sequence[Any], completions: Sequence[Any], device: Any) -> list[float]:
    """One reward per completion, as TRL's ``GRPOTrainer`` scores a reward model (module docstring)."""
    torch = require("torch", "config['reward_model']")
    from trl.data_utils import apply_chat_template, is_conversational

    if is_conversational({"prompt": prompts[0]}):
        texts = [apply_chat_template({"messages": list(p) + list(c)}, reward.tokenizer)["text"]
                 for p, c in zip(prompts, completions, strict=True)]
    else:
        texts = [p + c for p, c in zip(prompts, completions, strict=True)]
    if next(reward.model.parameters()).device != torch.device(device):
        reward.model.to(device)
    inputs = reward.tokenizer(text=texts, return_tensors="pt", padding=True, padding_side="right",
                              add_special_tokens=False).to(device)
    with torch.inference_mode():
        logits = reward.model(**inputs).logits[:, 0]
    return [float(v) for v in logits.float().cpu()]


class ModelRewardAdapter:
    """A reward model as a TRL reward function of radas (its rewards go into the trial's
    :class:`~radas.grpo._rewards.RewardBook` as reward ``index``), on the device ``device()`` gives
    when called (the trainer's)."""

    def __init__(self, reward: RewardModel, index: int, book: Any, device: Callable[[], Any]) -> None:
        self.reward = reward
        self.index = index
        self.book = book
        self.device = device
        self.__name__ = reward.name  # TRL names the function's metrics after it

    def __call__(self, prompts: list[Any], completions: list[Any], **trl_kwargs: Any) -> list[float]:
        """Score a batch for TRL."""
        rewards = score(self.reward, prompts, completions, self.device())
        self.book.record(self.index, rewards, prompts, completions)
        return rewards


def reward_model_sets(value: Any) -> list[list[str]]:
    """The sets of folders a ``reward_model`` value of a ``param_space`` gives its trials (one per
    value of a grid search; none known for another search space)."""
    if isinstance(value, dict) and set(value) == {"grid_search"}:
        return [s for v in value["grid_search"] for s in reward_model_sets(v)]
    if value is None:
        return [[]]
    if isinstance(value, (str, os.PathLike)):
        return [reward_model_paths(os.fspath(value))]
    if isinstance(value, (list, tuple)):
        return [reward_model_paths([os.fspath(v) for v in value])]
    return []
