"""The trained model kept and one call away: every GRPO trial keeps its final model (LoRA adapter or
weights, and the tokenizer) as its last checkpoint by default, the disk it takes is said before the
sweep, and ``radas.grpo.load_model`` / ``export_model`` give the best trial's model."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import peft
import pytest
import safetensors.torch
import torch
import transformers
from grpo_helpers import QWEN25_05B, config_folder, write_jsonl
from ray import tune

import radas
from radas.grpo import KeepBestModels, ModelNotFoundError, export_model, grpo_trainable, load_model
from radas.grpo._export import MARKER, _written
from radas.grpo._tiny import build_tiny_model, build_tiny_tokenizer
from radas.grpo._trainable import run_grpo

USER = "tester"
BEST = {"tune_config": {"metric": "reward_mean", "mode": "max"}}


def _files(result: Any) -> set[str]:
    with result.checkpoint.as_directory() as folder:
        return {p.name for p in Path(folder).iterdir()}


def _generates(model: Any, tokenizer: Any) -> None:
    """``model`` generates 3 new tokens after a prompt."""
    batch = tokenizer(["Say a"], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape == (1, batch["input_ids"].shape[1] + 3)
    assert isinstance(tokenizer.decode(out[0]), str)


def _same_weights(a: Any, b: Any) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.train
async def test_a_default_sweep_keeps_every_trials_final_model_and_the_best_one_loads_and_exports(
        local_ray: None, toy_config: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = await radas.run_experiment(
        user_name=USER, experiment_name="grpo-keep", trainable=grpo_trainable, run_choice="run",
        param_space={**toy_config, "lora_rank": tune.grid_search([4, 0])}, tuner_init_kwargs=BEST)
    out = capsys.readouterr().out
    # said before the sweep: 2 trials, the tiny model's float32 weights and a rank-4 adapter
    assert "keep_final_model: the final models of this sweep's 2 trials will take about" in out
    assert "tiny: LoRA rank 4 adapter" in out and "tiny: full weights, 32-bit" in out

    df = results["df"]
    assert list(df["status"]) == ["TERMINATED"] * 2 and list(df["step"]) == [2, 2]
    grid = results["tuner"].get_results()
    by_rank = {r.config["lora_rank"]: r for r in grid}
    lora, full = by_rank[4], by_rank[0]
    # the final models: the adapter, the weights, the tokenizer each; no optimizer state
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", MARKER} <= _files(lora)
    assert {"config.json", "model.safetensors", "tokenizer.json", MARKER} <= _files(full)
    assert not {"optimizer.pt", "scheduler.pt"} & (_files(lora) | _files(full))
    assert all(r.metrics["step"] == 2 and r.metrics["reward_mean"] == r.metrics["reward_mean"] for r in grid)

    # the best trial by the sweep's metric
    best_rank = int(df.loc[df["reward_mean"].idxmax(), "config/lora_rank"])
    model, tokenizer = load_model(results)
    if df["reward_mean"].nunique() == 2:
        assert isinstance(model, peft.PeftModel) == (best_rank == 4)
    _generates(model, tokenizer)

    # each trial, by id: LoRA is the tiny base (rebuilt with the trial's seed) + the trained adapter
    lora_model, _ = load_model(results["tuner"], trial=lora.metrics["trial_id"])
    assert isinstance(lora_model, peft.PeftModel)
    _generates(lora_model, tokenizer)
    with lora.checkpoint.as_directory() as folder:
        trained = safetensors.torch.load_file(str(Path(folder) / "adapter_model.safetensors"))
    loaded = {k.replace(".default", ""): v for k, v in lora_model.state_dict().items() if "lora_" in k}
    assert loaded.keys() == trained.keys() and all(torch.equal(loaded[k], trained[k]) for k in trained)
    base = build_tiny_model(build_tiny_tokenizer(), seed=0)
    merged = lora_model.merge_and_unload()
    full_model, full_tokenizer = load_model(results, trial=full.metrics["trial_id"])
    assert not isinstance(full_model, peft.PeftModel) and not _same_weights(full_model, base)
    _generates(full_model, full_tokenizer)

    # exported like the hosted API's download_model: folders transformers (and peft) load
    exported = export_model(results, tmp_path / "full", trial=full.metrics["trial_id"])
    assert exported == tmp_path / "full"
    assert not {"optimizer.pt", "training_args.bin", MARKER} & {p.name for p in exported.iterdir()}
    assert json.loads((exported / "radas_trial.json").read_text())["trial_id"] == full.metrics["trial_id"]
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(exported)
    assert _same_weights(reloaded, full_model)
    _generates(reloaded, transformers.AutoTokenizer.from_pretrained(exported))

    adapter = export_model(results, tmp_path / "adapter", trial=lora.metrics["trial_id"])
    assert (adapter / "adapter_config.json").is_file() and not (adapter / "config.json").exists()
    on_base = peft.PeftModel.from_pretrained(build_tiny_model(build_tiny_tokenizer(), seed=0), adapter)
    assert _same_weights(on_base.merge_and_unload(), merged)
    by_itself = transformers.AutoModelForCausalLM.from_pretrained(adapter)  # its base: exported next to it
    _generates(by_itself, transformers.AutoTokenizer.from_pretrained(adapter))

    # merged, from the experiment folder (as from a cluster's shared folder)
    folder = Path(radas.get_ray_results_dir(USER)) / "grpo-keep"
    plain = export_model(folder, tmp_path / "merged", merge_lora=True, trial=lora.metrics["trial_id"])
    assert not (plain / "adapter_config.json").exists()
    assert _same_weights(transformers.AutoModelForCausalLM.from_pretrained(plain), merged)

    with pytest.raises(radas.RadasValueError, match="exists and is not an empty folder"):
        export_model(results, plain)
    with pytest.raises(ModelNotFoundError, match="is not a trial of"):
        load_model(results, trial="nope")


@pytest.mark.train
async def test_keep_final_model_false_keeps_none_and_load_model_says_so(
        local_ray: None, toy_config: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    results = await radas.run_experiment(
        user_name=USER, experiment_name="grpo-keep-none", trainable=grpo_trainable, run_choice="run",
        param_space={**toy_config, "keep_final_model": False})
    assert "keep_final_model:" not in capsys.readouterr().out
    (result,) = results["tuner"].get_results()
    assert result.checkpoint is None and result.metrics["step"] == 2
    assert not list(Path(result.path).glob("checkpoint_*"))
    with pytest.raises(ModelNotFoundError, match=r"keep_final_model=False and without checkpoint_every"):
        load_model(results)
    with pytest.raises(LookupError):  # a RadasError that is also a LookupError
        export_model(results, "never-written")
    assert not Path("never-written").exists()


@pytest.mark.train
def test_a_run_a_stop_rule_ends_reports_its_last_step_with_the_final_model(
        toy_config: dict[str, Any], tmp_path: Path) -> None:
    reward = tmp_path / "zero.py"
    reward.write_text("def reward_fn(completion, **kwargs):\n    return 0.0\n")
    reports: list[tuple[dict[str, Any], set[str]]] = []

    def reporter(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        reports.append((metrics, {p.name for p in Path(checkpoint_dir).iterdir()} if checkpoint_dir else set()))

    config = {**toy_config, "reward_file": str(reward), "max_steps": 6, "reward_workers": 0,
              "correct_threshold": 1.0, "early_stopping": {"no_signal_steps": 1}}
    run_grpo(config, reporter)
    *before, (last, files) = reports
    assert "stop_reason" in last and last["step"] < 6
    assert not any(files for _, files in before)
    assert {"model.safetensors", "tokenizer.json", MARKER} <= files


@pytest.mark.train
def test_the_last_steps_own_checkpoint_is_the_final_model_and_a_retry_from_it_trains_no_more(
        toy_config: dict[str, Any]) -> None:
    reports: list[tuple[dict[str, Any], str | None]] = []

    def reporter(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        # the reporter persists the folder (as Tune does): copied before the trainer moves on
        kept = shutil.copytree(checkpoint_dir, Path(saved) / Path(checkpoint_dir).name) if checkpoint_dir else None
        reports.append((metrics, str(kept) if kept else None))

    with tempfile.TemporaryDirectory() as saved:
        config = {**toy_config, "max_steps": 2, "checkpoint_every": 2, "lora_rank": 4}
        run_grpo(config, reporter)
        (last, folder), = [(m, f) for m, f in reports if f]
        assert last["step"] == 2 and reports[-1][1] == folder, "the last step is reported once, with its checkpoint"
        marker = json.loads((Path(folder) / MARKER).read_text())
        assert marker["kind"] == "adapter" and marker["step"] == 2 and "adapter_model.safetensors" in marker["files"]
        reports.clear()
        assert run_grpo(config, reporter, resume_dir=folder) is None and reports == []


@pytest.mark.train
def test_a_trial_of_several_workers_loads_from_its_reported_checkpoint_path_wherever_the_folder_is_seen(
        toy_config: dict[str, Any], tmp_path: Path) -> None:
    """Rank 0's checkpoint is reported as ``checkpoint_path``, as the cluster saw it; read from the
    shared folder mounted elsewhere, the path below the trial's folder is found there."""
    kept: dict[str, Path] = {}

    def reporter(metrics: dict[str, Any], checkpoint_dir: str | None = None) -> None:
        if checkpoint_dir:
            kept["folder"] = Path(shutil.copytree(
                checkpoint_dir, tmp_path / "here" / "exp" / "trial_0" / "train" / "checkpoint_000001"))

    run_grpo({**toy_config, "lora_rank": 4, "reward_workers": 0}, reporter)
    reported = "/mnt/on-the-cluster/exp/trial_0/train/checkpoint_000001"
    result = SimpleNamespace(metrics={"trial_id": "t0", "step": 2, "checkpoint_path": reported, "world_size": 2},
                             config={**toy_config, "lora_rank": 4}, checkpoint=None, error=None,
                             path=str(tmp_path / "here" / "exp" / "trial_0"), metrics_dataframe=None)
    grid = SimpleNamespace(get_results=lambda: [result])
    model, tokenizer = load_model(grid, trial="t0")
    assert isinstance(model, peft.PeftModel)
    _generates(model, tokenizer)
    # a trial retried after its final report (its last checkpoint is the final model): nothing to train
    again: list[Any] = []
    run_grpo({**toy_config, "lora_rank": 4}, lambda *report: again.append(report), resume_dir=str(kept["folder"]))
    assert again == []
    shutil.rmtree(kept["folder"])
    with pytest.raises(ModelNotFoundError, match="is not on this machine"):
        load_model(grid, trial="t0")


def test_the_disk_of_the_final_models_is_said_before_the_sweep_from_a_real_sized_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Qwen2.5-0.5B's shape (config only, no weights): 494M parameters (tied embeddings), 4 bytes
    each when fully fine-tuned; a rank-16 LoRA adapter on all its linear layers but the head."""
    folder = config_folder(tmp_path / "qwen2.5-0.5b", **QWEN25_05B)
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Say a"}])
    reward = tmp_path / "r.py"
    reward.write_text("def reward_fn(completion, **kwargs):\n    return 1.0\n")
    base = {"model": str(folder), "prompt_file": str(prompts), "reward_file": str(reward), "reward_workers": 0}
    grpo_trainable.check_param_space({**base, "lora_rank": tune.grid_search([0, 16]),
                                      "seed": tune.grid_search([0, 1])})
    out = capsys.readouterr().out
    # 2 x 494,032,768 x 4 bytes + 2 x 16 x 549,888 x 4 bytes
    assert "the final models of this sweep's 4 trials will take about 3.7 GiB of disk" in out
    assert "full weights, 32-bit, 1.8 GiB" in out and "LoRA rank 16 adapter, 33.6 MiB" in out

    grpo_trainable.check_param_space({**base, "learning_rate": tune.loguniform(1e-6, 1e-4), "lora_rank": 16})
    assert "each trial's final model will take about 33.6 MiB of disk" in capsys.readouterr().out
    grpo_trainable.check_param_space({**base, "keep_final_model": False})
    grpo_trainable.check_param_space({**base, "model": str(tmp_path / "no-such-model")})  # unreadable: nothing
    assert "keep_final_model" not in capsys.readouterr().out


@pytest.mark.train
async def test_keep_best_models_keeps_only_the_best_trials_final_model_by_the_sweeps_metric(
        local_ray: None, toy_config: dict[str, Any], tmp_path: Path) -> None:
    reward = tmp_path / "spread.py"  # rewards that differ from trial to trial (the toy task's are often all 0)
    reward.write_text("def reward_fn(completion, **kwargs):\n"
                      "    return (sum(map(ord, completion[0]['content'])) % 101) / 101\n")
    results = await radas.run_experiment(
        user_name=USER, experiment_name="grpo-keep-best", trainable=grpo_trainable, run_choice="run",
        param_space={**toy_config, "reward_file": str(reward), "seed": tune.grid_search([0, 1])},
        tuner_init_kwargs={**BEST, "run_config": tune.RunConfig(callbacks=[KeepBestModels(1)])})
    grid = results["tuner"].get_results()
    kept = [r for r in grid if Path(r.checkpoint.path).is_dir()]
    (removed,) = [r for r in grid if not Path(r.checkpoint.path).exists()]
    assert len(kept) == 1 and kept[0].metrics["reward_mean"] > removed.metrics["reward_mean"]
    df = results["tuner"].get_dataframe().set_index("trial_id")
    assert "not among the best 1 by reward_mean" in df.loc[removed.metrics["trial_id"], "final_model"]
    model, _ = load_model(results)  # the best one: kept
    assert model is not None
    with pytest.raises(ModelNotFoundError, match=r"is gone: removed: not among the best 1 by reward_mean"):
        load_model(results, trial=removed.metrics["trial_id"])


def _final_model_folder(folder: Path, score: float) -> SimpleNamespace:
    """A trial (as Tune's callbacks see it) whose last checkpoint is a final model radas wrote."""
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text(name)
    (folder / MARKER).write_text(json.dumps({"files": ["config.json", "model.safetensors", "tokenizer.json"]}))
    return SimpleNamespace(checkpoint=tune.Checkpoint.from_directory(str(folder)), last_result={"score": score},
                           path=str(folder.parent), trial_id=folder.parent.name)


def _checkpoint_marked_final(folder: Path, score: float, trial_path: Path) -> SimpleNamespace:
    """A trial whose last checkpoint (a TRL checkpoint with DeepSpeed's shard folder) is marked as
    its final model, listing what is in it as radas does."""
    (folder / "global_step6").mkdir(parents=True)
    for name in ("adapter_model.safetensors", "optimizer.pt", "global_step6/mp_rank_00_model_states.pt"):
        (folder / name).write_text(name)
    files, folders = _written(str(folder))
    (folder / MARKER).write_text(json.dumps({"files": files, "folders": folders}))
    return SimpleNamespace(checkpoint=tune.Checkpoint.from_directory(str(folder)), last_result={"score": score},
                           path=str(trial_path), trial_id=trial_path.name)


def test_keep_best_models_removes_a_checkpoints_shards_and_never_a_folder_of_another_trial(tmp_path: Path) -> None:
    best = _checkpoint_marked_final(tmp_path / "a" / "checkpoint_000002", 0.9, tmp_path / "a")
    # PBT's exploit: trial b restarted from a's last checkpoint and reported no better
    clone = SimpleNamespace(checkpoint=best.checkpoint, last_result={"score": 0.1}, path=str(tmp_path / "b"),
                            trial_id="b")
    worse = _checkpoint_marked_final(tmp_path / "c" / "checkpoint_000002", 0.2, tmp_path / "c")
    elsewhere = _checkpoint_marked_final(tmp_path / "shared" / "checkpoint_000002", 0.3, tmp_path / "d")
    keeper = KeepBestModels(1)
    keeper.use_sweep_metric("score", "max")
    keeper.on_trial_complete(0, [clone, worse, elsewhere, best], worse)
    assert sorted(p.name for p in Path(best.checkpoint.path).rglob("*")) == [
        "adapter_model.safetensors", "global_step6", "mp_rank_00_model_states.pt", "optimizer.pt", MARKER]
    assert not Path(worse.checkpoint.path).exists()  # every file and folder radas listed, then the folder
    assert (Path(elsewhere.checkpoint.path) / MARKER).is_file()  # not in trial d's own folder


def test_keep_best_models_removes_only_what_radas_wrote_and_never_through_a_link(tmp_path: Path) -> None:
    best = _final_model_folder(tmp_path / "best" / "checkpoint_000000", 0.9)
    tied = _final_model_folder(tmp_path / "tied" / "checkpoint_000000", 0.9)  # may be "the best": kept
    plain = _final_model_folder(tmp_path / "plain" / "checkpoint_000000", 0.5)
    planted = _final_model_folder(tmp_path / "planted" / "checkpoint_000000", 0.1)
    # someone's file, and a link planted where radas wrote a file: neither is followed nor removed
    outside = tmp_path / "precious.bin"
    outside.write_text("keep me")
    folder = Path(planted.checkpoint.path)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to(outside)
    (folder / "notes.txt").write_text("mine")
    other = tmp_path / "other" / "checkpoint_000000"  # a checkpoint radas did not mark: never touched
    other.mkdir(parents=True)
    (other / "model.safetensors").write_text("x")
    unmarked = SimpleNamespace(checkpoint=tune.Checkpoint.from_directory(str(other)), last_result={"score": 0.0},
                               path=str(other.parent), trial_id="other")
    running = SimpleNamespace(checkpoint=None, last_result={"score": 0.0}, path=str(tmp_path), trial_id="running")

    keeper = KeepBestModels(1)
    keeper.use_sweep_metric("score", "max")
    trials = [planted, tied, best, plain, unmarked, running]
    keeper.on_trial_complete(0, trials, plain)
    assert all((Path(t.checkpoint.path) / MARKER).is_file() for t in (best, tied))
    assert not Path(plain.checkpoint.path).exists()  # what radas wrote, and the folder, gone
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors", "notes.txt"]
    assert (folder / "model.safetensors").is_symlink() and outside.read_text() == "keep me"
    assert (other / "model.safetensors").is_file()
    assert "not among the best 1 by score" in json.loads((tmp_path / "plain" / "radas-notes.json").read_text())[
        "final_model"]

    with pytest.raises(radas.RadasValueError, match="k = 0"):
        KeepBestModels(0)
    explicit = KeepBestModels(2, metric="loss", mode="min")
    explicit.use_sweep_metric("score", "max")
    assert (explicit.metric, explicit.mode) == ("loss", "min")
