"""``test_inference``: sample and score a few completions before committing to a sweep."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from radas.errors import RadasValueError
from radas.grpo._config import require_concrete, validate_grpo_config
from radas.grpo._dataset import completion_budget, normalize_prompts, prompt_lengths
from radas.grpo._deps import require
from radas.grpo._files import read_prompt_file, resolve_path
from radas.grpo._model import load_model, load_tokenizer, pick_device
from radas.grpo._reward_model import check_names, load_reward_model, reward_model_paths, score
from radas.grpo._reward_runner import running, trl_keyword_arguments
from radas.grpo._rewards import check_weights
from radas.utils import set_seed

_BASE_COLUMNS = ("prompt", "completion", "reward")


def test_inference(config: Mapping[str, Any], n: int = 8) -> pd.DataFrame:
    """Sample one completion for each of the first ``n`` prompts of the prompt file and score it.

    Uses the config's model (on the GPU when there is one), ``rollout_temperature``, the completion
    budget training would use, and the reward file and reward models, exactly as a trial would: a quick check of
    the data, the model and the reward function before a sweep. ``config`` must hold concrete
    values (no search spaces). It generates with ``model.generate`` whatever ``generation`` says.
    Returns a DataFrame with the columns ``prompt`` (as in the file), ``completion`` (the
    generated text), ``reward`` (the weighted sum when there are several rewards, each
    also as ``reward/<name>``), ``reward_info/<name>`` for the numbers a reward function returns
    in a ``(reward, {name: number})`` tuple, and one column per extra field of the prompt file (an
    extra field named like ``prompt``, ``completion`` or ``reward`` gets the suffix ``_field``).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RadasValueError(f"test_inference: n must be an int >= 1; got {n!r}")
    cfg = validate_grpo_config(config)
    require_concrete(cfg, "test_inference")
    torch = require("torch")
    set_seed(cfg["seed"])
    records = read_prompt_file(cfg["prompt_file"])[:n]
    prompt_path = str(resolve_path(cfg["prompt_file"], "prompt_file"))

    overrides = cfg["grpo_config_overrides"]
    device = pick_device(overrides)
    tokenizer = load_tokenizer(cfg["model"])
    prompts = normalize_prompts(records, tokenizer, prompt_path, cfg["apply_chat_template"])
    budget = completion_budget(
        prompt_lengths(prompts, tokenizer), records, cfg["max_seq_length"], cfg["rollout_max_response_len"],
        prompt_path,
    )
    model = load_model(
        cfg["model"], tokenizer, device.weights_dtype(trained_in_full=False), cfg["seed"], cfg["max_seq_length"],
        overrides.get("model_init_kwargs"),
    ).to(device.type)
    model.eval()
    if isinstance(prompts[0], str):
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True)
    else:
        enc = tokenizer.apply_chat_template(
            list(prompts), add_generation_prompt=True, tokenize=True, return_dict=True, padding=True,
            return_tensors="pt",
        )
    enc = {k: v.to(device.type) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=cfg["rollout_temperature"],
            top_p=overrides.get("top_p", 1.0),
            top_k=overrides.get("top_k", 0),
            min_p=overrides.get("min_p"),
            repetition_penalty=overrides.get("repetition_penalty", 1.0),
            max_new_tokens=budget,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    completions = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    wheres = [f"prompt_file {prompt_path!r} line {r.line}" for r in records]
    shaped = [text if isinstance(p, str) else [{"role": "assistant", "content": text}]
              for p, text in zip(prompts, completions, strict=True)]
    with running(cfg["reward_file"], cfg["reward_workers"], cfg["reward_timeout_s"],
                 cfg["reward_concurrency"]) as runner:
        scored = runner.score_all(list(prompts), shaped, [r.extra for r in records], wheres,
                                  trl_keyword_arguments(list(prompts), shaped))
        names = [rf.name for rf in runner.functions]
    for path in reward_model_paths(cfg["reward_model"]):
        reward_model = load_reward_model(path)
        names.append(reward_model.name)
        scored.append((score(reward_model, list(prompts), shaped, device.type, device.bf16), [{} for _ in shaped]))
        del reward_model
    check_names(names)
    check_weights(cfg["reward_weights"], names)
    weights = cfg["reward_weights"] or [1.0] * len(names)
    rows = []
    for i, (record, text) in enumerate(zip(records, completions, strict=True)):
        values = [rewards[i] for rewards, _ in scored]
        present = [w * v for w, v in zip(weights, values, strict=True) if not math.isnan(v)]
        row: dict[str, Any] = {"prompt": record.prompt, "completion": text,
                               "reward": sum(present) if present else math.nan}
        if len(names) > 1:
            row.update({f"reward/{name}": v for name, v in zip(names, values, strict=True)})
        for _, infos in scored:
            row.update({f"reward_info/{k}": v for k, v in infos[i].items()})
        for key, value in record.extra.items():
            row[f"{key}_field" if key in _BASE_COLUMNS else key] = value
        rows.append(row)
    return pd.DataFrame(rows)


test_inference.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name
