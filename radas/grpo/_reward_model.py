"""Reward models (config key ``reward_model``): local sequence-classification models that score
completions as TRL's model rewards do.

A reward model is a folder with a ``config.json`` of an architecture transformers has a
sequence-classification head for, its weights and its tokenizer. The trial loads it once (with
``num_labels=1``, in the dtype it was saved in, as TRL loads it), frozen, on the trainer's device,
and scores the whole batch of a step in one forward pass, exactly as TRL's ``GRPOTrainer`` scores a
model in ``reward_funcs``: conversational prompts through the reward tokenizer's chat template
(``prompt + completion`` messages), plain text as ``prompt + completion``; right padding, no
special tokens added; under bf16 autocast when the trainer trains with bf16 (as accelerate
wraps TRL's reward models); the reward is the head's first logit. A non-finite reward (a broken
checkpoint) ends the trial with an error naming the folder. Its rewards go into the weighted sum
with the reward file's functions (``reward_weights`` lists the file's functions first, then the
models), reported as ``reward/<folder name>`` (TRL's name for a model reward). Unlike TRL, which
shards a reward model with FSDP / DeepSpeed ZeRO-3 when the policy is, each rank of a trial keeps
a whole copy (the plan counts it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radas.errors import RadasValueError
from radas.grpo._deps import require

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def reward_model_paths(value: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None) -> list[str]:
    """The folders of a checked ``reward_model`` value (None: none), as the trial reads them."""
    from radas.grpo._model import model_path

    if value is None:
        return []
    values = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    return [model_path(os.fspath(v)) for v in values]


def reward_model_name(path: str) -> str:
    """The reward's name in metrics: the folder's name, as TRL names a model reward."""
    return Path(path.rstrip("/\\")).name


def _readable(path: Path, where: str, what: str) -> None:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise RadasValueError(f"{where}: cannot read its {what} {path.name} ({type(exc).__name__}: {exc}); the "
                              f"trials must be able to read the whole folder") from exc


def check_reward_model(path: str, chat: bool = False) -> None:
    """On the driver, reading no weights: ``path`` is a local folder with a config transformers
    can put a sequence-classification head on, readable weights and a tokenizer with a padding
    (or end) token, and a chat template when the prompts are conversations (``chat``)."""
    transformers = require("transformers", "config['reward_model']")
    folder = Path(path)
    where = f"config['reward_model'] = {path!r}"
    if not folder.is_dir():
        raise RadasValueError(f"{where} is not a folder; give the local folder of a sequence-classification model "
                              f"(its config.json, weights and tokenizer)")
    _readable(folder / "config.json", where, "config")
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder))
    except Exception as exc:
        raise RadasValueError(f"{where}: cannot read its config.json ({type(exc).__name__}: {exc})") from exc
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        raise RadasValueError(
            f"{where}: model type {config.model_type!r} has no sequence-classification head in transformers; "
            f"valid: a model whose type AutoModelForSequenceClassification knows (e.g. qwen2, llama)")
    weights = [w for p in WEIGHT_PATTERNS for w in folder.glob(p)]
    if not weights:
        raise RadasValueError(f"{where} holds no weights ({', '.join(WEIGHT_PATTERNS)}); save the reward model "
                              f"there with save_pretrained")
    for w in weights:
        _readable(w, where, "weights")
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise RadasValueError(f"{where} holds no tokenizer ({', '.join(TOKENIZER_FILES)}); save the reward model's "
                              f"tokenizer there with save_pretrained")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:
        raise RadasValueError(f"{where}: cannot load its tokenizer ({type(exc).__name__}: {exc})") from exc
    if tokenizer.pad_token is None and tokenizer.eos_token is None:
        raise RadasValueError(f"{where}: its tokenizer has neither a padding nor an end token, so a batch cannot be "
                              f"padded; set pad_token on it and save it again")
    if chat and not getattr(tokenizer, "chat_template", None):
        raise RadasValueError(f"{where}: the prompts are conversations, which TRL scores through the reward "
                              f"model's chat template, and its tokenizer has none; give it one (the template it "
                              f"was trained with) or write the prompts as plain strings")


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
    path: str = ""


def load_reward_model(path: str) -> RewardModel:
    """The reward model of folder ``path`` in its saved dtype (as TRL loads it), frozen and in eval
    mode, on the CPU (its scorer moves it), with TRL's padding settings."""
    transformers = require("transformers", "config['reward_model']")
    try:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        raise RadasValueError(f"config['reward_model'] = {path!r}: cannot load it as a sequence-classification model "
                              f"({type(exc).__name__}: {exc})") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id  # the reward is read at the last non-pad
    model.eval().requires_grad_(False)
    return RewardModel(reward_model_name(path), model, tokenizer, path)


def score(reward: RewardModel, prompts: Sequence[Any], completions: Sequence[Any], device: Any,
          bf16: bool = False) -> list[float]:
    """One reward per completion, as TRL's ``GRPOTrainer`` scores a reward model (module docstring);
    ``bf16``: under bf16 autocast, as a trainer with bf16 runs it."""
    torch = require("torch", "config['reward_model']")
    from trl.data_utils import apply_chat_template, is_conversational

    if is_conversational({"prompt": prompts[0]}):
        texts = [apply_chat_template({"messages": list(p) + list(c)}, reward.tokenizer)["text"]
                 for p, c in zip(prompts, completions, strict=True)]
    else:
        texts = [p + c for p, c in zip(prompts, completions, strict=True)]
    device = torch.device(device)
    if next(reward.model.parameters()).device != device:
        reward.model.to(device)
    inputs = reward.tokenizer(text=texts, return_tensors="pt", padding=True, padding_side="right",
                              add_special_tokens=False).to(device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = reward.model(**inputs).logits[:, 0]
    rewards = [float(v) for v in logits.float().cpu()]
    bad = [i for i, r in enumerate(rewards) if not math.isfinite(r)]
    if bad:
        raise RadasValueError(
            f"config['reward_model'] = {reward.path!r} gave a non-finite reward ({rewards[bad[0]]}) for completion "
            f"{bad[0]} of the batch ({len(bad)} of {len(rewards)}): its weights are broken (NaN or inf); check the "
            f"checkpoint")
    return rewards


class ModelRewardAdapter:
    """A reward model as a TRL reward function of radas (its rewards go into the trial's
    :class:`~radas.grpo._rewards.RewardBook` as reward ``index``), on the device and with the bf16
    autocast ``device()`` gives when called (the trainer's)."""

    def __init__(self, reward: RewardModel, index: int, book: Any, device: Callable[[], tuple[Any, bool]]) -> None:
        self.reward = reward
        self.index = index
        self.book = book
        self.device = device
        self.__name__ = reward.name  # TRL names the function's metrics after it

    def __call__(self, prompts: list[Any], completions: list[Any], **trl_kwargs: Any) -> list[float]:
        """Score a batch for TRL."""
        rewards = score(self.reward, prompts, completions, *self.device())
        self.book.record(self.index, rewards, prompts, completions)
        return rewards


def reward_model_sets(value: Any) -> list[list[str]]:
    """The sets of folders a ``reward_model`` value of a ``param_space`` gives its trials (one per
    value of a grid search or a choice, each checked as the key checks a value; none known for
    another search space, such as ``tune.sample_from``)."""
    from radas.grpo._config import FIELDS, is_search_space

    if isinstance(value, Mapping) and set(value) == {"grid_search"}:
        return [s for v in value["grid_search"] for s in reward_model_sets(v)]
    categories = getattr(value, "categories", None)
    if categories is not None:
        return [s for v in categories for s in reward_model_sets(v)]
    if is_search_space(value):
        return []
    check = next(f.metadata["check"] for f in FIELDS if f.name == "reward_model")
    return [reward_model_paths(check("reward_model", value))]
