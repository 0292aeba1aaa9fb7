"""The trained model of a GRPO trial: kept at the end of the trial, sized before the sweep, loaded
or exported after it.

* **Kept** (``keep_final_model``, on by default): when training ends (its last step, or a stop
  rule), the trial saves its model into a folder — the LoRA adapter, or the full weights, plus
  the tokenizer; no optimizer state — and reports its final metrics with it, so it is the
  trial's last Tune checkpoint (of several workers: rank 0's, reported as ``checkpoint_path``).
  When the last step already has a checkpoint of ``checkpoint_every``, that checkpoint is the
  final model. A file :data:`MARKER` in the folder says radas wrote it.
* **Sized**: before the sweep starts, :func:`say_final_model_disk` says how much disk the final
  models will take (from the model's config, no weights loaded).
* **Loaded / exported**: :func:`load_model` gives ``(model, tokenizer)`` of the best trial (or
  a given one), ready for ``generate``; :func:`export_model` writes them to a folder that
  ``transformers`` (and ``peft`` for an adapter) loads, as the hosted RL API's
  ``download_model(job_name, output_path)`` does.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import posixpath
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any

from radas.errors import ExperimentNotFoundError, RadasError, RadasTypeError, RadasValueError
from radas.grpo._callback import metrics_in
from radas.grpo._distributed import CHECKPOINT_PATH

logger = logging.getLogger("radas")

MARKER = "radas_final_model.json"  # in a final-model folder: radas wrote it
TRIAL_FILE = "radas_trial.json"  # in an exported folder: which trial, its config and metrics
ADAPTER_CONFIG = "adapter_config.json"
BASE_MODEL_DIR = "base-model"  # an exported adapter of the "tiny" model: its base, rebuilt with the trial's seed
# what a TRL checkpoint holds besides the model and the tokenizer: not exported
TRAINING_STATE = ("optimizer.pt", "scheduler.pt", "scaler.pt", "trainer_state.json", "training_args.bin",
                  "radas_grpo_state.json", MARKER)


class ModelNotFoundError(RadasError, LookupError):
    """:func:`load_model` / :func:`export_model` find no model to load: the sweep's results have
    no trial (or no trial with the metric, or not the trial asked for), or the trial kept no model
    (``keep_final_model=False`` without ``checkpoint_every``, a trial that failed before its end,
    ``run_with="memory"``, or a checkpoint folder that is gone)."""


# ---- kept at the end of a trial ---------------------------------------------------------------
def final_model_saver(trainer: Callable[[], Any], lora: bool) -> Callable[..., str | None]:
    """The function the trial's callback calls when training ends: saves ``trainer()``'s model and
    tokenizer into the folder it is given (``Trainer.save_model``: called on every rank, as FSDP
    and DeepSpeed gather the weights; only the main process writes), with :data:`MARKER`; returns
    the folder on rank 0, None on the other ranks (they report without it). With
    ``saved=True`` the folder already holds the model (the last step's own checkpoint): it only
    gets :data:`MARKER`."""

    def save(folder: str, metrics: Mapping[str, Any], saved: bool = False) -> str | None:
        saving = trainer()
        if not saved:
            saving.save_model(folder)
        if not saving.is_world_process_zero():  # rank 0 (radas.grpo._distributed.world), as the Trainer sees it
            return None
        files, folders = _written(folder)  # what radas wrote: all that KeepBestModels may remove
        with open(os.path.join(folder, MARKER), "w") as f:
            json.dump({"step": metrics.get("step"), "kind": "adapter" if lora else "weights", "files": files,
                       "folders": folders,
                       "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}}, f)
        logger.info("radas.grpo: final model (%s) saved at step %s", "adapter" if lora else "weights",
                    metrics.get("step"))
        return folder

    return save


def _written(folder: str) -> tuple[list[str], list[str]]:
    """The files and the folders under ``folder`` (relative; links neither listed nor entered):
    a checkpoint's own (DeepSpeed's ``global_step*/``, FSDP's shards) included."""
    from pyarrow.fs import LocalFileSystem

    from radas.sweep import contents_of

    contents = contents_of(LocalFileSystem(), folder)
    return ([rel for rel, kind in contents if kind == "file" and rel != MARKER],
            [rel for rel, kind in contents if kind == "dir"])


def is_final_model(folder: str | os.PathLike[str] | None) -> bool:
    """True when ``folder`` is a final model radas saved (not a checkpoint to resume training from)."""
    return folder is not None and os.path.isfile(os.path.join(folder, MARKER))


def final_metrics(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The metrics the final model in ``folder`` was reported with (its last step's); None when
    its marker holds none that can be read (a damaged or foreign file)."""
    return metrics_in(os.path.join(folder, MARKER), "metrics")


def final_model_of(trial: Any) -> tuple[Any, str] | None:
    """The (pyarrow filesystem, folder) of a Tune trial's final model, as the sweep's driver sees
    it: its last checkpoint (of several workers: its last ``checkpoint_path``) when radas saved it
    (it holds :data:`MARKER`); else None."""
    from pyarrow.fs import FileType, LocalFileSystem

    checkpoint = getattr(trial, "checkpoint", None)
    if checkpoint is not None:
        filesystem, path = checkpoint.filesystem, str(checkpoint.path)
    else:
        reported = (getattr(trial, "last_result", None) or {}).get(CHECKPOINT_PATH)
        if not isinstance(reported, str) or not reported:
            return None
        storage = getattr(trial, "storage", None)
        filesystem, path = getattr(storage, "storage_filesystem", None) or LocalFileSystem(), reported
    try:
        found = filesystem.get_file_info(posixpath.join(path, MARKER)).type == FileType.File
    except OSError:
        return None
    return (filesystem, path) if found else None


# ---- sized before the sweep -------------------------------------------------------------------
_SIZE_KEYS = ("model", "lora_rank", "keep_final_model", "grpo_config_overrides")
_MAX_GRID = 4096
_DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2, "float64": 8}


def _grid(value: Any) -> list[Any] | None:
    return list(value["grid_search"]) if isinstance(value, Mapping) and set(value) == {"grid_search"} else None


def _weights_bytes(overrides: Any) -> int:
    """Bytes per weight of a fully fine-tuned model as saved: float32 (radas trains the weights in
    float32), or the ``model_init_kwargs`` dtype."""
    init = overrides.get("model_init_kwargs") if isinstance(overrides, Mapping) else None
    if isinstance(init, str):
        with contextlib.suppress(ValueError):
            init = json.loads(init)
    dtype = init.get("dtype", init.get("torch_dtype")) if isinstance(init, Mapping) else None
    name = str(dtype).removeprefix("torch.") if dtype is not None else "float32"
    return _DTYPE_BYTES.get(name, 4)


def _size(n: float) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def final_model_disk(param_space: Mapping[str, Any]) -> str | None:
    """The line :func:`say_final_model_disk` says, or None (no model kept, or nothing known)."""
    from radas.grpo._config import DEFAULTS, is_search_space
    from radas.grpo._plan import model_shape

    space = {k: param_space.get(k, DEFAULTS.get(k)) for k in _SIZE_KEYS}
    grid_keys = sorted(k for k, v in param_space.items() if _grid(v) is not None)
    counted = math.prod(len(_grid(param_space[k]) or [None]) for k in grid_keys)
    # other search spaces (tune.uniform...) make the number of trials Tune's num_samples: not known here
    known = not any(is_search_space(v) and _grid(v) is None for v in param_space.values())
    if counted > _MAX_GRID:
        return None
    shapes: dict[str, Any] = {}
    sizes: list[int] = []
    kinds: dict[str, int] = {}
    for combo in itertools.product(*(_grid(param_space[k]) or [None] for k in grid_keys)):
        point = {**space, **{k: v for k, v in zip(grid_keys, combo, strict=True) if k in _SIZE_KEYS}}
        if any(is_search_space(point[k]) for k in _SIZE_KEYS):
            return None  # a size that Tune samples: not said
        if point["keep_final_model"] is False:
            sizes.append(0)
            continue
        model, rank = str(point["model"]), int(point["lora_rank"] or 0)
        if model not in shapes:
            shapes[model] = model_shape(os.path.expanduser(model))
        shape = shapes[model]
        if rank:
            size = 4 * rank * shape.lora_features  # peft keeps LoRA weights in float32
            kind = f"{model}: LoRA rank {rank} adapter, {_size(size)}"
        else:
            per = _weights_bytes(point["grpo_config_overrides"])
            size = per * shape.parameters
            kind = f"{model}: full weights, {8 * per}-bit, {_size(size)}"
        kinds[kind] = size
        sizes.append(size)
    if not any(sizes):
        return None
    what = "; ".join(list(kinds)[:3]) + ("; ..." if len(kinds) > 3 else "")
    if known:
        n = len(sizes)
        return (f"keep_final_model: the final models of this sweep's {n} trial{'s' if n > 1 else ''} will take about "
                f"{_size(sum(sizes))} of disk ({what}, plus the tokenizer each); keep_final_model=False keeps none")
    return (f"keep_final_model: each trial's final model will take about {_size(max(sizes))} of disk ({what}, plus "
            f"the tokenizer), times the sweep's num_samples; keep_final_model=False keeps none")


def say_final_model_disk(param_space: Mapping[str, Any]) -> None:
    """Say (info) how much disk the final models of a GRPO sweep will take: trials x per-trial size,
    the full weights in their dtype or the LoRA adapter (rank x the in + out features of the
    adapted layers, float32), read from the model's config without loading weights. Never fails:
    a model whose config cannot be read (or a size Tune samples) says nothing."""
    try:
        line = final_model_disk(param_space)
    except Exception as exc:  # noqa: BLE001 - a model id that cannot be reached, an odd value: nothing to say
        logger.debug("radas.grpo: no disk estimate of the final models: %s", exc)
        return
    if line:
        from radas._reporter import say

        say("info", line)


# ---- loaded or exported after the sweep -------------------------------------------------------
def _grid_of(source: Any) -> tuple[Any, str]:
    """The results (a ``ResultGrid``, or one like it) of ``source``, and how to name it."""
    where = "the results"
    if isinstance(source, Mapping):
        if "tuner" not in source:
            raise RadasTypeError(
                f"source is a dict without 'tuner' (keys: {sorted(map(str, source))}); pass what run_experiment "
                "returned, its 'tuner', a radas.Tuner or an experiment folder")
        source = source["tuner"]
    if isinstance(source, (str, os.PathLike)):
        from ray import tune

        from radas.grpo._trainable import grpo_trainable
        from radas.sweep import Tuner

        path = Path(source).expanduser()
        if not path.is_dir() or not tune.Tuner.can_restore(str(path)):
            raise ExperimentNotFoundError(
                f"source = {str(source)!r} is not an experiment folder (one that Ray Tune wrote, e.g. "
                "radas.get_ray_results_dir(user_name) / experiment_name); pass its path, or what run_experiment "
                "returned")
        source, where = Tuner.restore(str(path), grpo_trainable), f"the experiment {str(path)!r}"
    if hasattr(source, "get_results"):
        return source.get_results(), where
    if hasattr(source, "get_best_result"):
        return source, where
    raise RadasTypeError(
        f"source = {source!r} ({type(source).__name__}): pass what run_experiment returned (the dict, or its "
        "'tuner'), a radas.Tuner, a ResultGrid or an experiment folder")


def _trial_id(result: Any) -> str:
    metrics = getattr(result, "metrics", None) or {}
    if metrics.get("trial_id"):
        return str(metrics["trial_id"])
    path = getattr(result, "path", None)
    return os.path.basename(str(path)) if path else "?"


def _pick(grid: Any, where: str, metric: str | None, mode: str | None, trial: Any) -> Any:
    """The result of the trial asked for, or of the best one."""
    results = list(grid)
    if not results:
        raise ModelNotFoundError(f"{where} hold no trial, so no model; run the sweep first")
    ids = [_trial_id(r) for r in results]
    if trial is not None:
        if hasattr(trial, "config") and hasattr(trial, "metrics"):  # a Result
            return trial
        for result, trial_id in zip(results, ids, strict=True):
            if str(trial) == trial_id or (getattr(result, "path", None) and str(trial) == os.path.basename(
                    str(result.path))):
                return result
        raise ModelNotFoundError(f"trial = {trial!r} is not a trial of {where}; its trials: {', '.join(ids)}")
    if metric is not None and mode not in (None, "min", "max"):
        raise RadasValueError(f"mode = {mode!r}: use 'max' or 'min'")
    try:
        return grid.get_best_result(metric=metric, mode=mode)
    except (ValueError, RuntimeError) as exc:
        raise ModelNotFoundError(
            f"cannot pick the best trial of {where}: {exc} Pass metric= and mode= (e.g. metric='reward_mean', "
            f"mode='max'), or trial= one of {', '.join(ids)}") from exc


def _config_of(result: Any) -> dict[str, Any]:
    from radas.grpo._config import DEFAULTS

    config = getattr(result, "config", None) or {}
    return {**DEFAULTS, **config}


def _reported_checkpoint_path(result: Any) -> str | None:
    """The last ``checkpoint_path`` a trial of several workers reported (rank 0's Ray Train checkpoint)."""
    value = (getattr(result, "metrics", None) or {}).get(CHECKPOINT_PATH)
    frame = getattr(result, "metrics_dataframe", None)
    if not value and frame is not None and CHECKPOINT_PATH in getattr(frame, "columns", ()):
        reported = [v for v in frame[CHECKPOINT_PATH].tolist() if isinstance(v, str) and v]
        value = reported[-1] if reported else None
    return str(value) if value else None


def _as_seen_here(reported: str, trial_path: str | None) -> str:
    """A checkpoint path a worker reported, as this machine sees it: the part below the trial's
    folder under the trial's folder as seen here (the results' own copy: read from a cluster's
    shared folder, mounted elsewhere, or synced there from the driver's staging folder that Ray
    reports) when it is there, else the path as reported."""
    parts = PurePath(reported).parts
    name = os.path.basename(str(trial_path).rstrip("/")) if trial_path else None
    if name and name in parts:
        at = len(parts) - 1 - parts[::-1].index(name)
        here = os.path.join(str(trial_path), *parts[at + 1:])
        if os.path.isdir(here) or not os.path.isdir(reported):
            return here
    return reported


def _no_model(result: Any, cfg: Mapping[str, Any], where: str) -> ModelNotFoundError:
    trial = _trial_id(result)
    if getattr(result, "path", None) is None:
        why = "its sweep ran with run_with='memory', which keeps no checkpoints; run it with run_with='local'"
    elif cfg.get("keep_final_model") is False and not cfg.get("checkpoint_every"):
        why = ("it ran with keep_final_model=False and without checkpoint_every, so it kept no model; run it again "
               "with keep_final_model=True (the default)")
    elif getattr(result, "error", None) is not None:
        why = (f"it failed ({type(result.error).__name__}) before its final model was saved; set checkpoint_every "
               "to keep models along the way, or pick another trial with trial=")
    else:
        why = "it reported no checkpoint (it ended before its final model was saved)"
    return ModelNotFoundError(f"trial {trial} of {where} has no model: {why}")


@contextlib.contextmanager
def _model_folder(result: Any, cfg: Mapping[str, Any], where: str) -> Iterator[str]:
    """A local folder with the trial's model (its last checkpoint; downloaded when not local)."""
    checkpoint = getattr(result, "checkpoint", None)
    if checkpoint is not None:
        with contextlib.ExitStack() as stack:
            try:
                folder = str(stack.enter_context(checkpoint.as_directory()))
            except FileNotFoundError as exc:  # a checkpoint that is not local, gone
                raise _gone(result, str(checkpoint.path), where) from exc
            if not os.path.isdir(folder) or not os.listdir(folder):
                raise _gone(result, str(checkpoint.path), where)
            yield folder
        return
    reported = _reported_checkpoint_path(result)
    if reported is None:
        raise _no_model(result, cfg, where)
    folder = _as_seen_here(reported, getattr(result, "path", None))
    if not os.path.isdir(folder):
        note = _removed_note(result)
        raise ModelNotFoundError(
            f"trial {_trial_id(result)} of {where}: its checkpoint {reported!r} is " + (
                f"gone: {note}" if note else f"not on this machine (looked for {folder!r}); read the results where "
                "the trial's folder is"))
    yield folder


def _removed_note(result: Any) -> str | None:
    """Why the trial's final model was removed (:class:`radas.grpo.KeepBestModels`'s note), if it was."""
    from radas.grpo._keep import REMOVED_NOTE
    from radas.sweep import read_trial_notes

    note = read_trial_notes(getattr(result, "path", None)).get(REMOVED_NOTE)
    return str(note) if note else None


def _gone(result: Any, path: str, where: str) -> ModelNotFoundError:
    note = _removed_note(result)
    return ModelNotFoundError(f"trial {_trial_id(result)} of {where}: its checkpoint {path} is gone"
                              + (f": {note}" if note else " (removed by someone)"))


def _load(folder: str, cfg: Mapping[str, Any], dtype: str | None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a final-model or checkpoint folder of a trial of ``cfg``."""
    from radas.grpo._deps import require
    from radas.grpo._model import load_model as load_base
    from radas.grpo._model import load_tokenizer, model_path

    transformers = require("transformers")
    torch = require("torch")
    base_name = model_path(str(cfg["model"]))
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, padding_side="left")
    except (OSError, ValueError):  # a checkpoint without its tokenizer: the trial's model's
        tokenizer = load_tokenizer(base_name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if os.path.isfile(os.path.join(folder, ADAPTER_CONFIG)):
        peft = require("peft")
        overrides = cfg.get("grpo_config_overrides") or {}
        base = load_base(base_name, tokenizer, dtype or "float32", int(cfg["seed"]), int(cfg["max_seq_length"]),
                         overrides.get("model_init_kwargs"))
        model = peft.PeftModel.from_pretrained(base, folder)
    else:
        kwargs = {"dtype": getattr(torch, dtype)} if dtype else {}
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    model.eval()
    return model, tokenizer


def _best(source: Any, metric: str | None, mode: str | None, trial: Any) -> tuple[Any, dict[str, Any], str]:
    grid, where = _grid_of(source)
    result = _pick(grid, where, metric, mode, trial)
    return result, _config_of(result), where


def load_model(source: Any, *, metric: str | None = None, mode: str | None = None, trial: Any = None,
               dtype: str | None = None) -> tuple[Any, Any]:
    """The trained model of a GRPO sweep's best trial, and its tokenizer, ready for ``generate``.

    ``source``: what ``radas.run_experiment`` returned (the dict, or its ``"tuner"``), a
    ``radas.Tuner`` (or a ``ray.tune.ResultGrid``), or an experiment folder (e.g.
    ``radas.get_ray_results_dir("alice") / "grpo-lr"``; a cluster's, through its shared folder).
    The best trial by ``metric`` / ``mode`` (the sweep's ``TuneConfig`` ones by default) on its
    last report, or ``trial`` (a trial id as in the DataFrame's ``trial_id`` column, or a
    ``ray.tune.Result``). Its model is its last checkpoint: the final model every trial keeps
    (``keep_final_model``, the default), else the last one of ``checkpoint_every``; for a trial of
    several workers (``num_workers``), rank 0's (its ``checkpoint_path``).

    A LoRA trial's model is its base (the config's ``model``; ``"tiny"`` rebuilt with the trial's
    ``seed``) with the adapter loaded by ``peft`` (a ``PeftModel``; ``merge_and_unload()`` makes it
    a plain model); a fully fine-tuned one is loaded from its saved weights. ``dtype`` (e.g.
    ``"bfloat16"``): the dtype to load in (default: float32 for a LoRA base, the saved one for full
    weights). On the CPU, in eval mode: ``model.to("cuda")`` to move it. Raises
    :class:`ModelNotFoundError` when there is no such trial or it kept no model, naming why.
    """
    result, cfg, where = _best(source, metric, mode, trial)
    with _model_folder(result, cfg, where) as folder:
        model, tokenizer = _load(folder, cfg, dtype)
    logger.info("radas.grpo: loaded the model of trial %s", _trial_id(result))
    return model, tokenizer


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def export_model(source: Any, output_path: str | os.PathLike[str], *, merge_lora: bool = False,
                 metric: str | None = None, mode: str | None = None, trial: Any = None) -> Path:
    """Write the trained model of a GRPO sweep's best trial (or ``trial``) and its tokenizer to the
    folder ``output_path`` — the hosted RL API's ``download_model(job_name, output_path)``.

    ``source``, ``metric``, ``mode`` and ``trial`` pick the trial as in :func:`load_model`. A fully
    fine-tuned model is written as ``transformers`` saves it
    (``AutoModelForCausalLM.from_pretrained(output_path)`` loads it). A LoRA adapter is written as
    ``peft`` saves it, its ``base_model_name_or_path`` the trial's ``model`` (for ``"tiny"``: the
    base rebuilt with the trial's seed, written into ``output_path/base-model``), so
    ``AutoModelForCausalLM.from_pretrained(output_path)`` (with ``peft`` installed) and
    ``peft.PeftModel.from_pretrained(base, output_path)`` load it; ``merge_lora=True`` writes the
    base with the adapter merged into it instead: a plain model. No optimizer state is written.
    ``radas_trial.json`` says which trial it is (id, config, last metrics). ``output_path`` must
    not exist, or be an empty folder; it appears whole or not at all. Returns it.
    """
    out = Path(output_path).expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RadasValueError(f"output_path = {str(output_path)!r} exists and is not an empty folder; give a new one")
    result, cfg, where = _best(source, metric, mode, trial)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.radas-export-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with _model_folder(result, cfg, where) as folder:
            adapter = os.path.isfile(os.path.join(folder, ADAPTER_CONFIG))
            if adapter and merge_lora:
                model, tokenizer = _load(folder, cfg, None)
                model.merge_and_unload().save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
            else:
                _copy_model_files(folder, tmp)
                if adapter:
                    _point_adapter_at_its_base(tmp, out, cfg)
        (tmp / TRIAL_FILE).write_text(json.dumps(_json_safe({
            "trial_id": _trial_id(result), "experiment": where, "config": getattr(result, "config", None),
            "metrics": {k: v for k, v in (getattr(result, "metrics", None) or {}).items() if k != "config"},
            "merged_lora": bool(merge_lora and cfg.get("lora_rank")),
        }), indent=2))
        if out.exists():
            out.rmdir()  # empty: checked above
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("radas.grpo: exported the model of trial %s to %s", _trial_id(result), out)
    return out


def _copy_model_files(folder: str, dest: Path) -> None:
    """The model's and tokenizer's files of a checkpoint folder (its plain files, not training
    state, not links, not folders such as DeepSpeed's) into ``dest``."""
    with os.scandir(folder) as entries:
        for entry in entries:
            is_state = entry.name in TRAINING_STATE or (entry.name.startswith("rng_state") and
                                                        entry.name.endswith(".pth"))
            if entry.is_file(follow_symlinks=False) and not is_state:
                shutil.copyfile(entry.path, dest / entry.name)


def _point_adapter_at_its_base(dest: Path, final: Path, cfg: Mapping[str, Any]) -> None:
    """Set the copied adapter's ``base_model_name_or_path`` to the trial's base model: its id or
    folder, or for ``"tiny"`` the base rebuilt with the trial's seed, written next to it."""
    from radas.grpo._model import load_model as load_base
    from radas.grpo._model import load_tokenizer, model_path
    from radas.grpo._tiny import TINY_NAME

    name = model_path(str(cfg["model"]))
    if name == TINY_NAME:
        tokenizer = load_tokenizer(name)
        base = load_base(name, tokenizer, "float32", int(cfg["seed"]), int(cfg["max_seq_length"]))
        base.save_pretrained(dest / BASE_MODEL_DIR)
        tokenizer.save_pretrained(dest / BASE_MODEL_DIR)
        name = str(final / BASE_MODEL_DIR)
    elif os.path.isdir(name):
        name = os.path.abspath(name)
    path = dest / ADAPTER_CONFIG
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = name
    path.write_text(json.dumps(config, indent=2))
