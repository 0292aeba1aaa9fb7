"""A GRPO trial in a reused worker: it starts from what it was given (a relative model folder of
the launch folder) and leaves nothing behind for the next trial (memory, distributed variables)."""

from __future__ import annotations

import gc
import os
import weakref
from pathlib import Path
from typing import Any

import pytest

from radas.grpo import _trainable
from radas.grpo._release import DISTRIBUTED_ENV
from radas.grpo._tiny import build_tiny_model, build_tiny_tokenizer
from radas.grpo._trainable import run_grpo

pytestmark = pytest.mark.train

# a reward that does what TRL's vLLM colocate mode does to the trial's process: set torch.distributed's variables
SETS_ENV = '''import os

def reward_fn(completion, **kwargs):
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="29511")
    return 1.0
'''


def test_two_trials_in_one_worker_the_first_leaves_no_memory_and_no_variables(
        tmp_path: Path, toy_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    reward = tmp_path / "sets_env.py"
    reward.write_text(SETS_ENV)
    models: list[weakref.ref[Any]] = []
    load = _trainable.load_model

    def tracked(*args: Any, **kwargs: Any) -> Any:
        model = load(*args, **kwargs)
        models.append(weakref.ref(model))
        return model

    monkeypatch.setattr(_trainable, "load_model", tracked)
    for name in DISTRIBUTED_ENV:
        monkeypatch.delenv(name, raising=False)
    for trial in range(2):
        run_grpo({**toy_config, "reward_file": str(reward), "reward_workers": 0, "seed": trial},
                 lambda metrics, checkpoint=None: None)
        assert {name: os.environ.get(name) for name in DISTRIBUTED_ENV} == dict.fromkeys(DISTRIBUTED_ENV)
        assert models[trial]() is None  # freed when the trial ended, not whenever the collector runs
    gc.collect()


def test_a_relative_model_folder_is_the_launch_folders(tmp_path: Path, toy_config: dict[str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``"model": "./ckpt/sft"`` names a folder of the folder the sweep was launched from, while a
    trial's working directory is Tune's trial folder."""
    launch = tmp_path / "launch"
    tokenizer = build_tiny_tokenizer()
    build_tiny_model(tokenizer).save_pretrained(launch / "ckpt" / "sft")
    tokenizer.save_pretrained(launch / "ckpt" / "sft")
    trial_dir = tmp_path / "trial"
    trial_dir.mkdir()
    monkeypatch.chdir(trial_dir)
    monkeypatch.setenv("RADAS_LAUNCH_DIR", str(launch))
    reports: list[dict[str, Any]] = []
    run_grpo({**toy_config, "model": "./ckpt/sft"}, lambda metrics, checkpoint=None: reports.append(metrics))
    assert len(reports) == 2
